//! The queues in Redis, for runtimes on several machines. A queue is a
//! sorted set of message ids by sequence number, each message a hash. Every
//! change to a queue bumps its version key, and a claim or a settlement is
//! a `WATCH` of that key, the reads, [`decide`], then `MULTI`/`EXEC`,
//! retried when another consumer changed the queue meanwhile: exactly one
//! of two consumers racing for the head gets it.

use std::collections::HashMap;
use std::time::Duration;

use ::redis::{Connection, RedisResult};
use token_store::redis_link::RedisLink;

use crate::{
    decide, me, new_id, new_lease, Claim, Claimed, Counts, Decision, Entry, Head, MessageStore,
    QueueError, State,
};

const PREFIX: &str = "wso2-twitter:queue";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn live_key(queue: &str) -> String {
    format!("{PREFIX}:live:{queue}")
}
fn dead_key(queue: &str) -> String {
    format!("{PREFIX}:dead:{queue}")
}
fn version_key(queue: &str) -> String {
    format!("{PREFIX}:version:{queue}")
}
fn msg_key(id: &str) -> String {
    format!("{PREFIX}:msg:{id}")
}
const SEQ_KEY: &str = "wso2-twitter:queue:seq";
const QUEUES_KEY: &str = "wso2-twitter:queue:queues";
const PAUSED_KEY: &str = "wso2-twitter:queue:paused";

pub struct RedisQueue {
    link: RedisLink,
}

impl RedisQueue {
    /// Checks the URL; Redis is reached on first use.
    pub fn open(url: &str) -> Result<RedisQueue, QueueError> {
        let link = RedisLink::open(url, "", IO_TIMEOUT).map_err(QueueError::Unavailable)?;
        Ok(RedisQueue { link })
    }

    /// Runs `f` on the link's connection (see [`RedisLink::with`]).
    fn with<T>(&self, f: impl FnMut(&mut Connection) -> RedisResult<T>) -> Result<T, QueueError> {
        self.link.with(f).map_err(QueueError::Unavailable)
    }

    /// Settles a claim with `change` (added to the pipeline) if it is still
    /// ours; false when it is not.
    fn settle(
        &self,
        c: &Claimed,
        change: impl Fn(&mut ::redis::Pipeline, &str),
    ) -> Result<bool, QueueError> {
        let vk = version_key(&c.queue);
        let mk = msg_key(&c.id);
        self.with(|conn| {
            ::redis::transaction(conn, &[&vk], |conn, pipe| {
                let (lease, until): (Option<String>, Option<i64>) = ::redis::cmd("HMGET")
                    .arg(&mk)
                    .arg("lease")
                    .arg("lease_until")
                    .query(conn)?;
                if lease.as_deref() != Some(c.lease.as_str()) || until.unwrap_or(0) == 0 {
                    ::redis::cmd("UNWATCH").query::<()>(conn)?;
                    return Ok(Some(false));
                }
                change(pipe, &mk);
                pipe.incr(&vk, 1).ignore();
                let done: Option<()> = pipe.query(conn)?;
                Ok(done.map(|()| true))
            })
        })
    }

    fn entry(c: &mut Connection, id: &str) -> RedisResult<Option<Entry>> {
        let h: HashMap<String, String> = ::redis::cmd("HGETALL").arg(msg_key(id)).query(c)?;
        if h.is_empty() {
            return Ok(None);
        }
        let num = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let text = |k: &str| h.get(k).cloned().unwrap_or_default();
        Ok(Some(Entry {
            id: id.to_string(),
            queue: text("queue"),
            state: State::stored(&text("state"), num("lease_until") != 0),
            attempts: num("attempts") as u32,
            enqueued_at_ms: num("enqueued_at"),
            due_at_ms: num("due_at"),
            in_doubt: num("in_doubt") != 0,
            last_error: h.get("last_error").cloned().filter(|e| !e.is_empty()),
            body: text("body"),
        }))
    }
}

impl MessageStore for RedisQueue {
    fn describe(&self) -> String {
        format!("redis {}", self.link.shown())
    }

    fn enqueue(&self, queue: &str, body: &str, now_ms: i64) -> Result<String, QueueError> {
        let id = new_id(now_ms);
        self.with(|c| {
            let seq: i64 = ::redis::cmd("INCR").arg(SEQ_KEY).query(c)?;
            ::redis::pipe()
                .atomic()
                .hset_multiple(
                    msg_key(&id),
                    &[
                        ("queue", queue.to_string()),
                        ("state", "waiting".into()),
                        ("body", body.to_string()),
                        ("attempts", "0".into()),
                        ("enqueued_at", now_ms.to_string()),
                        ("due_at", now_ms.to_string()),
                        ("lease_until", "0".into()),
                        ("in_doubt", "0".into()),
                    ],
                )
                .ignore()
                .zadd(live_key(queue), &id, seq)
                .ignore()
                .sadd(QUEUES_KEY, queue)
                .ignore()
                .incr(version_key(queue), 1)
                .ignore()
                .query::<()>(c)
        })?;
        Ok(id)
    }

    fn claim(&self, queue: &str, now_ms: i64, lease_ms: i64) -> Result<Claim, QueueError> {
        let (lk, vk) = (live_key(queue), version_key(queue));
        self.with(|c| {
            ::redis::transaction(c, &[&vk], |c, pipe| {
                let head: Vec<String> = ::redis::cmd("ZRANGE").arg(&lk).arg(0).arg(0).query(c)?;
                let Some(id) = head.first() else {
                    ::redis::cmd("UNWATCH").query::<()>(c)?;
                    return Ok(Some(Claim::Empty));
                };
                let mk = msg_key(id);
                let h: HashMap<String, String> = ::redis::cmd("HGETALL").arg(&mk).query(c)?;
                if h.is_empty() {
                    // An id without its message (removed half-way): drop it.
                    pipe.zrem(&lk, id).ignore().incr(&vk, 1).ignore();
                    pipe.query::<Option<()>>(c)?;
                    return Ok(None);
                }
                let num = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                let head = Head {
                    due_at_ms: num("due_at"),
                    lease_until_ms: num("lease_until"),
                    lease_holder: h.get("lease_holder").cloned().unwrap_or_default(),
                };
                let in_doubt = match decide(&head, now_ms, token_store::holder::is_dead) {
                    Decision::Wait(at) => {
                        ::redis::cmd("UNWATCH").query::<()>(c)?;
                        return Ok(Some(Claim::NotBefore(at)));
                    }
                    Decision::Held(until) => {
                        ::redis::cmd("UNWATCH").query::<()>(c)?;
                        return Ok(Some(Claim::Held(until)));
                    }
                    Decision::Take { in_doubt } => in_doubt || num("in_doubt") != 0,
                };
                let lease = new_lease();
                pipe.hincr(&mk, "attempts", 1)
                    .ignore()
                    .hset_multiple(
                        &mk,
                        &[
                            ("lease_until", (now_ms + lease_ms).to_string()),
                            ("lease_holder", me().to_string()),
                            ("lease", lease.clone()),
                            ("in_doubt", (in_doubt as i64).to_string()),
                        ],
                    )
                    .ignore()
                    .incr(&vk, 1)
                    .ignore();
                let done: Option<()> = pipe.query(c)?;
                Ok(done.map(|()| {
                    Claim::Taken(Claimed {
                        id: id.clone(),
                        queue: queue.to_string(),
                        body: h.get("body").cloned().unwrap_or_default(),
                        attempt: num("attempts") as u32 + 1,
                        in_doubt,
                        lease,
                    })
                }))
            })
        })
    }

    fn complete(&self, c: &Claimed) -> Result<bool, QueueError> {
        let lk = live_key(&c.queue);
        self.settle(c, |pipe, mk| {
            pipe.del(mk).ignore().zrem(&lk, &c.id).ignore();
        })
    }

    fn postpone(
        &self,
        c: &Claimed,
        due_at_ms: i64,
        error: &str,
        in_doubt: bool,
        counts: bool,
    ) -> Result<bool, QueueError> {
        self.settle(c, |pipe, mk| {
            if !counts {
                pipe.hincr(mk, "attempts", -1).ignore();
            }
            pipe.hset_multiple(
                mk,
                &[
                    ("lease_until", "0".to_string()),
                    ("lease_holder", String::new()),
                    ("lease", String::new()),
                    ("due_at", due_at_ms.to_string()),
                    ("last_error", error.to_string()),
                    ("in_doubt", (in_doubt as i64).to_string()),
                ],
            )
            .ignore();
        })
    }

    fn dead_letter(&self, c: &Claimed, reason: &str) -> Result<bool, QueueError> {
        let (lk, dk) = (live_key(&c.queue), dead_key(&c.queue));
        let score = self.with(|conn| {
            ::redis::cmd("ZSCORE")
                .arg(&lk)
                .arg(&c.id)
                .query::<Option<f64>>(conn)
        })?;
        self.settle(c, |pipe, mk| {
            pipe.hset_multiple(
                mk,
                &[
                    ("state", "dead".to_string()),
                    ("lease_until", "0".to_string()),
                    ("lease_holder", String::new()),
                    ("lease", String::new()),
                    ("last_error", reason.to_string()),
                ],
            )
            .ignore()
            .zrem(&lk, &c.id)
            .ignore()
            .zadd(&dk, &c.id, score.unwrap_or(0.0))
            .ignore();
        })
    }

    fn list(&self, queue: Option<&str>) -> Result<Vec<Entry>, QueueError> {
        self.with(|c| {
            let queues: Vec<String> = match queue {
                Some(q) => vec![q.to_string()],
                None => ::redis::cmd("SMEMBERS").arg(QUEUES_KEY).query(c)?,
            };
            let mut ids: Vec<(f64, String)> = Vec::new();
            for q in &queues {
                for key in [live_key(q), dead_key(q)] {
                    let scored: Vec<(String, f64)> = ::redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query(c)?;
                    ids.extend(scored.into_iter().map(|(id, s)| (s, id)));
                }
            }
            ids.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut out = Vec::new();
            for (_, id) in ids {
                if let Some(e) = Self::entry(c, &id)? {
                    out.push(e);
                }
            }
            Ok(out)
        })
    }

    fn get(&self, id: &str) -> Result<Option<Entry>, QueueError> {
        self.with(|c| Self::entry(c, id))
    }

    fn counts(&self, queue: &str) -> Result<Counts, QueueError> {
        let lk = live_key(queue);
        self.with(|c| {
            let live: u64 = ::redis::cmd("ZCARD").arg(&lk).query(c)?;
            let dead: u64 = ::redis::cmd("ZCARD").arg(dead_key(queue)).query(c)?;
            // Only the head is ever delivered.
            let head: Vec<String> = ::redis::cmd("ZRANGE").arg(&lk).arg(0).arg(0).query(c)?;
            let in_flight = match head.first() {
                Some(id) => {
                    let until: Option<i64> = ::redis::cmd("HGET")
                        .arg(msg_key(id))
                        .arg("lease_until")
                        .query(c)?;
                    u64::from(until.unwrap_or(0) != 0)
                }
                None => 0,
            };
            Ok(Counts {
                waiting: live - in_flight,
                in_flight,
                dead,
            })
        })
    }

    fn retry(&self, id: &str, now_ms: i64) -> Result<bool, QueueError> {
        let Some(e) = self.get(id)? else {
            return Ok(false);
        };
        let (lk, dk, vk, mk) = (
            live_key(&e.queue),
            dead_key(&e.queue),
            version_key(&e.queue),
            msg_key(id),
        );
        self.with(|c| {
            let seq: i64 = ::redis::cmd("INCR").arg(SEQ_KEY).query(c)?;
            ::redis::transaction(c, &[&vk], |c, pipe| {
                let state: Option<String> = ::redis::cmd("HGET").arg(&mk).arg("state").query(c)?;
                if state.as_deref() != Some("dead") {
                    ::redis::cmd("UNWATCH").query::<()>(c)?;
                    return Ok(Some(false));
                }
                pipe.hset_multiple(
                    &mk,
                    &[
                        ("state", "waiting".to_string()),
                        ("attempts", "0".to_string()),
                        ("due_at", now_ms.to_string()),
                        ("in_doubt", "0".to_string()),
                    ],
                )
                .ignore()
                .zrem(&dk, id)
                .ignore()
                .zadd(&lk, id, seq)
                .ignore()
                .incr(&vk, 1)
                .ignore();
                let done: Option<()> = pipe.query(c)?;
                Ok(done.map(|()| true))
            })
        })
    }

    fn remove(&self, id: &str) -> Result<bool, QueueError> {
        let Some(e) = self.get(id)? else {
            return Ok(false);
        };
        let (lk, dk, vk, mk) = (
            live_key(&e.queue),
            dead_key(&e.queue),
            version_key(&e.queue),
            msg_key(id),
        );
        self.with(|c| {
            ::redis::transaction(c, &[&vk], |c, pipe| {
                let until: Option<i64> =
                    ::redis::cmd("HGET").arg(&mk).arg("lease_until").query(c)?;
                if until.unwrap_or(0) != 0 {
                    ::redis::cmd("UNWATCH").query::<()>(c)?;
                    return Ok(Some(false));
                }
                pipe.del(&mk)
                    .ignore()
                    .zrem(&lk, id)
                    .ignore()
                    .zrem(&dk, id)
                    .ignore()
                    .incr(&vk, 1)
                    .ignore();
                let done: Option<()> = pipe.query(c)?;
                Ok(done.map(|()| true))
            })
        })
    }

    fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        self.with(|c| {
            ::redis::cmd(if paused { "SADD" } else { "SREM" })
                .arg(PAUSED_KEY)
                .arg(queue)
                .query::<()>(c)
        })
    }

    fn paused(&self, queue: &str) -> Result<bool, QueueError> {
        self.with(|c| {
            ::redis::cmd("SISMEMBER")
                .arg(PAUSED_KEY)
                .arg(queue)
                .query::<bool>(c)
        })
    }
}

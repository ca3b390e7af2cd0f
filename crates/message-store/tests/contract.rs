//! Every backend keeps the same contract: order, one consumer per message,
//! leases that outlive a dead consumer only as long as they must, dead
//! letters, retries. Run against the memory queue, an SQLite file and a
//! real Redis server.

use std::sync::Arc;

use message_store::{
    Claim, Claimed, Counts, MemoryQueue, MessageStore, RedisQueue, SqliteQueue, State,
};
use token_store::testing::RedisServer;

fn backends() -> Vec<(
    Box<dyn MessageStore>,
    Option<RedisServer>,
    tempfile::TempDir,
)> {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::private();
    let r = RedisQueue::open(redis.url()).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let sqlite = SqliteQueue::open(&dir2.path().join("q.db")).unwrap();
    vec![
        (Box::new(MemoryQueue::new()), None, dir),
        (Box::new(sqlite), None, dir2),
        (Box::new(r), Some(redis), tempfile::tempdir().unwrap()),
    ]
}

fn taken(c: Claim) -> Claimed {
    match c {
        Claim::Taken(c) => c,
        other => panic!("expected a message, got {other:?}"),
    }
}

const LEASE: i64 = 60_000;

#[test]
fn in_order_one_at_a_time_and_gone_when_delivered() {
    for (q, _redis, _dir) in backends() {
        let name = q.describe();
        assert_eq!(
            q.claim("posts", 1000, LEASE).unwrap(),
            Claim::Empty,
            "{name}"
        );
        let a = q.enqueue("posts", r#"{"n":1}"#, 1000).unwrap();
        let b = q.enqueue("posts", r#"{"n":2}"#, 1001).unwrap();
        q.enqueue("other", r#"{"n":3}"#, 1002).unwrap();
        let first = taken(q.claim("posts", 2000, LEASE).unwrap());
        assert_eq!(
            (first.id.as_str(), first.attempt, first.in_doubt),
            (a.as_str(), 1, false),
            "{name}"
        );
        assert_eq!(first.body, r#"{"n":1}"#);
        // The head is held: the next one waits behind it.
        assert_eq!(
            q.claim("posts", 2001, LEASE).unwrap(),
            Claim::Held(2000 + LEASE),
            "{name}"
        );
        assert_eq!(q.get(&a).unwrap().unwrap().state, State::InFlight);
        assert_eq!(
            q.counts("posts").unwrap(),
            Counts {
                waiting: 1,
                in_flight: 1,
                dead: 0
            },
            "{name}"
        );
        assert!(q.complete(&first).unwrap());
        assert!(!q.complete(&first).unwrap(), "{name}: settled once");
        let second = taken(q.claim("posts", 2002, LEASE).unwrap());
        assert_eq!(second.id, b, "{name}");
        assert!(q.complete(&second).unwrap());
        assert_eq!(
            q.claim("posts", 2003, LEASE).unwrap(),
            Claim::Empty,
            "{name}"
        );
        assert_eq!(q.list(Some("other")).unwrap().len(), 1, "{name}");
    }
}

#[test]
fn a_postponed_head_waits_until_due_and_blocks_the_rest() {
    for (q, _redis, _dir) in backends() {
        let name = q.describe();
        let a = q.enqueue("posts", "a", 0).unwrap();
        q.enqueue("posts", "b", 0).unwrap();
        let c = taken(q.claim("posts", 10, LEASE).unwrap());
        assert!(q
            .postpone(&c, 5_000, "rate-limited: window resets", false, true)
            .unwrap());
        assert_eq!(
            q.claim("posts", 4_999, LEASE).unwrap(),
            Claim::NotBefore(5_000),
            "{name}"
        );
        let e = q.get(&a).unwrap().unwrap();
        assert_eq!(
            (e.state, e.attempts, e.due_at_ms),
            (State::Waiting, 1, 5_000),
            "{name}"
        );
        assert_eq!(e.last_error.as_deref(), Some("rate-limited: window resets"));
        let again = taken(q.claim("posts", 5_000, LEASE).unwrap());
        assert_eq!(
            (again.id.as_str(), again.attempt),
            (a.as_str(), 2),
            "{name}"
        );
        // A wait for a reset does not count as an attempt.
        assert!(q
            .postpone(&again, 6_000, "budget: resets", false, false)
            .unwrap());
        assert_eq!(q.get(&a).unwrap().unwrap().attempts, 1, "{name}");
    }
}

#[test]
fn a_lapsed_lease_is_taken_again_in_doubt_and_the_old_claim_cannot_settle() {
    for (q, _redis, _dir) in backends() {
        let name = q.describe();
        let a = q.enqueue("posts", "a", 0).unwrap();
        let old = taken(q.claim("posts", 0, 1_000).unwrap());
        let new = taken(q.claim("posts", 1_000, LEASE).unwrap());
        assert_eq!(
            (new.id.as_str(), new.attempt, new.in_doubt),
            (a.as_str(), 2, true),
            "{name}"
        );
        assert!(!q.complete(&old).unwrap(), "{name}");
        assert!(!q.postpone(&old, 0, "x", false, true).unwrap(), "{name}");
        assert!(!q.dead_letter(&old, "x").unwrap(), "{name}");
        assert!(q.complete(&new).unwrap(), "{name}");
    }
}

#[test]
fn dead_letters_are_kept_retried_at_the_end_or_dropped() {
    for (q, _redis, _dir) in backends() {
        let name = q.describe();
        let a = q.enqueue("posts", "a", 0).unwrap();
        let b = q.enqueue("posts", "b", 0).unwrap();
        let c = taken(q.claim("posts", 0, LEASE).unwrap());
        assert!(q.dead_letter(&c, "invalid-input: text: empty").unwrap());
        let e = q.get(&a).unwrap().unwrap();
        assert_eq!(e.state, State::Dead, "{name}");
        assert_eq!(e.last_error.as_deref(), Some("invalid-input: text: empty"));
        // The next one is the head now.
        assert_eq!(taken(q.claim("posts", 1, LEASE).unwrap()).id, b, "{name}");
        assert!(!q.remove(&b).unwrap(), "{name}: not while in flight");
        assert_eq!(
            q.counts("posts").unwrap(),
            Counts {
                waiting: 0,
                in_flight: 1,
                dead: 1
            },
            "{name}"
        );
        assert!(q.retry(&a, 2).unwrap(), "{name}");
        assert!(!q.retry(&a, 2).unwrap(), "{name}: only a dead letter");
        let listed: Vec<String> = q
            .list(Some("posts"))
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(listed, [b.clone(), a.clone()], "{name}: retried to the end");
        assert_eq!(q.get(&a).unwrap().unwrap().attempts, 0);
        assert!(q.remove(&a).unwrap(), "{name}");
        assert!(q.get(&a).unwrap().is_none(), "{name}");
    }
}

#[test]
fn pausing_is_kept_by_the_store() {
    for (q, _redis, _dir) in backends() {
        assert!(!q.paused("posts").unwrap());
        q.set_paused("posts", true).unwrap();
        assert!(q.paused("posts").unwrap());
        assert!(!q.paused("other").unwrap());
        q.set_paused("posts", false).unwrap();
        assert!(!q.paused("posts").unwrap());
    }
}

/// Four consumers (threads, each with its own connection) race for 200
/// messages: each is delivered exactly once, in order.
#[test]
fn racing_consumers_deliver_each_message_once_in_order() {
    let redis = RedisServer::private();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let stores: Vec<Box<dyn Fn() -> Box<dyn MessageStore>>> = vec![
        Box::new({
            let p = path.clone();
            move || Box::new(SqliteQueue::open(&p).unwrap())
        }),
        Box::new({
            let url = redis.url().to_string();
            move || Box::new(RedisQueue::open(&url).unwrap())
        }),
    ];
    for open in stores {
        let q = open();
        for n in 0..200 {
            q.enqueue("race", &n.to_string(), 0).unwrap();
        }
        let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let q = open();
                let delivered = delivered.clone();
                s.spawn(move || loop {
                    match q.claim("race", 1, LEASE).unwrap() {
                        Claim::Taken(c) => {
                            delivered
                                .lock()
                                .unwrap()
                                .push(c.body.parse::<u32>().unwrap());
                            assert!(q.complete(&c).unwrap());
                        }
                        Claim::Held(_) => std::thread::yield_now(),
                        Claim::Empty => break,
                        Claim::NotBefore(_) => unreachable!(),
                    }
                });
            }
        });
        let got = delivered.lock().unwrap().clone();
        assert_eq!(got, (0..200).collect::<Vec<_>>(), "{}", q.describe());
    }
}

//! The queues in this process's memory (the sandbox, `--token-store
//! memory`): gone when it exits.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::{
    decide, me, new_id, new_lease, Claim, Claimed, Counts, Decision, Entry, Head, MessageStore,
    QueueError, State,
};

struct Held {
    entry: Entry,
    lease_until: i64,
    holder: String,
    lease: String,
}

#[derive(Default)]
struct Inner {
    /// In order: every message, dead letters included.
    messages: Vec<Held>,
    paused: HashSet<String>,
}

#[derive(Default)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
}

impl MemoryQueue {
    pub fn new() -> MemoryQueue {
        MemoryQueue::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn view(h: &Held) -> Entry {
    let mut e = h.entry.clone();
    e.state = State::stored(e.state.as_str(), h.lease_until != 0);
    e
}

impl Inner {
    /// The message `c` claimed, while the claim is still its holder's.
    fn claimed(&mut self, c: &Claimed) -> Option<&mut Held> {
        self.messages
            .iter_mut()
            .find(|h| h.entry.id == c.id && h.lease == c.lease && h.lease_until != 0)
    }
}

impl MessageStore for MemoryQueue {
    fn describe(&self) -> String {
        "memory (this process only)".into()
    }

    fn enqueue(&self, queue: &str, body: &str, now_ms: i64) -> Result<String, QueueError> {
        let id = new_id(now_ms);
        self.state().messages.push(Held {
            entry: Entry {
                id: id.clone(),
                queue: queue.to_string(),
                state: State::Waiting,
                attempts: 0,
                enqueued_at_ms: now_ms,
                due_at_ms: now_ms,
                in_doubt: false,
                last_error: None,
                body: body.to_string(),
            },
            lease_until: 0,
            holder: String::new(),
            lease: String::new(),
        });
        Ok(id)
    }

    fn claim(&self, queue: &str, now_ms: i64, lease_ms: i64) -> Result<Claim, QueueError> {
        let mut s = self.state();
        let Some(h) = s
            .messages
            .iter_mut()
            .find(|h| h.entry.queue == queue && h.entry.state == State::Waiting)
        else {
            return Ok(Claim::Empty);
        };
        let head = Head {
            due_at_ms: h.entry.due_at_ms,
            lease_until_ms: h.lease_until,
            lease_holder: h.holder.clone(),
        };
        let in_doubt = match decide(&head, now_ms, |_| false) {
            Decision::Wait(at) => return Ok(Claim::NotBefore(at)),
            Decision::Held(until) => return Ok(Claim::Held(until)),
            Decision::Take { in_doubt } => in_doubt || h.entry.in_doubt,
        };
        h.entry.attempts += 1;
        h.entry.in_doubt = in_doubt;
        h.lease_until = now_ms + lease_ms;
        h.holder = me().to_string();
        h.lease = new_lease();
        Ok(Claim::Taken(Claimed {
            id: h.entry.id.clone(),
            queue: queue.to_string(),
            body: h.entry.body.clone(),
            attempt: h.entry.attempts,
            in_doubt,
            lease: h.lease.clone(),
        }))
    }

    fn complete(&self, c: &Claimed) -> Result<bool, QueueError> {
        let mut s = self.state();
        let before = s.messages.len();
        s.messages
            .retain(|h| !(h.entry.id == c.id && h.lease == c.lease && h.lease_until != 0));
        Ok(s.messages.len() < before)
    }

    fn postpone(
        &self,
        c: &Claimed,
        due_at_ms: i64,
        error: &str,
        in_doubt: bool,
        counts: bool,
    ) -> Result<bool, QueueError> {
        let mut s = self.state();
        let Some(h) = s.claimed(c) else {
            return Ok(false);
        };
        h.lease_until = 0;
        h.lease.clear();
        h.holder.clear();
        h.entry.due_at_ms = due_at_ms;
        h.entry.last_error = Some(error.to_string());
        h.entry.in_doubt = in_doubt;
        if !counts {
            h.entry.attempts = h.entry.attempts.saturating_sub(1);
        }
        Ok(true)
    }

    fn dead_letter(&self, c: &Claimed, reason: &str) -> Result<bool, QueueError> {
        let mut s = self.state();
        let Some(h) = s.claimed(c) else {
            return Ok(false);
        };
        h.lease_until = 0;
        h.lease.clear();
        h.holder.clear();
        h.entry.state = State::Dead;
        h.entry.last_error = Some(reason.to_string());
        Ok(true)
    }

    fn list(&self, queue: Option<&str>) -> Result<Vec<Entry>, QueueError> {
        Ok(self
            .state()
            .messages
            .iter()
            .filter(|h| queue.is_none_or(|q| h.entry.queue == q))
            .map(view)
            .collect())
    }

    fn get(&self, id: &str) -> Result<Option<Entry>, QueueError> {
        Ok(self
            .state()
            .messages
            .iter()
            .find(|h| h.entry.id == id)
            .map(view))
    }

    fn counts(&self, queue: &str) -> Result<Counts, QueueError> {
        self.list(Some(queue)).map(|all| Counts::of(&all))
    }

    fn retry(&self, id: &str, now_ms: i64) -> Result<bool, QueueError> {
        let mut s = self.state();
        let Some(i) = s
            .messages
            .iter()
            .position(|h| h.entry.id == id && h.entry.state == State::Dead)
        else {
            return Ok(false);
        };
        let mut h = s.messages.remove(i);
        h.entry.state = State::Waiting;
        h.entry.attempts = 0;
        h.entry.due_at_ms = now_ms;
        h.entry.in_doubt = false;
        s.messages.push(h);
        Ok(true)
    }

    fn remove(&self, id: &str) -> Result<bool, QueueError> {
        let mut s = self.state();
        let before = s.messages.len();
        s.messages
            .retain(|h| !(h.entry.id == id && h.lease_until == 0));
        Ok(s.messages.len() < before)
    }

    fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError> {
        let mut s = self.state();
        if paused {
            s.paused.insert(queue.to_string());
        } else {
            s.paused.remove(queue);
        }
        Ok(())
    }

    fn paused(&self, queue: &str) -> Result<bool, QueueError> {
        Ok(self.state().paused.contains(queue))
    }
}

//! The runtime's message stores: durable queues that `<store>` puts
//! messages in and a `<messageProcessor>` takes them out of, in order.
//!
//! One rule, [`decide`], says what the head of a queue is to a consumer
//! (take it, wait for it to be due, wait for its holder), and every
//! backend applies it inside its own atomic step: an SQLite `BEGIN
//! IMMEDIATE` transaction (processes on one machine), a Redis `WATCH` /
//! `MULTI` transaction (several machines). A message is delivered by one
//! consumer at a time, under a lease; a consumer that dies is noticed by
//! its lease (at once when it was a process on this machine, else when the
//! lease runs out), and its message is taken again marked *in doubt*: its
//! call may have reached X, so the processor reconciles before counting it
//! twice. Order is strict per queue: the head blocks the messages behind
//! it (they would meet the same rate limit).

mod memory;
mod redis;
mod sqlite;

pub use crate::redis::RedisQueue;
pub use memory::MemoryQueue;
pub use sqlite::SqliteQueue;

/// A store failure: the message stores could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    Unavailable(String),
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueError::Unavailable(m) => write!(f, "message store: {m}"),
        }
    }
}

impl std::error::Error for QueueError {}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// In the queue, due at `due_at_ms`.
    Waiting,
    /// Taken by a consumer, under a lease.
    InFlight,
    /// Given up on: in the dead-letter list until retried or dropped.
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::InFlight => "in-flight",
            State::Dead => "dead",
        }
    }

    /// From what a backend keeps: the stored state (`waiting` or `dead`)
    /// and whether a consumer holds the message.
    fn stored(state: &str, leased: bool) -> State {
        match state {
            "dead" => State::Dead,
            _ if leased => State::InFlight,
            _ => State::Waiting,
        }
    }
}

/// A message as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub queue: String,
    pub state: State,
    /// Deliveries started so far.
    pub attempts: u32,
    pub enqueued_at_ms: i64,
    pub due_at_ms: i64,
    /// Its last delivery may have reached X (the consumer died, or the
    /// connection dropped after the request left).
    pub in_doubt: bool,
    pub last_error: Option<String>,
    /// What was stored: JSON, the message's payload and properties.
    pub body: String,
}

/// How many messages a queue holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub waiting: u64,
    /// 0 or 1: only the head is ever delivered.
    pub in_flight: u64,
    pub dead: u64,
}

impl Counts {
    fn add(&mut self, state: State, n: u64) {
        *match state {
            State::Waiting => &mut self.waiting,
            State::InFlight => &mut self.in_flight,
            State::Dead => &mut self.dead,
        } += n;
    }

    fn of<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Counts {
        let mut c = Counts::default();
        for e in entries {
            c.add(e.state, 1);
        }
        c
    }
}

/// A message taken for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    pub queue: String,
    pub body: String,
    /// This delivery's number (1 for the first).
    pub attempt: u32,
    pub in_doubt: bool,
    /// Proves the claim is still ours when it is settled.
    pub lease: String,
}

/// What a consumer found at the head of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Taken(Claimed),
    /// Nothing waiting.
    Empty,
    /// The head is due then (a rate limit's reset, a backoff).
    NotBefore(i64),
    /// Another consumer holds the head until then.
    Held(i64),
}

/// The head of a queue, as a backend read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub due_at_ms: i64,
    /// 0 when no one holds it.
    pub lease_until_ms: i64,
    pub lease_holder: String,
}

/// What to do with the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Take {
        /// A holder had it and is gone: its delivery may have happened.
        in_doubt: bool,
    },
    Wait(i64),
    Held(i64),
}

/// The one rule every backend applies: a head held by a live consumer
/// stays with it until its lease ends; one held by a consumer that is gone
/// (its lease ran out, or its process on this machine is dead) is taken,
/// in doubt; else it is taken when due.
pub fn decide(head: &Head, now_ms: i64, holder_is_dead: impl Fn(&str) -> bool) -> Decision {
    if head.lease_until_ms != 0 {
        if head.lease_until_ms > now_ms && !holder_is_dead(&head.lease_holder) {
            return Decision::Held(head.lease_until_ms);
        }
        return Decision::Take { in_doubt: true };
    }
    if head.due_at_ms > now_ms {
        return Decision::Wait(head.due_at_ms);
    }
    Decision::Take { in_doubt: false }
}

/// A fresh id: time-ordered, unique across processes.
pub fn new_id(now_ms: i64) -> String {
    format!("{now_ms:013x}-{:016x}", rand::random::<u64>())
}

fn new_lease() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The queues, whatever keeps them.
pub trait MessageStore: Send + Sync {
    /// Where they are kept (no secret).
    fn describe(&self) -> String;
    /// Appends a message; returns its id.
    fn enqueue(&self, queue: &str, body: &str, now_ms: i64) -> Result<String, QueueError>;
    /// Takes the head of `queue` for `lease_ms` when [`decide`] says so.
    fn claim(&self, queue: &str, now_ms: i64, lease_ms: i64) -> Result<Claim, QueueError>;
    /// Delivered: gone. False when the claim was lost (its lease ran out
    /// and another consumer took it).
    fn complete(&self, c: &Claimed) -> Result<bool, QueueError>;
    /// Not delivered yet: back at the head, due at `due_at_ms`. `counts`:
    /// the delivery failed and counts toward the attempts; a wait for a
    /// rate limit's or a budget's reset does not.
    fn postpone(
        &self,
        c: &Claimed,
        due_at_ms: i64,
        error: &str,
        in_doubt: bool,
        counts: bool,
    ) -> Result<bool, QueueError>;
    /// Given up on: to the dead letters, with the reason.
    fn dead_letter(&self, c: &Claimed, reason: &str) -> Result<bool, QueueError>;
    /// The messages (every queue's, or one's), oldest first.
    fn list(&self, queue: Option<&str>) -> Result<Vec<Entry>, QueueError>;
    fn get(&self, id: &str) -> Result<Option<Entry>, QueueError>;
    /// How many messages `queue` holds, without reading them (a metrics
    /// scrape asks every few seconds).
    fn counts(&self, queue: &str) -> Result<Counts, QueueError>;
    /// A dead letter back into its queue (at the end, due now, attempts
    /// from 0). False when there is no such dead letter.
    fn retry(&self, id: &str, now_ms: i64) -> Result<bool, QueueError>;
    /// Removes a message that no one is delivering. False when none.
    fn remove(&self, id: &str) -> Result<bool, QueueError>;
    /// A paused queue's processor takes nothing.
    fn set_paused(&self, queue: &str, paused: bool) -> Result<(), QueueError>;
    fn paused(&self, queue: &str) -> Result<bool, QueueError>;
}

/// This process as a lease holder.
fn me() -> &'static str {
    token_store::holder::this_process()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(due: i64, until: i64, holder: &str) -> Head {
        Head {
            due_at_ms: due,
            lease_until_ms: until,
            lease_holder: holder.into(),
        }
    }

    #[test]
    fn the_head_is_taken_when_due_and_not_held_by_a_live_consumer() {
        let alive = |_: &str| false;
        let dead = |_: &str| true;
        assert_eq!(
            decide(&head(100, 0, ""), 100, alive),
            Decision::Take { in_doubt: false }
        );
        assert_eq!(decide(&head(200, 0, ""), 100, alive), Decision::Wait(200));
        assert_eq!(
            decide(&head(0, 500, "h/1"), 100, alive),
            Decision::Held(500)
        );
        // Its holder died on this machine: at once, in doubt.
        assert_eq!(
            decide(&head(0, 500, "h/1"), 100, dead),
            Decision::Take { in_doubt: true }
        );
        // Its lease ran out: in doubt too, whoever held it.
        assert_eq!(
            decide(&head(0, 500, "h/1"), 500, alive),
            Decision::Take { in_doubt: true }
        );
    }
}

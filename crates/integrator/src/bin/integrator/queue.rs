//! `integrator queue`: the message stores' queues for operators.

use std::process::ExitCode;

use message_store::{Entry, MessageStore};
use serde_json::json;

use crate::exit::{setup_failed, Setup};
use crate::store;
use crate::{QueueAction, StoreArgs};
use integrator::flow::redact::escape_controls;

fn entry_json(e: &Entry) -> serde_json::Value {
    json!({
        "id": e.id,
        "store": e.queue,
        "state": e.state.as_str(),
        "attempts": e.attempts,
        "enqueuedAt": e.enqueued_at_ms,
        "dueAt": e.due_at_ms,
        "inDoubt": e.in_doubt,
        "lastError": e.last_error,
    })
}

fn table(entries: &[Entry], now_ms: i64) -> String {
    let mut out = format!(
        "{:<31} {:<16} {:<10} {:>8}  {:<12} {}\n",
        "ID", "STORE", "STATE", "ATTEMPTS", "DUE", "LAST ERROR"
    );
    for e in entries {
        let due = if e.state != message_store::State::Waiting {
            "-".to_string()
        } else if e.due_at_ms <= now_ms {
            "now".to_string()
        } else {
            format!("in {}s", (e.due_at_ms - now_ms + 999) / 1000)
        };
        out.push_str(&format!(
            "{:<31} {:<16} {:<10} {:>8}  {:<12} {}\n",
            e.id,
            escape_controls(&e.queue),
            e.state.as_str(),
            e.attempts,
            due,
            escape_controls(e.last_error.as_deref().unwrap_or(""))
        ));
    }
    out
}

pub fn run(action: QueueAction, args: StoreArgs) -> ExitCode {
    let q = match store::open_queues(args.token_store.as_deref()) {
        Ok(q) => q,
        Err(e) => return setup_failed(Setup::store(e)),
    };
    let now = integrator::flow::queue::now_ms();
    let q: &dyn MessageStore = q.as_ref();
    let done: Result<String, String> = match action {
        QueueAction::List { store, json } => q
            .list(store.as_deref())
            .map(|all| {
                if json {
                    let v: Vec<_> = all.iter().map(entry_json).collect();
                    serde_json::to_string_pretty(&json!({"store": q.describe(), "messages": v}))
                        .unwrap_or_default()
                        + "\n"
                } else {
                    table(&all, now)
                }
            })
            .map_err(|e| e.to_string()),
        QueueAction::Show { id } => match q.get(&id) {
            Ok(Some(e)) => {
                let mut v = entry_json(&e);
                v["message"] = serde_json::from_str(&e.body).unwrap_or(json!(e.body));
                Ok(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n")
            }
            Ok(None) => Err(format!("no message `{}`", escape_controls(&id))),
            Err(e) => Err(e.to_string()),
        },
        QueueAction::Retry { id } => match q.retry(&id, now) {
            Ok(true) => Ok(format!("{id}: back in its store, at the end\n")),
            Ok(false) => Err(format!("no dead letter `{}`", escape_controls(&id))),
            Err(e) => Err(e.to_string()),
        },
        QueueAction::Drop { id } => match q.remove(&id) {
            Ok(true) => Ok(format!("{id}: dropped\n")),
            Ok(false) => Err(format!(
                "no message `{}` that is not being delivered",
                escape_controls(&id)
            )),
            Err(e) => Err(e.to_string()),
        },
        QueueAction::Pause { store } => q
            .set_paused(&store, true)
            .map(|()| format!("{store}: paused\n"))
            .map_err(|e| e.to_string()),
        QueueAction::Resume { store } => q
            .set_paused(&store, false)
            .map(|()| format!("{store}: resumed\n"))
            .map_err(|e| e.to_string()),
    };
    match done {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

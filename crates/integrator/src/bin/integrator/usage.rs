//! `integrator usage`: what each connection spent at X's pay-per-use
//! prices, per UTC day and operation, from the spend ledger beside the
//! tokens.

use std::fmt::Write;
use std::process::ExitCode;

use spend_ledger::{period, UsageRow};
use x_pricing::format_usd;

use crate::exit::{setup_failed, Setup};
use crate::store;
use crate::StoreArgs;

pub struct UsageArgs {
    pub json: bool,
    pub connection: Option<String>,
    pub days: u32,
    pub store: StoreArgs,
}

pub fn run(args: UsageArgs) -> ExitCode {
    let ledger = match store::open_ledger(args.store.token_store.as_deref()) {
        Ok(l) => l,
        Err(e) => return setup_failed(Setup::store(e)),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let since = period::day_of(now) - i64::from(args.days.max(1)) + 1;
    let rows = match ledger.usage(args.connection.as_deref(), since) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json(&rows)).unwrap_or_default()
        );
    } else {
        print!("{}", table(&rows, &ledger.describe()));
    }
    ExitCode::SUCCESS
}

fn json(rows: &[UsageRow]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "connection": r.key,
                    "day": r.day,
                    "operation": r.operation,
                    "calls": r.calls,
                    "usd": format_usd(r.usd_micros),
                    "usdMicros": r.usd_micros,
                })
            })
            .collect(),
    )
}

/// Aligned columns, a total per connection.
fn table(rows: &[UsageRow], store: &str) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        let _ = writeln!(out, "no spend recorded in {store}");
        return out;
    }
    let w = rows.iter().map(|r| r.key.len()).max().unwrap_or(10).max(10);
    let _ = writeln!(
        out,
        "{:<w$}  {:<10}  {:<14}  {:>6}  {:>10}",
        "CONNECTION", "DAY", "OPERATION", "CALLS", "USD"
    );
    let mut total = std::collections::BTreeMap::<&str, u64>::new();
    for r in rows {
        let _ = writeln!(
            out,
            "{:<w$}  {:<10}  {:<14}  {:>6}  {:>10}",
            r.key,
            r.day,
            r.operation,
            r.calls,
            format_usd(r.usd_micros)
        );
        *total.entry(&r.key).or_default() += r.usd_micros;
    }
    for (k, micros) in total {
        let _ = writeln!(
            out,
            "{k:<w$}  {:<10}  {:<14}  {:>6}  {:>10}",
            "total",
            "",
            "",
            format_usd(micros)
        );
    }
    out
}

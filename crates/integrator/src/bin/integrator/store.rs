//! The token store as the command line chooses it (`--token-store`,
//! `INTEGRATOR_TOKEN_STORE`, the store key), and the `integrator tokens`
//! command: what is stored per connection, never a token.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use token_store::{FamilyInfo, StoreKey, StoreSpec, TokenStore};

use integrator::flow::redact::escape_controls;

/// The environment variable holding the key that seals tokens at rest.
pub const STORE_KEY_ENV: &str = "INTEGRATOR_STORE_KEY";

/// Which store `spec` names, or the default SQLite file in the state directory.
pub fn spec(spec: Option<&str>) -> anyhow::Result<StoreSpec> {
    match spec.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => StoreSpec::parse(s).map_err(|e| anyhow!("--token-store: {e}")),
        None => StoreSpec::default_sqlite().ok_or_else(|| {
            anyhow!("no state directory (neither XDG_STATE_HOME nor HOME is set): pass --token-store PATH")
        }),
    }
}

/// The store key from `--store-key-file` / `INTEGRATOR_STORE_KEY_FILE` or
/// `INTEGRATOR_STORE_KEY`; `None`: token values are stored as they are, in
/// an owner-only file.
/// Both at once is refused: which key seals the tokens must not depend on
/// an order of precedence nobody remembers.
pub fn key(key_file: Option<&Path>) -> anyhow::Result<Option<StoreKey>> {
    let env_key = std::env::var(STORE_KEY_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    match (key_file, env_key) {
        (Some(_), Some(_)) => Err(anyhow!(
            "both {STORE_KEY_ENV} and a store key file (--store-key-file / INTEGRATOR_STORE_KEY_FILE) are set: keep only one"
        )),
        (Some(path), None) => Ok(Some(StoreKey::from_file(path)?)),
        (None, Some(v)) => Ok(Some(StoreKey::parse(&v, STORE_KEY_ENV)?)),
        (None, None) => Ok(None),
    }
}

/// Opens the chosen store.
pub fn open(
    spec_text: Option<&str>,
    key_file: Option<&Path>,
) -> anyhow::Result<Arc<dyn TokenStore>> {
    let spec = spec(spec_text)?;
    let key = key(key_file)?;
    spec.open(key).map_err(|e| anyhow!("{e}"))
}

/// The message stores' queues beside the tokens: the same SQLite file or Redis.
pub fn open_queues(
    spec_text: Option<&str>,
) -> anyhow::Result<Arc<dyn message_store::MessageStore>> {
    Ok(match spec(spec_text)? {
        StoreSpec::Sqlite(path) => Arc::new(message_store::SqliteQueue::open(&path)?),
        StoreSpec::Redis(url) => Arc::new(message_store::RedisQueue::open(&url)?),
        StoreSpec::Memory => Arc::new(message_store::MemoryQueue::new()),
    })
}

/// The spend ledger beside the tokens: the same SQLite file or Redis.
pub fn open_ledger(spec_text: Option<&str>) -> anyhow::Result<Arc<dyn spend_ledger::SpendLedger>> {
    Ok(match spec(spec_text)? {
        StoreSpec::Sqlite(path) => Arc::new(spend_ledger::SqliteLedger::open(&path)?),
        StoreSpec::Redis(url) => Arc::new(spend_ledger::RedisLedger::open(&url)?),
        StoreSpec::Memory => Arc::new(spend_ledger::MemoryLedger::new()),
    })
}

fn ago(now: u64, then: u64) -> String {
    format!("{} ago", span(now.saturating_sub(then)))
}

/// `3d 4h`, `12m 5s`, `800ms`.
fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn expiry(now: u64, f: &FamilyInfo) -> String {
    match f.expires_at {
        Some(at) if at > now => format!("expires in {}", span(at - now)),
        Some(at) => format!("expired {}", ago(now, at)),
        None => "expiry unknown".into(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One JSON object per family, for `tokens list --json`.
pub fn list_json(store: &dyn TokenStore) -> anyhow::Result<serde_json::Value> {
    let families = store.list().map_err(|e| anyhow!("{e}"))?;
    let now = now_ms();
    let rows: Vec<serde_json::Value> = families
        .iter()
        .map(|f| {
            serde_json::json!({
                "connection": f.key.connection,
                "clientId": f.key.client_id,
                "apiOrigin": f.key.api_origin,
                "version": f.version,
                "createdAt": f.created_at,
                "familyAgeMs": now.saturating_sub(f.created_at),
                "accessTokenExpiresAt": f.expires_at,
                "lastRefreshAt": f.refreshed_at,
                "refreshCount": f.refresh_count,
                "hasRefreshToken": f.has_refresh_token,
                "sealed": f.sealed,
                "lease": f.lease.as_ref().map(|l| serde_json::json!({"holder": l.holder, "expiresAt": l.expires_at})),
            })
        })
        .collect();
    Ok(serde_json::json!({"backend": store.describe(), "families": rows}))
}

/// The `tokens list` table.
pub fn list_table(store: &dyn TokenStore) -> anyhow::Result<String> {
    let families = store.list().map_err(|e| anyhow!("{e}"))?;
    let now = now_ms();
    let mut out = format!("token store: {}\n", escape_controls(&store.describe()));
    if families.is_empty() {
        out.push_str("no stored tokens\n");
        return Ok(out);
    }
    let header = [
        "CONNECTION",
        "CLIENT ID",
        "API",
        "FAMILY AGE",
        "ACCESS TOKEN",
        "LAST REFRESH",
        "REFRESHES",
        "REFRESH TOKEN",
        "LEASE",
    ];
    let rows: Vec<[String; 9]> = families
        .iter()
        .map(|f| {
            // Names come from flow configs and the store: a control
            // character in one must not rewrite the terminal.
            [
                escape_controls(&f.key.connection),
                escape_controls(&f.key.client_id),
                escape_controls(&f.key.api_origin),
                span(now.saturating_sub(f.created_at)),
                expiry(now, f),
                f.refreshed_at
                    .map(|t| ago(now, t))
                    .unwrap_or_else(|| "never".into()),
                f.refresh_count.to_string(),
                match (f.has_refresh_token, f.sealed) {
                    (true, true) => "stored (sealed)".into(),
                    (true, false) => "stored".into(),
                    (false, _) => "none".into(),
                },
                f.lease
                    .as_ref()
                    .map(|l| {
                        format!(
                            "held by {} for {}",
                            escape_controls(&l.holder),
                            span(l.expires_at.saturating_sub(now))
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header.to_vec()));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    Ok(out)
}

/// `tokens forget CONNECTION`: how many families were dropped.
pub fn forget(store: &dyn TokenStore, connection: &str) -> anyhow::Result<usize> {
    store
        .forget(connection)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("forgetting the tokens of `{connection}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_well() {
        assert_eq!(span(800), "800ms");
        assert_eq!(span(5_000), "5s");
        assert_eq!(span(125_000), "2m 5s");
        assert_eq!(span(3 * 3_600_000 + 120_000), "3h 2m");
        assert_eq!(span(2 * 86_400_000 + 3_600_000), "2d 1h");
    }
}

//! The fault matrix: six calls (getMe, createTweet, deleteTweet, a
//! paginated read, a chunked media upload, a token refresh) against every
//! fault X's side can show, through the built component in the runtime,
//! over a relay to the simulator.
//!
//! Each cell asserts: the typed error the retry rules predict (or success
//! where a read is sent again), within the call's deadline, no trap; the
//! same instance then serves a call; a post or an upload chunk is never
//! sent twice; no refresh token is sent twice (the simulator revokes a
//! family on reuse) and none is lost (the next call needs one). The test
//! prints the matrix, and docs/reliability.md shows it (`BLESS=1` rewrites
//! it there; without, the two must agree).

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::failing_store::{FailingStore, StoreMode};
use common::relay::Relay;
use common::*;
use integrator::bindings::exports::wso2::twitter::connector as wit;
use integrator::bindings::wso2::twitter::types::ConnectorError;
use integrator::{CallError, ConnectorInstance};
use x_sim::{endpoint, Endpoint, Fault, Simulator};

const TIMEOUT_MS: u32 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    GetMe,
    CreateTweet,
    DeleteTweet,
    /// getFollowers over two pages; the fault hits the second.
    PagedRead,
    /// 1.5 MiB in two chunks; the fault hits the second append.
    Upload,
    /// getMe whose token is refused once: the fault hits the refresh.
    Refresh,
}

const CALLS: [Call; 6] = [
    Call::GetMe,
    Call::CreateTweet,
    Call::DeleteTweet,
    Call::PagedRead,
    Call::Upload,
    Call::Refresh,
];

impl Call {
    fn label(self) -> &'static str {
        match self {
            Call::GetMe => "getMe",
            Call::CreateTweet => "createTweet",
            Call::DeleteTweet => "deleteTweet",
            Call::PagedRead => "getFollowers, page 2",
            Call::Upload => "uploadMedia, chunk 2",
            Call::Refresh => "token refresh",
        }
    }

    /// Where the fault goes, and how many normal answers come first.
    fn target(self) -> (Endpoint, usize) {
        match self {
            Call::GetMe => (endpoint::GET_ME, 0),
            Call::CreateTweet => (endpoint::CREATE_TWEET, 0),
            Call::DeleteTweet => (endpoint::DELETE_TWEET, 0),
            Call::PagedRead => (Endpoint::Api("getUsersFollowers"), 1),
            Call::Upload => (Endpoint::Api("appendMediaUpload"), 1),
            Call::Refresh => (endpoint::TOKEN, 0),
        }
    }

    /// Whether the faulted request may be sent twice (GET, DELETE).
    fn repeatable(self) -> bool {
        matches!(self, Call::GetMe | Call::DeleteTweet | Call::PagedRead)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Refused,
    ConnectHangs,
    FirstByteTimeout,
    StalledBody,
    ResetMidBody,
    S500,
    S502,
    S503,
    S429,
    S402,
    Unauthorized401Twice,
    MalformedJson,
    TruncatedJson,
    WrongShape,
    EmptyBody,
    Oversized,
    WrongContentType,
    StoreDownBeforeRefresh,
    StoreFailsAfterRefresh,
}

const CUTS: [Cut; 19] = [
    Cut::Refused,
    Cut::ConnectHangs,
    Cut::FirstByteTimeout,
    Cut::StalledBody,
    Cut::ResetMidBody,
    Cut::S500,
    Cut::S502,
    Cut::S503,
    Cut::S429,
    Cut::S402,
    Cut::Unauthorized401Twice,
    Cut::MalformedJson,
    Cut::TruncatedJson,
    Cut::WrongShape,
    Cut::EmptyBody,
    Cut::Oversized,
    Cut::WrongContentType,
    Cut::StoreDownBeforeRefresh,
    Cut::StoreFailsAfterRefresh,
];

impl Cut {
    fn label(self) -> &'static str {
        match self {
            Cut::Refused => "connection refused",
            Cut::ConnectHangs => "connect timeout",
            Cut::FirstByteTimeout => "first-byte timeout",
            Cut::StalledBody => "stalled body",
            Cut::ResetMidBody => "reset mid-body",
            Cut::S500 => "500",
            Cut::S502 => "502",
            Cut::S503 => "503",
            Cut::S429 => "429 with reset",
            Cut::S402 => "402 credits depleted",
            Cut::Unauthorized401Twice => "401, then 401 again",
            Cut::MalformedJson => "malformed JSON",
            Cut::TruncatedJson => "truncated JSON",
            Cut::WrongShape => "wrong JSON shape",
            Cut::EmptyBody => "empty body",
            Cut::Oversized => "oversized body",
            Cut::WrongContentType => "wrong content type",
            Cut::StoreDownBeforeRefresh => "store down before a refresh",
            Cut::StoreFailsAfterRefresh => "store fails after a refresh",
        }
    }

    /// The simulator's fault, for the faults it makes.
    fn fault(self) -> Option<Fault> {
        let problem = |status: u16, title: &str, kind: &str| {
            Fault::Raw(
                status,
                Some("application/problem+json".into()),
                vec![],
                format!(
                    r#"{{"title":"{title}","detail":"{title}","type":"https://api.x.com/2/problems/{kind}","status":{status}}}"#
                ),
            )
        };
        Some(match self {
            Cut::FirstByteTimeout => Fault::Delay(Duration::from_millis(u64::from(TIMEOUT_MS) * 3)),
            Cut::StalledBody => {
                Fault::StalledBody(Duration::from_millis(u64::from(TIMEOUT_MS) * 3))
            }
            Cut::ResetMidBody => Fault::Truncated,
            Cut::S500 => problem(500, "Internal Error", "internal-error"),
            Cut::S502 => problem(502, "Bad Gateway", "bad-gateway"),
            Cut::S503 => problem(503, "Service Unavailable", "service-unavailable"),
            Cut::S429 => rate_limited(Duration::ZERO),
            Cut::S402 => problem(402, "CreditsDepleted", "credits-depleted"),
            Cut::Unauthorized401Twice => problem(401, "Unauthorized", "unauthorized"),
            Cut::MalformedJson => Fault::Malformed("{not json".into()),
            Cut::TruncatedJson => Fault::Malformed(r#"{"data":{"id":"1","#.into()),
            Cut::WrongShape => Fault::Malformed("[1,2,3]".into()),
            Cut::EmptyBody => Fault::Malformed(String::new()),
            Cut::Oversized => Fault::Huge(2 << 20),
            Cut::WrongContentType => Fault::Raw(
                200,
                Some("text/html".into()),
                vec![],
                "<html><body>maintenance</body></html>".into(),
            ),
            Cut::Refused
            | Cut::ConnectHangs
            | Cut::StoreDownBeforeRefresh
            | Cut::StoreFailsAfterRefresh => return None,
        })
    }
}

/// What the retry rules and the error vocabulary predict for a cell.
fn expected(call: Call, cut: Cut) -> &'static str {
    use Cut::*;
    let repeatable = call.repeatable();
    // A paged read that fails after its first page answers the pages read,
    // stopped with the error's kind.
    let answer = |kind: &'static str| -> &'static str {
        if call != Call::PagedRead {
            return kind;
        }
        match kind {
            k if k.starts_with("transport") => "partial: transport",
            "api-error" => "partial: api-error",
            "credits-depleted" => "partial: credits-depleted",
            "unauthorized" => "partial: unauthorized",
            "malformed-response" => "partial: malformed-response",
            "token-store" => "partial: token-store",
            other => other,
        }
    };
    match (call, cut) {
        // Before any request: no page was read.
        (_, Refused) => "transport/connect",
        (_, ConnectHangs) => "transport/timeout",
        // X rotated the token and its answer never came: the rotated token
        // is lost, and the next call sends the spent one (see the docs).
        (Call::Refresh, StalledBody) => {
            "transport/timeout; rotation lost; next call: refresh-failed"
        }
        // The token endpoint is not billed and its client errors are X's.
        (Call::Refresh, S402 | Unauthorized401Twice) => "api-error",
        // An append's 2xx body carries nothing the upload needs and is not
        // read; X never took the chunk, so finalize refuses the upload.
        (
            Call::Upload,
            MalformedJson | TruncatedJson | WrongShape | EmptyBody | WrongContentType,
        ) => "api-error",
        (_, FirstByteTimeout | StalledBody) => answer("transport/timeout"),
        (_, ResetMidBody) => answer("transport/reset"),
        (_, S500) => answer("api-error"),
        (_, S502 | S503) if repeatable => "ok, sent again",
        (_, S502 | S503) => answer("api-error"),
        (_, S429) if repeatable => "ok, sent again",
        (_, S429) => "rate-limited",
        (_, S402) => answer("credits-depleted"),
        (_, Unauthorized401Twice) => answer("unauthorized"),
        (_, MalformedJson | TruncatedJson | WrongShape | EmptyBody | WrongContentType) => {
            answer("malformed-response")
        }
        (_, Oversized) => answer("transport/too-large"),
        (_, StoreDownBeforeRefresh | StoreFailsAfterRefresh) => answer("token-store"),
    }
}

struct Row {
    relay: Relay,
    store: Arc<FailingStore>,
    c: ConnectorInstance,
    me_id: String,
}

fn gif(len: usize) -> String {
    use base64::Engine;
    let mut bytes = b"GIF89a".to_vec();
    bytes.resize(len, 0x2a);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A text X has not seen (X refuses a duplicate post).
fn unique(what: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{what} {}",
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// What a call needs before its fault is set: a post to delete.
async fn prepare(row: &mut Row, call: Call) -> Option<String> {
    (call == Call::DeleteTweet).then_some(())?;
    let posted = row
        .c
        .create_tweet(&text_tweet(&unique("to delete")))
        .await
        .expect("a post to delete");
    Some(posted.id)
}

async fn make_call(row: &mut Row, call: Call, id: Option<String>) -> Result<String, CallError> {
    let c = &mut row.c;
    match call {
        Call::GetMe | Call::Refresh => c.get_me(&get_me_request()).await.map(|_| "ok".into()),
        Call::CreateTweet => c
            .create_tweet(&text_tweet(&unique("matrix")))
            .await
            .map(|_| "ok".into()),
        Call::DeleteTweet => c
            .delete_tweet(&id.unwrap_or_default())
            .await
            .map(|_| "ok".into()),
        Call::PagedRead => {
            let params = kv(&[("id", &row.me_id), ("max_results", "10"), ("maxPages", "2")]);
            c.invoke("getFollowers", &params).await.map(|meta| {
                let v: serde_json::Value = serde_json::from_str(&meta.body).unwrap();
                match v["meta"]["error"]["kind"].as_str() {
                    Some(kind) => format!("partial: {kind}"),
                    None => "ok".into(),
                }
            })
        }
        Call::Upload => c
            .invoke("uploadMedia", &kv(&[("media", &gif(3 << 19))]))
            .await
            .map(|_| "ok".into()),
    }
}

fn outcome(r: &Result<String, CallError>, sent_again: bool) -> String {
    match r {
        Ok(s) if s == "ok" && sent_again => "ok, sent again".into(),
        Ok(s) => s.clone(),
        Err(CallError::Trap(t)) => format!("TRAP: {t}"),
        Err(CallError::Connector(f)) => match &f.error {
            ConnectorError::Transport(t) => {
                format!("transport/{}", integrator::flow::transport_kind(t.kind))
            }
            e => kind_name(e).to_string(),
        },
    }
}

async fn new_row(h: &Harness, store: Arc<FailingStore>) -> Row {
    let relay = Relay::start(h.sim.url().trim_start_matches("http://")).await;
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    let mut cfg = h.config(Some(&pair.access_token), Some(&pair.refresh_token));
    cfg.api_url = Some(relay.url());
    cfg.timeout_ms = Some(TIMEOUT_MS);
    cfg.retry = Some(wit::RetrySettings {
        retry_count: Some(2),
        retry_delay_ms: Some(20),
        wait_on_rate_limit: Some(true),
        max_retry_wait_ms: Some(5_000),
    });
    c.init(&cfg).await.expect("init");
    let me_id = c.get_me(&get_me_request()).await.expect("getMe").user.id;
    Row {
        relay,
        store,
        c,
        me_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_against_every_fault() {
    let store = Arc::new(FailingStore::default());
    let sim = Simulator::start().await.unwrap();
    let h = Harness::with_store(sim, store.clone()).await;
    let mut table = vec![vec![String::new(); CUTS.len()]; CALLS.len()];
    let mut wrong = Vec::new();
    let mut reuses = 0;
    for (i, &call) in CALLS.iter().enumerate() {
        let mut row = new_row(&h, store.clone()).await;
        for (j, &cut) in CUTS.iter().enumerate() {
            let id = prepare(&mut row, call).await;
            let (target, normal_first) = call.target();
            let refreshes = call == Call::Refresh
                || matches!(
                    cut,
                    Cut::StoreDownBeforeRefresh | Cut::StoreFailsAfterRefresh
                );
            // A refresh inside the call: its first request is refused once.
            if refreshes {
                let first = if call == Call::Refresh {
                    endpoint::GET_ME
                } else {
                    target
                };
                for _ in 0..normal_first {
                    h.sim.push_fault(first, Fault::Normal);
                }
                h.sim.push_fault(first, Fault::Status(401, r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#.into()));
            }
            if let Some(fault) = cut.fault() {
                if !refreshes || call == Call::Refresh {
                    let skip = if call == Call::Refresh {
                        0
                    } else {
                        normal_first
                    };
                    for _ in 0..skip {
                        h.sim.push_fault(target, Fault::Normal);
                    }
                }
                h.sim.push_fault(target, fault.clone());
                if cut == Cut::Unauthorized401Twice {
                    h.sim.push_fault(target, fault);
                }
            }
            match cut {
                Cut::Refused => row.relay.refuse().await,
                Cut::ConnectHangs => row.relay.hang().await,
                Cut::StoreDownBeforeRefresh => row.store.set(StoreMode::Down),
                Cut::StoreFailsAfterRefresh => row.store.set(StoreMode::SavesFail),
                _ => {}
            }
            let before = h.sim.stats();
            let sent_before = before.requests.get(&target).copied().unwrap_or(0);
            let started = Instant::now();
            let r = make_call(&mut row, call, id).await;
            let took = started.elapsed();
            let after = h.sim.stats();
            let sent = after.requests.get(&target).copied().unwrap_or(0) - sent_before;
            let expected_sent = if call == Call::Refresh {
                1
            } else {
                1 + normal_first as u64
            };
            let got = outcome(&r, sent > expected_sent && cut != Cut::Unauthorized401Twice);
            let cell = format!("{} × {}", call.label(), cut.label());
            // Every call ends within its deadline: three attempts of the
            // timeout each and the 5 s retry budget, with margin.
            assert!(took < Duration::from_secs(12), "{cell} took {took:?}");
            // A post or a chunk is never sent twice.
            let posts = after.tweet_bodies.len() - before.tweet_bodies.len();
            assert!(posts <= 1, "{cell}: {posts} posts");
            if call == Call::Upload {
                assert!(
                    after.media_appends - before.media_appends <= 2,
                    "{cell}: a chunk sent twice"
                );
            }
            // Back to normal: the same instance serves the next call.
            row.relay.open().await;
            row.store.set(StoreMode::Working);
            h.sim.clear_faults();
            let next = row.c.get_me(&get_me_request()).await;
            let reused = h.sim.stats().reuses_detected > reuses;
            let mut got = got;
            if reused {
                reuses = h.sim.stats().reuses_detected;
                got.push_str("; rotation lost");
            }
            if let Err(e) = &next {
                let kind = match e {
                    CallError::Connector(f) => kind_name(&f.error).to_string(),
                    CallError::Trap(t) => format!("TRAP: {t}"),
                };
                write!(got, "; next call: {kind}").unwrap();
            }
            let want = expected(call, cut);
            if got != want {
                wrong.push(format!("{cell}: {got}, expected {want}"));
            }
            if reused || next.is_err() {
                row = new_row(&h, store.clone()).await;
            }
            table[i][j] = got;
        }
    }
    let rendered = render(&table);
    println!("{rendered}");
    assert!(
        wrong.is_empty(),
        "cells that differ from the rules:\n{}",
        wrong.join("\n")
    );
    check_docs(&rendered);
}

fn render(table: &[Vec<String>]) -> String {
    let mut out = String::from("| fault |");
    for call in CALLS {
        write!(out, " {} |", call.label()).unwrap();
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(CALLS.len()));
    for (j, cut) in CUTS.iter().enumerate() {
        write!(out, "\n| {} |", cut.label()).unwrap();
        for row in table {
            write!(out, " {} |", row[j]).unwrap();
        }
    }
    out.push('\n');
    out
}

const BEGIN: &str = "<!-- fault matrix: generated by crates/e2e/tests/fault_matrix.rs -->\n";
const END: &str = "<!-- end of fault matrix -->";

fn check_docs(rendered: &str) {
    let path = root().join("docs/reliability.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(a), Some(b)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/reliability.md has no fault matrix markers");
    };
    let current = &doc[a + BEGIN.len()..b];
    if std::env::var_os("BLESS").is_some() {
        let new = format!("{}{BEGIN}{rendered}{}", &doc[..a], &doc[b..]);
        std::fs::write(&path, new).unwrap();
    } else {
        assert_eq!(
            current, rendered,
            "docs/reliability.md's fault matrix is stale: BLESS=1 rewrites it"
        );
    }
}

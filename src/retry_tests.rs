//! The retry rules through the connector: what is sent again, how often,
//! and what the clock waited (scripted HTTP, a fake clock).

use crate::error::{ConnectorError, TransportKind};
use crate::test_support::*;
use crate::tweet::CreateTweet;

fn post(text: &str) -> CreateTweet {
    CreateTweet {
        text: Some(text.into()),
        ..Default::default()
    }
}

fn sent(rig: &Rig) -> usize {
    rig.http.api_auth().len()
}

#[test]
fn a_read_is_sent_again_after_503_and_502_and_the_clock_waits() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("a"), None);
    rig.http.push(503, "over capacity");
    rig.http.push(502, "bad gateway");
    rig.http.push(200, ME);
    let before = rig.clock.0.get();
    let me = c.get_me(&me()).unwrap();
    assert_eq!(me.user.id, "1");
    assert_eq!(sent(&rig), 3);
    assert_eq!(c.retries_made(), 2);
    // 500 ms then 1 s, each at least half its step.
    let waited = rig.clock.0.get() - before;
    assert!((750..=1500).contains(&waited), "{waited} ms");
}

#[test]
fn the_budget_ends_the_retries_with_the_last_error() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("a"), None);
    for _ in 0..3 {
        rig.http.push(503, "over capacity");
    }
    let e = c.get_me(&me()).unwrap_err();
    assert!(
        matches!(e, ConnectorError::Api { ref problem, .. } if problem.status == 503),
        "{e:?}"
    );
    assert_eq!(sent(&rig), 3, "two retries by default");
    // The next call has a budget of its own.
    rig.http.push(503, "over capacity");
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(c.retries_made(), 1);
}

#[test]
fn a_post_is_never_sent_twice_once_it_may_have_left() {
    for (status, kind) in [
        (Some(503), None),
        (Some(502), None),
        (Some(500), None),
        (None, Some(TransportKind::Timeout)),
        (None, Some(TransportKind::Reset)),
    ] {
        let rig = Rig::new();
        let mut c = rig.connector(Some("a"), None);
        match (status, kind) {
            (Some(s), _) => rig.http.push(s, "failed"),
            (_, Some(k)) => rig.http.push_err(k),
            _ => unreachable!(),
        }
        assert!(c.create_tweet(&post("hello")).is_err());
        assert_eq!(sent(&rig), 1, "{status:?} {kind:?}: sent once");
    }
}

#[test]
fn a_post_refused_before_it_left_is_sent_again() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("a"), None);
    rig.http.push_err(TransportKind::Connect);
    rig.http.push(
        201,
        r#"{"data":{"id":"7","text":"hello","edit_history_tweet_ids":["7"]}}"#,
    );
    let r = c.create_tweet(&post("hello")).unwrap();
    assert_eq!(r.id, "7");
    assert_eq!(sent(&rig), 2);
}

#[test]
fn a_429_waits_for_the_reset_only_when_the_connection_asks() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("a"), None);
    rig.http.push(429, r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#);
    let e = c.get_me(&me()).unwrap_err();
    assert!(matches!(e, ConnectorError::Api { ref problem, .. } if problem.status == 429));
    assert_eq!(sent(&rig), 1, "no wait unless waitOnRateLimit");
}

#[test]
fn retry_count_zero_sends_once() {
    let rig = Rig::new();
    let mut c = rig.connector_with(Some("a"), None, |p| p.retry.count = Some(0));
    rig.http.push_err(TransportKind::Connect);
    let e = c.get_me(&me()).unwrap_err();
    assert!(matches!(e, ConnectorError::Transport(_)), "{e:?}");
    assert_eq!(sent(&rig), 1);
}

#[test]
fn a_refresh_refused_before_it_left_is_sent_again_with_the_same_token() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push_err(TransportKind::Connect);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    let bodies = rig.http.token_bodies();
    assert_eq!(bodies.len(), 2);
    assert!(bodies.iter().all(|b| b.contains("refresh_token=R0")));
    assert_eq!(c.retries_made(), 1);
}

//! The token source through the connector, natively: refresh ahead of
//! expiry and after a 401, rotation saved before use, leases, a store that
//! fails, and tokens kept out of every error.

use crate::error::{ApiClass, ConnectorError, OAuthReason, OAuthRequest, TransportKind};
use crate::secret::Secret;
use crate::test_support::*;
use crate::token::{FamilyKey, TokenSet, Versioned};

#[test]
fn refreshes_ahead_of_expiry_and_saves_before_use() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.api_auth(), vec!["Bearer A1"]);
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R1")));
    assert_eq!(stored.tokens.expires_at, Some(NOW + 7_200_000));

    // Still fresh 1 h later: no refresh.
    rig.clock.0.set(NOW + 3_600_000);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    // Within the 60 s margin: refresh with the rotated token, never R0 again.
    rig.clock.0.set(NOW + 7_200_000 - 59_000);
    rig.http.push(200, &token_json("A2", "R2", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    let bodies = rig.http.token_bodies();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].contains("refresh_token=R0"), "{}", bodies[0]);
    assert!(bodies[1].contains("refresh_token=R1"), "{}", bodies[1]);
    assert!(bodies
        .iter()
        .all(|b| b.contains("client_id=cid") && b.contains("grant_type=refresh_token")));
    assert_eq!(rig.http.api_auth().last().unwrap(), "Bearer A2");
}

#[test]
fn unauthorized_refreshes_once_then_gives_up() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("A0"), Some("R0"));
    rig.http
        .push(401, r#"{"title":"Unauthorized","status":401}"#);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http
        .push(401, r#"{"title":"Unauthorized","status":401}"#);
    assert_eq!(c.get_me(&me()).unwrap_err().kind(), "unauthorized");
    assert_eq!(rig.http.api_auth(), vec!["Bearer A0", "Bearer A1"]);
    assert_eq!(
        rig.http.token_bodies().len(),
        1,
        "one refresh per call at most"
    );
}

#[test]
fn forbidden_and_other_statuses_do_not_refresh() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("A0"), Some("R0"));
    for status in [403, 400, 404, 429, 500] {
        rig.http.push(status, r#"{"title":"x"}"#);
        assert!(c.get_me(&me()).is_err());
    }
    assert!(rig.http.token_bodies().is_empty());
}

#[test]
fn a_refused_refresh_token_is_never_sent_again() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(
        400,
        r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#,
    );
    match c.get_me(&me()).unwrap_err() {
        ConnectorError::OAuth(f) => {
            assert_eq!(f.request, OAuthRequest::Refresh);
            assert_eq!(f.reason, OAuthReason::InvalidRequest);
            assert_eq!(f.code.as_deref(), Some("invalid_request"));
            assert_eq!(
                f.description.as_deref(),
                Some("Value passed for the token was invalid.")
            );
        }
        e => panic!("{e:?}"),
    }
    match c.get_me(&me()).unwrap_err() {
        ConnectorError::OAuth(f) => {
            assert_eq!(f.reason, OAuthReason::RefreshTokenSpent);
            assert_eq!(f.code(), "refresh_token_spent");
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(rig.http.sent.borrow().len(), 1);
}

#[test]
fn a_transport_failure_keeps_the_refresh_token() {
    let rig = Rig::new();
    // No retries: the refused refresh is the call's answer.
    let mut c = rig.connector_with(None, Some("R0"), |p| p.retry.count = Some(0));
    rig.http.push_err(TransportKind::Connect);
    assert_eq!(c.get_me(&me()).unwrap_err().kind(), "transport");
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies()[1].contains("refresh_token=R0"));
}

#[test]
fn a_stored_newer_family_wins_over_the_spent_config_token() {
    let rig = Rig::new();
    // First process: rotates R0 -> R1 and saves.
    let mut first = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 60));
    rig.http.push(200, ME);
    first.get_me(&me()).unwrap();
    // Second process, same config, once A1 is within its margin: adopts the
    // stored family, refreshes with R1.
    rig.clock.0.set(NOW + 31_000);
    let mut second = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A2", "R2", 7200));
    rig.http.push(200, ME);
    second.get_me(&me()).unwrap();
    let bodies = rig.http.token_bodies();
    assert!(bodies[1].contains("refresh_token=R1"), "{}", bodies[1]);

    // A new authorization in the config replaces the stored family.
    let mut third = rig.connector(None, Some("NEW"));
    rig.http.push(200, &token_json("A3", "R3", 7200));
    rig.http.push(200, ME);
    third.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies()[2].contains("refresh_token=NEW"));
}

#[test]
fn waits_for_another_holders_refresh_instead_of_spending_the_token() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.store.lease_held_by_other.set(true);
    // The other holder finishes while we wait: its set appears in the store.
    let origin = rig.store.current.borrow().clone().unwrap().tokens.origin;
    let store = rig.store.clone();
    *store.current.borrow_mut() = Some(Versioned {
        version: 2,
        tokens: TokenSet {
            access_token: Some(Secret::new("A-other")),
            refresh_token: Some(Secret::new("R-other")),
            expires_at: Some(NOW + 7_200_000),
            obtained_at: Some(NOW),
            origin,
        },
    });
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies().is_empty());
    assert_eq!(rig.http.api_auth(), vec!["Bearer A-other"]);
}

#[test]
fn token_bodies_and_secrets_never_show_in_errors_or_debug() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("ACCESS-SECRET"), Some("REFRESH-SECRET"));
    rig.http.push(401, "{}");
    // A 2xx token response that is not one: not echoed.
    rig.http
        .push(200, r#"{"access_token":"LEAKED-ACCESS","token_type":42}"#);
    let e = c.get_me(&me()).unwrap_err();
    let shown = format!("{e} {e:?} {:?}", c.token_source());
    for secret in ["ACCESS-SECRET", "REFRESH-SECRET", "LEAKED-ACCESS"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(e.kind(), "malformed-response");
}

#[test]
fn rate_limited_error_carries_the_windows() {
    let rig = Rig::new();
    let mut c = rig.connector(Some("A0"), None);
    rig.http
        .script
        .borrow_mut()
        .push_back(Ok((429, "{}".into())));
    match c.get_me(&me()).unwrap_err() {
        ConnectorError::Api {
            class: ApiClass::RateLimited,
            problem,
            ..
        } => assert_eq!(problem.status, 429),
        e => panic!("{e:?}"),
    }
}

fn store_failure(e: ConnectorError) -> (String, bool) {
    match e {
        ConnectorError::TokenStore { cause, unsaved } => (cause, unsaved),
        e => panic!("expected a token-store error, got {e:?}"),
    }
}

#[test]
fn the_family_key_is_connection_client_and_api_origin() {
    let rig = Rig::new();
    let _ = rig.connector(None, Some("R0"));
    assert_eq!(
        rig.store.families.borrow()[0],
        FamilyKey {
            connection: "TWITTER_CONNECTION_1".into(),
            client_id: "cid".into(),
            api_origin: "http://127.0.0.1:1".into(),
        }
    );
}

#[test]
fn without_the_store_no_refresh_is_sent_until_it_answers() {
    let rig = Rig::new();
    rig.store.down.set(true);
    let mut c = rig.connector(None, Some("R0"));
    let (cause, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(
        cause.contains("down") && cause.contains("no token refresh was sent"),
        "{cause}"
    );
    assert!(!unsaved);
    assert!(rig.http.sent.borrow().is_empty(), "nothing went to X");
    // Back: the family is read (here: none, so the config starts it), then refreshed.
    rig.store.down.set(false);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies()[0].contains("refresh_token=R0"));
    assert_eq!(
        rig.store
            .current
            .borrow()
            .clone()
            .unwrap()
            .tokens
            .refresh_token,
        Some(Secret::new("R1"))
    );
}

#[test]
fn without_the_store_a_config_access_token_still_serves_but_is_never_refreshed() {
    let rig = Rig::new();
    rig.store.down.set(true);
    let mut c = rig.connector(Some("A0"), Some("R0"));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    // X refuses A0: a refresh would need the store; none is sent.
    rig.http
        .push(401, r#"{"title":"Unauthorized","status":401}"#);
    let (_, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(!unsaved);
    assert!(rig.http.token_bodies().is_empty());
}

#[test]
fn a_lease_the_store_cannot_give_means_no_refresh() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.store.leases_fail.set(true);
    store_failure(c.get_me(&me()).unwrap_err());
    assert!(rig.http.sent.borrow().is_empty());
}

#[test]
fn a_refresh_whose_save_fails_is_held_saved_later_and_never_sent_again() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.store.saves_fail.set(true);
    rig.http.push(200, &token_json("A1", "R1", 7200));
    // X rotated R0 -> R1, the save failed: the call fails, A1 is not used.
    let (cause, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(unsaved && cause.contains("held in memory"), "{cause}");
    assert!(
        rig.http.api_auth().is_empty(),
        "A1 is used only once it is saved"
    );
    assert!(c.token_source().holds_unsaved_tokens());
    // Still down: the next call tries the save again, sends nothing.
    let (_, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(unsaved);
    assert_eq!(rig.http.sent.borrow().len(), 1);
    let shown = format!("{:?} {cause}", c.token_source());
    assert!(!shown.contains("A1") && !shown.contains("R1"), "{shown}");
    // Back: saved first thing, then the call goes on with A1; R0 never again.
    rig.store.saves_fail.set(false);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.api_auth(), vec!["Bearer A1"]);
    assert_eq!(rig.http.token_bodies().len(), 1);
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R1")));
    assert!(!c.token_source().holds_unsaved_tokens());
}

#[test]
fn a_second_start_never_overwrites_a_rotation_saved_meanwhile() {
    let rig = Rig::new();
    // Another process starts from the same config, refreshes and saves R1
    // between our load and our first save.
    let origin = crate::token::fingerprint(&Secret::new("R0"));
    *rig.store.before_next_save.borrow_mut() = Some(Versioned {
        version: 2,
        tokens: TokenSet {
            access_token: Some(Secret::new("A1")),
            refresh_token: Some(Secret::new("R1")),
            expires_at: Some(NOW + 7_200_000),
            obtained_at: Some(NOW),
            origin,
        },
    });
    let mut c = rig.connector(None, Some("R0"));
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.version, 2, "the rotated set stays");
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R1")));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(
        rig.http.api_auth(),
        vec!["Bearer A1"],
        "adopted, not R0 spent"
    );
}

#[test]
fn short_lived_tokens_refresh_at_half_their_life_not_on_every_call() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 2));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    rig.clock.0.set(NOW + 900);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.token_bodies().len(), 1, "fresh for the first half");
    rig.clock.0.set(NOW + 1_000);
    rig.http.push(200, &token_json("A2", "R2", 2));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.http.token_bodies().len(), 2);
}

/// The audit's surviving mutant: on a same-family conflict, taking the
/// stored set instead of re-saving ours throws away the only copy of the
/// rotated token and sends the spent one next (which revokes the family).
#[test]
fn an_unsaved_rotation_survives_the_store_losing_its_data_and_a_restart_from_the_config() {
    let rig = Rig::new();
    // Started from the config's R0 (saved as version 1), rotated once to R1
    // (version 2).
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(rig.store.current.borrow().as_ref().unwrap().version, 2);
    // Rotated again, R1 -> R2, and that save fails: the only copy is here.
    rig.clock.0.set(NOW + 7_200_000);
    rig.store.saves_fail.set(true);
    rig.http.push(200, &token_json("A2", "R2", 7200));
    let (_, unsaved) = store_failure(c.get_me(&me()).unwrap_err());
    assert!(unsaved);
    // The store lost its data (a Redis without persistence restarted), and
    // another process started from the config's R0 and saved it as
    // version 1: the same family, older than ours.
    let mut theirs = c.token_source().tokens().clone();
    theirs.access_token = None;
    theirs.refresh_token = Some(Secret::new("R0"));
    *rig.store.current.borrow_mut() = Some(Versioned {
        version: 1,
        tokens: theirs,
    });
    // The store is back: our save conflicts, and ours is the newest.
    rig.store.saves_fail.set(false);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    let stored = rig.store.current.borrow().clone().unwrap();
    assert_eq!(stored.tokens.refresh_token, Some(Secret::new("R2")));
    assert_eq!(rig.http.api_auth().last().unwrap(), "Bearer A2");
    // The next refresh sends R2; R0 and R1 are never sent again.
    rig.clock.0.set(NOW + 2 * 7_200_000);
    rig.http.push(200, &token_json("A3", "R3", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    let bodies = rig.http.token_bodies();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies[2].contains("refresh_token=R2"), "{}", bodies[2]);
    assert!(!bodies[2].contains("R0") && !bodies[2].contains("R1"));
}

fn leases(rig: &Rig) -> (u32, u32) {
    (
        rig.store.leases_granted.get(),
        rig.store.leases_released.get(),
    )
}

/// The lease is taken once per refresh and given back on every way out: a
/// rotation saved, X refusing the token, the save failing. A call that
/// needs no refresh takes none.
#[test]
fn each_refresh_takes_the_lease_once_and_always_gives_it_back() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    rig.http.push(200, &token_json("A1", "R1", 7200));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(leases(&rig), (1, 1));
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(leases(&rig), (1, 1), "a fresh token needs no lease");

    // The save fails: the lease is released all the same.
    rig.clock.0.set(NOW + 7_200_000);
    rig.store.saves_fail.set(true);
    rig.http.push(200, &token_json("A2", "R2", 7200));
    store_failure(c.get_me(&me()).unwrap_err());
    assert_eq!(leases(&rig), (2, 2));
    rig.store.saves_fail.set(false);
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert_eq!(leases(&rig), (2, 2), "saving a held set needs no lease");

    // X refuses the token: released too.
    rig.clock.0.set(NOW + 2 * 7_200_000);
    rig.http.push(
        400,
        r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#,
    );
    assert!(matches!(
        c.get_me(&me()).unwrap_err(),
        ConnectorError::OAuth(_)
    ));
    assert_eq!(leases(&rig), (3, 3));
    assert_eq!(rig.http.token_bodies().len(), 3);
}

/// Another holder's refresh lands between our last read and the lease we
/// are granted: the re-read under the lease finds it, and our (now spent)
/// refresh token is never sent.
#[test]
fn a_rotation_saved_just_before_our_lease_is_adopted_not_refreshed_again() {
    let rig = Rig::new();
    let mut c = rig.connector(None, Some("R0"));
    let origin = rig.store.current.borrow().clone().unwrap().tokens.origin;
    *rig.store.with_next_lease.borrow_mut() = Some(Versioned {
        version: 2,
        tokens: TokenSet {
            access_token: Some(Secret::new("A-other")),
            refresh_token: Some(Secret::new("R-other")),
            expires_at: Some(NOW + 7_200_000),
            obtained_at: Some(NOW),
            origin,
        },
    });
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(
        rig.http.token_bodies().is_empty(),
        "R0 was spent by the other holder"
    );
    assert_eq!(rig.http.api_auth(), vec!["Bearer A-other"]);
    assert_eq!(leases(&rig), (1, 1));

    // The same on a 401: the other holder's token answers it.
    rig.http.push(
        401,
        r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
    );
    let origin = rig.store.current.borrow().clone().unwrap().tokens.origin;
    *rig.store.with_next_lease.borrow_mut() = Some(Versioned {
        version: 3,
        tokens: TokenSet {
            access_token: Some(Secret::new("A-third")),
            refresh_token: Some(Secret::new("R-third")),
            expires_at: Some(NOW + 7_200_000),
            obtained_at: Some(NOW),
            origin,
        },
    });
    rig.http.push(200, ME);
    c.get_me(&me()).unwrap();
    assert!(rig.http.token_bodies().is_empty());
    assert_eq!(
        rig.http.api_auth(),
        vec!["Bearer A-other", "Bearer A-other", "Bearer A-third"]
    );
    assert_eq!(leases(&rig), (2, 2));
}

//! Faults on the wire become typed errors, and the instance stays usable.

mod common;

use std::time::Duration;

use common::*;
use integrator::bindings::wso2::twitter::types::{
    ApiClass, ApiFailure, ConnectorError, TransportKind,
};
use x_sim::{endpoint, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_become_typed_errors_and_the_instance_stays_usable() {
    let h = Harness::new().await;
    // No retries: each fault is the call's answer (tests/retries.rs and
    // the fault matrix cover what is sent again).
    let pair = h.sim.issue_tokens(CLIENT_ID);
    let mut c = h.instance().await;
    let mut cfg = h.config(Some(&pair.access_token), Some(&pair.refresh_token));
    cfg.retry = Some(
        integrator::bindings::exports::wso2::twitter::connector::RetrySettings {
            retry_count: Some(0),
            retry_delay_ms: None,
            wait_on_rate_limit: None,
            max_retry_wait_ms: None,
        },
    );
    c.init(&cfg).await.unwrap();
    let cases: Vec<(Fault, &str, Option<TransportKind>)> = vec![
        (Fault::Status(503, "<html>over capacity</html>".into()), "api-error", None),
        (
            Fault::Status(
                403,
                r#"{"title":"Client Forbidden","type":"https://api.x.com/2/problems/client-not-enrolled","detail":"enrollment required"}"#.into(),
            ),
            "forbidden",
            None,
        ),
        (Fault::Malformed("not json at all".into()), "malformed-response", None),
        (Fault::Malformed("".into()), "malformed-response", None),
        (Fault::Malformed("[1,2,3]".into()), "malformed-response", None),
        (Fault::Malformed(r#"{"data":{"id":5}}"#.into()), "malformed-response", None),
        (Fault::Truncated, "transport", Some(TransportKind::Reset)),
        (Fault::Drop, "transport", Some(TransportKind::Reset)),
        (Fault::Huge(2 << 20), "transport", Some(TransportKind::TooLarge)),
        (Fault::Delay(Duration::from_secs(4)), "transport", Some(TransportKind::Timeout)),
        // Headers and half the body, then silence past the 2 s timeout.
        (Fault::StalledBody(Duration::from_secs(4)), "transport", Some(TransportKind::Timeout)),
    ];
    for (fault, kind, transport) in cases {
        let label = format!("{fault:?}");
        h.sim.push_fault(endpoint::GET_ME, fault);
        let err = connector_error(c.get_me(&get_me_request()).await.unwrap_err());
        assert_eq!(kind_name(&err), kind, "{label}: {err:?}");
        if let (Some(want), ConnectorError::Transport(t)) = (transport, &err) {
            assert_eq!(t.kind, want, "{label}: {}", t.cause);
        }
        if let ConnectorError::Api(ApiFailure {
            class: ApiClass::Forbidden,
            problem: p,
            ..
        }) = &err
        {
            assert_eq!(p.kind, "client-not-enrolled");
        }
        c.get_me(&get_me_request())
            .await
            .unwrap_or_else(|e| panic!("usable after {label}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_transport_error() {
    let h = Harness::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = h.instance().await;
    let mut cfg = h.config(Some("access"), None);
    cfg.api_url = Some(format!("http://127.0.0.1:{port}"));
    c.init(&cfg).await.unwrap();
    match connector_error(c.get_me(&get_me_request()).await.unwrap_err()) {
        ConnectorError::Transport(t) => assert_eq!(t.kind, TransportKind::Connect, "{}", t.cause),
        e => panic!("{e:?}"),
    }
}

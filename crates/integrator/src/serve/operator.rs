//! The paths `serve` answers for operators rather than flows: liveness and
//! readiness for a supervisor or a load balancer, Prometheus metrics (with
//! `--metrics`), and the spend status. They are taken before the flows'
//! APIs, so an API must not use them.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;

use super::{answer, refuse};
use crate::flow::Integrator;

/// Today's spend and budget left per connection (JSON).
pub const SPEND_STATUS_PATH: &str = "/_integrator/spend";
/// 200 while the process serves.
pub const LIVE_PATH: &str = "/health/live";
/// 200 when a call could run: the component is loaded (it is, once `serve`
/// listens) and the token store answers; 503 otherwise.
pub const READY_PATH: &str = "/health/ready";
/// Prometheus metrics, text format 0.0.4 (with `--metrics`).
pub const METRICS_PATH: &str = "/metrics";

/// How long the readiness probe waits for the token store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer for an operator's path, or `None` for the flows' APIs.
pub async fn answer_for(
    integrator: &Integrator,
    metrics: bool,
    method: &http::Method,
    path: &str,
) -> Option<hyper::Response<Full<Bytes>>> {
    if method != http::Method::GET {
        return None;
    }
    Some(match path {
        LIVE_PATH => answer(&integrator.redactor, 200, &json!({"status": "live"}), &[]),
        READY_PATH => match store_answers(integrator).await {
            Ok(()) => answer(
                &integrator.redactor,
                200,
                &json!({"status": "ready", "tokenStore": integrator.runtime.token_store().describe()}),
                &[],
            ),
            Err(why) => refuse(integrator, 503, "not-ready", &why, false),
        },
        METRICS_PATH if metrics => {
            let mut r = hyper::Response::new(Full::new(Bytes::from(integrator.metrics_text())));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        SPEND_STATUS_PATH => match integrator.spend_status() {
            Ok(v) => answer(&integrator.redactor, 200, &v, &[]),
            Err(e) => refuse(integrator, 503, "token-store", &e.to_string(), false),
        },
        _ => return None,
    })
}

/// Whether the token store answers a read (of a family no connection has).
async fn store_answers(integrator: &Integrator) -> Result<(), String> {
    let store = integrator.runtime.token_store().clone();
    let probe = token_store::FamilyKey {
        connection: "_integrator_readiness_probe".into(),
        client_id: String::new(),
        api_origin: String::new(),
    };
    let read = tokio::task::spawn_blocking(move || store.load(&probe).map(|_| ()));
    match tokio::time::timeout(READY_TIMEOUT, read).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("the token store does not answer: {e}")),
        Ok(Err(e)) => Err(format!("the token store probe failed: {e}")),
        Err(_) => Err(format!(
            "the token store did not answer within {} s",
            READY_TIMEOUT.as_secs()
        )),
    }
}

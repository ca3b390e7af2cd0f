//! The connection of an instance that was never `init`-ed, from its
//! environment (`wasi:cli/environment`).
//!
//! A plain host (`wasmtime run --invoke`, jco, Spin) may call one export on
//! a fresh instance and drop it. Such a call takes its connection from
//! `X_*` variables and, through the token store, the newest tokens the
//! previous call saved: the configured refresh token only starts the
//! family, as with `init`.

use crate::config::{self, ConnectionParams};
use crate::error::ConnectorError;
use crate::retry::{self, RetryParams};
use crate::secret::Secret;

/// The variables read, each with the `init` parameter it stands for.
pub const VARIABLES: [(&str, &str); 11] = [
    ("X_CLIENT_ID", "clientId"),
    ("X_CLIENT_SECRET", "clientSecret"),
    ("X_ACCESS_TOKEN", "accessToken"),
    ("X_REFRESH_TOKEN", "refreshToken"),
    ("X_API_URL", "apiUrl"),
    ("X_TIMEOUT", "timeout"),
    ("X_CONNECTION_NAME", "connectionName"),
    ("X_RETRY_COUNT", "retryCount"),
    ("X_RETRY_DELAY", "retryDelay"),
    ("X_WAIT_ON_RATE_LIMIT", "waitOnRateLimit"),
    ("X_MAX_RETRY_WAIT", "maxRetryWait"),
];

/// The connection the environment gives, `None` when it names no client
/// (`X_CLIENT_ID` unset: the instance is simply not initialized).
///
/// Errors name the variable, not the `init` parameter: it is what the
/// user set.
pub fn params_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<ConnectionParams>, ConnectorError> {
    let Some(client_id) = get("X_CLIENT_ID") else {
        return Ok(None);
    };
    let timeout = match get("X_TIMEOUT") {
        Some(t) => Some(config::parse_timeout(&t).map_err(in_env_terms)?),
        None => None,
    };
    let number = |variable: &str, parameter: &str| {
        get(variable)
            .map(|v| retry::parse_number(parameter, &v).map_err(in_env_terms))
            .transpose()
    };
    let retry = RetryParams {
        count: number("X_RETRY_COUNT", "retryCount")?,
        delay_ms: number("X_RETRY_DELAY", "retryDelay")?,
        wait_on_rate_limit: get("X_WAIT_ON_RATE_LIMIT")
            .map(|v| crate::validate::boolean("waitOnRateLimit", &v).map_err(in_env_terms))
            .transpose()?,
        max_wait_ms: number("X_MAX_RETRY_WAIT", "maxRetryWait")?,
    };
    let params = ConnectionParams {
        connection_name: get("X_CONNECTION_NAME"),
        api_url: get("X_API_URL"),
        timeout,
        client_id,
        client_secret: get("X_CLIENT_SECRET").map(Secret::new),
        access_token: get("X_ACCESS_TOKEN").map(Secret::new),
        refresh_token: get("X_REFRESH_TOKEN").map(Secret::new),
        retry,
    };
    Ok(Some(params))
}

/// An `invalid-input` about an `init` parameter, renamed to the variable
/// that set it.
pub fn in_env_terms(e: ConnectorError) -> ConnectorError {
    match e {
        ConnectorError::InvalidInput { parameter, rule } => {
            let variable = VARIABLES
                .iter()
                .find(|(_, p)| *p == parameter)
                .map_or(parameter, |(v, _)| (*v).to_string());
            ConnectorError::InvalidInput {
                parameter: variable,
                rule,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn no_client_id_is_no_connection() {
        let got = params_from_env(env(&[("X_REFRESH_TOKEN", "r")])).unwrap();
        assert!(got.is_none());
    }

    #[test]
    fn every_variable_reaches_its_parameter() {
        let p = params_from_env(env(&[
            ("X_CLIENT_ID", "cid"),
            ("X_CLIENT_SECRET", "cs"),
            ("X_ACCESS_TOKEN", "a"),
            ("X_REFRESH_TOKEN", "r"),
            ("X_API_URL", "http://127.0.0.1:9"),
            ("X_TIMEOUT", "2500"),
            ("X_CONNECTION_NAME", "cli"),
            ("X_RETRY_COUNT", "4"),
            ("X_RETRY_DELAY", "250"),
            ("X_WAIT_ON_RATE_LIMIT", "true"),
            ("X_MAX_RETRY_WAIT", "60000"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(p.client_id, "cid");
        assert_eq!(p.client_secret.unwrap().expose(), "cs");
        assert_eq!(p.access_token.unwrap().expose(), "a");
        assert_eq!(p.refresh_token.unwrap().expose(), "r");
        assert_eq!(p.api_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(p.timeout, Some(2500));
        assert_eq!(p.connection_name.as_deref(), Some("cli"));
        assert_eq!(p.retry.count, Some(4));
        assert_eq!(p.retry.delay_ms, Some(250));
        assert_eq!(p.retry.wait_on_rate_limit, Some(true));
        assert_eq!(p.retry.max_wait_ms, Some(60_000));
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let e = params_from_env(env(&[("X_CLIENT_ID", "cid"), ("X_TIMEOUT", "soon")])).unwrap_err();
        assert!(e.to_string().contains("`X_TIMEOUT`"), "{e}");
        let e = params_from_env(env(&[("X_CLIENT_ID", "c"), ("X_WAIT_ON_RATE_LIMIT", "1")]))
            .unwrap_err();
        assert!(e.to_string().contains("`X_WAIT_ON_RATE_LIMIT`"), "{e}");

        let p = params_from_env(env(&[("X_CLIENT_ID", "cid"), ("X_API_URL", "ftp://x")]))
            .unwrap()
            .unwrap();
        let e = in_env_terms(config::validate(p).unwrap_err());
        assert!(e.to_string().contains("`X_API_URL`"), "{e}");
    }
}

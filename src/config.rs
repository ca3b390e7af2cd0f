//! `init`: the connection parameters and their rules.

use std::net::IpAddr;
use std::time::Duration;

use oauth2::url::{Host, Url};

use crate::error::ConnectorError;
use crate::retry::{RetryParams, RetryPolicy};
use crate::secret::Secret;

pub const DEFAULT_API_URL: &str = "https://api.x.com";
pub const DEFAULT_CONNECTION_NAME: &str = "TWITTER_CONNECTION_1";
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// Longest timeout accepted: a connector call that may hang for more than
/// ten minutes is a configuration mistake.
pub const MAX_TIMEOUT_MS: u32 = 600_000;

/// What `init` receives (WSO2 4.x names in comments).
#[derive(Debug, Clone, Default)]
pub struct ConnectionParams {
    /// connectionName
    pub connection_name: Option<String>,
    /// apiUrl
    pub api_url: Option<String>,
    /// timeout (ms)
    pub timeout: Option<u32>,
    /// clientId
    pub client_id: String,
    /// clientSecret
    pub client_secret: Option<Secret>,
    /// accessToken
    pub access_token: Option<Secret>,
    /// refreshToken
    pub refresh_token: Option<Secret>,
    /// retryCount, retryDelay, waitOnRateLimit, maxRetryWait
    pub retry: RetryParams,
}

/// A validated connection.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    /// Base URL without a trailing slash.
    pub api_url: String,
    /// `scheme://host[:port]` of `api_url` (default ports left out): with
    /// the name and client id, it keys the connection's stored tokens.
    pub api_origin: String,
    pub timeout: Duration,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// When a failed request is sent again.
    pub retry: RetryPolicy,
}

impl Connection {
    pub fn token_url(&self) -> String {
        format!("{}/2/oauth2/token", self.api_url)
    }
}

/// localhost, 127.0.0.0/8 or ::1: where plain http may go (tokens never
/// travel in clear text to another machine).
pub(crate) fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn blank_to_none(s: Option<Secret>) -> Option<Secret> {
    s.filter(|s| !s.expose().trim().is_empty())
}

/// Checks every rule of `init`; the returned tokens are the non-blank ones.
pub fn validate(
    p: ConnectionParams,
) -> Result<(Connection, Option<Secret>, Option<Secret>), ConnectorError> {
    let name = p
        .connection_name
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_CONNECTION_NAME.to_string());
    if name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(ConnectorError::invalid(
            "connectionName",
            "must be 1 to 128 characters of letters, digits, `_`, `-` or `.`",
        ));
    }
    let raw_url = p
        .api_url
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    // The URL parser drops tabs and line breaks silently (WHATWG): a value
    // carrying them is a mistake or an attack, refused rather than mended.
    if raw_url.chars().any(char::is_control) {
        return Err(ConnectorError::invalid(
            "apiUrl",
            "must not contain control characters (line breaks, tabs)",
        ));
    }
    let url = Url::parse(&raw_url).map_err(|e| {
        ConnectorError::invalid("apiUrl", format!("must be an absolute http(s) URL ({e})"))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url.host()) => {}
        "http" => {
            return Err(ConnectorError::invalid(
                "apiUrl",
                "must use https unless the host is loopback (localhost, 127.0.0.0/8, ::1): tokens never travel in clear text to another machine",
            ))
        }
        _ => return Err(ConnectorError::invalid("apiUrl", "must be an http(s) URL")),
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(ConnectorError::invalid(
            "apiUrl",
            "must be a base URL with a host and no query or fragment",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConnectorError::invalid(
            "apiUrl",
            "must not carry credentials",
        ));
    }
    let api_url = url.as_str().trim_end_matches('/').to_string();
    let api_origin = url.origin().ascii_serialization();
    let timeout = p.timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout) {
        return Err(ConnectorError::invalid(
            "timeout",
            format!("must be 1 to {MAX_TIMEOUT_MS} milliseconds"),
        ));
    }
    let retry = p.retry.validate()?;
    let client_id = p.client_id.trim().to_string();
    if client_id.is_empty() {
        return Err(ConnectorError::invalid("clientId", "is required"));
    }
    // Neither token: the connection uses the family stored for it (from
    // `integrator auth login`), and says so when there is none.
    let access = blank_to_none(p.access_token);
    let refresh = blank_to_none(p.refresh_token);
    Ok((
        Connection {
            name,
            api_url,
            api_origin,
            timeout: Duration::from_millis(timeout.into()),
            client_id,
            client_secret: blank_to_none(p.client_secret),
            retry,
        },
        access,
        refresh,
    ))
}

/// Parses the WSO2 `timeout` string.
pub fn parse_timeout(value: &str) -> Result<u32, ConnectorError> {
    value
        .trim()
        .parse::<u32>()
        .map_err(|_| ConnectorError::invalid("timeout", "must be a whole number of milliseconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(url: &str) -> ConnectionParams {
        ConnectionParams {
            api_url: Some(url.into()),
            client_id: "cid".into(),
            refresh_token: Some(Secret::new("r")),
            ..Default::default()
        }
    }

    fn err_param(p: ConnectionParams) -> String {
        match validate(p).unwrap_err() {
            ConnectorError::InvalidInput { parameter, .. } => parameter,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://api.x.com",
            "https://api.twitter.com/",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "http://127.3.2.1",
        ] {
            assert!(validate(params(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.x.com",
            "http://10.0.0.1",
            "http://localhost.evil.com",
            "ftp://x",
            "api.x.com",
            "https://u:p@api.x.com",
            "https://api.x.com/?a=1",
            "https://api.x.com/\r\nHost: evil",
            "https://api.x\t.com",
        ] {
            assert_eq!(err_param(params(bad)), "apiUrl", "{bad}");
        }
        let (c, _, _) = validate(params("https://api.x.com/")).unwrap();
        assert_eq!(c.api_url, "https://api.x.com");
        assert_eq!(c.token_url(), "https://api.x.com/2/oauth2/token");
        assert_eq!(c.api_origin, "https://api.x.com");
        let (c, _, _) = validate(params("http://127.0.0.1:8080/base/")).unwrap();
        assert_eq!(c.api_origin, "http://127.0.0.1:8080");
    }

    #[test]
    fn defaults_and_required() {
        let (c, a, r) = validate(ConnectionParams {
            client_id: "c".into(),
            access_token: Some(Secret::new("a")),
            refresh_token: Some(Secret::new("  ")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.api_url, DEFAULT_API_URL);
        assert_eq!(c.name, DEFAULT_CONNECTION_NAME);
        assert_eq!(c.timeout, Duration::from_millis(10_000));
        assert!(a.is_some() && r.is_none());

        let mut p = params("https://api.x.com");
        p.client_id = " ".into();
        assert_eq!(err_param(p), "clientId");
        let mut p = params("https://api.x.com");
        p.refresh_token = None;
        let (_, a, r) = validate(p).unwrap();
        assert!(
            a.is_none() && r.is_none(),
            "no tokens: the stored family is used"
        );
        let mut p = params("https://api.x.com");
        p.timeout = Some(0);
        assert_eq!(err_param(p), "timeout");
        let mut p = params("https://api.x.com");
        p.connection_name = Some("a b".into());
        assert_eq!(err_param(p), "connectionName");
    }
}

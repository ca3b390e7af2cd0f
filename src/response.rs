//! Reading X responses: rate-limit headers, problems, status mapping.

use http::HeaderMap;
use serde_json::Value;

use crate::cost::CallCost;
use crate::error::{ApiClass, ConnectorError, Problem, ProblemItem, RateLimitWindow, RateLimits};
use crate::http::Response;

/// The response metadata every operation returns (WIT `response-meta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMeta {
    pub status: u16,
    pub rate_limits: RateLimits,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Problems beside the data (a partial success).
    pub errors: Vec<ProblemItem>,
    /// What the call costs at X's pay-per-use prices.
    pub cost: CallCost,
}

/// Headers passed on to flows: nothing that could carry a credential.
const KEPT_HEADERS: &[&str] = &["content-type", "x-transaction-id", "x-response-time"];

/// The rate-limit window a header belongs to, and which of its fields.
const WINDOW_PREFIXES: [&str; 3] = [
    "x-rate-limit-",
    "x-user-limit-24hour-",
    "x-app-limit-24hour-",
];

fn window_of<'a>(
    l: &'a mut RateLimits,
    name: &'a str,
) -> Option<(&'a mut Option<RateLimitWindow>, &'a str)> {
    let [window, user, app] = WINDOW_PREFIXES;
    if let Some(field) = name.strip_prefix(window) {
        Some((&mut l.window, field))
    } else if let Some(field) = name.strip_prefix(user) {
        Some((&mut l.user_day, field))
    } else {
        name.strip_prefix(app).map(|field| (&mut l.app_day, field))
    }
}

/// Records one header into `l` if it is a rate-limit header with a number.
/// The first value of a repeated header wins, as `HeaderMap::get` would.
fn note_rate_limit(l: &mut RateLimits, name: &str, value: &http::HeaderValue) {
    let Some((window, field)) = window_of(l, name) else {
        return;
    };
    let Some(text) = value.to_str().ok().map(str::trim) else {
        return;
    };
    let w = match field {
        "limit" | "remaining" | "reset" => window.get_or_insert_with(Default::default),
        _ => return,
    };
    match field {
        "limit" if w.limit.is_none() => w.limit = text.parse().ok(),
        "remaining" if w.remaining.is_none() => w.remaining = text.parse().ok(),
        "reset" if w.reset_at_s.is_none() => w.reset_at_s = text.parse().ok(),
        _ => {}
    }
    if *w == RateLimitWindow::default() {
        *window = None;
    }
}

/// One pass over the headers (this runs on every call: no per-name lookups).
pub fn rate_limits(h: &HeaderMap) -> RateLimits {
    let mut l = RateLimits::default();
    for (k, v) in h {
        note_rate_limit(&mut l, k.as_str(), v);
    }
    l.retry_after_s = l.retry_after_of();
    l
}

pub fn meta(resp: &Response) -> ResponseMeta {
    let mut rate_limits = RateLimits::default();
    let mut headers = Vec::new();
    for (k, v) in resp.headers() {
        let k = k.as_str();
        let limit = WINDOW_PREFIXES.iter().any(|p| k.starts_with(p));
        if limit {
            note_rate_limit(&mut rate_limits, k, v);
        }
        if limit || KEPT_HEADERS.contains(&k) {
            if let Ok(v) = v.to_str() {
                headers.push((k.to_string(), v.to_string()));
            }
        }
    }
    rate_limits.retry_after_s = rate_limits.retry_after_of();
    ResponseMeta {
        status: resp.status().as_u16(),
        rate_limits,
        headers,
        body: String::from_utf8_lossy(resp.body()).into_owned(),
        errors: Vec::new(),
        cost: CallCost::default(),
    }
}

/// Text of a body shown in an error: bounded, so a huge HTML error page does
/// not become a huge error message.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// `https://api.x.com/2/problems/usage-capped` → `usage-capped`. Matching on
/// the path suffix keeps working whichever host (api.twitter.com / api.x.com)
/// X puts in the URI.
pub fn problem_kind(problem_type: Option<&str>, detail: Option<&str>) -> String {
    if detail.is_some_and(|d| d.to_ascii_lowercase().contains("duplicate content")) {
        return "duplicate-content".into();
    }
    match problem_type {
        None => "unknown".into(),
        Some(t) if t.contains("/problems/") => t
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(t)
            .to_string(),
        Some(t) => t.to_string(),
    }
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn item(e: &Value) -> ProblemItem {
    ProblemItem {
        message: str_field(e, "message")
            .or_else(|| str_field(e, "detail"))
            .or_else(|| str_field(e, "title"))
            .unwrap_or_default(),
        parameters: e.get("parameters").map(Value::to_string),
        code: e
            .get("code")
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok()),
        problem_type: str_field(e, "type"),
        parameter: str_field(e, "parameter"),
        value: e.get("value").map(|v| match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        }),
    }
}

/// The `errors` array of a body, as items.
pub fn items(v: &Value) -> Vec<ProblemItem> {
    v.get("errors")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(item).collect())
        .unwrap_or_default()
}

/// A 2xx answer with `errors` and no `data` (the spec allows it for create,
/// delete and getMe): the typed error its first problem says.
pub fn partial_failure(status: u16, v: &Value) -> Option<ConnectorError> {
    if v.get("data").is_some_and(|d| !d.is_null()) {
        return None;
    }
    let errors = items(v);
    let first = errors.first()?.clone();
    let kind = problem_kind(first.problem_type.as_deref(), Some(&first.message));
    let p = Problem {
        status,
        problem_type: first.problem_type.clone(),
        title: v
            .pointer("/errors/0/title")
            .and_then(Value::as_str)
            .map(str::to_string),
        detail: Some(first.message.clone()),
        errors,
        kind: kind.clone(),
        ..Problem::default()
    };
    let class = match kind.as_str() {
        "resource-not-found" => ApiClass::NotFound,
        "not-authorized-for-resource"
        | "not-authorized-for-field"
        | "field-unauthorized"
        | "disallowed-resource"
        | "client-forbidden"
        | "duplicate-content" => ApiClass::Forbidden,
        _ => ApiClass::Other,
    };
    Some(ConnectorError::api(class, p))
}

/// Reads a problem from any error body; never fails.
pub fn problem(status: u16, body: &[u8]) -> Problem {
    let parsed: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let Some(v) = parsed else {
        let text = excerpt(body);
        return Problem {
            status,
            kind: "unknown".into(),
            detail: (!text.is_empty()).then_some(text),
            ..Problem::default()
        };
    };
    let mut errors = items(&v);
    // The spec's plain `Error` ({code, message}), and an invalid-request
    // problem's own `parameter` / `value`, become items too.
    if v.get("code").is_some() || v.get("parameter").is_some() {
        errors.insert(0, item(&v));
    }
    let problem_type = str_field(&v, "type");
    // OAuth-style bodies (`error`, `error_description`) show up on auth failures.
    let detail = str_field(&v, "detail")
        .or_else(|| str_field(&v, "error_description"))
        .or_else(|| str_field(&v, "message"));
    let title = str_field(&v, "title").or_else(|| str_field(&v, "error"));
    let reason = str_field(&v, "reason");
    Problem {
        status,
        // X says why in `reason` (the tier error's type is the generic
        // `client-forbidden`); it is the kind flows branch on.
        kind: reason
            .clone()
            .unwrap_or_else(|| problem_kind(problem_type.as_deref(), detail.as_deref())),
        problem_type,
        title,
        detail,
        errors,
        reason,
        required_enrollment: str_field(&v, "required_enrollment"),
        registration_url: str_field(&v, "registration_url"),
        hint: None,
    }
}

/// Maps a non-2xx response to the typed error.
pub fn error_for(resp: &Response) -> ConnectorError {
    let status = resp.status().as_u16();
    let p = problem(status, resp.body());
    let class = match status {
        401 => ApiClass::Unauthorized,
        403 => ApiClass::Forbidden,
        404 => ApiClass::NotFound,
        429 => ApiClass::RateLimited,
        402 => ApiClass::CreditsDepleted,
        _ => ApiClass::Other,
    };
    ConnectorError::Api {
        class,
        problem: p,
        limits: rate_limits(resp.headers()),
    }
}

/// Parses a 2xx body as a JSON object.
/// A successful answer read: its JSON object, refused as the typed error
/// its first problem says when it holds only `errors`, and its metadata
/// with the problems X reported beside the data.
pub fn checked(resp: &Response) -> Result<(Value, ResponseMeta), ConnectorError> {
    let v = json_object(resp)?;
    if let Some(e) = partial_failure(resp.status().as_u16(), &v) {
        return Err(e);
    }
    let mut meta = meta(resp);
    meta.errors = items(&v);
    Ok((v, meta))
}

pub fn json_object(resp: &Response) -> Result<Value, ConnectorError> {
    let v: Value = serde_json::from_slice(resp.body()).map_err(|e| {
        ConnectorError::MalformedResponse(format!(
            "HTTP {} body is not JSON ({e}): {}",
            resp.status().as_u16(),
            excerpt(resp.body())
        ))
    })?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(ConnectorError::MalformedResponse(format!(
            "expected a JSON object, got: {}",
            excerpt(resp.body())
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn reads_all_three_rate_limit_windows() {
        let r = resp(
            200,
            &[
                ("x-rate-limit-limit", "50"),
                ("x-rate-limit-remaining", "49"),
                ("x-rate-limit-reset", "1700000000"),
                ("x-user-limit-24hour-limit", "17"),
                ("x-user-limit-24hour-remaining", "3"),
                ("x-user-limit-24hour-reset", "1700086400"),
            ],
            "{}",
        );
        let l = rate_limits(r.headers());
        assert_eq!(
            l.window,
            Some(RateLimitWindow {
                limit: Some(50),
                remaining: Some(49),
                reset_at_s: Some(1_700_000_000)
            })
        );
        assert_eq!(l.user_day.unwrap().remaining, Some(3));
        assert_eq!(l.app_day, None);
    }

    #[test]
    fn problem_kind_uses_path_suffix_whatever_the_host() {
        for host in ["https://api.x.com", "https://api.twitter.com"] {
            let t = format!("{host}/2/problems/client-not-enrolled");
            assert_eq!(problem_kind(Some(&t), None), "client-not-enrolled");
        }
        assert_eq!(problem_kind(Some("about:blank"), None), "about:blank");
        assert_eq!(
            problem_kind(
                Some("about:blank"),
                Some("You are not allowed to create a Tweet with duplicate content.")
            ),
            "duplicate-content"
        );
    }

    #[test]
    fn maps_statuses_to_kinds() {
        let dup = r#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#;
        match error_for(&resp(403, &[], dup)) {
            ConnectorError::Api {
                class: ApiClass::Forbidden,
                problem: p,
                ..
            } => {
                assert_eq!(p.kind, "duplicate-content");
                assert_eq!(p.title.as_deref(), Some("Forbidden"));
            }
            e => panic!("{e:?}"),
        }
        let rl = resp(
            429,
            &[
                ("x-rate-limit-reset", "42"),
                ("x-rate-limit-remaining", "0"),
            ],
            r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#,
        );
        match error_for(&rl) {
            ConnectorError::Api {
                class: ApiClass::RateLimited,
                limits,
                problem,
            } => {
                assert_eq!(limits.window.unwrap().reset_at_s, Some(42));
                assert_eq!(problem.status, 429);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(error_for(&resp(404, &[], "")).kind(), "not-found");
        assert_eq!(error_for(&resp(401, &[], "nope")).kind(), "unauthorized");
        match error_for(&resp(503, &[], "<html>down</html>")) {
            ConnectorError::Api {
                class: ApiClass::Other,
                problem: p,
                ..
            } => {
                assert_eq!(p.status, 503);
                assert_eq!(p.detail.as_deref(), Some("<html>down</html>"));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn invalid_request_errors_are_itemized() {
        let body = r#"{"errors":[{"parameters":{"id":["x"]},"message":"The `id` query parameter value [x] is not valid"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}"#;
        let p = problem(400, body.as_bytes());
        assert_eq!(p.kind, "invalid-request");
        assert_eq!(p.errors.len(), 1);
        assert!(p.errors[0]
            .parameters
            .as_deref()
            .unwrap()
            .contains("\"id\""));
    }

    #[test]
    fn non_object_2xx_is_malformed_not_a_panic() {
        for body in ["", "[1,2]", "{\"data\":", "null", "\u{0}\u{1}"] {
            assert_eq!(
                json_object(&resp(200, &[], body)).unwrap_err().kind(),
                "malformed-response",
                "{body:?}"
            );
        }
    }

    #[test]
    fn meta_keeps_no_credentials() {
        let r = resp(
            200,
            &[
                ("set-cookie", "guest_id=secret"),
                ("content-type", "application/json"),
                ("x-rate-limit-limit", "5"),
            ],
            "{}",
        );
        let m = meta(&r);
        assert!(m.headers.iter().all(|(k, _)| k != "set-cookie"));
        assert_eq!(m.headers.len(), 2);
    }
}

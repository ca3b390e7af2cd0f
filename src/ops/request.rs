//! A catalog operation's parameters, checked against their rules and
//! turned into X's request: path, query and JSON body. Nothing is sent
//! before every parameter has passed.

use serde_json::{Map, Value};

use super::{At, Kind, OperationSpec, Param};
use crate::error::ConnectorError;
use crate::validate;

/// Parameters every WSO2 operation accepts and the runtime consumes.
pub const FLOW_PARAMETERS: &[&str] = &["responseVariable", "overwriteBody", "configKey"];

/// Most pages `maxPages` may ask for.
pub const MAX_PAGES: u32 = 100;

/// An operation's request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub spec: &'static OperationSpec,
    /// Path and query, before any pagination token.
    pub path: String,
    pub body: Option<Vec<u8>>,
    /// Pages to follow (1 unless `maxPages` says more).
    pub max_pages: u32,
    /// The values the component keeps for itself (uploadMedia's).
    pub local: Vec<(&'static str, String)>,
    /// The page to start from (`pagination_token` / `next_token` given):
    /// kept out of `path`, so each page's request carries one token.
    pub start_token: Option<String>,
    /// The most resources a read can return (what a budget reserves):
    /// the ids asked for, or `max_results` (else 100, X's largest
    /// default) times the pages.
    pub most_resources: u32,
}

impl Call {
    /// The path and query for the page after `token` (`None`: the first
    /// page, from the start token if one was given).
    pub fn page(&self, token: Option<&str>) -> String {
        match (
            token.or(self.start_token.as_deref()),
            self.spec.token_param(),
        ) {
            (Some(token), Some(p)) => {
                let sep = if self.path.contains('?') { '&' } else { '?' };
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair(p.wire, token)
                    .finish();
                format!("{}{sep}{q}", self.path)
            }
            _ => self.path.clone(),
        }
    }
}

fn rule(p: &Param, rule: impl Into<String>) -> ConnectorError {
    ConnectorError::invalid(p.name, rule)
}

fn all(value: &str, min: usize, max: usize, ok: impl Fn(u8) -> bool) -> bool {
    (min..=max).contains(&value.len()) && value.bytes().all(ok)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with a real date.
pub fn rfc3339(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .filter(|s| s.iter().all(u8::is_ascii_digit))
            .map(|s| s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return false;
    }
    if b[13] != b':' || b[16] != b':' {
        return false;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if d == 0 || d > days || h > 23 || mi > 59 || s > 60 {
        return false;
    }
    let mut rest = &value[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            (h1 - b'0') * 10 + (h2 - b'0') < 24 && (m1 - b'0') * 10 + (m2 - b'0') < 60
        }
        _ => false,
    }
}

/// The value's check; returns it as it goes on the wire.
fn check(p: &Param, value: &str) -> Result<Value, ConnectorError> {
    let v = value.trim();
    let text = |s: &str| Value::String(s.to_string());
    Ok(match p.kind {
        Kind::Id => {
            validate::id(p.name, v)?;
            text(v)
        }
        Kind::Ids => {
            let ids = validate::comma_list(v);
            if ids.is_empty() || ids.len() > 100 {
                return Err(rule(p, "must list 1 to 100 ids, comma-separated"));
            }
            validate::ids(p.name, &ids)?;
            if let Some((i, _)) = ids.iter().enumerate().find(|(i, x)| ids[..*i].contains(x)) {
                return Err(rule(p, format!("lists `{}` twice", ids[i])));
            }
            text(&ids.join(","))
        }
        Kind::Username => {
            if !all(v, 1, 15, |b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(rule(
                    p,
                    "must be 1 to 15 letters, digits or _ (^[A-Za-z0-9_]{1,15}$)",
                ));
            }
            text(v)
        }
        Kind::Conversation => {
            let ok = match v.split_once('-') {
                Some((a, b)) => validate::id(p.name, a).is_ok() && validate::id(p.name, b).is_ok(),
                None => validate::id(p.name, v).is_ok(),
            };
            if !ok {
                return Err(rule(p, "must be a conversation id: digits, or two ids joined by - (^([0-9]{1,19}-)?[0-9]{1,19}$)"));
            }
            text(v)
        }
        Kind::Count(lo, hi) => count(p, v, lo, hi)?,
        Kind::Pages => count(p, v, 1, MAX_PAGES)?,
        Kind::Token => {
            if !all(v, 1, 1024, |b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
            }) {
                return Err(rule(
                    p,
                    "must be a token X returned (1 to 1024 of A-Z a-z 0-9 _ -)",
                ));
            }
            text(v)
        }
        Kind::Time => {
            if !rfc3339(v) {
                return Err(rule(
                    p,
                    "must be an RFC 3339 time, e.g. 2026-02-06T00:00:00Z",
                ));
            }
            text(v)
        }
        Kind::List(allowed) => {
            let values = validate::comma_list(v);
            // Only commas and blanks: as if not given (X refuses `fields=`).
            if values.is_empty() {
                return Ok(Value::Null);
            }
            validate::field_list(p.name, &values, allowed)?;
            text(&values.join(","))
        }
        Kind::OneOf(allowed) => {
            validate::one_of(p.name, v, allowed)?;
            text(v)
        }
        Kind::Text(lo, hi) => {
            // Sent as given (whitespace can be content); counted in characters.
            let n = value.chars().count();
            if n < lo as usize || n > hi as usize || value.trim().is_empty() && lo > 0 {
                return Err(rule(
                    p,
                    format!("must be {lo} to {hi} characters, not blank"),
                ));
            }
            text(value)
        }
        Kind::Flag => Value::Bool(validate::boolean(p.name, v)?),
        Kind::Search => {
            let n = v.chars().count();
            if n == 0 || n > 512 {
                return Err(rule(p, "must be a search query of 1 to 512 characters"));
            }
            text(v)
        }
        Kind::Attachments => attachments(p, v)?,
        Kind::Base64 | Kind::Json(_) | Kind::PostText | Kind::Str => text(v),
    })
}

fn count(p: &Param, v: &str, lo: u32, hi: u32) -> Result<Value, ConnectorError> {
    match v.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(Value::from(n)),
        _ => Err(rule(p, format!("must be a whole number from {lo} to {hi}"))),
    }
}

/// DM attachments: `[{"media_id":"1"}]` as X takes them, or WSO2's comma
/// list of media ids.
fn attachments(p: &Param, v: &str) -> Result<Value, ConnectorError> {
    let ids: Vec<String> = if v.starts_with('[') {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Attachment {
            media_id: String,
        }
        serde_json::from_str::<Vec<Attachment>>(v)
            .map_err(|e| {
                rule(
                    p,
                    format!("must be a JSON array of {{\"media_id\": \"...\"}}: {e}"),
                )
            })?
            .into_iter()
            .map(|a| a.media_id)
            .collect()
    } else {
        validate::comma_list(v)
    };
    if ids.is_empty() {
        return Err(rule(p, "must name at least one media id"));
    }
    validate::ids(&format!("{}.media_id", p.name), &ids)?;
    Ok(Value::Array(
        ids.into_iter()
            .map(|id| serde_json::json!({ "media_id": id }))
            .collect(),
    ))
}

/// The operation's call from a flow's name/value parameters: unknown or
/// repeated names, missing required ones and broken rules are refused,
/// each naming the parameter.
pub fn build(
    spec: &'static OperationSpec,
    values: &[(String, String)],
) -> Result<Call, ConnectorError> {
    let mut given: Vec<(&'static Param, Value, &str)> = Vec::new();
    for (name, value) in values {
        if FLOW_PARAMETERS.contains(&name.as_str()) {
            continue;
        }
        let Some(p) = spec.param(name) else {
            let names: Vec<&str> = spec.params.iter().map(|p| p.name).collect();
            return Err(ConnectorError::invalid(
                name,
                format!(
                    "is not a parameter of {} (it takes: {})",
                    spec.name,
                    names.join(", ")
                ),
            ));
        };
        if given.iter().any(|(q, _, _)| q.name == p.name) {
            return Err(ConnectorError::invalid(
                name,
                "is given more than once (or with its WSO2 alias)",
            ));
        }
        // WSO2 flows leave unset parameters as empty strings.
        if value.trim().is_empty() {
            continue;
        }
        match check(p, value)? {
            Value::Null => {}
            checked => given.push((p, checked, value)),
        }
    }
    if let Some(p) = spec
        .params
        .iter()
        .find(|p| p.required && !given.iter().any(|(q, _, _)| q.name == p.name))
    {
        return Err(rule(p, format!("is required by {}", spec.name)));
    }
    let mut path = spec.path.to_string();
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut body = Map::new();
    let mut max_pages = 1;
    let mut per_page = match spec.shape {
        super::Shape::One => 1,
        _ => 100,
    };
    let mut local = Vec::new();
    let mut start_token = None;
    for (p, v, raw) in &given {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match p.kind {
            Kind::Count(..) => per_page = v.as_u64().unwrap_or(100) as u32,
            Kind::Ids => per_page = text.split(',').count() as u32,
            _ => {}
        }
        match p.at {
            // Path values passed an id, username or conversation rule: no
            // byte of them needs escaping.
            At::Path => path = path.replace(&format!("{{{}}}", p.wire), &text),
            At::Query if p.kind == Kind::Token => start_token = Some(text),
            At::Query => {
                query.append_pair(p.wire, &text);
            }
            At::Body => {
                body.insert(p.wire.to_string(), v.clone());
            }
            At::Local if p.kind == Kind::Pages => max_pages = v.as_u64().unwrap_or(1) as u32,
            At::Local => local.push((p.name, raw.to_string())),
        }
    }
    let query = query.finish();
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let writes_body = spec.params.iter().any(|p| p.at == At::Body);
    if writes_body && body.is_empty() {
        let names: Vec<&str> = spec
            .params
            .iter()
            .filter(|p| p.at == At::Body)
            .map(|p| p.name)
            .collect();
        return Err(ConnectorError::invalid(
            names.join("|"),
            format!("{} needs at least one of: {}", spec.name, names.join(", ")),
        ));
    }
    Ok(Call {
        spec,
        path,
        body: writes_body.then(|| Value::Object(body).to_string().into_bytes()),
        max_pages,
        local,
        start_token,
        most_resources: per_page.saturating_mul(max_pages),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::find;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn call(op: &str, pairs: &[(&str, &str)]) -> Result<Call, ConnectorError> {
        build(find(op).unwrap(), &kv(pairs))
    }

    fn refused(op: &str, pairs: &[(&str, &str)]) -> String {
        match call(op, pairs) {
            Err(ConnectorError::InvalidInput { parameter, .. }) => parameter,
            other => panic!("{op} {pairs:?}: {other:?}"),
        }
    }

    #[test]
    fn paths_queries_and_bodies() {
        let c = call("likeTweet", &[("user_id", "12"), ("tweet_id", "34")]).unwrap();
        assert_eq!(c.path, "/2/users/12/likes");
        assert_eq!(c.body.unwrap(), br#"{"tweet_id":"34"}"#);
        let c = call("unfollowUser", &[("id", "1"), ("target_user_id", "2")]).unwrap();
        assert_eq!(c.path, "/2/users/1/following/2");
        assert!(c.body.is_none());
        let c = call(
            "searchTweets",
            &[
                ("query", "from:x has:media #rust"),
                ("max_results", "10"),
                ("tweet_fields", "id, text"),
                ("maxPages", "3"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.path,
            "/2/tweets/search/recent?query=from%3Ax+has%3Amedia+%23rust&max_results=10&post.fields=id%2Ctext"
        );
        assert_eq!(c.max_pages, 3);
        assert_eq!(c.page(Some("abc")), format!("{}&next_token=abc", c.path));
        // A given token starts the read, and each page carries one token.
        let c = call(
            "getFollowers",
            &[
                ("id", "1"),
                ("pagination_token", "start"),
                ("maxPages", "2"),
                ("expansions", " , "),
            ],
        )
        .unwrap();
        assert_eq!(c.page(None), "/2/users/1/followers?pagination_token=start");
        assert_eq!(
            c.page(Some("next")),
            "/2/users/1/followers?pagination_token=next"
        );
        let c = call(
            "sendNewDirectMessage",
            &[("participant_id", "9"), ("attachments", "5, 6")],
        )
        .unwrap();
        assert_eq!(
            c.body.unwrap(),
            br#"{"attachments":[{"media_id":"5"},{"media_id":"6"}]}"#
        );
        let c = call("createList", &[("name", "rust"), ("private", "true")]).unwrap();
        assert_eq!(c.body.unwrap(), br#"{"name":"rust","private":true}"#);
    }

    #[test]
    fn each_rule_names_its_parameter() {
        assert_eq!(refused("getTweetById", &[("id", "1/../2")]), "id");
        assert_eq!(refused("getTweetById", &[]), "id");
        assert_eq!(
            refused("getUserByUsername", &[("username", "a b")]),
            "username"
        );
        assert_eq!(
            refused("getFollowers", &[("id", "1"), ("max_results", "1001")]),
            "max_results"
        );
        assert_eq!(
            refused("getFollowers", &[("id", "1"), ("max_results", "0")]),
            "max_results"
        );
        assert_eq!(
            refused(
                "getFollowers",
                &[("id", "1"), ("pagination_token", "a&b=c")]
            ),
            "pagination_token"
        );
        assert_eq!(
            refused("searchTweets", &[("query", &"q".repeat(513))]),
            "query"
        );
        assert_eq!(
            refused("searchTweets", &[("query", "q"), ("sort_order", "newest")]),
            "sort_order"
        );
        assert_eq!(
            refused(
                "searchTweets",
                &[("query", "q"), ("start_time", "2026-02-30T00:00:00Z")]
            ),
            "start_time"
        );
        assert_eq!(refused("getTweetsLookup", &[("ids", "1,2,1")]), "ids");
        assert_eq!(
            refused(
                "getTweetById",
                &[("id", "1"), ("media_fields", "url,bogus")]
            ),
            "media_fields"
        );
        assert_eq!(refused("createList", &[("name", &"n".repeat(26))]), "name");
        assert_eq!(
            refused("updateList", &[("id", "1")]),
            "name|description|private"
        );
        assert_eq!(
            refused("sendNewDirectMessage", &[("participant_id", "1")]),
            "text|attachments"
        );
        assert_eq!(
            refused(
                "addDirectMessage",
                &[("dm_conversation_id", "1-2-3"), ("text", "x")]
            ),
            "dm_conversation_id"
        );
        assert_eq!(
            refused(
                "likeTweet",
                &[("user_id", "1"), ("id", "1"), ("tweet_id", "2")]
            ),
            "id"
        );
        assert_eq!(
            refused("likeTweet", &[("user_id", "1"), ("tweet", "2")]),
            "tweet"
        );
        assert_eq!(
            refused("getFollowers", &[("id", "1"), ("maxPages", "101")]),
            "maxPages"
        );
    }

    #[test]
    fn rfc3339_times() {
        for ok in [
            "2026-02-06T00:00:00Z",
            "2024-02-29T23:59:59.123+05:30",
            "2026-12-01t10:00:00z",
        ] {
            assert!(rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-02-06T00:00:00+\u{e9}:00",
            "2026-02-06T00:00:00+ab:cd",
            "2026-02-06",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-02-06T24:00:00Z",
            "2026-02-06T00:00:00",
            "2026-02-06T00:00:00.Z",
            "2026-02-06T00:00:00+5:30",
        ] {
            assert!(!rfc3339(bad), "{bad}");
        }
    }
}

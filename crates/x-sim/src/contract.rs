//! The simulator checks itself, and what it is sent, against X's contract:
//! with the `contract` feature (the tests enable it), every answer it gives
//! is validated against the vendored OpenAPI spec (v2.167): 2xx bodies
//! against the operation's response schema, problem bodies against the
//! spec's `Problem` for the problem types the spec lists. X's real answers
//! the spec does not describe (`about:blank` problems for 401/403/429, the
//! tier's `client-forbidden`) are checked for the problem shape they have:
//! an object with a string `title` and `type`. Violations are recorded in
//! [`crate::Stats::contract_violations`]; the test harnesses fail on any.
//!
//! Every request is checked too ([`check_request`]): its path parameters,
//! its query (each name one the operation declares, each value within its
//! schema) and its JSON body against the operation's request schema.
//! Violations go to [`crate::Stats::request_violations`].
//!
//! Not checked: the OAuth endpoints (not in the spec), and the blocking
//! writes X no longer lists. Allowed beside the spec: the tweet-era names
//! X still serves and documents (`tweet.fields`, `pinned_tweet_id`, ...).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::{json, Value};

use crate::{endpoint, Endpoint};

const SPEC: &str = include_str!("../../../spec/x-api/openapi.json");

/// Values X serves and documents that v2.167 of the spec renamed.
const TWEET_ERA: &[&str] = &[
    "affiliation",
    "pinned_tweet_id",
    "most_recent_tweet_id",
    "author_id",
    "edit_history_tweet_ids",
    "in_reply_to_user_id",
    "referenced_tweets",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "note_tweet",
    "owner_id",
    "participant_ids",
    "sender_id",
];

fn spec() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| serde_json::from_str(SPEC).expect("the vendored spec is JSON"))
}

/// A validator for a schema of the spec (its `components` in reach).
fn validator(schema: &Value) -> &'static Validator {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Validator>>> = OnceLock::new();
    let key = schema.to_string();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache.entry(key).or_insert_with(|| {
        let mut full = schema.clone();
        if let Some(obj) = full.as_object_mut() {
            obj.insert("components".into(), spec()["components"].clone());
        }
        // Validators live as long as the process (a test-only feature).
        Box::leak(Box::new(
            jsonschema::validator_for(&full).expect("the spec's schema compiles"),
        ))
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The problem `type` URIs the spec describes.
fn problem_types() -> &'static Vec<String> {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        spec()
            .pointer("/components/schemas/Problem/discriminator/mapping")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    })
}

/// The spec's operation object by `operationId`.
fn operation(operation_id: &str) -> Option<(&'static str, &'static str, &'static Value)> {
    spec()["paths"]
        .as_object()?
        .iter()
        .find_map(|(path, item)| {
            item.as_object()?.iter().find_map(|(method, op)| {
                (op["operationId"] == operation_id).then_some((method.as_str(), path.as_str(), op))
            })
        })
}

/// Path parameters by template name.
type PathParams = Vec<(String, String)>;

/// The spec's operation for a request, and its path parameters.
fn operation_for(method: &str, path: &str) -> Option<(&'static Value, PathParams)> {
    let method = method.to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').collect();
    // (literal segments, operation, path parameters) of the best match.
    let mut best: Option<(usize, &'static Value, PathParams)> = None;
    for (template, item) in spec()["paths"].as_object()? {
        let Some(op) = item.get(&method) else {
            continue;
        };
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let mut literal = 0;
        let fits = parts.iter().zip(&segments).all(|(t, s)| {
            match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(name) => {
                    params.push((name.to_string(), s.to_string()));
                    !s.is_empty()
                }
                None => {
                    literal += 1;
                    t == s
                }
            }
        });
        // The template with the most literal segments wins (`/2/users/me` over `/2/users/{id}`).
        if fits && best.as_ref().is_none_or(|(l, _, _)| literal > *l) {
            best = Some((literal, op, params));
        }
    }
    best.map(|(_, op, params)| (op, params))
}

fn success_schema(op: &Value) -> Option<&Value> {
    ["200", "201"]
        .iter()
        .find_map(|c| op.pointer(&format!("/responses/{c}/content/application~1json/schema")))
}

/// The operationId an endpoint key stands for.
fn operation_id(endpoint: Endpoint) -> Option<&'static str> {
    Some(match endpoint {
        endpoint::CREATE_TWEET => "createPosts",
        endpoint::DELETE_TWEET => "deletePosts",
        endpoint::GET_ME => "getUsersMe",
        Endpoint::Api(op) => op,
        _ => return None,
    })
}

/// Why an answer breaks the contract, if it does.
pub fn check(endpoint: Endpoint, status: u16, body: &[u8]) -> Option<String> {
    let op_id = operation_id(endpoint)?;
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("{endpoint} {status}: the body is not JSON ({e})")),
    };
    let fail = |schema: &str, e: String| Some(format!("{endpoint} {status}: not a {schema}: {e}"));
    if (200..300).contains(&status) {
        // Operations X no longer lists (the blocking writes) have no schema.
        let (_, _, op) = operation(op_id)?;
        let schema = success_schema(op)?;
        return validator(schema)
            .validate(&v)
            .err()
            .and_then(|e| fail(&format!("{op_id} answer"), e.to_string()));
    }
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    if problem_types().iter().any(|t| t == ty) {
        return validator(&schema_ref("Problem"))
            .validate(&v)
            .err()
            .and_then(|e| fail("Problem", e.to_string()));
    }
    let shaped = v.get("title").is_some_and(Value::is_string)
        && v.get("type").is_some_and(Value::is_string)
        && v.get("status")
            .is_none_or(|s| s.as_u64() == Some(u64::from(status)));
    (!shaped).then(|| format!("{endpoint} {status}: not a problem body: {v}"))
}

/// A parameter object, `$ref`s followed.
fn param_def(p: &'static Value) -> &'static Value {
    match p.get("$ref").and_then(Value::as_str) {
        Some(r) => spec().pointer(r.trim_start_matches('#')).unwrap_or(p),
        None => p,
    }
}

/// Checks one parameter value against its schema (array items one by one).
fn check_value(name: &str, value: &str, schema: &'static Value) -> Result<(), String> {
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => spec().pointer(r.trim_start_matches('#')).unwrap_or(schema),
        None => schema,
    };
    if resolved["type"] == "array" {
        let items = &resolved["items"];
        let values: Vec<&str> = value.split(',').collect();
        if let Some(max) = resolved["maxItems"].as_u64() {
            if values.len() as u64 > max {
                return Err(format!(
                    "`{name}` lists {} values (at most {max})",
                    values.len()
                ));
            }
        }
        for v in values {
            if TWEET_ERA.contains(&v) {
                continue;
            }
            check_value(name, v, items)?;
        }
        return Ok(());
    }
    let instance = match resolved["type"].as_str() {
        Some("integer") => match value.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => return Err(format!("`{name}`: `{value}` is not an integer")),
        },
        Some("boolean") => match value {
            "true" => json!(true),
            "false" => json!(false),
            _ => return Err(format!("`{name}`: `{value}` is not true or false")),
        },
        _ => json!(value),
    };
    match validator(schema).validate(&instance) {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("`{name}`: `{value}`: {e}")),
    }
}

/// Why a request breaks the spec of the operation it is for, if it does.
pub fn check_request(method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Option<String> {
    if path.starts_with("/2/oauth2/") || path.starts_with("/i/") {
        return None;
    }
    let (op, path_params) = operation_for(method, path)?;
    let id = op["operationId"].as_str().unwrap_or("?");
    let fail = |why: String| Some(format!("{method} {path} ({id}): {why}"));
    let params: Vec<&'static Value> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(param_def)
        .collect();
    let declared = |name: &str, place: &str| {
        params
            .iter()
            .find(|p| p["name"] == name && p["in"] == place)
            .copied()
    };
    for (name, value) in &path_params {
        let Some(p) = declared(name, "path") else {
            return fail(format!("path parameter `{name}` is not declared"));
        };
        if let Err(e) = check_value(name, value, &p["schema"]) {
            return fail(e);
        }
    }
    let pairs: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return fail(format!("query parameter `{name}` is repeated"));
        }
        let spec_name = if name == "tweet.fields" {
            "post.fields"
        } else {
            name.as_str()
        };
        let Some(p) = declared(spec_name, "query") else {
            return fail(format!(
                "query parameter `{name}` is not one the operation declares"
            ));
        };
        if let Err(e) = check_value(name, value, &p["schema"]) {
            return fail(e);
        }
    }
    for p in params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
    {
        let name = p["name"].as_str().unwrap_or("");
        if !pairs.iter().any(|(n, _)| n == name) {
            return fail(format!("required query parameter `{name}` is missing"));
        }
    }
    let json_schema = op.pointer("/requestBody/content/application~1json/schema");
    match (json_schema, body.is_empty()) {
        (Some(schema), false) => {
            let v: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return fail(format!("the body is not JSON: {e}")),
            };
            if let Err(e) = validator(schema).validate(&v) {
                return fail(format!("the body breaks the request schema: {e}"));
            }
        }
        (Some(_), true) if op.pointer("/requestBody/required") == Some(&json!(true)) => {
            return fail("the request body is missing".into());
        }
        (None, false) => return fail("a body was sent to an operation that takes none".into()),
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_against_their_operation() {
        assert_eq!(
            check_request(
                "GET",
                "/2/users/1/followers",
                Some("max_results=10&user.fields=id"),
                b""
            ),
            None
        );
        assert!(
            check_request("GET", "/2/users/1/followers", Some("max_results=1001"), b"").is_some()
        );
        assert!(check_request("GET", "/2/users/1/followers", Some("bogus=1"), b"").is_some());
        assert!(check_request("GET", "/2/users/abc/followers", None, b"").is_some());
        assert!(check_request("GET", "/2/tweets/search/recent", None, b"").is_some());
        assert_eq!(
            check_request("POST", "/2/users/1/likes", None, br#"{"tweet_id":"5"}"#),
            None
        );
        assert!(check_request(
            "POST",
            "/2/users/1/likes",
            None,
            br#"{"tweet_id":"5","x":1}"#
        )
        .is_some());
        assert_eq!(
            check_request(
                "GET",
                "/2/users/me",
                Some("post.fields=id&expansions=pinned_tweet_id"),
                b""
            ),
            None
        );
    }
}

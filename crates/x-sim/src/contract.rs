//! The simulator checks itself against X's contract: with the `contract`
//! feature (the tests enable it), every answer it gives is validated
//! against the vendored OpenAPI spec (v2.167): 2xx bodies against the
//! endpoint's response schema, problem bodies against the spec's `Problem`
//! for the problem types the spec lists. X's real answers the spec does not
//! describe (`about:blank` problems for 401/403/429, the tier's
//! `client-forbidden`) are checked for the problem shape they have: an
//! object with a string `title` and `type`. Violations are recorded in
//! [`crate::Stats::contract_violations`]; the test harnesses fail on any.
//!
//! The OAuth endpoints are not in the spec and are not checked here.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{json, Value};

use crate::{endpoint, Endpoint};

const SPEC: &str = include_str!("../../../spec/x-api/openapi.json");

struct Validators {
    create: Validator,
    delete: Validator,
    me: Validator,
    problem: Validator,
    /// The problem `type` URIs the spec describes.
    problem_types: Vec<String>,
}

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        let spec: Value = serde_json::from_str(SPEC).expect("the vendored spec is JSON");
        let compile = |name: &str| {
            let mut schema = json!({"$ref": format!("#/components/schemas/{name}")});
            schema["components"] = spec["components"].clone();
            jsonschema::validator_for(&schema).expect("the spec's schema compiles")
        };
        let problem_types = spec
            .pointer("/components/schemas/Problem/discriminator/mapping")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Validators {
            create: compile("CreatePostsResponse"),
            delete: compile("DeletePostsResponse"),
            me: compile("GetUsersMeResponse"),
            problem: compile("Problem"),
            problem_types,
        }
    })
}

/// Why an answer breaks the contract, if it does.
pub fn check(endpoint: Endpoint, status: u16, body: &[u8]) -> Option<String> {
    if !matches!(
        endpoint,
        endpoint::CREATE_TWEET | endpoint::DELETE_TWEET | endpoint::GET_ME
    ) {
        return None;
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("{endpoint} {status}: the body is not JSON ({e})")),
    };
    let vs = validators();
    let fail = |schema: &str, e: String| Some(format!("{endpoint} {status}: not a {schema}: {e}"));
    if (200..300).contains(&status) {
        let (validator, schema) = match endpoint {
            endpoint::CREATE_TWEET => (&vs.create, "CreatePostsResponse"),
            endpoint::DELETE_TWEET => (&vs.delete, "DeletePostsResponse"),
            _ => (&vs.me, "GetUsersMeResponse"),
        };
        return validator
            .validate(&v)
            .err()
            .and_then(|e| fail(schema, e.to_string()));
    }
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    if vs.problem_types.iter().any(|t| t == ty) {
        return vs
            .problem
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

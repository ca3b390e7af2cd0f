//! The operations, over an [`HttpClient`] and a [`TokenSource`]: pure logic,
//! unit-tested natively; the component wires it to wasi:http.

use http::Method;
use serde_json::Value;

use crate::config::Connection;
use crate::cost::{self, BillingUnit, CallCost};
use crate::error::ConnectorError;
use crate::http::{HttpClient, Response};
use crate::response::{self, ResponseMeta};
use crate::retry::{self, Failure, RetryBudget};
use crate::secret::Secret;
use crate::token::{Clock, TokenSource, TokenStore};
use crate::tweet::CreateTweet;
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTweetResult {
    pub id: String,
    pub text: String,
    pub edit_history_tweet_ids: Vec<String>,
    pub meta: ResponseMeta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTweetResult {
    pub deleted: bool,
    pub meta: ResponseMeta,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetMeRequest {
    pub expansions: Vec<String>,
    pub tweet_fields: Vec<String>,
    pub user_fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub username: String,
    pub json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMeResult {
    pub user: User,
    pub includes: Option<String>,
    pub meta: ResponseMeta,
}

pub use crate::ops::fields::{TWEET_FIELDS, USER_EXPANSIONS, USER_FIELDS};

pub struct Connector<H, S, C> {
    http: H,
    conn: Connection,
    tokens: TokenSource<S, C>,
    /// What is left of the current call's retries (see [`crate::retry`]).
    retries: RetryBudget,
}

fn with_cost(mut meta: ResponseMeta, cost: CallCost) -> ResponseMeta {
    meta.cost = cost;
    meta
}

fn str_at(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_string)
}

fn required_str(v: &Value, ptr: &str) -> Result<String, ConnectorError> {
    str_at(v, ptr).ok_or_else(|| {
        ConnectorError::MalformedResponse(format!("response has no string at `{ptr}`"))
    })
}

/// getMe's answer read without a `Value` tree: `data` stays X's own JSON
/// text for `user.json`. On the per-call path this is most of the guest's
/// JSON work; anything unusual (not an object, a field of another type,
/// duplicate keys) goes to [`read_me`], whose errors are the reference.
fn read_me_fast(body: &[u8]) -> Option<(User, Option<String>)> {
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        data: &'a RawValue,
        #[serde(borrow, default)]
        includes: Option<&'a RawValue>,
        /// Partial errors: rare, left to the reference reader.
        #[serde(borrow, default)]
        errors: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Fields<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow, default)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        username: Cow<'a, str>,
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    if envelope.errors.is_some() {
        return None;
    }
    let data = envelope.data.get();
    if !data.starts_with('{') {
        return None;
    }
    let fields: Fields = serde_json::from_str(data).ok()?;
    Some((
        User {
            id: fields.id.into_owned(),
            name: fields.name.map(Cow::into_owned).unwrap_or_default(),
            username: fields.username.into_owned(),
            json: data.to_string(),
        },
        envelope.includes.map(|i| i.get().to_string()),
    ))
}

/// getMe's answer through a `Value`, with an error naming what is missing.
#[cfg(test)]
fn read_me(resp: &Response) -> Result<(User, Option<String>), ConnectorError> {
    read_me_value(&response::json_object(resp)?)
}

fn read_me_value(v: &Value) -> Result<(User, Option<String>), ConnectorError> {
    let data = v
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ConnectorError::MalformedResponse("response has no `data` object".into()))?;
    Ok((
        User {
            id: required_str(data, "/id")?,
            name: str_at(data, "/name").unwrap_or_default(),
            username: required_str(data, "/username")?,
            json: data.to_string(),
        },
        v.get("includes").map(Value::to_string),
    ))
}

impl<H: HttpClient, S: TokenStore, C: Clock> Connector<H, S, C> {
    pub fn new(http: H, conn: Connection, tokens: TokenSource<S, C>) -> Self {
        let retries = RetryBudget::new(conn.retry);
        Connector {
            http,
            conn,
            tokens,
            retries,
        }
    }

    /// Starts a call (an operation, whatever requests it sends): a fresh
    /// retry budget.
    pub(crate) fn begin_call(&mut self) {
        self.retries = RetryBudget::new(self.conn.retry);
    }

    /// Retries the last call made.
    pub fn retries_made(&self) -> u32 {
        self.retries.retries_made()
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn token_source(&self) -> &TokenSource<S, C> {
        &self.tokens
    }

    /// Revokes the connection's refresh token (and so its family) at X.
    pub fn revoke(&mut self) -> Result<(), ConnectorError> {
        self.tokens.revoke(&self.http)
    }

    fn send(
        &self,
        method: &Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        token: &Secret,
    ) -> Result<Response, ConnectorError> {
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(format!("{}{}", self.conn.api_url, path_and_query))
            .header("authorization", format!("Bearer {}", token.expose()))
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("wso2-twitter-connector-wasm/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            // Only a token with bytes not allowed in a header gets here.
            .map_err(|_| {
                ConnectorError::invalid(
                    "accessToken",
                    "contains characters not allowed in an HTTP header",
                )
            })?;
        let resp = self.http.send(req, self.conn.timeout)?;
        // Every reader below may build a JSON tree of the body; what that
        // costs is bounded here, before any of them runs (an answer of tiny
        // objects costs a hundred times its size as a tree).
        json_budget::check(resp.body()).map_err(|e| {
            ConnectorError::MalformedResponse(format!(
                "X answered HTTP {} with a body the connector will not read: {e}",
                resp.status().as_u16()
            ))
        })?;
        Ok(resp)
    }

    /// One authorized API call: proactive refresh before, one refresh and
    /// replay on 401, typed error on any other failure status.
    /// Sent again within the call's retry budget when [`crate::retry`]'s
    /// rules allow.
    pub(crate) fn call(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, ConnectorError> {
        loop {
            let outcome = self.attempt(&method, path_and_query, body);
            let wait = Failure::of(&outcome).and_then(|failure| {
                let now = self.tokens.clock().now_ms();
                self.retries
                    .next_wait(&method, failure, now, retry::jitter())
            });
            match (wait, outcome) {
                (Some(wait), _) => self.tokens.clock().sleep(wait),
                (None, Ok(resp)) if resp.status().is_success() => return Ok(resp),
                (None, Ok(resp)) => return Err(response::error_for(&resp)),
                (None, Err(e)) => return Err(e),
            }
        }
    }

    /// One attempt: the request, and on 401 one refresh and replay.
    fn attempt(
        &mut self,
        method: &Method,
        path_and_query: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, ConnectorError> {
        let token = self.tokens.access_token(&self.http)?;
        let mut resp = self.send(method, path_and_query, body, &token)?;
        if resp.status() == http::StatusCode::UNAUTHORIZED {
            if let Some(new_token) = self.tokens.after_unauthorized(&self.http, &token)? {
                resp = self.send(method, path_and_query, body, &new_token)?;
            }
        }
        Ok(resp)
    }

    pub fn create_tweet(&mut self, req: &CreateTweet) -> Result<CreateTweetResult, ConnectorError> {
        req.validate()?;
        self.begin_call();
        // Billed per request: known before it is sent.
        let cost = CallCost::post(cost::prices(), req.text.as_deref());
        let resp = self
            .call(Method::POST, "/2/tweets", Some(&req.to_json()))
            .map_err(|e| crate::tweet::explain_refusal(req, e))?;
        let (v, meta) = response::checked(&resp)?;
        let edits = v
            .pointer("/data/edit_history_tweet_ids")
            .or_else(|| v.pointer("/data/edit_history_post_ids"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(CreateTweetResult {
            id: required_str(&v, "/data/id")?,
            text: str_at(&v, "/data/text").unwrap_or_default(),
            edit_history_tweet_ids: edits,
            meta: with_cost(meta, cost),
        })
    }

    pub fn delete_tweet(&mut self, id: &str) -> Result<DeleteTweetResult, ConnectorError> {
        validate::id("id", id)?;
        self.begin_call();
        let resp = self
            .call(Method::DELETE, &format!("/2/tweets/{id}"), None)
            .map_err(|e| crate::ops::explain_forbidden("deleteTweet", None, e))?;
        let (v, meta) = response::checked(&resp)?;
        let deleted = v
            .pointer("/data/deleted")
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                ConnectorError::MalformedResponse(
                    "response has no boolean at `/data/deleted`".into(),
                )
            })?;
        let cost = CallCost::write(cost::prices(), BillingUnit::InteractionDelete);
        Ok(DeleteTweetResult {
            deleted,
            meta: with_cost(meta, cost),
        })
    }

    pub fn get_me(&mut self, req: &GetMeRequest) -> Result<GetMeResult, ConnectorError> {
        validate::field_list("expansions", &req.expansions, USER_EXPANSIONS)?;
        validate::field_list("tweet_fields", &req.tweet_fields, TWEET_FIELDS)?;
        validate::field_list("user_fields", &req.user_fields, USER_FIELDS)?;
        self.begin_call();
        let mut query = Vec::new();
        for (name, values) in [
            ("expansions", &req.expansions),
            ("post.fields", &req.tweet_fields),
            ("user.fields", &req.user_fields),
        ] {
            if !values.is_empty() {
                // Values are checked against fixed lists of [a-z_] names: no escaping needed.
                query.push(format!("{name}={}", values.join(",")));
            }
        }
        let path = if query.is_empty() {
            "/2/users/me".to_string()
        } else {
            format!("/2/users/me?{}", query.join("&"))
        };
        let resp = self
            .call(Method::GET, &path, None)
            .map_err(|e| crate::ops::explain_forbidden("getMe", None, e))?;
        let mut meta = response::meta(&resp);
        let (user, includes) = match read_me_fast(resp.body()) {
            Some(fast) => fast,
            None => {
                let (v, checked) = response::checked(&resp)?;
                meta = checked;
                read_me_value(&v)?
            }
        };
        meta.cost = CallCost::user_read(
            cost::prices(),
            vec![user.id.clone()],
            cost::included_posts(includes.as_deref()),
        );
        Ok(GetMeResult {
            user,
            includes,
            meta,
        })
    }
}

#[cfg(test)]
mod read_me_tests {
    use super::*;

    fn resp(body: &str) -> Response {
        http::Response::builder()
            .status(200)
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn the_fast_reader_agrees_with_the_reference_reader() {
        for body in [
            r#"{"data":{"id":"1","name":"A","username":"a"}}"#,
            r#"{"data":{"id":"1","username":"a","extra":[1,{"x":null}]},"includes":{"tweets":[{"id":"9"}]}}"#,
            r#"{"data":{"id":"1","name":"\u00e9\n","username":"a"}}"#,
        ] {
            let fast = read_me_fast(body.as_bytes()).expect(body);
            let reference = read_me(&resp(body)).unwrap();
            assert_eq!(fast.0.id, reference.0.id);
            assert_eq!(fast.0.name, reference.0.name);
            assert_eq!(fast.0.username, reference.0.username);
            let parsed = |s: &str| serde_json::from_str::<Value>(s).unwrap();
            assert_eq!(parsed(&fast.0.json), parsed(&reference.0.json));
            assert_eq!(fast.1.map(|s| parsed(&s)), reference.1.map(|s| parsed(&s)));
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_reference_reader() {
        for body in [
            r#"{"data":{"id":5,"username":"a"}}"#,
            r#"{"data":["id"]}"#,
            r#"{"data":{"id":"1"}}"#,
            r#"{"errors":[]}"#,
            "[1,2]",
            "not json",
            "",
        ] {
            assert!(read_me_fast(body.as_bytes()).is_none(), "{body}");
            assert!(
                matches!(
                    read_me(&resp(body)),
                    Err(ConnectorError::MalformedResponse(_))
                ),
                "{body}"
            );
        }
    }
}

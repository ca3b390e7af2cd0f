//! The API endpoints of the simulated X: posts, the user, rate-limit budgets.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::oauth::form;
use super::{unix, Reply, State};
use crate::endpoint;

pub(super) struct Budget {
    pub(super) limit: u32,
    pub(super) remaining: u32,
    pub(super) window: Duration,
    pub(super) reset: SystemTime,
}

pub(super) struct Post {
    pub(super) text: String,
}

fn unauthorized() -> Reply {
    Reply::problem(
        401,
        json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}),
    )
}

fn invalid_request(message: String, parameters: Value) -> Reply {
    Reply::problem(
        400,
        json!({
            "errors":[{"parameters": parameters, "message": message}],
            "title":"Invalid Request",
            "detail":"One or more parameters to your request was invalid.",
            "type":"https://api.twitter.com/2/problems/invalid-request"
        }),
    )
}

impl State {
    fn rate_headers(&mut self, key: &str) -> Result<Vec<(String, String)>, Reply> {
        let Some(b) = self.budgets.get_mut(key) else {
            return Ok(Vec::new());
        };
        let now = SystemTime::now();
        if now >= b.reset {
            b.remaining = b.limit;
            b.reset = now + b.window;
        }
        let over = b.remaining == 0;
        b.remaining = b.remaining.saturating_sub(1);
        let prefix = if b.window >= Duration::from_secs(86_400) {
            "x-user-limit-24hour"
        } else {
            "x-rate-limit"
        };
        let headers = vec![
            (format!("{prefix}-limit"), b.limit.to_string()),
            (format!("{prefix}-remaining"), b.remaining.to_string()),
            (format!("{prefix}-reset"), unix(b.reset).to_string()),
        ];
        if over {
            let mut r = Reply::problem(
                429,
                json!({"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}),
            );
            r.headers.extend(headers);
            return Err(r);
        }
        Ok(headers)
    }

    pub(super) fn api(
        &mut self,
        key: &str,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        if !self.authorized(headers) {
            self.stats.unauthorized += 1;
            return unauthorized();
        }
        let rate = match self.rate_headers(key) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let mut reply = match key {
            endpoint::CREATE_TWEET => self.create_tweet(body),
            endpoint::DELETE_TWEET => self.delete_tweet(path.trim_start_matches("/2/tweets/")),
            _ => self.get_me(query),
        };
        reply.headers.extend(rate);
        reply
    }

    fn create_tweet(&mut self, body: &[u8]) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return invalid_request(format!("body is not JSON: {e}"), json!({})),
        };
        self.stats.tweet_bodies.push(v.clone());
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if text.chars().count() > 280 * 2 {
            return invalid_request(
                "The length of the `text` field in the request body is not between 0 and 280"
                    .into(),
                json!({"text":[text]}),
            );
        }
        if !text.is_empty() && self.posts.values().any(|p| p.text == text) {
            return Reply::problem(
                403,
                json!({"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}),
            );
        }
        self.next_post += 1;
        let id = self.next_post.to_string();
        self.posts.insert(id.clone(), Post { text: text.clone() });
        Reply::json(
            201,
            json!({"data":{"id": id, "text": text, "edit_history_tweet_ids":[id]}}),
        )
    }

    fn delete_tweet(&mut self, id: &str) -> Reply {
        if id.is_empty() || id.len() > 19 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid_request(
                format!("The `id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"),
                json!({"id":[id]}),
            );
        }
        if self.posts.remove(id).is_none() {
            return Reply::problem(
                404,
                json!({
                    "title":"Not Found Error",
                    "detail": format!("Could not find tweet with id: [{id}]."),
                    "type":"https://api.twitter.com/2/problems/resource-not-found",
                    "status":404
                }),
            );
        }
        Reply::json(200, json!({"data":{"deleted":true}}))
    }

    fn get_me(&mut self, query: Option<&str>) -> Reply {
        let params: HashMap<String, String> = query.map(|q| form(q.as_bytes())).unwrap_or_default();
        let list = |k: &str| -> Vec<String> {
            params
                .get(k)
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        };
        let a = &self.account;
        let mut data = json!({"id": a.id, "name": a.name, "username": a.username});
        for field in list("user.fields") {
            let value = match field.as_str() {
                "created_at" => json!("2022-08-30T12:00:00.000Z"),
                "description" => json!("Account of the X API simulator"),
                "protected" | "verified" => json!(false),
                "public_metrics" => {
                    json!({"followers_count":0,"following_count":0,"tweet_count":self.posts.len(),"listed_count":0})
                }
                "pinned_tweet_id" => json!("1861000000000000001"),
                _ => continue,
            };
            data[field] = value;
        }
        let mut out = json!({"data": data});
        if list("expansions").iter().any(|e| e == "pinned_tweet_id") {
            data_insert(&mut out, "pinned_tweet_id", json!("1861000000000000001"));
            out["includes"] = json!({"tweets":[{"id":"1861000000000000001","text":"pinned","edit_history_tweet_ids":["1861000000000000001"]}]});
        }
        Reply::json(200, out)
    }
}

fn data_insert(out: &mut Value, k: &str, v: Value) {
    if let Some(d) = out.get_mut("data").and_then(Value::as_object_mut) {
        d.insert(k.into(), v);
    }
}

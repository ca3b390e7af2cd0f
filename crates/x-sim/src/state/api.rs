//! The API endpoints of the simulated X: bearer and scope checks (each
//! endpoint needs the scopes the spec's `security` lists), the tier 403 in
//! X's real shape, rate-limit budgets on every response, posts as strict as
//! X (see [`super::post_rules`]) and the user (see [`super::fields`]).

use serde_json::{json, Value};

use super::{fields, post_rules, Reply, State};
use crate::Endpoint;

pub(super) struct Post {
    pub(super) text: String,
}

fn unauthorized() -> Reply {
    Reply::problem(
        401,
        json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}),
    )
}

/// X's answer for an endpoint the app's access tier does not include.
fn client_forbidden(client_id: &str) -> Reply {
    Reply::problem(
        403,
        json!({
            "client_id": client_id,
            "detail": "When authenticating requests to the X API v2 endpoints, you must use keys and tokens from an X developer App that is attached to a Project. You can create a project via the developer portal.",
            "registration_url": "https://developer.x.com/en/portal/product",
            "title": "Client Forbidden",
            "required_enrollment": "Appropriate Level of API Access",
            "reason": "client-not-enrolled",
            "type": "https://api.x.com/2/problems/client-forbidden"
        }),
    )
}

fn missing_scopes(missing: &[&str]) -> Reply {
    Reply::problem(
        403,
        json!({
            "title": "Forbidden",
            "type": "about:blank",
            "status": 403,
            "detail": format!("The token was not granted the scopes this endpoint needs: {}", missing.join(" "))
        }),
    )
}

fn invalid_request(message: String, parameter: &str, value: &str) -> Reply {
    Reply::problem(
        400,
        json!({
            "errors":[{"parameters": {parameter: [value]}, "message": message}],
            "title":"Invalid Request",
            "detail":"One or more parameters to your request was invalid.",
            "type":"https://api.x.com/2/problems/invalid-request"
        }),
    )
}

/// The OAuth 2.0 scopes an endpoint's `security` lists (spec v2.167).
fn scopes_for(key: Endpoint) -> &'static [&'static str] {
    match key {
        Endpoint::GetMe => &["tweet.read", "users.read"],
        Endpoint::CreateTweet | Endpoint::DeleteTweet => {
            &["tweet.read", "tweet.write", "users.read"]
        }
        Endpoint::Token | Endpoint::Revoke | Endpoint::Authorize => &[],
    }
}

impl State {
    pub(super) fn api(
        &mut self,
        key: Endpoint,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Reply {
        let Some((client_id, granted)) = self.bearer(headers) else {
            self.stats.unauthorized += 1;
            return unauthorized();
        };
        if self.tier_forbidden.contains(&key) {
            return client_forbidden(&client_id);
        }
        let granted: Vec<&str> = granted.split(' ').collect();
        let missing: Vec<&str> = scopes_for(key)
            .iter()
            .copied()
            .filter(|s| !granted.contains(s))
            .collect();
        if !missing.is_empty() {
            return missing_scopes(&missing);
        }
        // Blocked before anything counts once the credits are gone.
        if let Some(Err(r)) = self.credits.as_ref().map(|c| c.check()) {
            self.stats.charges.refused += 1;
            return r;
        }
        let rate = match self.rate_headers(key) {
            Ok(h) => h,
            Err(r) => return r,
        };
        let mut reply = match key {
            Endpoint::CreateTweet => self.create_tweet(body),
            Endpoint::DeleteTweet => self.delete_tweet(path.trim_start_matches("/2/tweets/")),
            _ => match fields::me(query, &self.account, self.posts.len()) {
                Ok(v) => Reply::json(200, v),
                Err(r) => r,
            },
        };
        reply.headers.extend(rate);
        if let Some(credits) = self.credits.as_mut() {
            if (200..300).contains(&reply.status) {
                let answer = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
                credits.charge(key, body, &answer, &mut self.stats.charges);
            }
        }
        reply
    }

    fn create_tweet(&mut self, body: &[u8]) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return invalid_request(format!("the body is not JSON: {e}"), "body", ""),
        };
        self.stats.tweet_bodies.push(v.clone());
        let Some(obj) = v.as_object() else {
            return invalid_request("the body must be a JSON object".into(), "body", "");
        };
        if let Err(r) = post_rules::check(obj) {
            return r;
        }
        let text = v["text"].as_str().unwrap_or("").to_string();
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
            json!({"data":{"id": id, "text": text, "edit_history_post_ids":[id]}}),
        )
    }

    fn delete_tweet(&mut self, id: &str) -> Reply {
        if id.is_empty() || id.len() > 19 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return invalid_request(
                format!("The `id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"),
                "id",
                id,
            );
        }
        if self.posts.remove(id).is_none() {
            return Reply::problem(
                404,
                json!({
                    "title": "Not Found Error",
                    "detail": format!("Could not find post with id: [{id}]."),
                    "type": "https://api.x.com/2/problems/resource-not-found",
                    "resource_type": "post",
                    "resource_id": id,
                    "parameter": "id",
                    "value": id,
                    "status": 404
                }),
            );
        }
        Reply::json(200, json!({"data":{"deleted":true}}))
    }
}

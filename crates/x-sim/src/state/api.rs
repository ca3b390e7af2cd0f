//! The API endpoints of the simulated X: bearer and scope checks (each
//! endpoint needs the scopes the spec's `security` lists), the tier 403 in
//! X's real shape, rate-limit budgets on every response, posts as strict as
//! X (see [`super::post_rules`]) and the user (see [`super::fields`]).

use serde_json::{json, Value};

use super::{fields, post_rules, Reply, State};
use crate::Endpoint;

pub(super) struct Post {
    pub(super) text: String,
    pub(super) author_id: String,
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

pub(super) fn forbidden(detail: &str) -> Reply {
    Reply::problem(
        403,
        json!({"title": "Forbidden", "type": "about:blank", "status": 403, "detail": detail}),
    )
}

pub(super) fn not_found(kind: &str, id: &str) -> Reply {
    Reply::problem(
        404,
        json!({
            "title": "Not Found Error",
            "detail": format!("Could not find {kind} with id: [{id}]."),
            "type": "https://api.x.com/2/problems/resource-not-found",
            "resource_type": kind,
            "resource_id": id,
            "parameter": "id",
            "value": id,
            "status": 404
        }),
    )
}

/// X's words for a reply the 2026 rule refuses (as developers reported them).
const REPLY_REFUSED: &str = "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to.";
/// The simulator's words for a quote post on a self-serve plan (X's are not published).
const QUOTE_REFUSED: &str = "Quote posts are not available for your app's access level.";

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

pub(super) fn invalid_request(message: String, parameter: &str, value: &str) -> Reply {
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
        Endpoint::Api(op) => crate::routes::by_operation(op).map_or(&[], |r| r.scopes),
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
            Endpoint::Api(op) => {
                // The route `Endpoint::of` found for this path.
                let params = crate::routes::by_operation(op)
                    .and_then(|r| r.params(path))
                    .unwrap_or_default();
                let v: Value = if body.is_empty() {
                    Value::Null
                } else {
                    match serde_json::from_slice(body) {
                        Ok(v) => v,
                        Err(e) => {
                            return invalid_request(
                                format!("the body is not JSON: {e}"),
                                "body",
                                "",
                            )
                        }
                    }
                };
                if op.contains("Media") || op == "mediaUpload" {
                    self.media(op, &params, query, &v)
                } else {
                    self.social(op, &params, query, &v)
                }
            }
            _ => match fields::me(query, &self.account, self.own_posts()) {
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
        if let Some(r) = self.write_rules(obj) {
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
        self.stats.created_texts.push(text.clone());
        let id = self.next_post.to_string();
        self.posts.insert(
            id.clone(),
            Post {
                text: text.clone(),
                author_id: self.account.id.clone(),
            },
        );
        Reply::json(
            201,
            json!({"data":{"id": id, "text": text, "edit_history_post_ids":[id]}}),
        )
    }

    fn own_posts(&self) -> usize {
        self.posts
            .values()
            .filter(|p| p.author_id == self.account.id)
            .count()
    }

    /// X's rules on writes beyond the body's shape: media must be uploaded
    /// and processed; a reply only where the author of the post replied to
    /// mentioned the account (or it is the account's own post); no quote
    /// posts on self-serve plans. An Enterprise app is spared the last two.
    fn write_rules(&self, obj: &serde_json::Map<String, Value>) -> Option<Reply> {
        for id in obj
            .get("media")
            .and_then(|m| m["media_ids"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !self.uploads.get(id).is_some_and(|u| u.ready()) {
                return Some(invalid_request(
                    format!("Your media IDs are invalid: [{id}] is not an uploaded, processed media id."),
                    "media.media_ids",
                    id,
                ));
            }
        }
        if self.enterprise {
            return None;
        }
        if let Some(to) = obj
            .get("reply")
            .and_then(|r| r["in_reply_to_tweet_id"].as_str())
        {
            let mention = format!("@{}", self.account.username.to_lowercase());
            let allowed = self.posts.get(to).is_some_and(|p| {
                p.author_id == self.account.id || p.text.to_lowercase().contains(&mention)
            });
            if !allowed {
                return Some(forbidden(REPLY_REFUSED));
            }
        }
        if obj.contains_key("quote_tweet_id") {
            return Some(forbidden(QUOTE_REFUSED));
        }
        None
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

//! The rest of X the connector reaches: posts by id and in timelines,
//! search, likes and reposts, users and their follows, blocks and mutes,
//! lists and direct messages, with X's pagination (`meta.next_token`,
//! `max_results` ranges) and X's shapes (the spec's schemas; the contract
//! feature checks them). Only the authenticated user may act as itself.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::api::{forbidden, invalid_request, not_found, Post};
use super::{list_of, query_of, Query, Reply, State};

pub(super) struct SimUser {
    pub id: String,
    pub name: String,
    pub username: String,
}

pub(super) struct SimList {
    pub name: String,
    pub description: String,
    pub private: bool,
    pub owner_id: String,
}

/// The simulated world around the account.
#[derive(Default)]
pub(super) struct Social {
    pub users: Vec<SimUser>,
    /// (follower, followed)
    pub follows: BTreeSet<(String, String)>,
    pub blocks: BTreeSet<(String, String)>,
    pub mutes: BTreeSet<(String, String)>,
    /// (user, post)
    pub likes: Vec<(String, String)>,
    pub reposts: Vec<(String, String)>,
    pub lists: std::collections::BTreeMap<String, SimList>,
    /// (list, user)
    pub members: BTreeSet<(String, String)>,
    pub list_follows: BTreeSet<(String, String)>,
    pub dm_events: Vec<Value>,
    next_id: u64,
}

/// Users other than the account the simulator starts with, all following it.
pub const SEEDED_FOLLOWERS: usize = 25;
const CREATED: &str = "2026-02-06T12:00:00.000Z";

impl Social {
    pub fn seeded(account: &super::Account) -> Social {
        let mut s = Social {
            next_id: 1_870_000_000_000_000_000,
            ..Social::default()
        };
        s.users.push(SimUser {
            id: account.id.clone(),
            name: account.name.clone(),
            username: account.username.clone(),
        });
        for i in 1..=SEEDED_FOLLOWERS {
            let id = format!("{}", 2_000_000_000_000_000_000u64 + i as u64);
            s.follows.insert((id.clone(), account.id.clone()));
            if i <= 5 {
                s.follows.insert((account.id.clone(), id.clone()));
            }
            s.users.push(SimUser {
                id,
                name: format!("User {i}"),
                username: format!("user_{i}"),
            });
        }
        for (i, name) in ["Rust people", "Wasm news", "Integration"]
            .iter()
            .enumerate()
        {
            let id = format!("{}", 1_700_000_000_000_000_001u64 + i as u64);
            s.members.insert((id.clone(), account.id.clone()));
            if i < 2 {
                s.list_follows.insert((id.clone(), account.id.clone()));
            }
            s.lists.insert(
                id,
                SimList {
                    name: name.to_string(),
                    description: String::new(),
                    private: false,
                    owner_id: s.users[1].id.clone(),
                },
            );
        }
        let conversation = format!("{}-{}", s.users[1].id, account.id);
        for (i, text) in ["Hi there", "How is the connector?", "Ping"]
            .iter()
            .enumerate()
        {
            s.dm_events.push(json!({
                "id": format!("{}", 1_800_000_000_000_000_001u64 + i as u64),
                "event_type": "MessageCreate",
                "text": text,
                "sender_id": s.users[1].id,
                "dm_conversation_id": conversation,
                "created_at": CREATED,
            }));
        }
        s
    }

    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    fn user(&self, id: &str) -> Option<&SimUser> {
        self.users.iter().find(|u| u.id == id)
    }
}

/// Posts the simulator starts with, by others: one mentions the account.
pub fn seeded_posts(account: &super::Account, first_other: &str) -> Vec<(String, Post)> {
    vec![
        (
            "1860000000000000001".into(),
            Post {
                text: format!("Hello @{}, welcome to the sandbox", account.username),
                author_id: first_other.to_string(),
            },
        ),
        (
            "1860000000000000002".into(),
            Post {
                text: "A post about rust and wasm components".into(),
                author_id: format!("{}", first_other.parse::<u64>().unwrap_or(0) + 1),
            },
        ),
    ]
}

fn user_json(u: &SimUser, fields: &[String]) -> Value {
    let mut v = json!({"id": u.id, "name": u.name, "username": u.username});
    for f in fields {
        match f.as_str() {
            "created_at" => v["created_at"] = json!(CREATED),
            "protected" | "verified" => v[f.as_str()] = json!(false),
            "description" => v["description"] = json!(""),
            _ => {}
        }
    }
    v
}

/// X's pagination: `max_results` in `lo..=hi` (else X's 400), the page
/// after `token`, `meta.next_token` while more remain.
fn page(
    items: Vec<Value>,
    q: &Query,
    (lo, hi, default): (usize, usize, usize),
    token_names: &[&str],
) -> Result<Value, Reply> {
    let max = match q.get("max_results") {
        None => default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (lo..=hi).contains(&n) => n,
            _ => {
                return Err(invalid_request(
                    format!(
                    "The `max_results` query parameter value [{v}] is not between {lo} and {hi}"
                ),
                    "max_results",
                    v,
                ))
            }
        },
    };
    let mut offset = 0;
    for name in token_names {
        if let Some(t) = q.get(*name) {
            offset = match t.strip_prefix("pg").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n <= items.len() => n,
                _ => {
                    return Err(invalid_request(
                        format!("The `{name}` query parameter value [{t}] is not a valid token"),
                        name,
                        t,
                    ))
                }
            };
        }
    }
    let end = (offset + max).min(items.len());
    let data: Vec<Value> = items[offset..end].to_vec();
    let mut meta = json!({"result_count": data.len()});
    if end < items.len() {
        meta["next_token"] = json!(format!("pg{end:014}"));
    }
    if offset > 0 {
        meta["previous_token"] = json!(format!("pg{:014}", offset.saturating_sub(max)));
    }
    let mut out = json!({"meta": meta});
    if !data.is_empty() {
        out["data"] = Value::Array(data);
    }
    Ok(out)
}

impl State {
    fn post_json(&self, id: &str, p: &Post, q: &Query) -> Value {
        let mut v = json!({"id": id, "text": p.text, "edit_history_tweet_ids": [id]});
        for f in list_of(q, "post.fields")
            .iter()
            .chain(&list_of(q, "tweet.fields"))
        {
            match f.as_str() {
                "author_id" => v["author_id"] = json!(p.author_id),
                "created_at" => v["created_at"] = json!(CREATED),
                "conversation_id" => v["conversation_id"] = json!(id),
                _ => {}
            }
        }
        v
    }

    /// Posts, newest first, that `keep` selects.
    fn posts_where(&self, q: &Query, keep: impl Fn(&str, &Post) -> bool) -> Vec<Value> {
        let mut ids: Vec<(&String, &Post)> =
            self.posts.iter().filter(|(id, p)| keep(id, p)).collect();
        ids.sort_by_key(|(id, _)| std::cmp::Reverse(id.parse::<u64>().unwrap_or(0)));
        let since = q.get("since_id").and_then(|v| v.parse::<u64>().ok());
        let until = q.get("until_id").and_then(|v| v.parse::<u64>().ok());
        ids.into_iter()
            .filter(|(id, _)| {
                let n = id.parse::<u64>().unwrap_or(0);
                since.is_none_or(|s| n > s) && until.is_none_or(|u| n < u)
            })
            .map(|(id, p)| self.post_json(id, p, q))
            .collect()
    }

    /// `includes.users` for the `author_id` expansion.
    fn with_authors(&self, mut out: Value, q: &Query) -> Value {
        if !list_of(q, "expansions").iter().any(|e| e == "author_id") {
            return out;
        }
        let mut users: Vec<Value> = Vec::new();
        let ids: Vec<String> = match &out["data"] {
            Value::Array(items) => items
                .iter()
                .filter_map(|p| p["id"].as_str().map(str::to_string))
                .collect(),
            Value::Object(p) => p
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        for id in ids {
            if let Some(u) = self
                .posts
                .get(&id)
                .and_then(|p| self.social.user(&p.author_id))
            {
                if !users.iter().any(|x| x["id"] == json!(u.id)) {
                    users.push(user_json(u, &[]));
                }
            }
        }
        if !users.is_empty() {
            out["includes"] = json!({"users": users});
        }
        out
    }

    fn users_json(&self, ids: impl Iterator<Item = String>, q: &Query) -> Vec<Value> {
        let fields = list_of(q, "user.fields");
        ids.filter_map(|id| self.social.user(&id).map(|u| user_json(u, &fields)))
            .collect()
    }

    fn list_json(&self, id: &str, l: &SimList, q: &Query) -> Value {
        let mut v = json!({"id": id, "name": l.name});
        for f in list_of(q, "list.fields") {
            match f.as_str() {
                "private" => v["private"] = json!(l.private),
                "description" => v["description"] = json!(l.description),
                "owner_id" => v["owner_id"] = json!(l.owner_id),
                "created_at" => v["created_at"] = json!(CREATED),
                "member_count" => {
                    v["member_count"] =
                        json!(self.social.members.iter().filter(|(x, _)| x == id).count())
                }
                "follower_count" => {
                    v["follower_count"] = json!(self
                        .social
                        .list_follows
                        .iter()
                        .filter(|(x, _)| x == id)
                        .count())
                }
                _ => {}
            }
        }
        v
    }

    fn not_yours(&self, id: &str) -> Option<Reply> {
        (id != self.account.id)
            .then(|| forbidden("You are not permitted to act on behalf of another user."))
    }

    /// The answer to one of the routes of [`crate::routes`].
    pub(super) fn social(
        &mut self,
        operation: &str,
        path: &[(&'static str, String)],
        query: Option<&str>,
        body: &Value,
    ) -> Reply {
        let q = query_of(query);
        let arg = |k: &str| {
            path.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let id = arg("id");
        let me = self.account.id.clone();
        let body_str = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let result: Result<Value, Reply> = (|| {
            Ok(match operation {
                "searchPostsRecent" => {
                    let query = q.get("query").cloned().unwrap_or_default();
                    if query.is_empty() || query.chars().count() > 512 {
                        return Err(invalid_request(
                            "The `query` query parameter must be 1 to 512 characters".into(),
                            "query",
                            &query,
                        ));
                    }
                    let terms: Vec<String> = query
                        .split_whitespace()
                        .filter(|t| !t.contains(':'))
                        .map(str::to_lowercase)
                        .collect();
                    let found = self.posts_where(&q, |_, p| {
                        let text = p.text.to_lowercase();
                        terms.iter().all(|t| text.contains(t.as_str()))
                    });
                    self.with_authors(
                        page(
                            found,
                            &q,
                            (10, 100, 10),
                            &["next_token", "pagination_token"],
                        )?,
                        &q,
                    )
                }
                "getPostsById" => match self.posts.get(&id) {
                    Some(p) => self.with_authors(json!({"data": self.post_json(&id, p, &q)}), &q),
                    None => return Err(not_found("post", &id)),
                },
                "getPostsByIds" => {
                    let ids = list_of(&q, "ids");
                    let data: Vec<Value> = ids
                        .iter()
                        .filter_map(|i| self.posts.get(i).map(|p| self.post_json(i, p, &q)))
                        .collect();
                    let errors: Vec<Value> = ids
                        .iter()
                        .filter(|i| !self.posts.contains_key(*i))
                        .map(|i| missing("post", i))
                        .collect();
                    let mut out = json!({"data": data});
                    if !errors.is_empty() {
                        out["errors"] = json!(errors);
                    }
                    self.with_authors(out, &q)
                }
                "repostPost" => {
                    let post = body_str("tweet_id");
                    if let Some(r) = self.not_yours(&id) {
                        return Err(r);
                    }
                    if !self.posts.contains_key(&post) {
                        return Err(not_found("post", &post));
                    }
                    self.social.reposts.push((id.clone(), post.clone()));
                    json!({"data": {"retweeted": true, "rest_id": post}})
                }
                "getUsersLikedPosts" => {
                    let liked: Vec<String> = self
                        .social
                        .likes
                        .iter()
                        .filter(|(u, _)| *u == id)
                        .map(|(_, p)| p.clone())
                        .collect();
                    let found = self.posts_where(&q, |pid, _| liked.iter().any(|l| l == pid));
                    self.with_authors(page(found, &q, (5, 100, 100), &["pagination_token"])?, &q)
                }
                "likePost" => {
                    let post = body_str("tweet_id");
                    if let Some(r) = self.not_yours(&id) {
                        return Err(r);
                    }
                    if !self.posts.contains_key(&post) {
                        return Err(not_found("post", &post));
                    }
                    if !self.social.likes.contains(&(id.clone(), post.clone())) {
                        self.social.likes.push((id.clone(), post));
                    }
                    json!({"data": {"liked": true}})
                }
                "unlikePost" => {
                    if let Some(r) = self.not_yours(&id) {
                        return Err(r);
                    }
                    let post = arg("tweet_id");
                    self.social
                        .likes
                        .retain(|l| *l != (id.clone(), post.clone()));
                    json!({"data": {"liked": false}})
                }
                "getUsersTimeline" => {
                    if let Some(r) = self.not_yours(&id) {
                        return Err(r);
                    }
                    let found = self.posts_where(&q, |_, _| true);
                    self.with_authors(page(found, &q, (1, 100, 100), &["pagination_token"])?, &q)
                }
                "getUsersMentions" => {
                    let Some(user) = self.social.user(&id) else {
                        return Err(not_found("user", &id));
                    };
                    let at = format!("@{}", user.username.to_lowercase());
                    let found = self.posts_where(&q, |_, p| p.text.to_lowercase().contains(&at));
                    self.with_authors(page(found, &q, (5, 100, 10), &["pagination_token"])?, &q)
                }
                "getUsersPosts" => {
                    let found = self.posts_where(&q, |_, p| p.author_id == id);
                    self.with_authors(page(found, &q, (5, 100, 10), &["pagination_token"])?, &q)
                }
                "getUsersByUsername" => {
                    let name = arg("username").to_lowercase();
                    match self
                        .social
                        .users
                        .iter()
                        .find(|u| u.username.to_lowercase() == name)
                    {
                        Some(u) => json!({"data": user_json(u, &list_of(&q, "user.fields"))}),
                        None => return Err(not_found("user", &name)),
                    }
                }
                "getUsersById" => match self.social.user(&id) {
                    Some(u) => json!({"data": user_json(u, &list_of(&q, "user.fields"))}),
                    None => return Err(not_found("user", &id)),
                },
                "getUsersByIds" => {
                    let ids = list_of(&q, "ids");
                    let data = self.users_json(ids.iter().cloned(), &q);
                    let errors: Vec<Value> = ids
                        .iter()
                        .filter(|i| self.social.user(i).is_none())
                        .map(|i| missing("user", i))
                        .collect();
                    let mut out = json!({"data": data});
                    if !errors.is_empty() {
                        out["errors"] = json!(errors);
                    }
                    out
                }
                "getUsersFollowers" | "getUsersFollowing" | "getUsersBlocking"
                | "getUsersMuting" => {
                    let set = match operation {
                        "getUsersBlocking" => &self.social.blocks,
                        "getUsersMuting" => &self.social.mutes,
                        _ => &self.social.follows,
                    };
                    if matches!(operation, "getUsersBlocking" | "getUsersMuting") {
                        if let Some(r) = self.not_yours(&id) {
                            return Err(r);
                        }
                    }
                    let ids: Vec<String> = if operation == "getUsersFollowers" {
                        set.iter()
                            .filter(|(_, b)| *b == id)
                            .map(|(a, _)| a.clone())
                            .collect()
                    } else {
                        set.iter()
                            .filter(|(a, _)| *a == id)
                            .map(|(_, b)| b.clone())
                            .collect()
                    };
                    let users = self.users_json(ids.into_iter(), &q);
                    page(users, &q, (1, 1000, 100), &["pagination_token"])?
                }
                "followUser" | "blockUser" | "muteUser" => {
                    if let Some(r) = self.not_yours(&id) {
                        return Err(r);
                    }
                    let target = body_str("target_user_id");
                    if self.social.user(&target).is_none() {
                        return Err(not_found("user", &target));
                    }
                    let pair = (id.clone(), target);
                    match operation {
                        "followUser" => {
                            self.social.follows.insert(pair);
                            json!({"data": {"following": true, "pending_follow": false}})
                        }
                        "blockUser" => {
                            self.social.blocks.insert(pair);
                            json!({"data": {"blocking": true}})
                        }
                        _ => {
                            self.social.mutes.insert(pair);
                            json!({"data": {"muting": true}})
                        }
                    }
                }
                "unfollowUser" | "unblockUser" | "unmuteUser" => {
                    let source = arg("source_user_id");
                    if let Some(r) = self.not_yours(&source) {
                        return Err(r);
                    }
                    let pair = (source, arg("target_user_id"));
                    match operation {
                        "unfollowUser" => {
                            self.social.follows.remove(&pair);
                            json!({"data": {"following": false}})
                        }
                        "unblockUser" => {
                            self.social.blocks.remove(&pair);
                            json!({"data": {"blocking": false}})
                        }
                        _ => {
                            self.social.mutes.remove(&pair);
                            json!({"data": {"muting": false}})
                        }
                    }
                }
                "createLists" => {
                    let name = body_str("name");
                    if name.is_empty() || name.chars().count() > 25 {
                        return Err(invalid_request(
                            "The `name` must be 1 to 25 characters".into(),
                            "name",
                            &name,
                        ));
                    }
                    let list_id = self.social.next_id();
                    self.social.lists.insert(
                        list_id.clone(),
                        SimList {
                            name: name.clone(),
                            description: body_str("description"),
                            private: body
                                .get("private")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                            owner_id: me.clone(),
                        },
                    );
                    json!({"data": {"id": list_id, "name": name}})
                }
                "updateLists" | "deleteLists" => {
                    let Some(list) = self.social.lists.get_mut(&id) else {
                        return Err(not_found("list", &id));
                    };
                    if list.owner_id != me {
                        return Err(forbidden(
                            "You are not allowed to change a List you do not own.",
                        ));
                    }
                    if operation == "deleteLists" {
                        self.social.lists.remove(&id);
                        json!({"data": {"deleted": true}})
                    } else {
                        if let Some(n) = body.get("name").and_then(Value::as_str) {
                            list.name = n.to_string()
                        }
                        if let Some(d) = body.get("description").and_then(Value::as_str) {
                            list.description = d.to_string()
                        }
                        if let Some(p) = body.get("private").and_then(Value::as_bool) {
                            list.private = p
                        }
                        json!({"data": {"updated": true}})
                    }
                }
                "getListsById" => match self.social.lists.get(&id) {
                    Some(l) => json!({"data": self.list_json(&id, l, &q)}),
                    None => return Err(not_found("list", &id)),
                },
                "getUsersFollowedLists" | "getUsersListMemberships" => {
                    let set = if operation == "getUsersFollowedLists" {
                        &self.social.list_follows
                    } else {
                        &self.social.members
                    };
                    let lists: Vec<Value> = set
                        .iter()
                        .filter(|(_, u)| *u == id)
                        .filter_map(|(l, _)| {
                            self.social.lists.get(l).map(|x| self.list_json(l, x, &q))
                        })
                        .collect();
                    page(lists, &q, (1, 100, 100), &["pagination_token"])?
                }
                "createDirectMessagesByParticipantId" | "createDirectMessagesByConversationId" => {
                    let conversation = if operation == "createDirectMessagesByParticipantId" {
                        let other = arg("participant_id");
                        if self.social.user(&other).is_none() {
                            return Err(not_found("user", &other));
                        }
                        let (a, b) = if other < me {
                            (other, me.clone())
                        } else {
                            (me.clone(), other)
                        };
                        format!("{a}-{b}")
                    } else {
                        let c = arg("dm_conversation_id");
                        if !c.split('-').any(|p| p == me)
                            && !self
                                .social
                                .dm_events
                                .iter()
                                .any(|e| e["dm_conversation_id"] == json!(c))
                        {
                            return Err(not_found("dm_conversation", &c));
                        }
                        c
                    };
                    let text = body_str("text");
                    let attachments = body.get("attachments").cloned();
                    if text.is_empty() && attachments.is_none() {
                        return Err(invalid_request(
                            "One of `text` or `attachments` is required".into(),
                            "text",
                            "",
                        ));
                    }
                    let event_id = self.social.next_id();
                    let mut event = json!({
                        "id": event_id, "event_type": "MessageCreate", "text": text,
                        "sender_id": me, "dm_conversation_id": conversation, "created_at": CREATED,
                    });
                    if let Some(a) = attachments {
                        let keys: Vec<String> = a
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| m["media_id"].as_str())
                            .map(|m| format!("3_{m}"))
                            .collect();
                        event["attachments"] = json!({"media_keys": keys});
                    }
                    self.social.dm_events.push(event);
                    json!({"data": {"dm_conversation_id": conversation, "dm_event_id": event_id}})
                }
                "getDirectMessagesEvents" => {
                    let types = list_of(&q, "event_types");
                    let mut events: Vec<Value> = self
                        .social
                        .dm_events
                        .iter()
                        .filter(|e| {
                            types.is_empty() || types.iter().any(|t| e["event_type"] == json!(t))
                        })
                        .cloned()
                        .collect();
                    events.reverse();
                    page(events, &q, (1, 100, 100), &["pagination_token"])?
                }
                other => return Err(not_found("route", other)),
            })
        })();
        match result {
            Ok(v) => {
                let status = if matches!(
                    operation,
                    "createLists"
                        | "createDirectMessagesByParticipantId"
                        | "createDirectMessagesByConversationId"
                ) {
                    201
                } else {
                    200
                };
                Reply::json(status, v)
            }
            Err(r) => r,
        }
    }
}

/// X's "partial error" item for a resource a lookup did not find.
fn missing(kind: &str, id: &str) -> Value {
    json!({
        "value": id,
        "detail": format!("Could not find {kind} with ids: [{id}]."),
        "title": "Not Found Error",
        "resource_type": kind,
        "parameter": "ids",
        "resource_id": id,
        "type": "https://api.x.com/2/problems/resource-not-found"
    })
}

//! The typed area interfaces (`tweets`, `users`, `lists`,
//! `direct-messages`, `media`): each function names its operation's
//! parameters and goes through the same path as `invoke` (catalog checks,
//! pagination, cost), so a typed call costs only this glue.

use serde_json::Value;

use super::bindings::exports::wso2::twitter::{direct_messages, lists, media, tweets, users};
use super::bindings::wso2::twitter::reads;
use super::{convert::meta, failed, with_connection, Component};
use crate::error::ConnectorError;
use crate::ops::{self, media::Upload, request};
use crate::response::ResponseMeta;

type Error = super::wit::Error;
type Answer = super::wit::Answer;

/// A successful area call, behind the WIT `answer` resource.
pub struct Reply {
    meta: ResponseMeta,
    data: String,
    includes: Option<String>,
    next_token: Option<String>,
    result_count: u32,
}

impl super::wit::GuestAnswer for Reply {
    fn data(&self) -> String {
        self.data.clone()
    }
    fn includes(&self) -> Option<String> {
        self.includes.clone()
    }
    fn next_token(&self) -> Option<String> {
        self.next_token.clone()
    }
    fn result_count(&self) -> u32 {
        self.result_count
    }
    fn meta(&self) -> super::wt::ResponseMeta {
        meta(self.meta.clone())
    }
}

/// Parameters by their flow names.
#[derive(Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.push((name.into(), value.into()));
        self
    }

    fn opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.with(name, v.to_string()),
            None => self,
        }
    }

    fn list(self, name: &str, values: &[String]) -> Self {
        if values.is_empty() {
            self
        } else {
            self.with(name, values.join(","))
        }
    }

    fn select(self, s: &reads::Selection) -> Self {
        self.list("expansions", &s.expansions)
            .list("tweet_fields", &s.tweet_fields)
            .list("user_fields", &s.user_fields)
            .list("media_fields", &s.media_fields)
            .list("place_fields", &s.place_fields)
            .list("poll_fields", &s.poll_fields)
            .list("list_fields", &s.list_fields)
            .list("dm_event_fields", &s.dm_event_fields)
    }

    fn page(self, p: &reads::Page) -> Self {
        self.opt("max_results", p.max_results)
            .opt("pagination_token", p.pagination_token.as_deref())
            .opt("maxPages", p.max_pages)
    }

    fn within(self, w: &reads::Window) -> Self {
        self.opt("start_time", w.start_time.as_deref())
            .opt("end_time", w.end_time.as_deref())
            .opt("since_id", w.since_id.as_deref())
            .opt("until_id", w.until_id.as_deref())
    }
}

fn run(operation: &str, p: Params) -> Result<ResponseMeta, ConnectorError> {
    let spec =
        ops::find(operation).ok_or_else(|| ConnectorError::invalid("operation", "unknown"))?;
    let call = request::build(spec, &p.0)?;
    with_connection(|c| c.run(&call))
}

/// X's answer, read once: `data`, `includes` and where to go on.
fn reply(m: ResponseMeta) -> Answer {
    let v: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
    let data = v.get("data").cloned().unwrap_or(Value::Null);
    let count = match &data {
        Value::Array(items) => items.len(),
        Value::Null => 0,
        _ => 1,
    };
    Answer::new(Reply {
        data: data.to_string(),
        includes: v.get("includes").map(Value::to_string),
        next_token: v
            .pointer("/meta/next_token")
            .and_then(Value::as_str)
            .map(str::to_string),
        result_count: v
            .pointer("/meta/result_count")
            .and_then(Value::as_u64)
            .map_or(count as u32, |n| n as u32),
        meta: m,
    })
}

fn read(operation: &str, p: Params) -> Result<Answer, Error> {
    run(operation, p).map(reply).map_err(failed)
}

fn ids(id: &str, s: &reads::Selection) -> Params {
    Params::default().with("id", id).select(s)
}

impl tweets::Guest for Component {
    fn get_tweet_by_id(id: String, select: reads::Selection) -> Result<Answer, Error> {
        read("getTweetById", ids(&id, &select))
    }
    fn get_tweets_lookup(list: Vec<String>, select: reads::Selection) -> Result<Answer, Error> {
        read(
            "getTweetsLookup",
            Params::default().list("ids", &list).select(&select),
        )
    }
    fn search_tweets(
        query: String,
        sort_order: Option<String>,
        within: reads::Window,
        page: reads::Page,
        select: reads::Selection,
    ) -> Result<Answer, Error> {
        let p = Params::default()
            .with("query", query)
            .opt("sort_order", sort_order);
        read(
            "searchTweets",
            p.within(&within).page(&page).select(&select),
        )
    }
    fn get_timeline(
        user_id: String,
        timeline: tweets::Timeline,
        exclude: Vec<String>,
        within: reads::Window,
        page: reads::Page,
        select: reads::Selection,
    ) -> Result<Answer, Error> {
        let op = match timeline {
            tweets::Timeline::Posts => "getUserTweetsTimeline",
            tweets::Timeline::Mentions => "getUserMentionsTimeline",
            tweets::Timeline::Home => "getUserHomeTimeline",
            tweets::Timeline::Liked => "getLikedTweetsList",
        };
        let p = ids(&user_id, &select).list("exclude", &exclude);
        read(op, p.within(&within).page(&page))
    }
    fn like_tweet(user_id: String, tweet_id: String, undo: bool) -> Result<Answer, Error> {
        let op = if undo { "unlikeTweet" } else { "likeTweet" };
        read(
            op,
            Params::default()
                .with("id", user_id)
                .with("tweet_id", tweet_id),
        )
    }
    fn create_retweet(user_id: String, tweet_id: String) -> Result<Answer, Error> {
        read(
            "createRetweet",
            Params::default()
                .with("id", user_id)
                .with("tweet_id", tweet_id),
        )
    }
}

impl users::Guest for Component {
    fn get_user_by_id(id: String, select: reads::Selection) -> Result<Answer, Error> {
        read("getUserById", ids(&id, &select))
    }
    fn get_user_by_username(username: String, select: reads::Selection) -> Result<Answer, Error> {
        read(
            "getUserByUsername",
            Params::default().with("username", username).select(&select),
        )
    }
    fn get_users_lookup(list: Vec<String>, select: reads::Selection) -> Result<Answer, Error> {
        read(
            "getUsersLookup",
            Params::default().list("ids", &list).select(&select),
        )
    }
    fn get_related_users(
        user_id: String,
        relation: users::Relation,
        page: reads::Page,
        select: reads::Selection,
    ) -> Result<Answer, Error> {
        let op = match relation {
            users::Relation::Followers => "getFollowers",
            users::Relation::Following => "getFollowingUsers",
            users::Relation::Blocking => "getBlockedUsers",
            users::Relation::Muting => "getMutedUsers",
        };
        read(op, ids(&user_id, &select).page(&page))
    }
    fn relate(
        user_id: String,
        relation: users::Relation,
        target_user_id: String,
        undo: bool,
    ) -> Result<Answer, Error> {
        let op =
            match (relation, undo) {
                (users::Relation::Following, false) => "followUser",
                (users::Relation::Following, true) => "unfollowUser",
                (users::Relation::Blocking, false) => "blockUser",
                (users::Relation::Blocking, true) => "unblockUser",
                (users::Relation::Muting, false) => "muteUser",
                (users::Relation::Muting, true) => "unmuteUser",
                (users::Relation::Followers, _) => return Err(failed(ConnectorError::invalid(
                    "relation",
                    "followers is not a relation the user can make (following, blocking, muting)",
                ))),
            };
        // X's name of the acting user: `id` in a write's path, `source_user_id` in an undo's.
        let who = if undo { "source_user_id" } else { "id" };
        read(
            op,
            Params::default()
                .with(who, user_id)
                .with("target_user_id", target_user_id),
        )
    }
}

fn list_fields(p: Params, f: &lists::ListFields) -> Params {
    p.opt("name", f.name.as_deref())
        .opt("description", f.description.as_deref())
        .opt("private", f.private)
}

impl lists::Guest for Component {
    fn create_list(fields: lists::ListFields) -> Result<Answer, Error> {
        read("createList", list_fields(Params::default(), &fields))
    }
    fn update_list(id: String, fields: lists::ListFields) -> Result<Answer, Error> {
        read(
            "updateList",
            list_fields(Params::default().with("id", id), &fields),
        )
    }
    fn delete_list(id: String) -> Result<Answer, Error> {
        read("deleteList", Params::default().with("id", id))
    }
    fn get_list_by_id(id: String, select: reads::Selection) -> Result<Answer, Error> {
        read("getListById", ids(&id, &select))
    }
    fn get_following_lists(
        user_id: String,
        page: reads::Page,
        select: reads::Selection,
    ) -> Result<Answer, Error> {
        read("getFollowingLists", ids(&user_id, &select).page(&page))
    }
    fn get_lists_memberships(
        user_id: String,
        page: reads::Page,
        select: reads::Selection,
    ) -> Result<Answer, Error> {
        read("getListsMemberships", ids(&user_id, &select).page(&page))
    }
}

impl direct_messages::Guest for Component {
    fn send_direct_message(
        to: direct_messages::Recipient,
        text: Option<String>,
        media_ids: Vec<String>,
    ) -> Result<Answer, Error> {
        let (op, p) = match to {
            direct_messages::Recipient::Participant(id) => (
                "sendNewDirectMessage",
                Params::default().with("participant_id", id),
            ),
            direct_messages::Recipient::Conversation(id) => (
                "addDirectMessage",
                Params::default().with("dm_conversation_id", id),
            ),
        };
        read(op, p.opt("text", text).list("attachments", &media_ids))
    }
    fn get_direct_messages(
        event_types: Vec<String>,
        page: reads::Page,
        select: reads::Selection,
    ) -> Result<Answer, Error> {
        let p = Params::default().list("event_types", &event_types);
        read("getDirectMessages", p.page(&page).select(&select))
    }
}

impl media::Guest for Component {
    fn upload_media(bytes: Vec<u8>, options: media::UploadOptions) -> Result<Answer, Error> {
        let p = Params::default()
            .opt("media_type", options.media_type)
            .opt("media_category", options.media_category)
            .list("additional_owners", &options.additional_owners)
            .opt("shared", options.shared);
        let result = ops::find("uploadMedia")
            .ok_or_else(|| ConnectorError::invalid("operation", "unknown"))
            .and_then(|spec| request::build(spec, &p.0))
            .and_then(|call| Upload::of_bytes(bytes, &call.local))
            .and_then(|up| with_connection(|c| c.upload_media(&up)));
        result.map(reply).map_err(failed)
    }
}

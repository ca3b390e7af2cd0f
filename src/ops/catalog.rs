//! Every operation of the connector, one row each, read from the vendored
//! spec (`spec/x-api/openapi.json`, v2.167): the endpoint, the parameters
//! with their rules, the scopes of its `security`, and the billing unit of
//! X's price table. WSO2 4.x names are kept (as aliases where X's differ),
//! so its flows port unchanged. The e2e tests check each row against the
//! spec.

use x_pricing::BillingUnit as U;

use super::fields::*;
use super::{Area, At, Kind, Method, OperationSpec, Param, Shape};

const fn p(name: &'static str, at: At, kind: Kind, required: bool) -> Param {
    Param {
        name,
        alias: None,
        wire: name,
        at,
        kind,
        required,
    }
}

const fn aka(mut param: Param, alias: &'static str) -> Param {
    param.alias = Some(alias);
    param
}

const fn wire(mut param: Param, wire: &'static str) -> Param {
    param.wire = wire;
    param
}

const fn list(name: &'static str, wire: &'static str, values: &'static [&'static str]) -> Param {
    Param {
        name,
        alias: None,
        wire,
        at: At::Query,
        kind: Kind::List(values),
        required: false,
    }
}

// Path and body parameters.
const ID: Param = p("id", At::Path, Kind::Id, true);
/// The authenticated user, in X's path (`/2/users/{id}/likes`); WSO2 calls it `user_id`.
const USER_ID: Param = aka(ID, "user_id");
const TWEET_ID_BODY: Param = p("tweet_id", At::Body, Kind::Id, true);
const TWEET_ID_PATH: Param = p("tweet_id", At::Path, Kind::Id, true);
const TARGET_BODY: Param = p("target_user_id", At::Body, Kind::Id, true);
const TARGET_PATH: Param = p("target_user_id", At::Path, Kind::Id, true);
/// X's `source_user_id`; WSO2 calls it `id`.
const SOURCE: Param = aka(p("source_user_id", At::Path, Kind::Id, true), "id");
const IDS: Param = p("ids", At::Query, Kind::Ids, true);

// Reads.
const PAGE_TOKEN: Param = p("pagination_token", At::Query, Kind::Token, false);
const MAX_PAGES: Param = p("maxPages", At::Local, Kind::Pages, false);
const START: Param = p("start_time", At::Query, Kind::Time, false);
const END: Param = p("end_time", At::Query, Kind::Time, false);
const SINCE: Param = p("since_id", At::Query, Kind::Id, false);
const UNTIL: Param = p("until_id", At::Query, Kind::Id, false);
const EXCLUDE_P: Param = list("exclude", "exclude", EXCLUDE);
const fn max(lo: u32, hi: u32) -> Param {
    p("max_results", At::Query, Kind::Count(lo, hi), false)
}

const T_EXP: Param = list("expansions", "expansions", TWEET_EXPANSIONS);
const U_EXP: Param = list("expansions", "expansions", USER_EXPANSIONS);
const L_EXP: Param = list("expansions", "expansions", LIST_EXPANSIONS);
const DM_EXP: Param = list("expansions", "expansions", DM_EXPANSIONS);
const TWEET_F: Param = list("tweet_fields", "post.fields", TWEET_FIELDS);
const USER_F: Param = list("user_fields", "user.fields", USER_FIELDS);
const MEDIA_F: Param = list("media_fields", "media.fields", MEDIA_FIELDS);
const PLACE_F: Param = list("place_fields", "place.fields", PLACE_FIELDS);
const POLL_F: Param = list("poll_fields", "poll.fields", POLL_FIELDS);
const LIST_F: Param = list("list_fields", "list.fields", LIST_FIELDS);
const DM_F: Param = list("dm_event_fields", "dm_event.fields", DM_EVENT_FIELDS);

/// The scopes of the spec's `security` (OAuth 2.0 user context).
const READ_TWEETS: &[&str] = &["tweet.read", "users.read"];
const WRITE_TWEETS: &[&str] = &["tweet.read", "tweet.write", "users.read"];
const LIKES_READ: &[&str] = &["like.read", "tweet.read", "users.read"];
const LIKES_WRITE: &[&str] = &["like.write", "tweet.read", "users.read"];
const FOLLOWS_READ: &[&str] = &["follows.read", "tweet.read", "users.read"];
const FOLLOWS_WRITE: &[&str] = &["follows.write", "tweet.read", "users.read"];
const BLOCKS_READ: &[&str] = &["block.read", "tweet.read", "users.read"];
const BLOCKS_WRITE: &[&str] = &["block.write", "tweet.read", "users.read"];
const MUTES_READ: &[&str] = &["mute.read", "tweet.read", "users.read"];
const MUTES_WRITE: &[&str] = &["mute.write", "tweet.read", "users.read"];
const LISTS_READ: &[&str] = &["list.read", "tweet.read", "users.read"];
const LISTS_WRITE: &[&str] = &["list.write", "tweet.read", "users.read"];
const LISTS_CREATE: &[&str] = &["list.read", "list.write", "tweet.read", "users.read"];
const DM_READ: &[&str] = &["dm.read", "tweet.read", "users.read"];
const DM_WRITE: &[&str] = &["dm.write", "tweet.read", "users.read"];
const MEDIA_WRITE: &[&str] = &["media.write"];

/// One row of the table below: an argument per column keeps each row on a
/// few lines, in the order the docs list them.
#[allow(clippy::too_many_arguments)]
const fn op(
    name: &'static str,
    area: Area,
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    params: &'static [Param],
    unit: U,
    scopes: &'static [&'static str],
    shape: Shape,
    description: &'static str,
) -> OperationSpec {
    OperationSpec {
        name,
        area,
        method,
        path,
        operation_id,
        params,
        unit,
        scopes,
        shape,
        description,
    }
}

const LIST: Shape = Shape::Many { paginated: true };
const LOOKUP: Shape = Shape::Many { paginated: false };

/// Post reads: the expansions and fields of posts and what they expand to.
#[rustfmt::skip]
const LIKED: &[Param] = &[ID, max(5, 100), PAGE_TOKEN, T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F, MAX_PAGES];
const TWEET: &[Param] = &[ID, T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F];
const TWEETS: &[Param] = &[IDS, T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F];
/// Timelines: a window of time or ids; `exclude` only where X takes it.
#[rustfmt::skip]
const HOME: &[Param] = &[ID, max(1, 100), PAGE_TOKEN, START, END, SINCE, UNTIL, EXCLUDE_P, T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F, MAX_PAGES];
#[rustfmt::skip]
const MENTIONS: &[Param] = &[ID, max(5, 100), PAGE_TOKEN, START, END, SINCE, UNTIL, T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F, MAX_PAGES];
#[rustfmt::skip]
const POSTS: &[Param] = &[ID, max(5, 100), PAGE_TOKEN, START, END, SINCE, UNTIL, EXCLUDE_P, T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F, MAX_PAGES];
#[rustfmt::skip]
const SEARCH: &[Param] = &[
    p("query", At::Query, Kind::Search, true),
    max(10, 100),
    aka(p("next_token", At::Query, Kind::Token, false), "pagination_token"),
    START, END, SINCE, UNTIL,
    p("sort_order", At::Query, Kind::OneOf(SORT_ORDER), false),
    T_EXP, TWEET_F, USER_F, MEDIA_F, POLL_F, PLACE_F,
    MAX_PAGES,
];
/// A user's relations and lists, a page at a time.
#[rustfmt::skip]
const USERS_PAGE: &[Param] = &[ID, max(1, 1000), PAGE_TOKEN, U_EXP, TWEET_F, USER_F, MAX_PAGES];
#[rustfmt::skip]
const LISTS_PAGE: &[Param] = &[ID, max(1, 100), PAGE_TOKEN, L_EXP, LIST_F, USER_F, MAX_PAGES];

/// createTweet: every member of X's `CreatePostsRequest`.
const CREATE_TWEET: &[Param] = &[
    p("text", At::Body, Kind::PostText, false),
    p(
        "media",
        At::Body,
        Kind::Json(r#"{"media_ids":[1-4 ids], "tagged_user_ids":[..10]}"#),
        false,
    ),
    p(
        "poll",
        At::Body,
        Kind::Json(r#"{"options":[2-4 of 1-25 chars], "duration_minutes":5-10080}"#),
        false,
    ),
    p(
        "reply",
        At::Body,
        Kind::Json(r#"{"in_reply_to_tweet_id":"..", "exclude_reply_user_ids":[..]}"#),
        false,
    ),
    p("quote_tweet_id", At::Body, Kind::Id, false),
    p(
        "reply_settings",
        At::Body,
        Kind::OneOf(crate::tweet::REPLY_SETTINGS),
        false,
    ),
    p("for_super_followers_only", At::Body, Kind::Flag, false),
    p("direct_message_deep_link", At::Body, Kind::Str, false),
    p("geo", At::Body, Kind::Json(r#"{"place_id":".."}"#), false),
    p("nullcast", At::Body, Kind::Flag, false),
    p("community_id", At::Body, Kind::Id, false),
    p("share_with_followers", At::Body, Kind::Flag, false),
    p("card_uri", At::Body, Kind::Str, false),
    p(
        "edit_options",
        At::Body,
        Kind::Json(r#"{"previous_post_id":".."}"#),
        false,
    ),
    p("made_with_ai", At::Body, Kind::Flag, false),
    p("paid_partnership", At::Body, Kind::Flag, false),
];

#[rustfmt::skip]
pub const OPERATIONS: &[OperationSpec] = &[
    // The three with hand-written requests (see `super::TYPED`).
    op("createTweet", Area::Tweets, Method::Post, "/2/tweets", "createPosts",
        CREATE_TWEET, U::ContentCreate, WRITE_TWEETS, Shape::Write,
        "Creates a post (Content: Create (with URL) when its text holds a URL)"),
    op("deleteTweet", Area::Tweets, Method::Delete, "/2/tweets/{id}", "deletePosts",
        &[ID], U::InteractionDelete, WRITE_TWEETS, Shape::Write, "Deletes a post"),
    op("getMe", Area::Users, Method::Get, "/2/users/me", "getUsersMe",
        &[U_EXP, TWEET_F, USER_F], U::UserRead, READ_TWEETS, Shape::One, "The authenticated user"),
    // ---------------------------------------------------------- tweets
    op("createRetweet", Area::Tweets, Method::Post, "/2/users/{id}/retweets", "repostPost",
        &[USER_ID, TWEET_ID_BODY], U::UserInteractionCreate, WRITE_TWEETS, Shape::Write,
        "Reposts a post as the user"),
    op("getLikedTweetsList", Area::Tweets, Method::Get, "/2/users/{id}/liked_tweets", "getUsersLikedPosts",
        LIKED,
        U::PostsRead, LIKES_READ, LIST, "Posts a user liked"),
    op("getTweetById", Area::Tweets, Method::Get, "/2/tweets/{id}", "getPostsById",
        TWEET,
        U::PostsRead, READ_TWEETS, Shape::One, "One post by id"),
    op("getTweetsLookup", Area::Tweets, Method::Get, "/2/tweets", "getPostsByIds",
        TWEETS,
        U::PostsRead, READ_TWEETS, LOOKUP, "Up to 100 posts by id"),
    op("getUserHomeTimeline", Area::Tweets, Method::Get, "/2/users/{id}/timelines/reverse_chronological", "getUsersTimeline",
        HOME,
        U::PostsRead, READ_TWEETS, LIST, "The user's home timeline, newest first"),
    op("getUserMentionsTimeline", Area::Tweets, Method::Get, "/2/users/{id}/mentions", "getUsersMentions",
        MENTIONS,
        U::PostsRead, READ_TWEETS, LIST, "Posts mentioning a user"),
    op("getUserTweetsTimeline", Area::Tweets, Method::Get, "/2/users/{id}/tweets", "getUsersPosts",
        POSTS,
        U::PostsRead, READ_TWEETS, LIST, "Posts a user wrote"),
    op("likeTweet", Area::Tweets, Method::Post, "/2/users/{id}/likes", "likePost",
        &[USER_ID, TWEET_ID_BODY], U::UserInteractionCreate, LIKES_WRITE, Shape::Write,
        "Likes a post as the user"),
    op("unlikeTweet", Area::Tweets, Method::Delete, "/2/users/{id}/likes/{tweet_id}", "unlikePost",
        &[USER_ID, TWEET_ID_PATH], U::InteractionDelete, LIKES_WRITE, Shape::Write,
        "Takes back the user's like of a post"),
    op("searchTweets", Area::Tweets, Method::Get, "/2/tweets/search/recent", "searchPostsRecent",
        SEARCH,
        U::PostsRead, READ_TWEETS, LIST, "Posts of the last 7 days matching a query"),
    // ----------------------------------------------------------- users
    op("getUserById", Area::Users, Method::Get, "/2/users/{id}", "getUsersById",
        &[ID, U_EXP, TWEET_F, USER_F], U::UserRead, READ_TWEETS, Shape::One, "One user by id"),
    op("getUserByUsername", Area::Users, Method::Get, "/2/users/by/username/{username}", "getUsersByUsername",
        &[p("username", At::Path, Kind::Username, true), U_EXP, TWEET_F, USER_F],
        U::UserRead, READ_TWEETS, Shape::One, "One user by username"),
    op("getUsersLookup", Area::Users, Method::Get, "/2/users", "getUsersByIds",
        &[IDS, U_EXP, TWEET_F, USER_F], U::UserRead, READ_TWEETS, LOOKUP, "Up to 100 users by id"),
    op("getFollowers", Area::Users, Method::Get, "/2/users/{id}/followers", "getUsersFollowers",
        USERS_PAGE, U::FollowsRead, FOLLOWS_READ, LIST, "A user's followers"),
    op("getFollowingUsers", Area::Users, Method::Get, "/2/users/{id}/following", "getUsersFollowing",
        USERS_PAGE, U::FollowsRead, FOLLOWS_READ, LIST, "The users a user follows"),
    op("getBlockedUsers", Area::Users, Method::Get, "/2/users/{id}/blocking", "getUsersBlocking",
        USERS_PAGE, U::UserRead, BLOCKS_READ, LIST, "The users the user blocks"),
    op("getMutedUsers", Area::Users, Method::Get, "/2/users/{id}/muting", "getUsersMuting",
        USERS_PAGE, U::UserRead, MUTES_READ, LIST, "The users the user mutes"),
    op("followUser", Area::Users, Method::Post, "/2/users/{id}/following", "followUser",
        &[ID, TARGET_BODY], U::UserInteractionCreate, FOLLOWS_WRITE, Shape::Write,
        "Follows a user (or asks to, for a protected one)"),
    op("blockUser", Area::Users, Method::Post, "/2/users/{id}/blocking", "blockUser",
        &[ID, TARGET_BODY], U::UserInteractionCreate, BLOCKS_WRITE, Shape::Write,
        "Blocks a user (an endpoint X no longer lists in its spec)"),
    op("muteUser", Area::Users, Method::Post, "/2/users/{id}/muting", "muteUser",
        &[ID, TARGET_BODY], U::UserInteractionCreate, MUTES_WRITE, Shape::Write, "Mutes a user"),
    op("unfollowUser", Area::Users, Method::Delete, "/2/users/{source_user_id}/following/{target_user_id}", "unfollowUser",
        &[SOURCE, TARGET_PATH], U::InteractionDelete, FOLLOWS_WRITE, Shape::Write, "Unfollows a user"),
    op("unblockUser", Area::Users, Method::Delete, "/2/users/{source_user_id}/blocking/{target_user_id}", "unblockUser",
        &[SOURCE, TARGET_PATH], U::InteractionDelete, BLOCKS_WRITE, Shape::Write,
        "Unblocks a user (an endpoint X no longer lists in its spec)"),
    op("unmuteUser", Area::Users, Method::Delete, "/2/users/{source_user_id}/muting/{target_user_id}", "unmuteUser",
        &[SOURCE, TARGET_PATH], U::InteractionDelete, MUTES_WRITE, Shape::Write, "Unmutes a user"),
    // ----------------------------------------------------------- lists
    op("createList", Area::Lists, Method::Post, "/2/lists", "createLists",
        &[p("name", At::Body, Kind::Text(1, 25), true), p("description", At::Body, Kind::Text(0, 100), false),
          p("private", At::Body, Kind::Flag, false)],
        U::ContentManage, LISTS_CREATE, Shape::Write, "Creates a list"),
    op("updateList", Area::Lists, Method::Put, "/2/lists/{id}", "updateLists",
        &[ID, p("name", At::Body, Kind::Text(1, 25), false), p("description", At::Body, Kind::Text(0, 100), false),
          p("private", At::Body, Kind::Flag, false)],
        U::ContentManage, LISTS_WRITE, Shape::Write, "Changes a list's name, description or privacy"),
    op("deleteList", Area::Lists, Method::Delete, "/2/lists/{id}", "deleteLists",
        &[ID], U::InteractionDelete, LISTS_WRITE, Shape::Write, "Deletes a list"),
    op("getListById", Area::Lists, Method::Get, "/2/lists/{id}", "getListsById",
        &[ID, L_EXP, LIST_F, USER_F], U::ListRead, LISTS_READ, Shape::One, "One list by id"),
    op("getFollowingLists", Area::Lists, Method::Get, "/2/users/{id}/followed_lists", "getUsersFollowedLists",
        LISTS_PAGE, U::ListRead, LISTS_READ, LIST, "The lists a user follows"),
    op("getListsMemberships", Area::Lists, Method::Get, "/2/users/{id}/list_memberships", "getUsersListMemberships",
        LISTS_PAGE, U::ListRead, LISTS_READ, LIST, "The lists a user is a member of"),
    // ------------------------------------------------- direct messages
    op("sendNewDirectMessage", Area::DirectMessages, Method::Post,
        "/2/dm_conversations/with/{participant_id}/messages", "createDirectMessagesByParticipantId",
        &[p("participant_id", At::Path, Kind::Id, true), p("text", At::Body, Kind::Text(1, 10000), false),
          p("attachments", At::Body, Kind::Attachments, false)],
        U::DmInteractionCreate, DM_WRITE, Shape::Write, "Sends a direct message to a user"),
    op("addDirectMessage", Area::DirectMessages, Method::Post,
        "/2/dm_conversations/{dm_conversation_id}/messages", "createDirectMessagesByConversationId",
        &[p("dm_conversation_id", At::Path, Kind::Conversation, true), p("text", At::Body, Kind::Text(1, 10000), false),
          p("attachments", At::Body, Kind::Attachments, false)],
        U::DmInteractionCreate, DM_WRITE, Shape::Write, "Adds a message to a conversation"),
    op("getDirectMessages", Area::DirectMessages, Method::Get, "/2/dm_events", "getDirectMessagesEvents",
        &[list("event_types", "event_types", DM_EVENT_TYPES), max(1, 100), PAGE_TOKEN, DM_EXP, DM_F,
          wire(MEDIA_F, "media.fields"), TWEET_F, USER_F, MAX_PAGES],
        U::DmEventRead, DM_READ, LIST, "The user's direct message events"),
    // ----------------------------------------------------------- media
    op("uploadMedia", Area::Media, Method::Post, "/2/media/upload", "mediaUpload",
        // `media` or the runtime's `media_file`: required by Upload::plan.
        &[p("media", At::Local, Kind::Base64, false),
          p("media_category", At::Local, Kind::OneOf(super::media::CATEGORIES), false),
          p("media_type", At::Local, Kind::OneOf(super::media::TYPES), false),
          p("additional_owners", At::Local, Kind::Ids, false),
          p("shared", At::Local, Kind::Flag, false)],
        U::ContentManage, MEDIA_WRITE, Shape::Write,
        "Uploads an image, GIF, video or subtitles; returns the media_id for createTweet"),
];

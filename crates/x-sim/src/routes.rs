//! The API endpoints the simulator serves beyond createTweet, deleteTweet
//! and getMe, as the spec (v2.167) lists them: method, path template, the
//! spec's `operationId`, the scopes its `security` asks for, the 15-minute
//! per-user window X documents (docs.x.com "Rate limits", 2026) and the
//! billing unit of X's price table. A test checks the scopes against the
//! spec; the simulator's table is its own, not the connector's.

use x_pricing::BillingUnit as U;

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub operation_id: &'static str,
    pub scopes: &'static [&'static str],
    /// Requests per 15 minutes per user.
    pub window: u32,
    pub unit: U,
}

const fn r(
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    scopes: &'static [&'static str],
    window: u32,
    unit: U,
) -> Route {
    Route {
        method,
        path,
        operation_id,
        scopes,
        window,
        unit,
    }
}

const TR: &[&str] = &["tweet.read", "users.read"];
const TW: &[&str] = &["tweet.read", "tweet.write", "users.read"];

/// More specific templates first: the first match wins.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    r("GET", "/2/tweets/search/recent", "searchPostsRecent", TR, 300, U::PostsRead),
    r("GET", "/2/tweets/{id}", "getPostsById", TR, 900, U::PostsRead),
    r("GET", "/2/tweets", "getPostsByIds", TR, 900, U::PostsRead),
    r("POST", "/2/users/{id}/retweets", "repostPost", TW, 50, U::UserInteractionCreate),
    r("GET", "/2/users/{id}/liked_tweets", "getUsersLikedPosts", &["like.read", "tweet.read", "users.read"], 75, U::PostsRead),
    r("POST", "/2/users/{id}/likes", "likePost", &["like.write", "tweet.read", "users.read"], 50, U::UserInteractionCreate),
    r("DELETE", "/2/users/{id}/likes/{tweet_id}", "unlikePost", &["like.write", "tweet.read", "users.read"], 50, U::InteractionDelete),
    r("GET", "/2/users/{id}/timelines/reverse_chronological", "getUsersTimeline", TR, 180, U::PostsRead),
    r("GET", "/2/users/{id}/mentions", "getUsersMentions", TR, 300, U::PostsRead),
    r("GET", "/2/users/{id}/tweets", "getUsersPosts", TR, 900, U::PostsRead),
    r("GET", "/2/users/by/username/{username}", "getUsersByUsername", TR, 900, U::UserRead),
    r("GET", "/2/users/{id}/followers", "getUsersFollowers", &["follows.read", "tweet.read", "users.read"], 15, U::FollowsRead),
    r("GET", "/2/users/{id}/following", "getUsersFollowing", &["follows.read", "tweet.read", "users.read"], 15, U::FollowsRead),
    r("POST", "/2/users/{id}/following", "followUser", &["follows.write", "tweet.read", "users.read"], 50, U::UserInteractionCreate),
    r("DELETE", "/2/users/{source_user_id}/following/{target_user_id}", "unfollowUser", &["follows.write", "tweet.read", "users.read"], 50, U::InteractionDelete),
    r("GET", "/2/users/{id}/blocking", "getUsersBlocking", &["block.read", "tweet.read", "users.read"], 15, U::UserRead),
    // Blocking writes: X's former endpoints, no longer in the spec.
    r("POST", "/2/users/{id}/blocking", "blockUser", &["block.write", "tweet.read", "users.read"], 50, U::UserInteractionCreate),
    r("DELETE", "/2/users/{source_user_id}/blocking/{target_user_id}", "unblockUser", &["block.write", "tweet.read", "users.read"], 50, U::InteractionDelete),
    r("GET", "/2/users/{id}/muting", "getUsersMuting", &["mute.read", "tweet.read", "users.read"], 15, U::UserRead),
    r("POST", "/2/users/{id}/muting", "muteUser", &["mute.write", "tweet.read", "users.read"], 50, U::UserInteractionCreate),
    r("DELETE", "/2/users/{source_user_id}/muting/{target_user_id}", "unmuteUser", &["mute.write", "tweet.read", "users.read"], 50, U::InteractionDelete),
    r("GET", "/2/users/{id}/followed_lists", "getUsersFollowedLists", &["list.read", "tweet.read", "users.read"], 15, U::ListRead),
    r("GET", "/2/users/{id}/list_memberships", "getUsersListMemberships", &["list.read", "tweet.read", "users.read"], 75, U::ListRead),
    r("GET", "/2/users/{id}", "getUsersById", TR, 900, U::UserRead),
    r("GET", "/2/users", "getUsersByIds", TR, 900, U::UserRead),
    r("POST", "/2/lists", "createLists", &["list.read", "list.write", "tweet.read", "users.read"], 300, U::ContentManage),
    r("PUT", "/2/lists/{id}", "updateLists", &["list.write", "tweet.read", "users.read"], 300, U::ContentManage),
    r("DELETE", "/2/lists/{id}", "deleteLists", &["list.write", "tweet.read", "users.read"], 300, U::InteractionDelete),
    r("GET", "/2/lists/{id}", "getListsById", &["list.read", "tweet.read", "users.read"], 75, U::ListRead),
    r("POST", "/2/dm_conversations/with/{participant_id}/messages", "createDirectMessagesByParticipantId", &["dm.write", "tweet.read", "users.read"], 15, U::DmInteractionCreate),
    r("POST", "/2/dm_conversations/{dm_conversation_id}/messages", "createDirectMessagesByConversationId", &["dm.write", "tweet.read", "users.read"], 15, U::DmInteractionCreate),
    r("GET", "/2/dm_events", "getDirectMessagesEvents", &["dm.read", "tweet.read", "users.read"], 15, U::DmEventRead),
    r("POST", "/2/media/upload/initialize", "initializeMediaUpload", &["media.write"], 1875, U::ContentManage),
    r("POST", "/2/media/upload/{id}/append", "appendMediaUpload", &["media.write"], 1875, U::ContentManage),
    r("POST", "/2/media/upload/{id}/finalize", "finalizeMediaUpload", &["media.write"], 1875, U::ContentManage),
    r("POST", "/2/media/upload", "mediaUpload", &["media.write"], 500, U::ContentManage),
    r("GET", "/2/media/upload", "getMediaUploadStatus", &["media.write"], 1875, U::ContentManage),
];

/// Path parameters by template name.
pub type PathParams = Vec<(&'static str, String)>;

impl Route {
    /// The path parameters of `path`, if it fits this route's template.
    pub fn params(&self, path: &str) -> Option<PathParams> {
        let template: Vec<&'static str> = self.path.split('/').collect();
        let segments: Vec<&str> = path.split('/').collect();
        if template.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (t, s) in template.iter().zip(&segments) {
            match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(name) if !s.is_empty() => params.push((name, s.to_string())),
                None if t == s => {}
                _ => return None,
            }
        }
        Some(params)
    }
}

/// The route of a request (more specific templates first).
pub fn find(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.params(path).is_some())
}

pub fn by_operation(operation_id: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.operation_id == operation_id)
}

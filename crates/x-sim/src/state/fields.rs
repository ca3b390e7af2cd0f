//! `GET /2/users/me` as X answers it: the fields and expansions the spec
//! lists (v2.167: `pinned_post_id`, `most_recent_post_id`, `post.fields`)
//! beside the tweet-era names X still serves and documents
//! (`pinned_tweet_id`, `most_recent_tweet_id`, `tweet.fields`); any other
//! value is X's 400 invalid-request; `public_metrics` carries what the
//! spec's `UserPublicMetrics` requires.

use serde_json::{json, Value};

use super::Reply;

/// The spec's `UserFieldsParameter` enum, plus the tweet-era names.
const USER_FIELDS: &[&str] = &[
    "affiliation",
    "confirmed_email",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "is_identity_verified",
    "location",
    "most_recent_post_id",
    "most_recent_tweet_id",
    "name",
    "parody",
    "pinned_post_id",
    "pinned_tweet_id",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscribes_to_you",
    "subscription",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_followers_count",
    "verified_type",
    "withheld",
];

/// The spec's `UserExpansionsParameter` enum, plus the tweet-era names.
const EXPANSIONS: &[&str] = &[
    "affiliation",
    "most_recent_post_id",
    "pinned_post_id",
    "most_recent_tweet_id",
    "pinned_tweet_id",
];

/// The spec's `PostFieldsParameter` enum, plus the tweet-era names X serves.
const POST_FIELDS: &[&str] = &[
    "article",
    "article_title",
    "attachments",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "entities",
    "geo",
    "id",
    "lang",
    "matched_media_notes",
    "media_metadata",
    "non_public_metrics",
    "note_post",
    "note_request_suggestions",
    "organic_metrics",
    "paid_partnership",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "reply_settings",
    "scopes",
    "source",
    "suggested_source_links",
    "suggested_source_links_with_counts",
    "text",
    "withheld",
    "author_id",
    "edit_history_tweet_ids",
    "in_reply_to_user_id",
    "referenced_tweets",
    "note_tweet",
];

const PINNED: &str = "1861000000000000001";

fn refuse(param: &str, value: &str, allowed: &[&str]) -> Reply {
    Reply::problem(
        400,
        json!({
            "errors": [{
                "parameters": {param: [value]},
                "message": format!("The `{param}` query parameter value [{value}] is not one of [{}]", allowed.join(","))
            }],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.x.com/2/problems/invalid-request"
        }),
    )
}

/// The user object and includes for a getMe query, or X's 400.
pub fn me(query: Option<&str>, account: &super::Account, posts: usize) -> Result<Value, Reply> {
    let params = super::query_of(query);
    let checked = |k: &str, allowed: &[&str]| -> Result<Vec<String>, Reply> {
        let values = super::list_of(&params, k);
        match values.iter().find(|v| !allowed.contains(&v.as_str())) {
            Some(bad) => Err(refuse(k, bad, allowed)),
            None => Ok(values),
        }
    };
    let user_fields = checked("user.fields", USER_FIELDS)?;
    let expansions = checked("expansions", EXPANSIONS)?;
    checked("tweet.fields", POST_FIELDS)?;
    checked("post.fields", POST_FIELDS)?;
    let mut data = json!({"id": account.id, "name": account.name, "username": account.username});
    for field in &user_fields {
        let value = match field.as_str() {
            "created_at" => json!("2022-08-30T12:00:00.000Z"),
            "description" => json!("Account of the X API simulator"),
            "protected" | "verified" => json!(false),
            "public_metrics" => json!({
                "followers_count": 0, "following_count": 0, "post_count": posts,
                "tweet_count": posts, "listed_count": 0, "like_count": 0, "media_count": 0
            }),
            "pinned_post_id" | "pinned_tweet_id" => json!(PINNED),
            "most_recent_post_id" | "most_recent_tweet_id" => json!(PINNED),
            "url" => json!(""),
            "location" => json!("Loopback"),
            // Fields the simulated account has no value for are left out, as X does.
            _ => continue,
        };
        data[field.as_str()] = value;
    }
    let mut out = json!({});
    let pinned_post = json!({"id": PINNED, "text": "pinned", "edit_history_tweet_ids": [PINNED]});
    if expansions.iter().any(|e| e == "pinned_post_id") {
        data["pinned_post_id"] = json!(PINNED);
        out["includes"] = json!({"posts": [pinned_post.clone()]});
    }
    if expansions.iter().any(|e| e == "pinned_tweet_id") {
        data["pinned_tweet_id"] = json!(PINNED);
        out["includes"]["tweets"] = json!([pinned_post]);
    }
    out["data"] = data;
    Ok(out)
}

//! The values of the `*.fields` and `expansions` query parameters: the
//! spec's enums (v2.167), plus the tweet-era names X still serves and
//! documents where the spec renamed them (`tweet` → `post`).

/// `user.fields`: the spec's `UserFieldsParameter` enum, plus the
/// documented `affiliation`, `most_recent_tweet_id` and `pinned_tweet_id`.
pub const USER_FIELDS: &[&str] = &[
    "affiliation",
    "confirmed_email",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "is_identity_verified",
    "location",
    "most_recent_tweet_id",
    "name",
    "parody",
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

/// `post.fields` (WSO2's `tweet_fields`): the spec's `PostFieldsParameter`
/// enum, plus the tweet-era names X still serves and documents.
pub const TWEET_FIELDS: &[&str] = &[
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
    // documented tweet-era names
    "author_id",
    "edit_history_tweet_ids",
    "in_reply_to_user_id",
    "referenced_tweets",
    "note_tweet",
];

/// `expansions` of user objects: the spec's enum plus the tweet-era names.
pub const USER_EXPANSIONS: &[&str] = &[
    "affiliation",
    "most_recent_post_id",
    "pinned_post_id",
    "pinned_tweet_id",
    "most_recent_tweet_id",
];

/// `expansions` of posts: the spec's `PostExpansionsParameter` enum plus the
/// tweet-era names.
pub const TWEET_EXPANSIONS: &[&str] = &[
    "article.cover_media",
    "article.media_entities",
    "attachments.media_keys",
    "attachments.media_source_tweet",
    "attachments.poll_ids",
    "author_id",
    "edit_history_post_ids",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "referenced_posts",
    "username",
    // documented tweet-era names
    "edit_history_tweet_ids",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
];

pub const MEDIA_FIELDS: &[&str] = &[
    "alt_text",
    "duration_ms",
    "height",
    "media_key",
    "non_public_metrics",
    "organic_metrics",
    "preview_image_url",
    "promoted_metrics",
    "public_metrics",
    "type",
    "url",
    "variants",
    "width",
];

pub const PLACE_FIELDS: &[&str] = &[
    "contained_within",
    "country",
    "country_code",
    "full_name",
    "geo",
    "id",
    "name",
    "place_type",
];

pub const POLL_FIELDS: &[&str] = &[
    "duration_minutes",
    "end_datetime",
    "id",
    "options",
    "voting_status",
];

pub const LIST_FIELDS: &[&str] = &[
    "created_at",
    "description",
    "follower_count",
    "id",
    "member_count",
    "name",
    "owner_id",
    "private",
];

pub const LIST_EXPANSIONS: &[&str] = &["owner_id"];

pub const DM_EVENT_FIELDS: &[&str] = &[
    "attachments",
    "created_at",
    "dm_conversation_id",
    "entities",
    "event_type",
    "id",
    "participant_ids",
    "referenced_tweets",
    "sender_id",
    "text",
];

pub const DM_EXPANSIONS: &[&str] = &[
    "attachments.media_keys",
    "participant_ids",
    "referenced_posts",
    "sender_id",
    "referenced_tweets.id",
];

pub const DM_EVENT_TYPES: &[&str] = &["MessageCreate", "ParticipantsJoin", "ParticipantsLeave"];
pub const EXCLUDE: &[&str] = &["replies", "retweets"];
pub const SORT_ORDER: &[&str] = &["recency", "relevancy"];

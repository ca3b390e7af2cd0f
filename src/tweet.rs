//! createTweet: the `CreatePostsRequest` body and its local rules.

use serde::Serialize;
use serde_json::Value;

use crate::error::ConnectorError;
use crate::text;
use crate::validate;

pub const REPLY_SETTINGS: &[&str] = &["following", "mentionedUsers", "subscribers", "verified"];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Media {
    pub media_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tagged_user_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embeddable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_media_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_to_actions: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Poll {
    pub options: Vec<String>,
    pub duration_minutes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_settings: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reply {
    pub in_reply_to_tweet_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_reply_user_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_populate_reply_metadata: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Geo {
    pub place_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EditOptions {
    pub previous_post_id: String,
}

/// Every field of the spec's `CreatePostsRequest` (`additionalProperties: false`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateTweet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_tweet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_settings: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_super_followers_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_message_deep_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nullcast: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_with_followers: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_options: Option<EditOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_with_ai: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_partnership: Option<bool>,
}

fn exclusive(a: (&str, bool), b: (&str, bool)) -> Result<(), ConnectorError> {
    if a.1 && b.1 {
        Err(ConnectorError::invalid(
            a.0,
            format!("cannot be combined with `{}`", b.0),
        ))
    } else {
        Ok(())
    }
}

impl CreateTweet {
    /// Every local rule; the first broken one is reported.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        let has_media = self.media.is_some();
        match &self.text {
            Some(t) => {
                if text::has_invalid_characters(t) {
                    return Err(ConnectorError::invalid(
                        "text",
                        "contains characters X refuses (U+FFFE, U+FEFF, U+FFFF)",
                    ));
                }
                let len = text::weighted_length(t);
                let min = if has_media { 0 } else { 1 };
                if len < min
                    || len > text::MAX_WEIGHTED_LENGTH
                    || (!has_media && t.trim().is_empty())
                {
                    return Err(ConnectorError::invalid(
                        "text",
                        format!(
                            "weighted length must be {min} to 280 (URLs count 23, CJK and emoji 2); it is {len}"
                        ),
                    ));
                }
            }
            None if !has_media => {
                return Err(ConnectorError::invalid(
                    "text",
                    "is required unless media is given",
                ))
            }
            None => {}
        }
        if let Some(m) = &self.media {
            if !(1..=4).contains(&m.media_ids.len()) {
                return Err(ConnectorError::invalid(
                    "media.media_ids",
                    format!("must list 1 to 4 media ids; it lists {}", m.media_ids.len()),
                ));
            }
            validate::ids("media.media_ids", &m.media_ids)?;
            if m.tagged_user_ids.len() > 10 {
                return Err(ConnectorError::invalid(
                    "media.tagged_user_ids",
                    "must list at most 10 user ids",
                ));
            }
            validate::ids("media.tagged_user_ids", &m.tagged_user_ids)?;
            if let Some(p) = &m.preview_media_id {
                validate::id("media.preview_media_id", p)?;
            }
            if let Some(c) = &m.call_to_actions {
                if !c.is_object() {
                    return Err(ConnectorError::invalid(
                        "media.call_to_actions",
                        "must be a JSON object",
                    ));
                }
            }
        }
        if let Some(p) = &self.poll {
            if !(2..=4).contains(&p.options.len()) {
                return Err(ConnectorError::invalid(
                    "poll.options",
                    format!("must list 2 to 4 options; it lists {}", p.options.len()),
                ));
            }
            for (i, o) in p.options.iter().enumerate() {
                let n = o.chars().count();
                if !(1..=25).contains(&n) {
                    return Err(ConnectorError::invalid(
                        format!("poll.options[{i}]"),
                        format!("must be 1 to 25 characters; it is {n}"),
                    ));
                }
            }
            if !(5..=10080).contains(&p.duration_minutes) {
                return Err(ConnectorError::invalid(
                    "poll.duration_minutes",
                    format!("must be 5 to 10080 minutes; it is {}", p.duration_minutes),
                ));
            }
            if let Some(rs) = &p.reply_settings {
                validate::one_of("poll.reply_settings", rs, REPLY_SETTINGS)?;
            }
        }
        if let Some(r) = &self.reply {
            validate::id("reply.in_reply_to_tweet_id", &r.in_reply_to_tweet_id)?;
            validate::ids("reply.exclude_reply_user_ids", &r.exclude_reply_user_ids)?;
        }
        for (name, value) in [
            ("quote_tweet_id", &self.quote_tweet_id),
            ("community_id", &self.community_id),
        ] {
            if let Some(v) = value {
                validate::id(name, v)?;
            }
        }
        if let Some(e) = &self.edit_options {
            validate::id("edit_options.previous_post_id", &e.previous_post_id)?;
        }
        if let Some(rs) = &self.reply_settings {
            validate::one_of("reply_settings", rs, REPLY_SETTINGS)?;
        }
        if let Some(g) = &self.geo {
            if g.place_id.trim().is_empty() {
                return Err(ConnectorError::invalid("geo.place_id", "must not be empty"));
            }
        }
        let quote = self.quote_tweet_id.is_some();
        let poll = self.poll.is_some();
        let card = self.card_uri.is_some();
        let dm = self.direct_message_deep_link.is_some();
        exclusive(("media", has_media), ("poll", poll))?;
        exclusive(("media", has_media), ("quote_tweet_id", quote))?;
        exclusive(("media", has_media), ("card_uri", card))?;
        exclusive(("poll", poll), ("quote_tweet_id", quote))?;
        exclusive(("poll", poll), ("card_uri", card))?;
        exclusive(("card_uri", card), ("quote_tweet_id", quote))?;
        exclusive(("card_uri", card), ("direct_message_deep_link", dm))?;
        Ok(())
    }

    /// The request body. `text` is always sent, `""` for a media-only post:
    /// the spec defaults it to the empty string "so it is always sent: the
    /// backend's `tweet_text` variable is non-null and rejects an absent
    /// value" (CreatePostsRequest, v2.167).
    pub fn to_json(&self) -> Vec<u8> {
        if self.text.is_none() {
            let with_text = CreateTweet {
                text: Some(String::new()),
                ..self.clone()
            };
            return serde_json::to_vec(&with_text).unwrap_or_default();
        }
        // Serializing plain structs of strings, numbers and JSON values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// X's rule on programmatic replies (since 2026-02-23), in a sentence.
pub const REPLY_RULE: &str = "since 2026-02-23 X accepts a reply through the API only to a post whose author mentioned this app's account or quoted one of its posts (Enterprise apps excepted)";
/// X's reported removal of quote posts from self-serve plans (2026-04-20).
pub const QUOTE_RULE: &str = "X reports quote posts through the API removed from self-serve plans (pay-per-use, Basic, Pro) since 2026-04-20";

/// A createTweet refusal with the sentence that says why, when it is one
/// of X's rules on writes (X's own words stay its message): the reply
/// rule for a reply, the quote rule for a quote, else the scopes.
pub fn explain_refusal(req: &CreateTweet, e: ConnectorError) -> ConnectorError {
    let rule = match (&req.reply, &req.quote_tweet_id) {
        (Some(_), _) => Some(REPLY_RULE),
        (None, Some(_)) => Some(QUOTE_RULE),
        _ => None,
    };
    crate::ops::explain_forbidden("createTweet", rule, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> CreateTweet {
        CreateTweet {
            text: Some(t.into()),
            ..Default::default()
        }
    }

    fn param_of(r: Result<(), ConnectorError>) -> String {
        match r.unwrap_err() {
            ConnectorError::InvalidInput { parameter, .. } => parameter,
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn text_rules() {
        assert!(text("hello").validate().is_ok());
        assert!(text(&"a".repeat(280)).validate().is_ok());
        assert_eq!(param_of(text(&"a".repeat(281)).validate()), "text");
        assert_eq!(param_of(text("").validate()), "text");
        assert_eq!(param_of(text("   ").validate()), "text");
        assert_eq!(param_of(CreateTweet::default().validate()), "text");
        let media_only = CreateTweet {
            media: Some(Media {
                media_ids: vec!["1".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(media_only.validate().is_ok());
    }

    #[test]
    fn media_rules() {
        let mut t = text("x");
        t.media = Some(Media::default());
        assert_eq!(param_of(t.validate()), "media.media_ids");
        t.media = Some(Media {
            media_ids: (0..5).map(|i| i.to_string()).collect(),
            ..Default::default()
        });
        assert_eq!(param_of(t.validate()), "media.media_ids");
        t.media = Some(Media {
            media_ids: vec!["1".into(), "abc".into()],
            ..Default::default()
        });
        assert_eq!(param_of(t.validate()), "media.media_ids[1]");
    }

    #[test]
    fn poll_rules() {
        let mut t = text("x");
        let poll = |opts: &[&str], d| Poll {
            options: opts.iter().map(|s| s.to_string()).collect(),
            duration_minutes: d,
            reply_settings: None,
        };
        t.poll = Some(poll(&["a"], 60));
        assert_eq!(param_of(t.validate()), "poll.options");
        t.poll = Some(poll(&["a", ""], 60));
        assert_eq!(param_of(t.validate()), "poll.options[1]");
        t.poll = Some(poll(&["a", &"b".repeat(26)], 60));
        assert_eq!(param_of(t.validate()), "poll.options[1]");
        t.poll = Some(poll(&["a", "b"], 4));
        assert_eq!(param_of(t.validate()), "poll.duration_minutes");
        t.poll = Some(poll(&["a", "b"], 10081));
        assert_eq!(param_of(t.validate()), "poll.duration_minutes");
        t.poll = Some(poll(&["a", "b", "c", "d"], 10080));
        assert!(t.validate().is_ok());
    }

    #[test]
    fn exclusions_and_enums() {
        let mut t = text("x");
        t.reply_settings = Some("everyone".into());
        assert_eq!(param_of(t.validate()), "reply_settings");
        let mut t = text("x");
        t.quote_tweet_id = Some("1".into());
        t.poll = Some(Poll {
            options: vec!["a".into(), "b".into()],
            duration_minutes: 5,
            reply_settings: None,
        });
        assert_eq!(param_of(t.validate()), "poll");
        let mut t = text("x");
        t.card_uri = Some("card://1".into());
        t.direct_message_deep_link = Some("https://x.com/messages/compose".into());
        assert_eq!(param_of(t.validate()), "card_uri");
    }

    #[test]
    fn a_media_only_post_sends_empty_text() {
        let t = CreateTweet {
            media: Some(Media {
                media_ids: vec!["1".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(t.validate().is_ok());
        let v: Value = serde_json::from_slice(&t.to_json()).unwrap();
        assert_eq!(v["text"], "");
        assert_eq!(v["media"]["media_ids"][0], "1");
    }

    #[test]
    fn body_has_only_set_fields() {
        let mut t = text("hi");
        t.reply = Some(Reply {
            in_reply_to_tweet_id: "5".into(),
            ..Default::default()
        });
        let v: Value = serde_json::from_slice(&t.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"text":"hi","reply":{"in_reply_to_tweet_id":"5"}})
        );
    }
}

//! `POST /2/tweets` as strict as X: the spec's `CreatePostsRequest` (no
//! unknown fields, enum values, id patterns, the mutual exclusions), `text`
//! always present (the spec: "the backend rejects an absent value"), and
//! the weighted 280 rule as X counts it.
//!
//! The weighted length is counted here independently of the connector's own
//! counting (from the same vendored twitter-text configuration), so the
//! tests compare two implementations: NFC first; each code point weighs its
//! range's weight (100 for Latin and the ranges listed, 200 otherwise); an
//! http(s) URL counts 23; an emoji sequence (a grapheme holding an emoji)
//! counts 200 once.

use serde_json::{json, Map, Value};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use super::Reply;

const CONFIG: &str = include_str!("../../../../spec/x-api/twitter-text-config-v3.json");

struct Weights {
    max: u64,
    scale: u64,
    default: u64,
    url: u64,
    ranges: Vec<(u32, u32, u64)>,
}

fn weights() -> &'static Weights {
    static W: std::sync::OnceLock<Weights> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let c: Value = serde_json::from_str(CONFIG).unwrap_or_default();
        let n = |k: &str, d: u64| c.get(k).and_then(Value::as_u64).unwrap_or(d);
        Weights {
            max: n("maxWeightedTweetLength", 280),
            scale: n("scale", 100),
            default: n("defaultWeight", 200),
            url: n("transformedURLLength", 23),
            ranges: c["ranges"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| {
                            Some((
                                r["start"].as_u64()? as u32,
                                r["end"].as_u64()? as u32,
                                r["weight"].as_u64()?,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    })
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

/// Whether a word is a URL, by the simulator's rule (a scheme): what the
/// length counter weighs as one and the billing charges a post with a URL.
/// Its host's labels must each be at most 63 characters in their ASCII
/// (punycode) form, as in DNS: past that twitter-text sees no URL.
pub fn is_url(word: &str) -> bool {
    let Some(rest) = word
        .strip_prefix("https://")
        .or_else(|| word.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("");
    host.contains('.')
        && host.split('.').all(|label| {
            let ascii = if label.is_ascii() {
                Some(label.len())
            } else {
                punycode::encode(label).ok().map(|p| p.len() + 4)
            };
            !label.is_empty() && ascii.is_some_and(|n| n <= 63)
        })
}

/// X's weighted length, in characters (280 is the limit).
pub fn weighted_length(text: &str) -> u64 {
    let w = weights();
    let text: String = text.nfc().collect();
    let mut units = 0u64;
    for word in text.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        if is_url(trimmed) {
            units += w.url * w.scale + (word.len() - trimmed.len()) as u64 * w.scale;
            continue;
        }
        for g in word.graphemes(true) {
            // A pictograph, or a keycap (a digit, `#` or `*` and U+20E3).
            if g.chars().any(is_emoji) || g.ends_with('\u{20E3}') {
                units += w.default;
                continue;
            }
            for c in g.chars() {
                let cp = c as u32;
                units += w
                    .ranges
                    .iter()
                    .find(|(s, e, _)| (*s..=*e).contains(&cp))
                    .map(|(_, _, weight)| *weight)
                    .unwrap_or(w.default);
            }
        }
    }
    units.div_ceil(w.scale)
}

pub fn max_length() -> u64 {
    weights().max
}

fn refuse(message: String, field: &str) -> Reply {
    Reply::problem(
        400,
        json!({
            "errors": [{"parameters": {field: []}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.x.com/2/problems/invalid-request"
        }),
    )
}

fn is_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
}

const FIELDS: &[&str] = &[
    "card_uri",
    "community_id",
    "direct_message_deep_link",
    "edit_options",
    "for_super_followers_only",
    "geo",
    "made_with_ai",
    "media",
    "nullcast",
    "paid_partnership",
    "poll",
    "quote_tweet_id",
    "reply",
    "reply_settings",
    "share_with_followers",
    "text",
];

const REPLY_SETTINGS: &[&str] = &["following", "mentionedUsers", "subscribers", "verified"];

/// Checks a create request; the reason X would give when it refuses.
pub fn check(body: &Map<String, Value>) -> Result<(), Reply> {
    if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(refuse(
            format!("$.{k}: is not defined in the schema and the schema does not allow additional properties"),
            k,
        ));
    }
    let has = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    let Some(text) = body.get("text") else {
        return Err(refuse(
            "$.text: is missing but it is required".into(),
            "text",
        ));
    };
    let Some(text) = text.as_str() else {
        return Err(refuse("$.text: string found, but expected".into(), "text"));
    };
    let len = weighted_length(text);
    if len > max_length() {
        return Err(refuse(
            format!("The length of the `text` field in the request body is not between 0 and {} (weighted: {len})", max_length()),
            "text",
        ));
    }
    if text.trim().is_empty() && !has("media") {
        return Err(refuse(
            "Post text is empty: give text, or media".into(),
            "text",
        ));
    }
    let exclusive: [(&str, &[&str]); 3] = [
        (
            "card_uri",
            &[
                "quote_tweet_id",
                "poll",
                "media",
                "direct_message_deep_link",
            ],
        ),
        ("media", &["quote_tweet_id", "poll", "card_uri"]),
        ("poll", &["media", "quote_tweet_id", "card_uri"]),
    ];
    for (a, others) in exclusive {
        if let Some(b) = others.iter().find(|b| has(a) && has(b)) {
            return Err(refuse(
                format!("$.{a} and $.{b} cannot be used together"),
                a,
            ));
        }
    }
    if let Some(s) = body.get("reply_settings") {
        if !s.as_str().is_some_and(|s| REPLY_SETTINGS.contains(&s)) {
            return Err(refuse(
                format!(
                    "$.reply_settings: does not have a value in the enumeration {REPLY_SETTINGS:?}"
                ),
                "reply_settings",
            ));
        }
    }
    for ptr in [
        "/quote_tweet_id",
        "/community_id",
        "/reply/in_reply_to_tweet_id",
        "/edit_options/previous_post_id",
    ] {
        if let Some(v) = body_pointer(body, ptr) {
            if !is_id(v) {
                return Err(refuse(
                    format!(
                        "${}: does not match the regex pattern ^[0-9]{{1,19}}$",
                        ptr.replace('/', ".")
                    ),
                    ptr.trim_start_matches('/'),
                ));
            }
        }
    }
    if has("reply") && body_pointer(body, "/reply/in_reply_to_tweet_id").is_none() {
        return Err(refuse(
            "$.reply.in_reply_to_tweet_id: is missing but it is required".into(),
            "reply",
        ));
    }
    if let Some(m) = body.get("media") {
        let ids = m.get("media_ids").and_then(Value::as_array);
        match ids {
            Some(ids) if (1..=4).contains(&ids.len()) && ids.iter().all(is_id) => {}
            _ => {
                return Err(refuse(
                    "$.media.media_ids: 1 to 4 ids matching ^[0-9]{1,19}$ are required".into(),
                    "media",
                ))
            }
        }
        if let Some(t) = m.get("tagged_user_ids").and_then(Value::as_array) {
            if t.len() > 10 || !t.iter().all(is_id) {
                return Err(refuse(
                    "$.media.tagged_user_ids: at most 10 ids matching ^[0-9]{1,19}$".into(),
                    "media",
                ));
            }
        }
    }
    if let Some(p) = body.get("poll") {
        let options = p.get("options").and_then(Value::as_array);
        let ok_options = options.is_some_and(|o| {
            (2..=4).contains(&o.len())
                && o.iter().all(|x| {
                    x.as_str()
                        .is_some_and(|s| (1..=25).contains(&s.chars().count()))
                })
        });
        let duration = p.get("duration_minutes").and_then(Value::as_u64);
        if !ok_options || !duration.is_some_and(|d| (5..=10080).contains(&d)) {
            return Err(refuse("$.poll: 2 to 4 options of 1 to 25 characters and duration_minutes 5 to 10080 are required".into(), "poll"));
        }
    }
    Ok(())
}

fn body_pointer<'a>(body: &'a Map<String, Value>, ptr: &str) -> Option<&'a Value> {
    let mut parts = ptr.trim_start_matches('/').split('/');
    let mut v = body.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    (!v.is_null()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_length_as_x_counts_it() {
        assert_eq!(weighted_length("hello"), 5);
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
        assert_eq!(weighted_length("日本"), 4);
        assert_eq!(
            weighted_length("see https://example.com/a/very/long/path/indeed ok"),
            4 + 23 + 3
        );
        // A family emoji (ZWJ sequence) counts 2: 140 of them fit.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(weighted_length(&family.repeat(140)), 280);
        // NFC: e + combining acute is one character.
        assert_eq!(weighted_length("e\u{301}"), 1);
    }
}

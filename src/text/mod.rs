//! Post text length as X counts it: twitter-text configuration v3.
//!
//! The rules (`spec/x-api/twitter-text-config-v3.json`, X's
//! counting-characters docs): after NFC normalization, a code point inside the
//! config's ranges weighs 100, any other 200; every URL weighs 23 × 100
//! whatever its length; an emoji sequence (ZWJ joins, skin tones, flags,
//! keycaps) weighs 200 in total. The weighted length divided by the scale
//! (100) must be 1..=280.
//!
//! Hand-rolled rather than the `twitter-text` crate: that crate brings a pest
//! grammar and large regex tables that would more than double the component's
//! size, for the one function we need. The URL grammar below is a deliberate
//! subset of twitter-text's (scheme URLs, and bare domains under common TLDs);
//! when it misses a URL the count is higher, so we refuse early rather than let
//! X refuse a post we accepted.

mod nfc;
mod punycode;

use unicode_segmentation::UnicodeSegmentation;

pub const MAX_WEIGHTED_LENGTH: usize = 280;
const SCALE: usize = 100;
const DEFAULT_WEIGHT: usize = 200;
const URL_LENGTH: usize = 23;
/// `ranges` of config v3: inclusive code-point ranges with weight 100.
const LIGHT_RANGES: &[(u32, u32)] = &[(0, 4351), (8192, 8205), (8208, 8223), (8242, 8247)];

/// TLDs recognised for URLs written without a scheme (`example.com/x`).
const BARE_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "ai", "app", "dev",
    "me", "tv", "xyz", "online", "site", "tech", "store", "blog", "news", "ly", "gl", "gg", "to",
    "us", "uk", "de", "fr", "jp", "cn", "ru", "br", "in", "ca", "au", "es", "it", "nl", "se", "no",
    "fi", "dk", "pl", "ch", "at", "be", "ie", "nz", "za", "mx", "ar", "kr", "tw", "hk", "sg", "eu",
    "pt", "gr", "tr", "il", "id", "my", "ph", "th", "vn", "pk", "ng", "ke", "eg", "sa", "ae", "cz",
    "hu", "ro", "ua", "cl", "pe", "fm", "am", "cc", "ws", "sh", "so", "page", "link", "live",
    "cloud",
];

/// The weighted length in X's units (what must be ≤ 280).
pub fn weighted_length(text: &str) -> usize {
    let text = nfc::nfc(text);
    let mut total = 0usize;
    for word in word_spans(&text) {
        // Opening punctuation before a URL is text: `(https://a.io/x)`.
        let lead = word.len() - word.trim_start_matches(['(', '[', '"', '\'', '<']).len();
        total += weigh_graphemes(&word[..lead]);
        let word = &word[lead..];
        if let Some(url_len) = url_prefix_len(word) {
            total += URL_LENGTH * SCALE;
            total += weigh_graphemes(&word[url_len..]);
        } else {
            total += weigh_graphemes(word);
        }
    }
    total.div_ceil(SCALE)
}

/// Whether `text` holds a URL as the length counter finds them (with or
/// without a scheme): what makes a post X's `Content: Create (with URL)`.
pub fn contains_url(text: &str) -> bool {
    let text = nfc::nfc(text);
    word_spans(&text).into_iter().any(|word| {
        let word = word.trim_start_matches(['(', '[', '"', '\'', '<']);
        url_prefix_len(word).is_some()
    })
}

/// Splits on whitespace but keeps the whitespace as its own spans, so every
/// character is weighed exactly once.
fn word_spans(text: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            spans.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        spans.push(&text[start..]);
    }
    spans
}

fn weigh_graphemes(s: &str) -> usize {
    s.graphemes(true)
        .map(|g| {
            if is_emoji(g) {
                DEFAULT_WEIGHT
            } else {
                g.chars().map(char_weight).sum()
            }
        })
        .sum()
}

fn char_weight(c: char) -> usize {
    let cp = c as u32;
    if LIGHT_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp)) {
        SCALE
    } else {
        DEFAULT_WEIGHT
    }
}

/// An emoji presentation sequence: a pictograph, a flag, or anything turned
/// into an emoji by VS16, a keycap or a ZWJ join.
fn is_emoji(grapheme: &str) -> bool {
    let mut chars = grapheme.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let pictographic = |c: char| {
        // 0x1F000..=0x1FAFF also covers the regional indicators (flags).
        matches!(c as u32,
            0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF)
    };
    pictographic(first)
        || grapheme
            .chars()
            .any(|c| matches!(c as u32, 0xFE0F | 0x20E3 | 0x200D) && grapheme.chars().count() > 1)
}

/// A character of an internationalized host label: not ASCII, not a space,
/// a control, punctuation or a pictograph. Letters alone would miss the
/// combining marks of Indic scripts (`இந்தியா`); Rust has no general
/// category, and these blocks are the punctuation a URL ends at.
fn idn_char(c: char) -> bool {
    !c.is_ascii()
        && !c.is_whitespace()
        && !c.is_control()
        && !matches!(c as u32,
            0x2000..=0x206F | 0x3000..=0x303F | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20
            | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65 | 0x1F000..=0x1FAFF | 0x2600..=0x27BF)
}

/// If `word` starts with a URL, the byte length of it (trailing punctuation
/// that ends a sentence is not part of the URL).
fn url_prefix_len(word: &str) -> Option<usize> {
    let lower = word.to_ascii_lowercase();
    let after_scheme = ["https://", "http://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s).map(|rest| (s.len(), rest)));
    let (scheme_len, rest) = after_scheme.unwrap_or((0, lower.as_str()));
    // Internationalized labels only after a scheme: a bare word of letters
    // and dots is text.
    let host_char = |c: char| {
        c.is_ascii_alphanumeric() || c == '-' || c == '.' || (scheme_len > 0 && idn_char(c))
    };
    let host_end = rest.find(|c: char| !host_char(c)).unwrap_or(rest.len());
    let host = rest[..host_end].trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    // A label is at most 63 characters in its ASCII (punycode) form, as in
    // DNS: past that, twitter-text sees no URL and counts the characters.
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || punycode::ascii_len(l).is_none_or(|n| n > 63))
    {
        return None;
    }
    let tld = labels[labels.len() - 1];
    let valid_tld =
        tld.chars().count() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic() || idn_char(c));
    if !valid_tld || (scheme_len == 0 && !BARE_TLDS.contains(&tld)) {
        return None;
    }
    let mut end = scheme_len + host.len();
    let tail = &word[end..];
    if tail.starts_with(['/', ':', '?', '#']) {
        end += tail.len();
        let trimmed = word[..end].trim_end_matches(['.', ',', '!', '?', ')', ';', ':', '"', '\'']);
        end = trimmed.len();
    }
    Some(end)
}

/// Characters X refuses in text (twitter-text `invalid_characters`).
pub fn has_invalid_characters(text: &str) -> bool {
    text.chars()
        .any(|c| matches!(c, '\u{FFFE}' | '\u{FEFF}' | '\u{FFFF}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_counts_one() {
        assert_eq!(weighted_length("hello"), 5);
        assert_eq!(weighted_length(&"a".repeat(280)), 280);
        assert_eq!(weighted_length(&"a".repeat(281)), 281);
    }

    #[test]
    fn cjk_counts_two() {
        assert_eq!(weighted_length("日本語"), 6);
        assert_eq!(weighted_length(&"字".repeat(140)), 280);
        assert_eq!(weighted_length(&"字".repeat(141)), 282);
    }

    #[test]
    fn general_punctuation_ranges_are_light() {
        // U+2014 EM DASH (8212) and U+2026 ELLIPSIS? 8230 is outside the ranges.
        assert_eq!(weighted_length("\u{2014}"), 1);
        assert_eq!(weighted_length("\u{2026}"), 2);
    }

    #[test]
    fn urls_count_23_whatever_their_length() {
        let long = format!("https://example.com/{}", "x".repeat(200));
        assert_eq!(weighted_length(&long), 23);
        assert_eq!(weighted_length("see https://t.co/abc"), 4 + 23);
        assert_eq!(weighted_length("see example.com."), 4 + 23 + 1);
        assert_eq!(weighted_length("(http://a.io/x)"), 1 + 23 + 1);
        // Not a URL: unknown bare TLD, or no dot at all.
        assert_eq!(weighted_length("mr.smith"), 8);
        assert_eq!(weighted_length("https://localhost"), 17);
    }

    #[test]
    fn emoji_sequences_count_two() {
        assert_eq!(weighted_length("😀"), 2);
        // Family: four people joined by ZWJ.
        assert_eq!(weighted_length("👨\u{200D}👩\u{200D}👧\u{200D}👦"), 2);
        // Skin tone modifier.
        assert_eq!(weighted_length("👍🏽"), 2);
        // Flag: two regional indicators.
        assert_eq!(weighted_length("🇯🇵"), 2);
        // Keycap.
        assert_eq!(weighted_length("1\u{FE0F}\u{20E3}"), 2);
        assert_eq!(weighted_length(&"😀".repeat(140)), 280);
    }

    #[test]
    fn nfc_normalizes_first() {
        // e + combining acute = é after NFC: one light code point.
        assert_eq!(weighted_length("e\u{0301}"), 1);
    }

    #[test]
    fn invalid_characters() {
        assert!(has_invalid_characters("a\u{FFFE}"));
        assert!(!has_invalid_characters("plain"));
    }
}

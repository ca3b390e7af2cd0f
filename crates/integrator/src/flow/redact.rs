//! Values never printed or answered: the secrets flows handle, every token
//! that passes through the token store (rotated ones included), and the
//! forms a server could echo them in (the Basic header of the client
//! credentials, the JSON-escaped text). One matcher over all of them,
//! rebuilt when one is added.
//!
//! Everything a flow writes goes through [`Redactor::output`] (the final
//! payload of `run`, `serve`'s answers and headers) or [`Redactor::log_line`]
//! (`<log>`, uncaught faults): one place per kind of sink, so no command
//! can print what another masks.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;
use base64::Engine;

/// Values kept: old rotated tokens leave first beyond this.
const MAX_VALUES: usize = 1024;
/// Shorter values would redact ordinary words; real secrets are long.
const MIN_LEN: usize = 6;
pub const MASK: &str = "********";

#[derive(Default)]
struct Values {
    set: HashSet<String>,
    order: VecDeque<String>,
    matcher: Option<AhoCorasick>,
}

/// Clones share one set.
#[derive(Default, Clone)]
pub struct Redactor(Arc<RwLock<Values>>);

impl Redactor {
    pub fn add(&self, secret: &str) {
        self.add_one(secret);
        // Inside JSON text (a payload, an answer) a value with quotes,
        // backslashes or control characters appears escaped.
        if let Ok(quoted) = serde_json::to_string(secret) {
            let inner = &quoted[1..quoted.len() - 1];
            if inner != secret {
                self.add_one(inner);
            }
        }
    }

    fn add_one(&self, secret: &str) {
        if secret.len() < MIN_LEN {
            return;
        }
        if self
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .set
            .contains(secret)
        {
            return;
        }
        let mut v = self.0.write().unwrap_or_else(|p| p.into_inner());
        if !v.set.insert(secret.to_string()) {
            return;
        }
        v.order.push_back(secret.to_string());
        while v.order.len() > MAX_VALUES {
            if let Some(old) = v.order.pop_front() {
                v.set.remove(&old);
            }
        }
        // Longest first, so a value inside a longer one is masked with it.
        let mut patterns: Vec<&String> = v.order.iter().collect();
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        v.matcher = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(patterns)
            .ok();
    }

    /// The client credentials and the HTTP Basic header a token request
    /// carries them in (plain and form-encoded, as RFC 6749 §2.3.1 has it).
    pub fn add_client_credentials(&self, client_id: &str, client_secret: &str) {
        self.add(client_secret);
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let b64 = base64::engine::general_purpose::STANDARD;
        self.add(&b64.encode(format!("{client_id}:{client_secret}")));
        self.add(&b64.encode(format!("{}:{}", enc(client_id), enc(client_secret))));
    }

    /// Text for a place others read (stdout, an HTTP answer or header):
    /// every known secret masked.
    pub fn output(&self, text: &str) -> String {
        self.redact(text)
    }

    /// One log line: secrets masked, and control characters escaped so
    /// data in the line (a request body, X's error text) cannot start a
    /// forged line or send terminal escape codes.
    pub fn log_line(&self, text: &str) -> String {
        escape_controls(&self.redact(text))
    }

    fn redact(&self, text: &str) -> String {
        match &self.0.read().unwrap_or_else(|p| p.into_inner()).matcher {
            Some(m) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(MASK);
                    true
                });
                out
            }
            None => text.to_string(),
        }
    }
}

/// `\n`, `\r`, `\t` and every other control character (C0, DEL, C1,
/// ESC among them) written as an escape, as `{:?}` would, the rest as is.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_cannot_forge_lines_or_escape_codes() {
        let r = Redactor::default();
        r.add("quote\"secret\\value");
        let line = r.log_line("a\nERROR fake\r\u{1b}[31mred\u{9b}x\tquote\"secret\\value");
        assert_eq!(line, "a\\nERROR fake\\r\\u{1b}[31mred\\u{9b}x\\t********");
        // The JSON-escaped form of a secret is masked in JSON text too.
        let json = serde_json::json!({"echo": "quote\"secret\\value"}).to_string();
        assert_eq!(r.output(&json), r#"{"echo":"********"}"#);
    }

    #[test]
    fn masks_every_value_and_the_basic_header() {
        let r = Redactor::default();
        r.add("refresh-token-value");
        r.add("short");
        r.add_client_credentials("my app", "s3cret/+value");
        let basic = base64::engine::general_purpose::STANDARD.encode("my+app:s3cret%2F%2Bvalue");
        let text = format!("a refresh-token-value b Basic {basic} c s3cret/+value short");
        let out = r.redact(&text);
        assert_eq!(out, "a ******** b Basic ******** c ******** short");
        // Many rotations later, the set stays bounded.
        for i in 0..2000 {
            r.add(&format!("rotated-token-{i:06}"));
        }
        assert_eq!(r.redact("rotated-token-001999"), "********");
        assert_eq!(r.0.read().unwrap().order.len(), MAX_VALUES);
    }
}

//! Values never printed or answered: the secrets flows handle, every token
//! that passes through the token store (rotated ones included), and the
//! forms a server could echo them in (the Basic header of the client
//! credentials). One matcher over all of them, rebuilt when one is added.

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

    pub fn redact(&self, text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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

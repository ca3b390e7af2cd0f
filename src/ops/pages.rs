//! Following `meta.next_token` across pages: the pages' `data` in order,
//! their `includes` merged without repeats, and where it stopped.

use serde_json::{json, Map, Value};

/// Why a paginated read stopped before X ran out of pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `maxPages` pages were read.
    MaxPages,
    /// X answered 429: what was read so far, and when to go on (Unix s).
    RateLimited { retry_after_s: Option<u64> },
    /// A later page failed otherwise: what was read (and billed) so far,
    /// and the failure's kind and words.
    Failed { kind: &'static str, message: String },
}

#[derive(Debug, Default)]
pub struct Pages {
    data: Vec<Value>,
    includes: Map<String, Value>,
    errors: Vec<Value>,
    next_token: Option<String>,
    pages: u32,
}

/// The key that tells two expanded objects apart.
fn key(v: &Value) -> Option<&str> {
    v.get("id")
        .or_else(|| v.get("media_key"))
        .and_then(Value::as_str)
}

impl Pages {
    /// Adds one page's answer; returns the token of the next page, if any.
    pub fn add(&mut self, mut page: Value) -> Option<String> {
        self.pages += 1;
        if let Some(Value::Array(items)) = page.get_mut("data").map(Value::take) {
            self.data.extend(items);
        }
        if let Some(Value::Object(inc)) = page.get_mut("includes").map(Value::take) {
            for (kind, items) in inc {
                let Value::Array(items) = items else { continue };
                let merged = self
                    .includes
                    .entry(kind)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(have) = merged {
                    for item in items {
                        let seen =
                            key(&item).is_some_and(|k| have.iter().any(|h| key(h) == Some(k)));
                        if !seen {
                            have.push(item);
                        }
                    }
                }
            }
        }
        if let Some(Value::Array(errors)) = page.get_mut("errors").map(Value::take) {
            self.errors.extend(errors);
        }
        self.next_token = page
            .pointer("/meta/next_token")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.next_token.clone()
    }

    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// The merged answer, in X's shape, with `meta.next_token` where a later
    /// call can go on and `meta.pages` read.
    pub fn finish(self, stop: Option<Stop>) -> Value {
        let mut meta = json!({ "result_count": self.data.len(), "pages": self.pages });
        if let Some(t) = &self.next_token {
            meta["next_token"] = json!(t);
        }
        match stop {
            Some(Stop::RateLimited { retry_after_s }) => {
                meta["stopped"] = json!("rate-limited");
                if let Some(t) = retry_after_s {
                    meta["retry_after"] = json!(t);
                }
            }
            Some(Stop::Failed { kind, message }) => {
                meta["stopped"] = json!("error");
                meta["error"] = json!({ "kind": kind, "message": message });
            }
            Some(Stop::MaxPages) if self.next_token.is_some() => {
                meta["stopped"] = json!("max-pages")
            }
            _ => {}
        }
        let mut out = json!({ "data": self.data, "meta": meta });
        if !self.includes.is_empty() {
            out["includes"] = Value::Object(self.includes);
        }
        if !self.errors.is_empty() {
            out["errors"] = Value::Array(self.errors);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_merge_in_order_without_repeated_includes() {
        let mut p = Pages::default();
        let t = p.add(json!({"data":[{"id":"1"},{"id":"2"}],"includes":{"users":[{"id":"9"}]},"meta":{"next_token":"b","result_count":2}}));
        assert_eq!(t.as_deref(), Some("b"));
        let t = p.add(json!({"data":[{"id":"3"}],"includes":{"users":[{"id":"9"},{"id":"8"}]},"errors":[{"detail":"x"}],"meta":{"result_count":1}}));
        assert_eq!(t, None);
        let v = p.finish(None);
        assert_eq!(v["data"], json!([{"id":"1"},{"id":"2"},{"id":"3"}]));
        assert_eq!(v["includes"]["users"], json!([{"id":"9"},{"id":"8"}]));
        assert_eq!(v["meta"], json!({"result_count":3,"pages":2}));
        assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_stop_says_where_to_go_on() {
        let mut p = Pages::default();
        p.add(json!({"data":[{"id":"1"}],"meta":{"next_token":"c"}}));
        let v = p.finish(Some(Stop::RateLimited {
            retry_after_s: Some(77),
        }));
        assert_eq!(v["meta"]["next_token"], "c");
        assert_eq!(v["meta"]["stopped"], "rate-limited");
        assert_eq!(v["meta"]["retry_after"], 77);
        let mut p = Pages::default();
        p.add(json!({"data":[{"id":"1"}],"meta":{"next_token":"c"}}));
        let v = p.finish(Some(Stop::Failed {
            kind: "api-error",
            message: "X API error 503".into(),
        }));
        assert_eq!(v["meta"]["stopped"], "error");
        assert_eq!(v["meta"]["error"]["kind"], "api-error");
        assert_eq!(v["meta"]["next_token"], "c");
    }
}

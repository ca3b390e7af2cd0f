//! What parsing an answer into a JSON tree may cost, checked before the
//! parse. The connector checks X's answers with it before it reads them,
//! and the runtime again before it parses one into a flow's variables. A JSON tree costs far more than its text: `{"a":1}` is 7 bytes
//! of text and about 600 bytes as a `serde_json` object (a B-tree node),
//! so 1 MB of tiny objects became over 300 MB of memory in one request.
//! X's largest answers (100 posts with every expansion) hold a few
//! thousand objects; these limits leave ample room above that.
//!
//! Hand-written rather than a streaming parser crate: one pass over the
//! bytes counting brackets and commas outside strings is all it takes, and
//! serde_json (which reads the text right after) still validates it.

/// Objects and arrays in one answer.
pub const MAX_CONTAINERS: usize = 20_000;
/// Values in one answer (elements of arrays and members of objects).
pub const MAX_VALUES: usize = 250_000;

/// Refuses a text whose tree would be larger than the limits.
pub fn check(text: &[u8]) -> Result<(), String> {
    let (mut containers, mut values) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                containers += 1;
                values += 1;
            }
            b',' => values += 1,
            _ => {}
        }
        if containers > MAX_CONTAINERS {
            return Err(format!(
                "it holds more than {MAX_CONTAINERS} objects and arrays (the limit for one answer)"
            ));
        }
        if values > MAX_VALUES {
            return Err(format!(
                "it holds more than {MAX_VALUES} values (the limit for one answer)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_structure_outside_strings_only() {
        let many = format!("[{}]", vec!["{}"; MAX_CONTAINERS].join(","));
        assert!(check(many.as_bytes())
            .unwrap_err()
            .contains("objects and arrays"));
        let quoted = format!("{{\"a\":\"{}\"}}", "{[,\\\"".repeat(MAX_VALUES));
        check(quoted.as_bytes()).unwrap();
        let numbers = format!("[{}]", vec!["1"; MAX_VALUES + 1].join(","));
        assert!(check(numbers.as_bytes()).unwrap_err().contains("values"));
        check(br#"{"data":{"id":"1","list":[1,2,{"x":"}"}]}}"#).unwrap();
    }
}

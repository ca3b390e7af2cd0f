//! The nesting check every flow file goes through first.

use super::{FlowError, Pos};

/// Deepest element nesting a flow may have. Real flows stay far below; the
/// limit keeps the recursive walk here and the nested mediators at run time
/// well inside a thread's stack.
pub const MAX_NESTING: usize = 100;

/// Refuses documents nested deeper than [`MAX_NESTING`] before anything
/// recursive sees them (`roxmltree` itself overflows the stack on tens of
/// thousands of levels). A scan of the raw text, not a parser: it skips
/// comments, CDATA, processing instructions, the doctype and quoted
/// attribute values, and counts open and close tags; whatever else is
/// wrong with the document, `roxmltree` reports next.
pub(super) fn check_nesting(xml: &str, file: &str) -> Result<(), FlowError> {
    let b = xml.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    let skip_to = |from: usize, end: &str| {
        xml.get(from..)
            .and_then(|r| r.find(end))
            .map(|j| from + j + end.len())
            .unwrap_or(b.len())
    };
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, "-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, "]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(i + 2, "?>");
        } else if rest.starts_with(b"<!") {
            // A doctype, perhaps with an internal subset in brackets.
            let mut brackets = 0i32;
            i += 2;
            while i < b.len() && !(b[i] == b'>' && brackets <= 0) {
                match b[i] {
                    b'[' => brackets += 1,
                    b']' => brackets -= 1,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = skip_to(i + 2, ">");
        } else {
            let start = i;
            let mut quote = None;
            i += 1;
            while i < b.len() {
                match (quote, b[i]) {
                    (None, b'"' | b'\'') => quote = Some(b[i]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                i += 1;
            }
            let self_closing = b.get(i.wrapping_sub(1)) == Some(&b'/');
            i += 1;
            if !self_closing {
                depth += 1;
                if depth > MAX_NESTING {
                    let name: String = String::from_utf8_lossy(&b[start + 1..])
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                        .take(64)
                        .collect();
                    return Err(FlowError {
                        pos: Pos {
                            file: file.into(),
                            line: b[..start].iter().filter(|c| **c == b'\n').count() as u32 + 1,
                            element: name,
                        },
                        message: format!("elements nested deeper than {MAX_NESTING} levels"),
                    });
                }
            }
        }
    }
    Ok(())
}

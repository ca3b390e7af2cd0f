//! The catalog in words, for connector.xml and the docs (native builds
//! only: the component does not carry it).

use super::{Kind, Param};

/// A parameter's rule, in words, from its kind.
pub fn rule(p: &Param) -> String {
    match p.kind {
        Kind::Id => "Numeric id, ^[0-9]{1,19}$".into(),
        Kind::Ids => "Comma list of 1 to 100 numeric ids".into(),
        Kind::Username => "Username, ^[A-Za-z0-9_]{1,15}$".into(),
        Kind::Conversation => "Conversation id, ^([0-9]{1,19}-)?[0-9]{1,19}$".into(),
        Kind::Count(lo, hi) => format!("Results per page, {lo} to {hi}"),
        Kind::Token => "Token of the page to read (meta.next_token of the last answer)".into(),
        Kind::Time => "RFC 3339 time, e.g. 2026-02-06T00:00:00Z".into(),
        Kind::List(values) => format!("Comma list of: {}", values.join(", ")),
        Kind::OneOf(values) => values.join(" | "),
        Kind::Text(lo, hi) => format!("Text, {lo} to {hi} characters"),
        Kind::Flag => "true | false".into(),
        Kind::Search => "Search query, 1 to 512 characters".into(),
        Kind::Attachments => "JSON [{\"media_id\":\"..\"}] or a comma list of media ids".into(),
        Kind::Pages => {
            "Pages to follow through next_token, 1 to 100 (default 1): data and includes merged"
                .into()
        }
        Kind::Base64 => "The media bytes, base64 (or media_file)".into(),
        Kind::PostText => {
            "Text, weighted length 1 to 280 (a URL counts 23); required unless media is given"
                .into()
        }
        Kind::Json(shape) => format!("JSON: {shape}"),
        Kind::Str => "Text".into(),
    }
}

/// The component export an operation maps to: its typed function for the
/// three with hand-written requests, else the generic entry point.
pub fn export(name: &str) -> String {
    if !super::TYPED.contains(&name) {
        return "invoke".into();
    }
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

//! The operations the connector offers beyond the three with hand-written
//! requests (createTweet, deleteTweet, getMe): each is a row of
//! [`catalog::OPERATIONS`] (X's endpoint, its parameters with WSO2's names,
//! the scopes it needs, what it is billed in), and one generic path
//! validates, sends, follows pages and prices them all. A new operation
//! costs the component its row, not another copy of that path.

pub mod catalog;
#[cfg(not(target_arch = "wasm32"))]
pub mod doc;
pub mod fields;
pub mod media;
pub mod pages;
pub mod request;
mod run;

pub use run::{cost_of, explain_forbidden, MAX_PROCESSING_SECS};

use x_pricing::BillingUnit;

/// The connector's areas, as WSO2's components name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Config,
    Tweets,
    Users,
    Lists,
    DirectMessages,
    Media,
}

impl Area {
    /// The WSO2 component (`twitter-tweets`, ...).
    pub fn component(self) -> &'static str {
        match self {
            Area::Config => "twitter-config",
            Area::Tweets => "twitter-tweets",
            Area::Users => "twitter-users",
            Area::Lists => "twitter-lists",
            Area::DirectMessages => "twitter-directMessages",
            Area::Media => "twitter-media",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub fn http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Delete => http::Method::DELETE,
        }
    }
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// `{wire}` in the path.
    Path,
    Query,
    /// A member of the JSON body.
    Body,
    /// Taken by the component itself (`maxPages`, the media bytes).
    Local,
}

/// The rule a value must keep (the spec's schema for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `^[0-9]{1,19}$`.
    Id,
    /// A comma list of 1 to 100 ids.
    Ids,
    /// `^[A-Za-z0-9_]{1,15}$`.
    Username,
    /// A DM conversation: `^([0-9]{1,19}-)?[0-9]{1,19}$`.
    Conversation,
    /// An integer in the range.
    Count(u32, u32),
    /// A pagination token X handed out: `^[A-Za-z0-9_-]{1,1024}$`.
    Token,
    /// RFC 3339 (`YYYY-MM-DDTHH:mm:ssZ`).
    Time,
    /// A comma list of these values, none repeated.
    List(&'static [&'static str]),
    OneOf(&'static [&'static str]),
    /// Text of this many characters (Unicode scalar values).
    Text(u32, u32),
    Flag,
    /// A search query: 1 to 512 characters.
    Search,
    /// DM attachments: a JSON array of `{"media_id"}` or a comma list of ids.
    Attachments,
    /// `maxPages`: pages to follow, 1 to 100.
    Pages,
    /// Base64 bytes (uploadMedia's `media`).
    Base64,
    /// Any string (the spec gives no rule).
    Str,
    /// A post's text: weighted length 1 to 280 (twitter-text), checked by
    /// the typed request.
    PostText,
    /// A JSON object of the shape described (createTweet's `media`, ...),
    /// checked by the typed request.
    Json(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The flow's name for it: X's, except for the `*_fields` lists, which
    /// keep WSO2's names (X's `tweet.fields` is not a parameter name).
    pub name: &'static str,
    /// WSO2 4.x's name where it differs from X's (`user_id` for X's `id`).
    pub alias: Option<&'static str>,
    /// X's name on the wire.
    pub wire: &'static str,
    pub at: At,
    pub kind: Kind,
    pub required: bool,
}

/// What an answer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `data` is one resource.
    One,
    /// `data` is a list; `meta.next_token` leads to the next page when
    /// `paginated`.
    Many { paginated: bool },
    /// A write: billed per request.
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationSpec {
    /// The WSO2 operation name (`likeTweet`).
    pub name: &'static str,
    pub area: Area,
    pub method: Method,
    /// As the spec writes it, `{name}` for path parameters.
    pub path: &'static str,
    /// The spec's `operationId`.
    pub operation_id: &'static str,
    pub params: &'static [Param],
    /// What X bills the call in (per request for writes, per resource
    /// returned for reads).
    pub unit: BillingUnit,
    /// The OAuth 2.0 scopes the spec's `security` lists.
    pub scopes: &'static [&'static str],
    pub shape: Shape,
    pub description: &'static str,
}

impl OperationSpec {
    /// The parameter a flow names `name` (or its WSO2 alias).
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params
            .iter()
            .find(|p| p.name == name || p.alias == Some(name))
    }

    /// The parameter carrying the pagination token, for paginated reads.
    pub fn token_param(&self) -> Option<&'static Param> {
        self.params.iter().find(|p| p.kind == Kind::Token)
    }
}

/// The catalog row of an operation, by its WSO2 name.
pub fn find(name: &str) -> Option<&'static OperationSpec> {
    catalog::OPERATIONS.iter().find(|o| o.name == name)
}

/// The operations whose requests are written by hand (`tweet.rs`,
/// `connector.rs`): their rows document them (parameters, scopes, cost)
/// but the generic path does not build them.
pub const TYPED: &[&str] = &["createTweet", "deleteTweet", "getMe"];

/// The scopes an operation needs, by name (empty for `init`).
pub fn scopes(name: &str) -> &'static [&'static str] {
    find(name).map_or(&[], |o| o.scopes)
}

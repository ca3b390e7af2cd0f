//! An example HTTP component over the connector, for hosts that run
//! `wasi:http` components (Spin, wasmCloud, `wasmtime serve`):
//!
//! - `GET /me`: the authenticated user (`get-me`);
//! - `POST /tweets` with the post's text as the body: `create-tweet`;
//! - `DELETE /tweets/{id}`: `delete-tweet`.
//!
//! The connector is imported, not linked in: the host composes it (Spin's
//! component dependencies) or `wac plug` does ahead of time. The example
//! never calls `init`: the connector takes its connection from the
//! environment (`X_CLIENT_ID`, `X_REFRESH_TOKEN`, ...) and its newest tokens
//! from its token store, so every request, on a fresh instance or not, goes
//! on from the last rotation.
//!
//! Routing and the error-to-status mapping are plain functions, tested
//! natively; the WASI glue is in `component`.

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Me,
    Post,
    Delete(&'a str),
    /// A known path with the wrong method: 405 with what is allowed.
    WrongMethod(&'static str),
    NotFound,
}

/// The route for `method` and `path` (query ignored).
pub fn route<'a>(method: &str, path: &'a str) -> Route<'a> {
    let path = path.split('?').next().unwrap_or("");
    match path {
        "/me" if method == "GET" => Route::Me,
        "/me" => Route::WrongMethod("GET"),
        "/tweets" if method == "POST" => Route::Post,
        "/tweets" => Route::WrongMethod("POST"),
        _ => match path.strip_prefix("/tweets/") {
            // The connector checks the id (digits only) before any request.
            Some(id) if !id.is_empty() && method == "DELETE" => Route::Delete(id),
            Some(id) if !id.is_empty() => Route::WrongMethod("DELETE"),
            _ => Route::NotFound,
        },
    }
}

/// How a failed call is answered, by the kind of the connector's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request's input was refused before any call to X.
    InvalidInput,
    /// X refused it; `status` is X's.
    Api { status: u16 },
    /// X could not be reached in time.
    Transport,
    /// No token: the user must sign in again, or the app is misconfigured.
    OAuth,
    /// The connector's configuration (the environment) is missing.
    NotConfigured,
    /// The token store could not be used; nothing was sent.
    TokenStore,
    /// X's answer could not be read.
    Malformed,
}

impl Failure {
    /// The gateway's status: X's own for X's 4xx, so a client sees a rate
    /// limit as a 429; a gateway's 5xx for what failed on the way.
    pub fn status(self) -> u16 {
        match self {
            Failure::InvalidInput => 400,
            Failure::Api { status } if (400..500).contains(&status) => status,
            Failure::Api { .. } | Failure::OAuth | Failure::Malformed => 502,
            Failure::Transport => 504,
            Failure::NotConfigured => 500,
            Failure::TokenStore => 503,
        }
    }
}

/// A JSON body `{"error": message, "detail": detail}`.
pub fn error_body(message: &str, detail: &str) -> String {
    serde_json::json!({ "error": message, "detail": detail }).to_string()
}

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/me"), Route::Me);
        assert_eq!(route("GET", "/me?x=1"), Route::Me);
        assert_eq!(route("POST", "/me"), Route::WrongMethod("GET"));
        assert_eq!(route("POST", "/tweets"), Route::Post);
        assert_eq!(route("GET", "/tweets"), Route::WrongMethod("POST"));
        assert_eq!(route("DELETE", "/tweets/123"), Route::Delete("123"));
        assert_eq!(route("GET", "/tweets/123"), Route::WrongMethod("DELETE"));
        assert_eq!(route("DELETE", "/tweets/"), Route::NotFound);
        assert_eq!(route("GET", "/"), Route::NotFound);
    }

    #[test]
    fn statuses() {
        assert_eq!(Failure::Api { status: 429 }.status(), 429);
        assert_eq!(Failure::Api { status: 503 }.status(), 502);
        assert_eq!(Failure::InvalidInput.status(), 400);
        assert_eq!(Failure::TokenStore.status(), 503);
        let body: serde_json::Value = serde_json::from_str(&error_body("a\"b", "c")).unwrap();
        assert_eq!(body["error"], "a\"b");
    }
}

//! `GET /i/oauth2/authorize`: X's consent page, automated. The browser (a
//! test client following the printed URL) is sent back to the app's
//! callback with a code, or with `error=access_denied`, as the consent mode
//! says. A callback URL the app did not register gets X's error page and no
//! redirect, as on X.

use std::collections::HashMap;

use serde_json::json;

use super::oauth::form;
use super::{Reply, State};

/// What the simulated user does on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// Authorizes the app for every scope it asked for.
    Approve,
    /// Cancels: the app gets `error=access_denied`.
    Deny,
    /// Authorizes only these scopes (space-separated), e.g. without
    /// `offline.access`.
    Grant(String),
}

fn page(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({"error": message}))
}

fn redirect(to: &str, params: &[(&str, &str)]) -> Reply {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let sep = if to.contains('?') { '&' } else { '?' };
    let mut r = Reply::json(302, json!({}));
    r.headers
        .push(("location".into(), format!("{to}{sep}{query}")));
    r
}

impl State {
    pub(super) fn authorize_page(&mut self, query: Option<&str>) -> Reply {
        let q: HashMap<String, String> = query.map(|q| form(q.as_bytes())).unwrap_or_default();
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        let Some(client) = self.clients.get(get("client_id")) else {
            return page(
                400,
                "Something went wrong: this app is not known (client_id).",
            );
        };
        let redirect_uri = get("redirect_uri").to_string();
        if !client.redirect_uris.contains(&redirect_uri) {
            // X shows this in the browser and does not redirect.
            return page(
                400,
                &format!("Something went wrong: the redirect_uri {redirect_uri:?} does not match a callback URL registered for this app in the developer portal."),
            );
        }
        let state = get("state").to_string();
        if get("response_type") != "code" {
            return redirect(
                &redirect_uri,
                &[("error", "unsupported_response_type"), ("state", &state)],
            );
        }
        let challenge = get("code_challenge").to_string();
        if challenge.is_empty()
            || get("code_challenge_method") != "S256"
            || state.is_empty()
            || state.len() > 500
        {
            return redirect(
                &redirect_uri,
                &[
                    ("error", "invalid_request"),
                    ("error_description", "code_challenge with method S256 and a state of up to 500 characters are required"),
                    ("state", &state),
                ],
            );
        }
        let scope = match &self.consent {
            Consent::Approve => get("scope").to_string(),
            Consent::Grant(s) => s.clone(),
            Consent::Deny => {
                self.stats.denials += 1;
                return redirect(
                    &redirect_uri,
                    &[
                        ("error", "access_denied"),
                        (
                            "error_description",
                            "The user denied the authorization request.",
                        ),
                        ("state", &state),
                    ],
                );
            }
        };
        let client_id = get("client_id").to_string();
        let code = self.authorize(&client_id, &redirect_uri, &challenge, &scope);
        self.stats.codes_issued.push(code.clone());
        redirect(&redirect_uri, &[("state", &state), ("code", &code)])
    }
}

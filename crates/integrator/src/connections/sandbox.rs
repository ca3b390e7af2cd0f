//! The built-in sandbox (feature `sandbox`, on by default): the X API
//! simulator in this process, and every connection redirected to it.

use std::collections::HashMap;
use std::sync::Mutex;

use super::ConnectionRedirect;

pub use x_sim::Tier;

/// The built-in sandbox: the X API simulator in this process, a test
/// account, and tokens issued for whatever client a flow names.
pub struct Sandbox {
    pub sim: x_sim::Simulator,
    issued: Mutex<HashMap<String, x_sim::TokenPair>>,
}

impl Sandbox {
    /// The simulator with an access tier's budgets and, for pay-per-use,
    /// `credits` micro-dollars (default [`x_sim::DEFAULT_CREDITS_MICROS`]).
    pub async fn start(tier: x_sim::Tier, credits: Option<i64>) -> anyhow::Result<Sandbox> {
        let sim = x_sim::Simulator::start().await?;
        sim.set_tier(tier);
        if let Some(credits) = credits {
            sim.set_credits(credits);
        }
        Ok(Sandbox {
            sim,
            issued: Default::default(),
        })
    }
}

impl ConnectionRedirect for Sandbox {
    /// Points a connection at the simulator, with tokens of its own.
    fn rewrite(&self, connection: &str, params: &mut Vec<(String, String)>) {
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let client_id = get("clientId")
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "sandbox-client".into());
        let secret = get("clientSecret").filter(|s| !s.is_empty());
        let pair = {
            let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            issued
                .entry(connection.to_string())
                .or_insert_with(|| {
                    self.sim.add_client(&client_id, secret.as_deref());
                    eprintln!(
                        "sandbox: connection `{connection}` uses the built-in X API simulator at {} (account @sandbox_dev)",
                        self.sim.url()
                    );
                    self.sim.issue_tokens(&client_id)
                })
                .clone()
        };
        params.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "apiUrl" | "clientId" | "accessToken" | "refreshToken"
            )
        });
        params.push(("apiUrl".into(), self.sim.url()));
        params.push(("clientId".into(), client_id));
        params.push(("accessToken".into(), pair.access_token));
        params.push(("refreshToken".into(), pair.refresh_token));
    }
}

//! Pay-per-use billing as X describes it (docs.x.com "Pricing", 2026):
//! credits bought ahead; writes charged per request, reads per resource
//! returned, a resource charged once per UTC day; requests blocked with a
//! 402 once the balance is gone, which may go slightly negative. Prices
//! from the same table the connector reports ([`x_pricing`]).
//!
//! Where X publishes nothing, the simulator assumes (and the docs list):
//! only a successful answer is charged; the balance is checked before a
//! request and charged after it; a post "contains a URL" when a word of it
//! starts with `http://` or `https://` (its length counter's rule); an
//! expanded resource (`includes`) is charged as a resource returned; the
//! 402's body is the problem seen in client code
//! (`.../2/problems/credits-depleted`, title `CreditsDepleted`).

use std::collections::HashSet;
use std::time::SystemTime;

use serde_json::{json, Value};
use x_pricing::{BillingUnit, Per, PriceTable};

use super::{unix, Reply};
use crate::Endpoint;

/// The balance and what was charged.
pub struct Credits {
    /// Micro-dollars left; may go slightly negative, as X's can.
    pub balance_micros: i64,
    pub table: PriceTable,
    /// Resources charged, by UTC day (days since the epoch).
    charged: HashSet<(u64, BillingUnit, String)>,
}

/// What the simulator charged, per unit (tests compare it with what the
/// connector reported).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charges {
    pub total_micros: u64,
    pub by_unit: std::collections::BTreeMap<String, (u64, u64)>,
    /// Requests refused with 402.
    pub refused: u64,
}

fn utc_day(now: SystemTime) -> u64 {
    unix(now) / 86_400
}

/// `Content: Create (with URL)` or not, by the simulator's own URL rule.
pub fn post_unit(text: &str) -> BillingUnit {
    if text.split_whitespace().any(super::post_rules::is_url) {
        BillingUnit::ContentCreateWithUrl
    } else {
        BillingUnit::ContentCreate
    }
}

impl Credits {
    pub fn new(balance_micros: i64) -> Credits {
        Credits {
            balance_micros,
            table: PriceTable::default_table(),
            charged: HashSet::new(),
        }
    }

    /// The 402 when the balance is gone, before the request is served.
    pub fn check(&self) -> Result<(), Reply> {
        if self.balance_micros > 0 {
            return Ok(());
        }
        Err(Reply::problem(
            402,
            json!({
                "title": "CreditsDepleted",
                "detail": "Your enrolled account does not have any credits to fulfill this request.",
                "type": "https://api.x.com/2/problems/credits-depleted",
                "status": 402
            }),
        ))
    }

    /// Charges a successful answer: `request_body` for writes (a post's
    /// text), the answer for reads.
    pub fn charge(
        &mut self,
        key: Endpoint,
        request_body: &[u8],
        answer: &Value,
        charges: &mut Charges,
    ) {
        let items: Vec<(BillingUnit, Option<String>)> = match key {
            Endpoint::CreateTweet => {
                let body: Value = serde_json::from_slice(request_body).unwrap_or(Value::Null);
                vec![(post_unit(body["text"].as_str().unwrap_or("")), None)]
            }
            Endpoint::DeleteTweet => vec![(BillingUnit::InteractionDelete, None)],
            Endpoint::GetMe => {
                let mut items = vec![(BillingUnit::UserRead, id_of(&answer["data"]))];
                items.extend(included_posts(answer));
                items
            }
            // An upload is charged once, when its media exists.
            Endpoint::Api(
                "initializeMediaUpload" | "appendMediaUpload" | "getMediaUploadStatus",
            ) => vec![],
            Endpoint::Api(op) => {
                let Some(route) = crate::routes::by_operation(op) else {
                    return;
                };
                if route.unit.per() == Per::Request {
                    vec![(route.unit, None)]
                } else {
                    let mut items: Vec<(BillingUnit, Option<String>)> = match &answer["data"] {
                        Value::Array(all) => all.iter().map(|d| (route.unit, id_of(d))).collect(),
                        Value::Null => vec![],
                        one => vec![(route.unit, id_of(one))],
                    };
                    items.extend(included_posts(answer));
                    items
                }
            }
            Endpoint::Token | Endpoint::Revoke | Endpoint::Authorize => vec![],
        };
        let day = utc_day(SystemTime::now());
        for (unit, resource) in items {
            if unit.per() == Per::Resource {
                let Some(id) = resource else { continue };
                if !self.charged.insert((day, unit, id)) {
                    continue; // Charged today already.
                }
            }
            let price = self.table.price(unit);
            self.balance_micros -= price as i64;
            charges.total_micros += price;
            let e = charges.by_unit.entry(unit.label().to_string()).or_default();
            e.0 += 1;
            e.1 += price;
        }
    }
}

/// The posts an answer expanded (`includes.tweets`, or the spec's `posts`),
/// each charged as a post read.
fn included_posts(answer: &Value) -> Vec<(BillingUnit, Option<String>)> {
    ["tweets", "posts"]
        .iter()
        .flat_map(|k| answer["includes"][k].as_array().into_iter().flatten())
        .map(|t| (BillingUnit::PostsRead, id_of(t)))
        .collect()
}

fn id_of(v: &Value) -> Option<String> {
    v["id"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_with_a_url_cost_more_and_reads_are_charged_once_a_day() {
        let mut c = Credits::new(1_000_000);
        let mut charges = Charges::default();
        let none = Value::Null;
        c.charge(
            Endpoint::CreateTweet,
            br#"{"text":"hello"}"#,
            &none,
            &mut charges,
        );
        c.charge(
            Endpoint::CreateTweet,
            br#"{"text":"see https://example.com"}"#,
            &none,
            &mut charges,
        );
        assert_eq!(charges.total_micros, 215_000);
        let me = json!({"data": {"id": "1"}, "includes": {"tweets": [{"id": "9"}]}});
        c.charge(Endpoint::GetMe, b"", &me, &mut charges);
        c.charge(Endpoint::GetMe, b"", &me, &mut charges);
        assert_eq!(charges.total_micros, 215_000 + 10_000 + 5_000);
        assert_eq!(c.balance_micros, 1_000_000 - 230_000);
        assert!(c.check().is_ok());
        c.balance_micros = 0;
        assert_eq!(c.check().unwrap_err().status, 402);
    }
}

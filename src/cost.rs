//! What a call costs under X's pay-per-use billing: the units it is billed
//! in (X's names), how many, and the amount at the price table shipped with
//! the release ([`x_pricing`]'s, shared with the runtime and the
//! simulator). The component carries that table as constants, not a JSON
//! parser for others: the integrator runtime reprices results with its
//! operator's table (`--prices`), by the same crate.
//!
//! Writes are billed per request, so a write's cost is known before it is
//! sent; reads per resource returned, so a read's is known from its answer.
//! The resources a read returned are listed: X charges a resource once per
//! UTC day, which only a ledger across calls can tell (the host's).

use std::sync::OnceLock;

use serde_json::Value;
pub use x_pricing::{BillingUnit, PriceTable};

use crate::wso2::Operation;

/// One unit a call is billed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostItem {
    pub unit: BillingUnit,
    /// Requests for writes, resources for reads.
    pub count: u32,
    pub usd_micros: u64,
    /// The ids of the resources a read returned (empty for writes).
    pub resources: Vec<String>,
}

/// What one call costs (WIT `call-cost`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCost {
    pub items: Vec<CostItem>,
    pub usd_micros: u64,
    /// The date the price table's rates took effect.
    pub prices_effective: String,
}

/// The shipped table, built once per instance.
pub fn prices() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(PriceTable::default_table)
}

impl CallCost {
    fn of(table: &PriceTable, items: Vec<(BillingUnit, u32, Vec<String>)>) -> CallCost {
        let items: Vec<CostItem> = items
            .into_iter()
            .filter(|(_, count, _)| *count > 0)
            .map(|(unit, count, resources)| CostItem {
                unit,
                count,
                usd_micros: table.cost(unit, count).usd_micros,
                resources,
            })
            .collect();
        CallCost {
            usd_micros: items.iter().map(|i| i.usd_micros).sum(),
            items,
            prices_effective: table.effective.clone(),
        }
    }

    /// One write request in `unit`.
    pub fn write(table: &PriceTable, unit: BillingUnit) -> CallCost {
        CallCost::of(table, vec![(unit, 1, Vec::new())])
    }

    /// At most `count` resources of `unit` (an estimate: none listed).
    pub fn at_most(table: &PriceTable, unit: BillingUnit, count: u32) -> CallCost {
        CallCost::of(table, vec![(unit, count, Vec::new())])
    }

    /// A post: `Content: Create`, or `Content: Create (with URL)` when its
    /// text holds a URL as X's counter finds them.
    pub fn post(table: &PriceTable, text: Option<&str>) -> CallCost {
        let unit = if text.is_some_and(crate::text::contains_url) {
            BillingUnit::ContentCreateWithUrl
        } else {
            BillingUnit::ContentCreate
        };
        CallCost::write(table, unit)
    }

    /// A user read: the users returned, and the posts expanded beside them
    /// (`includes.tweets`, e.g. a pinned post), each a resource.
    pub fn user_read(table: &PriceTable, users: Vec<String>, posts: Vec<String>) -> CallCost {
        CallCost::read(table, BillingUnit::UserRead, users, posts)
    }

    /// A read billed in `unit` per resource returned, plus the posts
    /// expanded beside them (one item when `unit` is itself posts, each
    /// post counted once).
    pub fn read(
        table: &PriceTable,
        unit: BillingUnit,
        mut resources: Vec<String>,
        posts: Vec<String>,
    ) -> CallCost {
        if unit == BillingUnit::PostsRead {
            for p in posts {
                if !resources.contains(&p) {
                    resources.push(p);
                }
            }
            return CallCost::of(table, vec![(unit, resources.len() as u32, resources)]);
        }
        CallCost::of(
            table,
            vec![
                (unit, resources.len() as u32, resources),
                (BillingUnit::PostsRead, posts.len() as u32, posts),
            ],
        )
    }
}

/// What an operation will cost before it is sent, for a host that holds a
/// budget: exact for writes (billed per request), the resources it asks
/// for at most for reads (a user, and a pinned post when expanded).
pub fn estimate(op: &Operation) -> CallCost {
    let t = prices();
    match op {
        Operation::Init(_) => CallCost::default(),
        Operation::CreateTweet(req) => CallCost::post(t, req.text.as_deref()),
        Operation::DeleteTweet(_) => CallCost::write(t, BillingUnit::InteractionDelete),
        Operation::Call(call) if call.spec.shape == crate::ops::Shape::Write => {
            CallCost::write(t, call.spec.unit)
        }
        Operation::Call(call) => CallCost::at_most(t, call.spec.unit, call.most_resources),
        Operation::GetMe(req) => {
            let pinned = req.expansions.iter().any(|e| e == "pinned_tweet_id");
            CallCost::of(
                t,
                vec![
                    (BillingUnit::UserRead, 1, Vec::new()),
                    (BillingUnit::PostsRead, u32::from(pinned), Vec::new()),
                ],
            )
        }
    }
}

/// The ids of the posts an answer's `includes` (JSON) expanded.
pub fn included_posts(includes: Option<&str>) -> Vec<String> {
    let v = includes.and_then(|i| serde_json::from_str::<Value>(i).ok());
    included_posts_of(v.as_ref())
}

/// The ids of the posts in an `includes` object (`tweets`, or the spec's
/// `posts`).
pub fn included_posts_of(includes: Option<&Value>) -> Vec<String> {
    let Some(v) = includes else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::new();
    for key in ["tweets", "posts"] {
        for t in v[key].as_array().into_iter().flatten() {
            if let Some(id) = t.get("id").and_then(Value::as_str) {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_post_with_a_url_costs_x_s_url_price() {
        let t = prices();
        let plain = CallCost::post(t, Some("hello"));
        let linked = CallCost::post(t, Some("read https://example.com/a"));
        assert_eq!(plain.usd_micros, 15_000);
        assert_eq!(plain.items[0].unit, BillingUnit::ContentCreate);
        assert_eq!(linked.usd_micros, 200_000);
        assert_eq!(linked.items[0].unit, BillingUnit::ContentCreateWithUrl);
        assert_eq!(plain.prices_effective, "2026-02-06");
        assert_eq!(CallCost::post(t, None).usd_micros, 15_000);
    }

    #[test]
    fn an_estimate_is_what_the_call_will_be_billed_at_most() {
        let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let est = |op: &str, p: &[(&str, &str)]| {
            estimate(&crate::wso2::parse(op, &params(p)).unwrap()).usd_micros
        };
        assert_eq!(est("createTweet", &[("text", "hi")]), 15_000);
        assert_eq!(
            est("createTweet", &[("text", "see https://x.com/a")]),
            200_000
        );
        assert_eq!(est("deleteTweet", &[("id", "1")]), 10_000);
        assert_eq!(est("getMe", &[]), 10_000);
        assert_eq!(est("getMe", &[("expansions", "pinned_tweet_id")]), 15_000);
        assert_eq!(est("init", &[("clientId", "c")]), 0);
    }

    #[test]
    fn a_read_lists_the_resources_it_returned() {
        let t = prices();
        let includes = json!({"tweets": [{"id": "9"}, {"id": "10"}]}).to_string();
        let posts = included_posts(Some(&includes));
        let c = CallCost::user_read(t, vec!["7".into()], posts);
        assert_eq!(c.usd_micros, 10_000 + 2 * 5_000);
        assert_eq!(c.items[0].resources, ["7"]);
        assert_eq!(c.items[1].count, 2);
        let bare = CallCost::user_read(t, vec!["7".into()], included_posts(None));
        assert_eq!(bare.items.len(), 1);
    }
}

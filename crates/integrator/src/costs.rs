//! What calls cost, on the host: the component prices each result at the
//! table shipped with the release; an operator's table (`--prices`, read
//! once at start-up by [`x_pricing`], the crate the component and the
//! simulator price with) reprices it here, so one runtime reports one set
//! of prices whatever the component was built with.

use std::path::Path;

use serde_json::{json, Value};
use x_pricing::{format_usd, BillingUnit, PriceTable};

use crate::bindings::wso2::twitter::types::{BillingUnit as WitUnit, CallCost};

/// The WIT unit as X names it.
pub fn unit(u: WitUnit) -> BillingUnit {
    match u {
        WitUnit::PostsRead => BillingUnit::PostsRead,
        WitUnit::UserRead => BillingUnit::UserRead,
        WitUnit::DmEventRead => BillingUnit::DmEventRead,
        WitUnit::FollowsRead => BillingUnit::FollowsRead,
        WitUnit::ListRead => BillingUnit::ListRead,
        WitUnit::MediaRead => BillingUnit::MediaRead,
        WitUnit::ContentCreate => BillingUnit::ContentCreate,
        WitUnit::ContentCreateWithUrl => BillingUnit::ContentCreateWithUrl,
        WitUnit::DmInteractionCreate => BillingUnit::DmInteractionCreate,
        WitUnit::UserInteractionCreate => BillingUnit::UserInteractionCreate,
        WitUnit::InteractionDelete => BillingUnit::InteractionDelete,
        WitUnit::ContentManage => BillingUnit::ContentManage,
    }
}

/// The operator's price table from `path`, or what is wrong with it
/// (naming the file and the unit or field).
pub fn load_table(path: &Path) -> anyhow::Result<PriceTable> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("price table {}: {e}", path.display()))?;
    PriceTable::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `cost` at `table`'s prices.
pub fn reprice(cost: &mut CallCost, table: &PriceTable) {
    for item in &mut cost.items {
        item.usd_micros = table.cost(unit(item.unit), item.count).usd_micros;
    }
    cost.usd_micros = cost.items.iter().map(|i| i.usd_micros).sum();
    cost.prices_effective = table.effective.clone();
}

/// A result's `attributes.cost` in flows: USD as text (exact), X's unit
/// names.
pub fn cost_json(cost: &CallCost) -> Value {
    let items: Vec<Value> = cost
        .items
        .iter()
        .map(|i| {
            json!({
                "unit": unit(i.unit).label(),
                "count": i.count,
                "usd": format_usd(i.usd_micros),
                "resources": i.resources,
            })
        })
        .collect();
    json!({
        "usd": format_usd(cost.usd_micros),
        "usdMicros": cost.usd_micros,
        "pricesEffective": cost.prices_effective,
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::wso2::twitter::types::CostItem;

    #[test]
    fn an_operator_s_table_reprices_a_result() {
        let mut cost = CallCost {
            items: vec![CostItem {
                unit: WitUnit::ContentCreateWithUrl,
                count: 1,
                usd_micros: 200_000,
                resources: vec![],
            }],
            usd_micros: 200_000,
            prices_effective: "2026-02-06".into(),
        };
        let json = x_pricing::DEFAULT_TABLE_JSON
            .replace("\"0.200\"", "\"0.25\"")
            .replace("2026-02-06", "2026-12-01");
        reprice(&mut cost, &PriceTable::parse(&json).unwrap());
        assert_eq!(cost.usd_micros, 250_000);
        let j = cost_json(&cost);
        assert_eq!(j["usd"], "0.25");
        assert_eq!(j["pricesEffective"], "2026-12-01");
        assert_eq!(j["items"][0]["unit"], "Content: Create (with URL)");
    }
}

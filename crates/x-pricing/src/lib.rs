//! X API pay-per-use pricing (since February 2026) as data: the billing
//! units X names, the default price table shipped with the release (dated,
//! with its source: `prices/x-api-payg.json`), an operator's table read
//! from a file, and what a call costs. One crate, so the connector, the
//! runtime (budgets) and the simulator (credits) price a call alike.
//!
//! Amounts are integer micro-dollars: prices are quoted to the tenth of a
//! cent and budgets add many of them, which floats would round.

use std::fmt;

/// The default table: X's published rates on the date it names.
pub const DEFAULT_TABLE_JSON: &str = include_str!("../prices/x-api-payg.json");

// DEFAULT_EFFECTIVE, DEFAULT_SOURCE, DEFAULT_PRICES: the file above as
// constants (build.rs).
include!(concat!(env!("OUT_DIR"), "/default_table.rs"));

/// One million micro-dollars.
pub const MICROS_PER_USD: u64 = 1_000_000;

/// What X charges for, with X's names (the Developer Console's and the
/// pricing page's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BillingUnit {
    PostsRead,
    UserRead,
    DmEventRead,
    FollowsRead,
    ListRead,
    MediaRead,
    ContentCreate,
    ContentCreateWithUrl,
    DmInteractionCreate,
    UserInteractionCreate,
    InteractionDelete,
    ContentManage,
}

/// How a unit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Reads: each resource returned, once per UTC day.
    Resource,
    /// Writes: each request.
    Request,
}

impl BillingUnit {
    pub const ALL: [BillingUnit; 12] = [
        BillingUnit::PostsRead,
        BillingUnit::UserRead,
        BillingUnit::DmEventRead,
        BillingUnit::FollowsRead,
        BillingUnit::ListRead,
        BillingUnit::MediaRead,
        BillingUnit::ContentCreate,
        BillingUnit::ContentCreateWithUrl,
        BillingUnit::DmInteractionCreate,
        BillingUnit::UserInteractionCreate,
        BillingUnit::InteractionDelete,
        BillingUnit::ContentManage,
    ];

    /// X's name for it.
    pub fn label(self) -> &'static str {
        match self {
            BillingUnit::PostsRead => "Posts: Read",
            BillingUnit::UserRead => "User: Read",
            BillingUnit::DmEventRead => "DM Event: Read",
            BillingUnit::FollowsRead => "Following/Followers: Read",
            BillingUnit::ListRead => "List: Read",
            BillingUnit::MediaRead => "Media: Read",
            BillingUnit::ContentCreate => "Content: Create",
            BillingUnit::ContentCreateWithUrl => "Content: Create (with URL)",
            BillingUnit::DmInteractionCreate => "DM Interaction: Create",
            BillingUnit::UserInteractionCreate => "User Interaction: Create",
            BillingUnit::InteractionDelete => "Interaction: Delete",
            BillingUnit::ContentManage => "Content: Manage",
        }
    }

    pub fn from_label(label: &str) -> Option<BillingUnit> {
        BillingUnit::ALL.into_iter().find(|u| u.label() == label)
    }

    pub fn per(self) -> Per {
        match self {
            BillingUnit::PostsRead
            | BillingUnit::UserRead
            | BillingUnit::DmEventRead
            | BillingUnit::FollowsRead
            | BillingUnit::ListRead
            | BillingUnit::MediaRead => Per::Resource,
            _ => Per::Request,
        }
    }
}

impl fmt::Display for BillingUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A price table: a price for every unit, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    /// The date the rates took effect (`YYYY-MM-DD`).
    pub effective: String,
    /// Where the rates come from.
    pub source: String,
    /// Micro-dollars, by `BillingUnit as usize`.
    prices: [u64; BillingUnit::ALL.len()],
}

#[cfg(feature = "parse")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    effective: String,
    #[serde(default)]
    checked: Option<String>,
    source: String,
    currency: String,
    /// Values are read as `Value`, not an untagged enum of text or
    /// number: serde's untagged enums cost the connector component tens of
    /// KiB of code, `Value` it has anyway.
    units: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A price table that cannot be used, and why (names the unit or field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError(pub String);

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "price table: {}", self.0)
    }
}

impl std::error::Error for TableError {}

impl PriceTable {
    /// The table shipped with the release.
    pub fn default_table() -> PriceTable {
        let mut prices = [0; BillingUnit::ALL.len()];
        for (label, usd) in DEFAULT_PRICES {
            // Both checked by the tests, against the file and X's units.
            let unit = BillingUnit::from_label(label).expect("a unit X names");
            prices[unit as usize] = parse_usd(usd).expect("an amount in USD");
        }
        PriceTable {
            effective: DEFAULT_EFFECTIVE.to_string(),
            source: DEFAULT_SOURCE.to_string(),
            prices,
        }
    }

    /// A table in the shipped file's format: every unit X names, each
    /// once, an amount in USD (`"0.015"` or `0.015`, at most six decimals).
    #[cfg(feature = "parse")]
    pub fn parse(json: &str) -> Result<PriceTable, TableError> {
        let file: TableFile =
            serde_json::from_str(json).map_err(|e| TableError(format!("not valid: {e}")))?;
        let _ = file.checked;
        if file.currency != "USD" {
            return Err(TableError(format!(
                "`currency` is `{}`: X bills in USD",
                file.currency
            )));
        }
        if !is_date(&file.effective) {
            return Err(TableError(format!(
                "`effective` is `{}`, not a date (YYYY-MM-DD)",
                file.effective
            )));
        }
        let mut prices = [None; BillingUnit::ALL.len()];
        for (label, amount) in &file.units {
            let unit = BillingUnit::from_label(label).ok_or_else(|| {
                TableError(format!(
                    "unknown unit `{label}` (X's units: {})",
                    BillingUnit::ALL.map(BillingUnit::label).join(", ")
                ))
            })?;
            let text = match amount {
                serde_json::Value::String(t) => t.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            let micros = parse_usd(&text).ok_or_else(|| {
                TableError(format!(
                    "`{label}`: `{text}` is not an amount in USD (like 0.015)"
                ))
            })?;
            prices[unit as usize] = Some(micros);
        }
        let missing: Vec<&str> = BillingUnit::ALL
            .into_iter()
            .filter(|u| prices[*u as usize].is_none())
            .map(BillingUnit::label)
            .collect();
        if !missing.is_empty() {
            return Err(TableError(format!("no price for {}", missing.join(", "))));
        }
        Ok(PriceTable {
            effective: file.effective,
            source: file.source,
            prices: prices.map(|p| p.unwrap_or_default()),
        })
    }

    /// The price of one unit (one request, or one resource), micro-USD.
    pub fn price(&self, unit: BillingUnit) -> u64 {
        self.prices[unit as usize]
    }

    /// What `count` of `unit` costs.
    pub fn cost(&self, unit: BillingUnit, count: u32) -> Cost {
        Cost {
            unit,
            count,
            usd_micros: self.price(unit).saturating_mul(u64::from(count)),
        }
    }
}

/// What a call costs in one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub unit: BillingUnit,
    /// Requests for writes, resources for reads.
    pub count: u32,
    pub usd_micros: u64,
}

#[cfg(feature = "parse")]
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `"0.015"` as micro-dollars; `None` unless digits, an optional point and
/// at most six decimals.
pub fn parse_usd(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 6
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = format!("{frac:0<6}").parse().ok()?;
    whole.checked_mul(MICROS_PER_USD)?.checked_add(frac)
}

/// Micro-dollars as USD text, trailing zeros dropped past the cents:
/// `15_000` is `"0.015"`, `200_000` is `"0.20"`.
pub fn format_usd(micros: u64) -> String {
    let whole = micros / MICROS_PER_USD;
    let frac = format!("{:06}", micros % MICROS_PER_USD);
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 2 {
        format!("{frac:0<2}")
    } else {
        frac.to_string()
    };
    format!("{whole}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_has_x_s_rates() {
        let t = PriceTable::default_table();
        assert_eq!(t.effective, "2026-02-06");
        assert_eq!(t.price(BillingUnit::ContentCreate), 15_000);
        assert_eq!(t.price(BillingUnit::ContentCreateWithUrl), 200_000);
        // A post with a URL costs 13 and a third times one without.
        assert_eq!(t.cost(BillingUnit::UserRead, 3).usd_micros, 30_000);
        assert_eq!(BillingUnit::PostsRead.per(), Per::Resource);
        assert_eq!(BillingUnit::InteractionDelete.per(), Per::Request);
        for u in BillingUnit::ALL {
            assert_eq!(BillingUnit::from_label(u.label()), Some(u));
        }
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_usd("0.015"), Some(15_000));
        assert_eq!(parse_usd("2"), Some(2_000_000));
        assert_eq!(parse_usd("0.0000001"), None);
        assert_eq!(parse_usd("-1"), None);
        assert_eq!(parse_usd(".5"), None);
        assert_eq!(parse_usd("1e3"), None);
        assert_eq!(format_usd(15_000), "0.015");
        assert_eq!(format_usd(200_000), "0.20");
        assert_eq!(format_usd(0), "0.00");
        assert_eq!(format_usd(12_345_678), "12.345678");
    }

    #[test]
    fn the_shipped_constants_are_the_shipped_file() {
        assert_eq!(
            PriceTable::parse(DEFAULT_TABLE_JSON),
            Ok(PriceTable::default_table())
        );
        assert_eq!(DEFAULT_PRICES.len(), BillingUnit::ALL.len());
        for (i, u) in BillingUnit::ALL.into_iter().enumerate() {
            assert_eq!(u as usize, i);
        }
    }

    #[test]
    fn a_broken_table_says_what_is_wrong() {
        let with = |from: &str, to: &str| {
            PriceTable::parse(&DEFAULT_TABLE_JSON.replace(from, to))
                .unwrap_err()
                .to_string()
        };
        assert!(with("\"Posts: Read\"", "\"Post: Read\"").contains("unknown unit `Post: Read`"));
        assert!(with("\"0.200\"", "\"twenty cents\"").contains("`Content: Create (with URL)`"));
        assert!(with("\"USD\"", "\"EUR\"").contains("currency"));
        assert!(with("\"2026-02-06\"", "\"Feb 2026\"").contains("effective"));
        let missing = DEFAULT_TABLE_JSON.replace("\"Media: Read\": \"0.005\",", "");
        let e = PriceTable::parse(&missing).unwrap_err().to_string();
        assert!(e.contains("no price for Media: Read"), "{e}");
        assert!(PriceTable::parse("{")
            .unwrap_err()
            .to_string()
            .contains("not valid"));
        // Numbers are read as written, not as floats.
        let numbers = DEFAULT_TABLE_JSON.replace("\"0.015\"", "0.015");
        let t = PriceTable::parse(&numbers).unwrap();
        assert_eq!(t.price(BillingUnit::ContentCreate), 15_000);
    }
}

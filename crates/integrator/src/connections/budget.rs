//! A connection's spending budgets (`maxSpendPerDay`, `maxSpendPerMonth`
//! in USD, UTC days and months as X bills): init parameters the runtime
//! takes, enforced through the spend ledger (`spend_ledger`).

use spend_ledger::Limits;

use super::InvalidRuntimeParameter;

/// The init parameters the runtime takes for budgets.
pub const BUDGET_PARAMETERS: &[&str] = &["maxSpendPerDay", "maxSpendPerMonth"];

/// The budgets in `values` (budget parameters only); none: no limit.
pub fn limits_from_params(values: &[(String, String)]) -> Result<Limits, InvalidRuntimeParameter> {
    let mut limits = Limits::default();
    for (name, value) in values {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let micros = x_pricing::parse_usd(value).ok_or_else(|| InvalidRuntimeParameter {
            parameter: name.clone(),
            rule: format!(
                "must be an amount in USD like 5 or 0.50 (at most six decimals), got `{value}`"
            ),
        })?;
        match name.as_str() {
            "maxSpendPerDay" => limits.per_day = Some(micros),
            "maxSpendPerMonth" => limits.per_month = Some(micros),
            _ => {}
        }
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_usd_amounts() {
        let v = |k: &str, x: &str| vec![(k.to_string(), x.to_string())];
        let l = limits_from_params(&v("maxSpendPerDay", "0.05")).unwrap();
        assert_eq!((l.per_day, l.per_month), (Some(50_000), None));
        let e = limits_from_params(&v("maxSpendPerMonth", "-3")).unwrap_err();
        assert_eq!(e.parameter, "maxSpendPerMonth");
        assert!(e.rule.contains("USD"));
        assert!(limits_from_params(&v("maxSpendPerDay", " "))
            .unwrap()
            .none());
    }
}

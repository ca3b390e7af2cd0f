//! UTC days and months, as X bills: the period a moment falls in and when
//! it ends.
//!
//! Hand-written, not a date crate: the one conversion needed (days since
//! the epoch to a civil date) is Howard Hinnant's `civil_from_days`, a dozen
//! lines with no time zones or formats to get wrong.

/// A UTC day: days since 1970-01-01.
pub type Day = i64;

const DAY_SECS: i64 = 86_400;

/// The UTC day of Unix second `t`.
pub fn day_of(t: i64) -> Day {
    t.div_euclid(DAY_SECS)
}

/// `(year, month)` of a day.
pub fn civil(day: Day) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of [`civil`] (`days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Day {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-02`.
pub fn day_name(day: Day) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-12`.
pub fn month_name(day: Day) -> String {
    let (y, m, _) = civil(day);
    format!("{y:04}-{m:02}")
}

/// A stored total's period name: `d2026-12-02`.
pub fn day_key(day: Day) -> String {
    format!("d{}", day_name(day))
}

/// A stored total's period name: `m2026-12`.
pub fn month_key(day: Day) -> String {
    format!("m{}", month_name(day))
}

/// Unix second the day after `day` starts.
pub fn day_ends(day: Day) -> i64 {
    (day + 1) * DAY_SECS
}

/// Unix second the month after `day`'s starts.
pub fn month_ends(day: Day) -> i64 {
    let (y, m, _) = civil(day);
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * DAY_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months() {
        // 2026-12-02T06:30:00Z
        let t = 1_796_193_000;
        let d = day_of(t);
        assert_eq!(day_name(d), "2026-12-02");
        assert_eq!(month_name(d), "2026-12");
        assert_eq!(day_ends(d) - t, 17 * 3600 + 30 * 60);
        assert_eq!(day_name(day_of(month_ends(d))), "2027-01-01");
        assert_eq!(
            day_name(day_of(month_ends(days_from_civil(2028, 2, 10)))),
            "2028-03-01"
        );
        for day in [-1, 0, 59, 60, 11_016, 20_000, 30_000] {
            let (y, m, dd) = civil(day);
            assert_eq!(days_from_civil(y, m, dd), day);
        }
    }
}

//! Calendar dates and instants, without a clock: callers pass "now" in.
//!
//! **Invariant:** no function here reads the clock; an unreadable date or time is `None`, never a default.

use std::fmt;

const MS_PER_DAY: i64 = 86_400_000;

/// A calendar date in UTC, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

/// An instant, stored as milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Date {
    /// Accepts `YYYY-MM-DD`, and the ISO 8601 date-time forms clients send (`2026-06-01T00:00:00Z`),
    /// of which only the date counts, as in GitLab.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        let date = s.get(..10)?;
        let rest = s.get(10..)?;
        if !(rest.is_empty() || rest.starts_with('T') || rest.starts_with(' ')) {
            return None;
        }
        let bytes = date.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
            return None;
        }
        let year: i64 = digits(date.get(0..4)?)?;
        let month: i64 = digits(date.get(5..7)?)?;
        let day: i64 = digits(date.get(8..10)?)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || year < 1970 {
            return None;
        }
        Some(Date(days_from_civil(year, month, day)))
    }

    /// The date this many days after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        Date(days)
    }

    /// Days since 1970-01-01 (the stored form).
    pub fn days(self) -> i64 {
        self.0
    }

    /// The date `n` days later (earlier for a negative `n`).
    pub fn add_days(self, n: i64) -> Date {
        Date(self.0.saturating_add(n))
    }

    /// The first instant of this date (00:00 UTC), when a token expiring on it stops working.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0.saturating_mul(MS_PER_DAY))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Timestamp {
    /// The instant this many milliseconds after the epoch.
    pub fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch (the stored form).
    pub fn millis(self) -> i64 {
        self.0
    }

    /// The UTC date of this instant.
    pub fn date(self) -> Date {
        Date(self.0.div_euclid(MS_PER_DAY))
    }

    /// The instant `ms` milliseconds later (earlier for a negative `ms`).
    pub fn add_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Accepts `YYYY-MM-DD` (midnight UTC) and `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        let date = Date::parse(s.get(..10)?)?;
        let rest = s.get(10..)?;
        if rest.is_empty() {
            return Some(date.start());
        }
        let rest = rest.strip_prefix('T')?.strip_suffix('Z').or_else(|| rest.get(1..)?.strip_suffix("+00:00"))?;
        let hms = rest.get(..8)?;
        let h: i64 = digits(hms.get(0..2)?)?;
        let m: i64 = digits(hms.get(3..5)?)?;
        let sec: i64 = digits(hms.get(6..8)?)?;
        if hms.get(2..3) != Some(":") || hms.get(5..6) != Some(":") || h > 23 || m > 59 || sec > 60 {
            return None;
        }
        let frac = rest.get(8..)?;
        let ms = match frac.strip_prefix('.') {
            None if frac.is_empty() => 0,
            None => return None,
            Some(f) if !f.is_empty() && f.len() <= 9 => {
                let three: String = f.chars().chain("000".chars()).take(3).collect();
                digits(&three)?
            }
            Some(_) => return None,
        };
        Some(Timestamp(date.start().0 + ((h * 60 + m) * 60 + sec) * 1000 + ms))
    }
}

impl fmt::Display for Timestamp {
    /// GitLab's rendering: `2026-01-31T12:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let day_ms = self.0.rem_euclid(MS_PER_DAY);
        let (h, rem) = (day_ms / 3_600_000, day_ms % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, ms) = (rem / 1000, rem % 1000);
        write!(f, "{}T{h:02}:{m:02}:{s:02}.{ms:03}Z", self.date())
    }
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil and civil_from_days.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_epoch_is_day_zero() {
        assert_eq!(Date::parse("1970-01-01"), Some(Date(0)));
        assert_eq!(Date(0).to_string(), "1970-01-01");
    }

    #[test]
    fn impossible_dates_are_refused() {
        for s in ["2026-02-30", "2026-13-01", "2026-1-01", "20260101", "2026-01-01x", "", "2025-02-29"] {
            assert_eq!(Date::parse(s), None, "{s}");
        }
        assert!(Date::parse("2024-02-29").is_some());
    }

    #[test]
    fn a_date_time_counts_as_its_date() {
        assert_eq!(Date::parse("2026-06-01T00:00:00.000Z"), Date::parse("2026-06-01"));
    }

    #[test]
    fn timestamps_render_as_gitlab_does() {
        let t = Timestamp::parse("2026-11-22T10:05:03.250Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-22T10:05:03.250Z");
        assert_eq!(t.date().to_string(), "2026-11-22");
    }

    proptest! {
        #[test]
        fn every_date_round_trips_through_its_text(days in 0i64..200_000) {
            let date = Date(days);
            prop_assert_eq!(Date::parse(&date.to_string()), Some(date));
        }

        #[test]
        fn every_instant_round_trips_through_its_text(ms in 0i64..10_000_000_000_000) {
            let t = Timestamp(ms);
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }
    }
}

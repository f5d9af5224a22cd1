//! When the nightly run happens: a local time of day in a time zone, resolved to UTC instants.

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The nightly schedule: a wall-clock time of day in a time zone.
///
/// The default is `00:00` in `America/New_York` ("12am EST" as people use it: midnight US
/// Eastern, EST in winter and EDT in summer). See the [crate documentation](crate) for the
/// choice between `America/New_York` and the fixed-offset `EST`.
///
/// In configuration files (serde) it reads and writes as
/// `{ time = "00:00", timezone = "America/New_York" }`; both keys are optional and default as
/// above, unknown keys are rejected so a typo cannot silently fall back to the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Schedule {
    /// The local time of day of the run (default `00:00`).
    pub time: NaiveTime,
    /// The time zone the time is read in (default `America/New_York`).
    pub timezone: Tz,
}

/// One scheduled run: the date it belongs to and the instant it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Run {
    /// The calendar date of the run in the schedule's zone (the date in the file names).
    pub date: NaiveDate,
    /// When it happens.
    pub at: DateTime<Utc>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            time: NaiveTime::MIN,
            timezone: Tz::America__New_York,
        }
    }
}

/// Parses a time zone name from the IANA database (`"America/New_York"`, `"EST"`, `"UTC"`, ...).
///
/// Names are case sensitive, as in the database; a name that matches only when case is ignored
/// is reported with the correct spelling as a suggestion.
pub fn parse_timezone(name: &str) -> Result<Tz, Error> {
    let trimmed = name.trim();
    trimmed.parse::<Tz>().map_err(|_| Error::UnknownTimezone {
        name: name.to_owned(),
        suggestion: chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(trimmed))
            .map(|tz| tz.name().to_owned()),
    })
}

/// Parses a time of day written `HH:MM` or `HH:MM:SS` (24-hour clock).
pub fn parse_time(value: &str) -> Result<NaiveTime, Error> {
    let trimmed = value.trim();
    NaiveTime::parse_from_str(trimmed, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(trimmed, "%H:%M"))
        .ok()
        .filter(|_| trimmed.len() == 5 || trimmed.len() == 8)
        .ok_or_else(|| Error::InvalidTime {
            value: value.to_owned(),
        })
}

/// Formats a time of day as `HH:MM`, or `HH:MM:SS` when it has seconds.
fn format_time(time: NaiveTime) -> String {
    if time.second() == 0 {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

impl Schedule {
    /// A schedule at `time` in `timezone`.
    pub fn new(time: NaiveTime, timezone: Tz) -> Self {
        Schedule { time, timezone }
    }

    /// A schedule from its configuration text: `time` as `"HH:MM"`, `timezone` as an IANA name.
    pub fn parse(time: &str, timezone: &str) -> Result<Self, Error> {
        Ok(Schedule {
            time: parse_time(time)?,
            timezone: parse_timezone(timezone)?,
        })
    }

    /// The instant of the run scheduled for `date`.
    ///
    /// When the time does not exist on that date (skipped by a DST change, e.g. 02:30 on
    /// 2026-03-08 in New York), the run happens at the first instant after the gap (03:00 EDT).
    /// When it exists twice (the repeated hour in autumn), the run happens at the first
    /// occurrence. Returns `None` only at the ends of the representable range (year ±262,000).
    pub fn run_at(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let local = date.and_time(self.time);
        match self.timezone.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
            LocalResult::None => self.first_instant_after_gap(local),
        }
    }

    /// The local wall-clock reading of a UTC instant (as a naive date-time).
    fn local_reading(&self, instant: NaiveDateTime) -> NaiveDateTime {
        let offset = self.timezone.offset_from_utc_datetime(&instant).fix();
        instant + TimeDelta::seconds(i64::from(offset.local_minus_utc()))
    }

    /// The first instant whose local reading is later than `local`, a local time that does not
    /// exist (it falls in a gap).
    fn first_instant_after_gap(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        // Walk forward minute by minute to the first local time that exists: real gaps last
        // minutes to hours (at most a day, Samoa 2011), so this is bounded and cheap.
        let mut later = local;
        let mut found = None;
        for _ in 0..(48 * 60) {
            later = later.checked_add_signed(TimeDelta::minutes(1))?;
            if let Some(t) = self.timezone.from_local_datetime(&later).earliest() {
                found = Some(t.naive_utc());
                break;
            }
        }
        let upper = found?;
        // The transition lies within the last minute before `upper`: binary-search the first
        // second whose local reading is past `local`.
        let (mut lo, mut hi) = (0_i64, 60_i64); // upper - hi ... upper - lo
        // Invariant: reading(upper - lo) > local; reading(upper - hi) <= local (or not checked).
        while hi - lo > 1 {
            let mid = i64::midpoint(lo, hi);
            let candidate = upper - TimeDelta::seconds(mid);
            if self.local_reading(candidate) > local {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((upper - TimeDelta::seconds(lo)).and_utc())
    }

    /// The calendar date of `instant` in the schedule's zone.
    ///
    /// Applied to a run's instant it is the date of that run (the date in the file names).
    pub fn run_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.timezone).date_naive()
    }

    /// The first run strictly after `instant`.
    ///
    /// Saturates at [`DateTime::<Utc>::MAX_UTC`] at the end of the representable range.
    pub fn next_run_after(&self, instant: DateTime<Utc>) -> DateTime<Utc> {
        self.next_run(instant)
            .map_or(DateTime::<Utc>::MAX_UTC, |run| run.at)
    }

    /// The first run strictly after `instant`, with the date it is scheduled for.
    pub fn next_run(&self, instant: DateTime<Utc>) -> Option<Run> {
        let today = self.run_date(instant);
        let first = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        first
            .iter_days()
            .take(5)
            .filter_map(|date| self.run_at(date).map(|at| Run { date, at }))
            .filter(|run| run.at > instant)
            .min_by_key(|run| run.at)
    }

    /// The latest run at or before `instant`, with the date it is scheduled for.
    pub fn latest_run(&self, instant: DateTime<Utc>) -> Option<Run> {
        let today = self.run_date(instant);
        let last = today.checked_add_days(Days::new(1)).unwrap_or(today);
        last.iter_days()
            .rev()
            .take(5)
            .filter_map(|date| self.run_at(date).map(|at| Run { date, at }))
            .filter(|run| run.at <= instant)
            .max_by_key(|run| run.at)
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", format_time(self.time), self.timezone.name())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawSchedule {
            time: Some(format_time(self.time)),
            timezone: Some(self.timezone.name().to_owned()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawSchedule::deserialize(deserializer)?;
        let default = Schedule::default();
        let time = match raw.time {
            Some(text) => parse_time(&text).map_err(serde::de::Error::custom)?,
            None => default.time,
        };
        let timezone = match raw.timezone {
            Some(text) => parse_timezone(&text).map_err(serde::de::Error::custom)?,
            None => default.timezone,
        };
        Ok(Schedule { time, timezone })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn skipped_time_runs_at_the_end_of_the_gap() {
        let s = Schedule::parse("02:30", "America/New_York").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(s.run_at(d), Some(utc("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn repeated_time_runs_at_the_first_occurrence() {
        let s = Schedule::parse("01:30", "America/New_York").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(s.run_at(d), Some(utc("2026-11-01T05:30:00Z")));
        assert_eq!(
            s.next_run_after(utc("2026-11-01T05:30:00Z")),
            utc("2026-11-02T06:30:00Z")
        );
    }

    #[test]
    fn time_parsing() {
        assert_eq!(parse_time("00:00").unwrap(), NaiveTime::MIN);
        assert_eq!(
            parse_time("23:59:30").unwrap(),
            NaiveTime::from_hms_opt(23, 59, 30).unwrap()
        );
        for bad in ["24:00", "0:00", "12", "12:60", "noon", "", "12:00:00.5"] {
            assert!(
                matches!(parse_time(bad), Err(Error::InvalidTime { .. })),
                "{bad}"
            );
        }
    }
}

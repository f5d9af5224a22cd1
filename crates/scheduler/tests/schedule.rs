//! `Schedule`: table tests checked against Python's `zoneinfo`, hand-checked constants,
//! property tests and configuration parsing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use liveramp_scheduler::{Error, Schedule};
use proptest::prelude::*;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn sched(time: &str, zone: &str) -> Schedule {
    Schedule::parse(time, zone).unwrap()
}

/// Hand-checked constants. How: US Eastern is UTC-5 (EST) until 2026-03-08 02:00 local, when
/// clocks jump to 03:00 EDT (UTC-4); EDT lasts until 2026-11-01 02:00 local, when clocks fall
/// back to 01:00 EST. A local time L in EST is L+5h UTC, in EDT L+4h UTC. `EST` is UTC-5 always.
#[test]
fn run_at_hand_checked() {
    let table = [
        (
            "00:00",
            "America/New_York",
            "2026-03-07",
            "2026-03-07T05:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2026-03-08",
            "2026-03-08T05:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2026-03-09",
            "2026-03-09T04:00:00Z",
        ),
        // 02:00-02:59 do not exist on 2026-03-08: the run is at the end of the gap, 03:00 EDT.
        (
            "02:00",
            "America/New_York",
            "2026-03-08",
            "2026-03-08T07:00:00Z",
        ),
        (
            "02:30",
            "America/New_York",
            "2026-03-08",
            "2026-03-08T07:00:00Z",
        ),
        (
            "03:00",
            "America/New_York",
            "2026-03-08",
            "2026-03-08T07:00:00Z",
        ),
        (
            "02:30",
            "America/New_York",
            "2026-03-09",
            "2026-03-09T06:30:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2026-10-31",
            "2026-10-31T04:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2026-11-01",
            "2026-11-01T04:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2026-11-02",
            "2026-11-02T05:00:00Z",
        ),
        // 01:00-01:59 happen twice on 2026-11-01: the run is at the first (EDT) occurrence.
        (
            "01:00",
            "America/New_York",
            "2026-11-01",
            "2026-11-01T05:00:00Z",
        ),
        (
            "01:30",
            "America/New_York",
            "2026-11-01",
            "2026-11-01T05:30:00Z",
        ),
        (
            "02:00",
            "America/New_York",
            "2026-11-01",
            "2026-11-01T07:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2026-12-31",
            "2026-12-31T05:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2027-01-01",
            "2027-01-01T05:00:00Z",
        ),
        (
            "23:59",
            "America/New_York",
            "2026-12-31",
            "2027-01-01T04:59:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2028-02-29",
            "2028-02-29T05:00:00Z",
        ),
        (
            "00:00",
            "America/New_York",
            "2028-03-01",
            "2028-03-01T05:00:00Z",
        ),
        ("00:00", "EST", "2026-01-15", "2026-01-15T05:00:00Z"),
        ("00:00", "EST", "2026-03-09", "2026-03-09T05:00:00Z"),
        ("00:00", "EST", "2026-07-15", "2026-07-15T05:00:00Z"),
        ("02:30", "EST", "2026-03-08", "2026-03-08T07:30:00Z"),
        ("01:30", "EST", "2026-11-01", "2026-11-01T06:30:00Z"),
    ];
    for (time, zone, day, expected) in table {
        assert_eq!(
            sched(time, zone).run_at(date(day)),
            Some(utc(expected)),
            "{time} {zone} {day}"
        );
    }
}

#[test]
fn next_run_after_and_run_date_hand_checked() {
    let ny = Schedule::default();
    let next = [
        ("2026-03-08T04:59:59Z", "2026-03-08T05:00:00Z"),
        ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"), // 23 hours: spring forward
        ("2026-11-01T03:59:59Z", "2026-11-01T04:00:00Z"),
        ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"), // 25 hours: fall back
        ("2026-12-31T05:00:00Z", "2027-01-01T05:00:00Z"),
        ("2027-01-01T04:59:59Z", "2027-01-01T05:00:00Z"),
        ("2028-02-28T05:00:00Z", "2028-02-29T05:00:00Z"),
        ("2028-02-29T05:00:00Z", "2028-03-01T05:00:00Z"),
    ];
    for (t, expected) in next {
        assert_eq!(ny.next_run_after(utc(t)), utc(expected), "after {t}");
    }
    let dates = [
        ("2026-03-08T04:59:59Z", "2026-03-07"),
        ("2026-03-08T05:00:00Z", "2026-03-08"),
        ("2026-03-09T03:59:59Z", "2026-03-08"),
        ("2026-03-09T04:00:00Z", "2026-03-09"),
        ("2027-01-01T04:59:59Z", "2026-12-31"),
        ("2027-01-01T05:00:00Z", "2027-01-01"),
        ("2028-02-29T05:00:00Z", "2028-02-29"),
        ("2028-03-01T04:59:59Z", "2028-02-29"),
    ];
    for (t, expected) in dates {
        assert_eq!(ny.run_date(utc(t)), date(expected), "run_date({t})");
    }
    let est = sched("00:00", "EST");
    assert_eq!(
        est.run_date(utc("2026-07-15T04:30:00Z")),
        date("2026-07-14")
    );
    assert_eq!(
        est.next_run_after(utc("2026-07-15T04:30:00Z")),
        utc("2026-07-15T05:00:00Z")
    );
}

/// The oracle: Python's `zoneinfo` (system tzdata), computing independently with a definition
/// that needs no DST special cases: the run for date D is the first UTC minute whose local
/// wall-clock reading is at or after D+time. (That is exactly "first instant after a skipped
/// time" and "first occurrence of a repeated time".)
const ORACLE: &str = r#"
import sys, json, functools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

@functools.lru_cache(maxsize=None)
def run_at(zone, time, day):
    tz = ZoneInfo(zone)
    local = datetime.fromisoformat(day + "T" + time)
    # Start where the wall clock reads before `local` in a zone at UTC-4 or UTC-5 (checked).
    u = (local + timedelta(hours=3)).replace(tzinfo=timezone.utc)
    assert u.astimezone(tz).replace(tzinfo=None) < local
    while u.astimezone(tz).replace(tzinfo=None) < local:
        u += timedelta(minutes=1)
    return u

def fmt(u):
    return u.strftime("%Y-%m-%dT%H:%M:%SZ")

for line in sys.stdin:
    case = json.loads(line)
    kind, zone, time = case["kind"], case["zone"], case["time"]
    if kind == "run_at":
        print(fmt(run_at(zone, time, case["date"])))
    else:
        t = datetime.strptime(case["instant"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        d = t.astimezone(ZoneInfo(zone)).date()
        runs = [run_at(zone, time, (d + timedelta(days=k)).isoformat()) for k in (-1, 0, 1, 2)]
        nxt = min(r for r in runs if r > t)
        print(d.isoformat(), fmt(nxt))
"#;

#[test]
fn table_matches_python_zoneinfo() {
    let zones = ["America/New_York", "EST"];
    let times = [
        "00:00", "01:00", "01:30", "02:00", "02:30", "03:00", "12:00", "23:30", "23:59",
    ];
    let windows = [
        ("2026-03-05", 7),
        ("2026-10-29", 7),
        ("2026-12-29", 6),
        ("2028-02-26", 6),
        ("2027-03-13", 2),
        ("2027-11-06", 2),
    ];
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for zone in zones {
        for time in times {
            let s = sched(time, zone);
            for (start, days) in windows {
                for day in date(start).iter_days().take(days) {
                    cases.push(format!(
                        r#"{{"kind":"run_at","zone":"{zone}","time":"{time}","date":"{day}"}}"#
                    ));
                    let run = s.run_at(day).unwrap();
                    ours.push(run.format("%Y-%m-%dT%H:%M:%SZ").to_string());
                    // Instants around the run and every 5 hours through the day.
                    let mut instants = vec![
                        run - TimeDelta::seconds(1),
                        run,
                        run + TimeDelta::seconds(1),
                    ];
                    instants.extend((0..5).map(|k| run + TimeDelta::hours(5 * k + 2)));
                    for t in instants {
                        let t = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                        cases.push(format!(
                            r#"{{"kind":"next","zone":"{zone}","time":"{time}","instant":"{t}"}}"#
                        ));
                        let instant = utc(&t);
                        ours.push(format!(
                            "{} {}",
                            s.run_date(instant),
                            s.next_run_after(instant).format("%Y-%m-%dT%H:%M:%SZ")
                        ));
                    }
                }
            }
        }
    }
    let mut child = Command::new("python3")
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (3.9+, with zoneinfo and tzdata) must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let input = cases.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "python oracle failed");
    let theirs: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(theirs.len(), cases.len());
    for ((case, ours), theirs) in cases.iter().zip(&ours).zip(&theirs) {
        assert_eq!(ours, theirs, "case {case}");
    }
    assert!(cases.len() > 1000, "{}", cases.len());
}

#[test]
fn est_is_utc_minus_5_all_year() {
    assert_eq!("EST".parse::<Tz>().unwrap(), Tz::EST);
    let est = Schedule::new(NaiveTime::MIN, Tz::EST);
    for day in date("2026-01-01").iter_days().take(366) {
        assert_eq!(
            est.run_at(day).unwrap(),
            day.and_hms_opt(5, 0, 0).unwrap().and_utc()
        );
    }
}

#[derive(serde::Deserialize, Debug)]
struct Rules {
    catch_up: liveramp_scheduler::CatchUp,
}

#[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
struct Config {
    schedule: Schedule,
}

#[test]
fn parsing_and_configuration() {
    assert_eq!(Schedule::default(), sched("00:00", "America/New_York"));
    assert_eq!(Schedule::default().to_string(), "00:00 America/New_York");

    let config: Config =
        toml::from_str("[schedule]\ntime = \"00:00\"\ntimezone = \"America/New_York\"\n").unwrap();
    assert_eq!(config.schedule, Schedule::default());
    let config: Config = toml::from_str("[schedule]\n").unwrap();
    assert_eq!(config.schedule, Schedule::default());
    let config: Config =
        toml::from_str("[schedule]\ntime = \"02:30\"\ntimezone = \"EST\"\n").unwrap();
    assert_eq!(
        config.schedule,
        Schedule::new(NaiveTime::from_hms_opt(2, 30, 0).unwrap(), Tz::EST)
    );
    assert_eq!(
        toml::to_string(&config).unwrap(),
        "[schedule]\ntime = \"02:30\"\ntimezone = \"EST\"\n"
    );

    let err =
        toml::from_str::<Config>("[schedule]\ntimezone = \"America/New_Yrok\"\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown timezone \"America/New_Yrok\""),
        "{err}"
    );
    let err = toml::from_str::<Config>("[schedule]\ntimzone = \"EST\"\n").unwrap_err();
    assert!(err.to_string().contains("unknown field `timzone`"), "{err}");
    let err = toml::from_str::<Config>("[schedule]\ntime = \"25:00\"\n").unwrap_err();
    assert!(
        err.to_string().contains("invalid schedule time \"25:00\""),
        "{err}"
    );

    let rules: Rules = toml::from_str("catch_up = \"most_recent\"\n").unwrap();
    assert_eq!(rules.catch_up, liveramp_scheduler::CatchUp::MostRecent);
    let rules: Rules = toml::from_str("catch_up = { last_nights = 3 }\n").unwrap();
    assert_eq!(rules.catch_up, liveramp_scheduler::CatchUp::LastNights(3));
    assert_eq!(rules.catch_up.nights(), 3);

    match Schedule::parse("00:00", "america/new_york") {
        Err(Error::UnknownTimezone { name, suggestion }) => {
            assert_eq!(name, "america/new_york");
            assert_eq!(suggestion.as_deref(), Some("America/New_York"));
        }
        other => panic!("{other:?}"),
    }
    match Schedule::parse("00:00", "Mars/Olympus") {
        Err(e @ Error::UnknownTimezone { .. }) => assert_eq!(
            e.to_string(),
            "unknown timezone \"Mars/Olympus\": use an IANA zone name such as \"America/New_York\" \
             (US Eastern, EST/EDT) or \"EST\" (UTC-5 all year)"
        ),
        other => panic!("{other:?}"),
    }
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2100-01-01
    (946_684_800_i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn schedule() -> impl Strategy<Value = Schedule> {
    let zones = prop_oneof![
        Just(Tz::America__New_York),
        Just(Tz::EST),
        Just(Tz::Europe__London),
        Just(Tz::Australia__Lord_Howe),
        Just(Tz::Pacific__Apia),
    ];
    (0_u32..24, 0_u32..60, zones)
        .prop_map(|(h, m, tz)| Schedule::new(NaiveTime::from_hms_opt(h, m, 0).unwrap(), tz))
}

proptest! {
    #[test]
    fn next_run_is_strictly_later(t in instant(), s in schedule()) {
        prop_assert!(s.next_run_after(t) > t);
    }

    #[test]
    fn midnight_new_york_runs_are_23_24_or_25_hours_apart(t in instant()) {
        let s = Schedule::default();
        let first = s.next_run_after(t);
        let second = s.next_run_after(first);
        let hours = (second - first).num_seconds();
        prop_assert!([23 * 3600, 24 * 3600, 25 * 3600].contains(&hours), "{first} -> {second}");
    }

    #[test]
    fn run_date_of_next_run_is_today_only_before_todays_run(t in instant(), s in schedule()) {
        let today = s.run_date(t);
        let next_date = s.run_date(s.next_run_after(t));
        let todays_run = s.run_at(today).unwrap();
        if t < todays_run {
            prop_assert_eq!(next_date, today);
        } else {
            prop_assert_eq!(next_date, today.checked_add_days(Days::new(1)).unwrap());
        }
    }

    #[test]
    fn a_run_is_the_first_instant_reaching_the_configured_wall_clock_time(t in instant(), s in schedule()) {
        let day = s.run_date(t);
        let run = s.run_at(day).unwrap();
        let wanted = day.and_time(s.time);
        let reading = |u: DateTime<Utc>| u.with_timezone(&s.timezone).naive_local();
        prop_assert!(reading(run) >= wanted);
        prop_assert!(reading(run - TimeDelta::seconds(1)) < wanted);
        // Never more than the longest real gap (a day, Samoa 2011) past the wall-clock time.
        prop_assert!(reading(run) - wanted <= TimeDelta::hours(24));
    }
}

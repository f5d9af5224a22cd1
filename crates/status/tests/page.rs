//! The page model and its renderings for each kind of audience an operator meets: delivered,
//! failed, small file, header changed, never delivered; and that the pages need nothing from
//! outside (no script, no external asset) and quote nothing unescaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use liveramp_status::{
    AudienceInput, FileInput, IngestMinute, NightInput, Outcome, StatusInput, StatusPage,
};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn file(kind: &str, audience: &str, d: u32, outcome: Outcome, rows: u64) -> FileInput {
    let tag = if kind == "device" { "D" } else { "PII" };
    let mut f = FileInput::new(
        kind,
        &format!("3242_{audience}-{tag}_2026-11-{d:02}.csv.gpg"),
        outcome,
    );
    f.rows = rows;
    f.bytes = rows * 100;
    f.sha256 = "ab".repeat(32);
    f.attempts = 1;
    f
}

fn night(audience: &str, d: u32, outcome: Outcome, rows: u64) -> NightInput {
    let mut n = NightInput::new(day(d));
    n.files
        .push(file("device", audience, d, Outcome::Delivered, rows / 2));
    let mut pii = file("pii", audience, d, outcome, rows);
    pii.rejected.insert("email.no_at".to_owned(), 3);
    pii.rejected.insert("phone.invalid".to_owned(), 7);
    match outcome {
        Outcome::Failed => {
            pii.error =
                Some("uploading 3242_2-PII_2026-11-28.csv.gpg failed: connection reset".to_owned());
            pii.attempts = 3;
        }
        Outcome::SmallFile => {
            pii.error = Some(
                "3242_3-PII_2026-11-28.csv.gpg has 1 row, fewer than LiveRamp's minimum of 25"
                    .to_owned(),
            );
        }
        Outcome::HeaderChanged => {
            pii.error = Some("the pii header differs from the one last delivered".to_owned());
        }
        _ => {}
    }
    n.files.push(pii);
    n.members = Some(rows + 10);
    n.malformed_members = Some(2);
    n
}

fn input() -> StatusInput {
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap();
    let mut input = StatusInput::new("LiveRamp <production>", now);
    input.next_run = Some(Utc.with_ymd_and_hms(2026, 11, 29, 5, 0, 0).unwrap());
    input.latest_night = Some(day(28));
    input.retention.store_days = Some(30);
    for (id, name, outcome) in [
        ("1", "Delivered & fine", Outcome::Delivered),
        ("2", "Failing", Outcome::Failed),
        ("3", "Tiny", Outcome::SmallFile),
        ("4", "Remapped", Outcome::HeaderChanged),
    ] {
        let mut a = AudienceInput::new(id, name);
        a.connected = Some(true);
        a.members = Some(1000);
        a.newest_change = Some(now - TimeDelta::minutes(5));
        for d in 20..=27 {
            a.nights
                .push(night(id, d, Outcome::Delivered, 900 + u64::from(d)));
        }
        a.nights.push(night(id, 28, outcome, 1000));
        input.audiences.push(a);
    }
    let mut never = AudienceInput::new("5", "New <b>audience</b>");
    never.connected = Some(true);
    never.members = Some(12);
    input.audiences.push(never);
    for m in 0..70 {
        input.ingest.push(IngestMinute::new(
            now - TimeDelta::minutes(m),
            100 + m.unsigned_abs(),
        ));
    }
    input.last_change = Some(now - TimeDelta::seconds(30));
    input
}

#[test]
fn the_model_says_what_each_audience_needs() {
    let page = StatusPage::new(input());
    let m = page.model();
    assert_eq!(
        (
            m.delivered_last_night,
            m.needing_attention,
            m.never_delivered
        ),
        (1, 3, 1)
    );
    let outcomes: Vec<Option<Outcome>> = m
        .audiences
        .iter()
        .map(|a| a.last_night.as_ref().map(|n| n.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            Some(Outcome::Delivered),
            Some(Outcome::Failed),
            Some(Outcome::SmallFile),
            Some(Outcome::HeaderChanged),
            None
        ]
    );
    let last = m.audiences[0].last_night.as_ref().unwrap();
    assert_eq!(last.run_date, day(28));
    assert_eq!(
        last.files,
        [
            ("device".to_owned(), 500, Outcome::Delivered),
            ("pii".to_owned(), 1000, Outcome::Delivered)
        ]
    );
    assert_eq!(last.rejected["phone.invalid"], 7);
    assert_eq!(
        m.audiences[1].last_night.as_ref().unwrap().error.as_deref(),
        Some("uploading 3242_2-PII_2026-11-28.csv.gpg failed: connection reset")
    );
    // Nights newest first; the chart's rows count only delivered files.
    assert_eq!(m.audiences[1].nights[0].run_date, day(28));
    assert_eq!(m.audiences[1].nights[0].delivered_rows, 500);
    assert_eq!(m.audiences[1].nights[1].delivered_rows, 927 / 2 + 927);
    assert_eq!(m.audiences[1].nights[0].rejected_total, 10);
    // The last hour only (60 of the 70 minutes), oldest first.
    assert_eq!(m.ingest_per_minute.len(), 60);
    assert_eq!(m.ingest_last_hour, Some((100..160).sum()));
    assert!(m.ingest_per_minute[0].minute < m.ingest_per_minute[59].minute);
}

#[test]
fn the_pages_show_it_and_need_nothing_from_outside() {
    let page = StatusPage::new(input());
    let html = page.html();
    for needle in [
        "<tr id=\"audience-1\" data-outcome=\"delivered\">",
        "<tr id=\"audience-2\" data-outcome=\"failed\">",
        "<tr id=\"audience-3\" data-outcome=\"small_file\">",
        "<tr id=\"audience-4\" data-outcome=\"header_changed\">",
        "<tr id=\"audience-5\" data-outcome=\"never\">",
        "<span data-file=\"pii\" data-rows=\"1000\">pii: 1,000 </span>",
        "<li data-reason=\"phone.invalid\"><code>phone.invalid</code> 7</li>",
        "not sent: under 25 rows",
        "not sent: header changed",
        "Delivered &amp; fine",
        "New &lt;b&gt;audience&lt;/b&gt;",
        "LiveRamp &lt;production&gt;",
        "<meta http-equiv=\"refresh\" content=\"60\">",
        "for the last 31 nights",
        "for 30 days",
        "id=\"ingest\" data-changes=\"7770\"",
        "<g class=\"night\" data-date=\"2026-11-27\" data-rows=\"1390\" data-rejected=\"10\">",
    ] {
        assert!(html.contains(needle), "missing {needle:?}");
    }
    for forbidden in [
        "<script", "src=", "http://", "https://", "<link", "@import", "url(",
    ] {
        assert!(!html.contains(forbidden), "{forbidden:?} in the page");
    }
    let detail = page.audience_html("2").unwrap();
    assert!(detail.contains(
        "<tr class=\"file\" data-date=\"2026-11-28\" data-type=\"pii\" data-rows=\"1000\">"
    ));
    assert!(detail.contains("connection reset"));
    assert!(detail.contains(&"ab".repeat(32)));
    assert!(detail.contains("1,010 members, 2 malformed"));
    assert!(!detail.contains("<script"));
    assert!(page.audience_html("99").is_err());
    assert!(
        page.audience_html("5")
            .unwrap()
            .contains("Never delivered.")
    );

    let json: serde_json::Value = serde_json::from_str(&page.json()).unwrap();
    assert_eq!(json["audiences"][2]["last_night"]["outcome"], "small_file");
    assert_eq!(json["needing_attention"], 3);
    assert_eq!(json["retention"]["report_nights"], 31);

    let text = page.text();
    assert!(text.starts_with(
        "LiveRamp <production>: 5 audiences, 1 delivered last night, 3 need attention, 1 never delivered\n"
    ));
    assert!(text.contains(
        "2  Failing  FAILED 2026-11-28 (device 500 rows, pii 1,000 rows), 10 rejected: uploading 3242_2-PII_2026-11-28.csv.gpg failed: connection reset; last delivered 2026-11-27; 1,000 members now"
    ), "{text}");
    assert!(text.contains("5  New <b>audience</b>  never delivered; 12 members now"));
    assert!(text.contains("stream: 7,770 changes in the last hour"));
}

/// `liveramp status` reads files and does not count ingest: the rate is unknown there, not 0.
#[test]
fn without_the_servers_count_the_ingest_rate_is_unknown_not_zero() {
    let mut input = input();
    input.ingest.clear();
    input.ingest_measured = false;
    let page = StatusPage::new(input);
    assert_eq!(page.model().ingest_last_hour, None);
    assert!(
        page.text().contains(
            "stream: newest change 2026-11-28T12:59:30Z; the rate over the last hour is counted \
             by the running `liveramp serve` (its status page), not here\n"
        ),
        "{}",
        page.text()
    );
    // The server counts, even a quiet hour.
    let mut input = self::input();
    input.ingest.clear();
    input.ingest_measured = true;
    assert_eq!(StatusPage::new(input).model().ingest_last_hour, Some(0));
}

#[test]
fn an_audience_without_last_nights_record_shows_not_delivered_and_when_it_last_was() {
    let mut input = input();
    input.latest_night = Some(day(29));
    let page = StatusPage::new(input);
    let a = &page.model().audiences[0];
    let last = a.last_night.as_ref().unwrap();
    assert_eq!(
        (last.run_date, last.outcome),
        (day(29), Outcome::NotDelivered)
    );
    assert_eq!(a.last_delivered, Some(day(28)));
    assert!(page.text().contains("1  Delivered & fine  not delivered 2026-11-29; last delivered 2026-11-28; 1,000 members now"), "{}", page.text());
    assert!(
        page.html()
            .contains("<tr id=\"audience-1\" data-outcome=\"not_delivered\">")
    );
    assert_eq!(
        page.model().audiences[4].last_night,
        None,
        "never delivered"
    );
}

//! Every delivery that did something leaves its report in `state_dir/reports/`, for operators
//! and the status page; dry runs and already-delivered nights do not, and old nights go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use liveramp_connector::chrono::NaiveDate;
use liveramp_connector::{
    Config, Connector, DeliverOptions, FileStatus, REPORT_NIGHTS_KEPT, saved_reports,
};
use liveramp_identity_mapping::Profile;

fn members(n: u32) -> Vec<Result<Profile, String>> {
    (0..n)
        .map(|i| {
            Profile::from_json_line(&format!(
                r#"{{"mpid": "{i}", "user_identities": [{{"type": "email", "value": "m{i}@example.com"}}]}}"#
            ))
            .map_err(|e| e.to_string())
        })
        .collect()
}

#[test]
fn reports_are_kept_per_night_and_audience() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_toml_str(
        "configuration_name = \"t\"\norg_id = \"3242\"\n[directory]\npath = \"out\"\n[data]\nsend_pii = true\n",
        dir.path(),
    )
    .unwrap();
    let connector = Connector::new(config).unwrap();
    let audience = liveramp_connector::Audience::new("17095", "VIP");
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 10, d).unwrap();
    let report = connector.deliver(&audience, members(30), day(1)).unwrap();
    assert!(report.succeeded());
    let path = dir.path().join("state/reports/2026-10-01/17095.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["files"][0]["rows"], 30);
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains("example.com")
    );

    // Already delivered: the report of the real delivery stays.
    let again = connector.deliver(&audience, members(3), day(1)).unwrap();
    assert_eq!(again.files[0].status, FileStatus::AlreadyDelivered);
    assert_eq!(
        saved_reports(&dir.path().join("state"), "17095")[0].files[0].rows,
        30
    );
    // A dry run leaves none.
    let dry = connector
        .deliver_with(
            &audience,
            members(30),
            day(2),
            &DeliverOptions::new().dry_run(true),
            &mut |_| {},
        )
        .unwrap();
    assert!(dry.dry_run);
    assert!(!dir.path().join("state/reports/2026-10-02").exists());

    // 35 nights: the newest REPORT_NIGHTS_KEPT stay, newest first.
    for d in 2..=31 {
        let report = connector
            .deliver(&audience, members(25 + d), day(d))
            .unwrap();
        assert!(report.succeeded());
    }
    let nov = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    for d in 1..=4 {
        let report = connector.deliver(&audience, members(25), nov(d)).unwrap();
        assert!(report.succeeded());
    }
    let kept = saved_reports(&dir.path().join("state"), "17095");
    assert_eq!(kept.len(), REPORT_NIGHTS_KEPT);
    assert_eq!(kept[0].run_date, "2026-11-04");
    assert_eq!(kept.last().unwrap().run_date, "2026-10-05");
    assert!(!dir.path().join("state/reports/2026-10-04").exists());
}

//! Deliver audiences to LiveRamp nightly: mapping, normalisation, CSV, gzip, OpenPGP and SFTP
//! composed in one embeddable library.
//!
//! This is the thin library behind the `liveramp` command, for services that want to deliver
//! their own audiences from their own member store. Configure once (one TOML file, the
//! vocabulary of mParticle's LiveRamp integration), and each call to
//! [`Connector::deliver`] sends one audience for one night as one file per selected data
//! type: `{org_id}_{audience_id}-D_{date}.csv` (device IDs) and
//! `{org_id}_{audience_id}-PII_{date}.csv` (PII), which LiveRamp shows as the segments
//! `{external_name}-D` and `{external_name}-PII`.
//!
//! # A delivery
//!
//! 1. **Ledger.** For each data type the delivery is claimed in the ledger (a JSON-lines
//!    journal in `state_dir`, keyed by configuration, audience, data type and run date). A
//!    delivered run is skipped unless forced; two processes never run the same delivery at
//!    once.
//! 2. **Header check.** The header row depends only on the configuration; if it differs from
//!    the one last delivered for that audience and data type, the file is refused (LiveRamp
//!    would pause it) unless `accept_header_change = true`.
//! 3. **One pass over the members.** Each profile is mapped and normalised once
//!    (`identity-mapping`, `pii-normalize`) and its rows go to both files
//!    (`file-format`: LiveRamp's CSV dialect, limits, splitting), through optional gzip and
//!    optional OpenPGP encryption (`encrypt`). Malformed members are counted and reported by
//!    line; rejected values are counted by reason code. Memory does not grow with the
//!    audience. [`Connector::deliver_ndjson`] runs this pass on every core: NDJSON lines are
//!    read in chunks, parsed, mapped, hashed and rendered as CSV rows on worker threads, and
//!    written in input order (bounded queues, recycled buffers), so the files are
//!    byte-identical whatever the thread count; a line longer than `max_member_line_bytes`
//!    (default 1 MiB) is rejected by number without being held in memory.
//! 4. **Publish.** Files are built as local files (`0600`; with encryption only ciphertext
//!    touches the disk): for a `[directory]` destination, under hidden `.NAME.part` names in
//!    that folder and renamed into place; for `[sftp]`, in a private spool folder under
//!    `state_dir` while the same bytes are streamed to the server (one session per file, on
//!    its own thread, to a temporary name), so the upload overlaps the build. Once the file is
//!    complete and its checks pass, the streamed upload is committed (size check, atomic
//!    rename); if the stream failed, the spooled copy is uploaded with `sftp-transport`'s
//!    retries. The spool is removed on success, failure and panic. A file under LiveRamp's
//!    25-row minimum is not published unless `allow_small_files = true`.
//! 5. **Record** each file as delivered or failed, and return a [`Report`] (serde JSON).
//!
//! Why spool as well as stream: an upload that fails half-way is retried from its first
//! byte, which a member source cannot replay but a spool can; and the 25-row rule can only be
//! decided once the file is complete, so the streamed file is published (renamed) only then.
//!
//! # Example
//!
//! ```
//! use liveramp_connector::{Audience, Config, Connector, FileStatus};
//! use liveramp_connector::chrono::NaiveDate;
//! use liveramp_identity_mapping::Profile;
//!
//! let dir = tempfile::tempdir()?;
//! let config = Config::from_toml_str(
//!     r#"
//!     configuration_name = "example"
//!     org_id = "3242"
//!     [directory]
//!     path = "out"
//!     [data]
//!     send_device_ids = true
//!     send_pii = true
//!     [pii]
//!     hash_emails_and_phones = true
//!     "#,
//!     dir.path(),
//! )?;
//! let connector = Connector::new(config)?;
//!
//! // Members come from anywhere: here, 30 generated profiles.
//! let members = (0..30).map(|i| Profile::from_json_line(&format!(
//!     r#"{{"mpid": "{i}", "user_identities": [{{"type": "email", "value": " Member{i}@Example.com"}}],
//!          "device_identities": [{{"type": "google_advertising_id",
//!                                  "value": "38400000-8cf0-11bd-b23e-10b96e4000{i:02}"}}]}}"#)));
//! let audience = Audience::new("17095", "High-value customers");
//! let date = NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
//! let report = connector.deliver(&audience, members, date)?;
//!
//! assert!(report.succeeded());
//! assert_eq!(report.files[0].name, "3242_17095-D_2020-04-01.csv");
//! assert_eq!(report.files[0].segment_name, "High-value customers-D");
//! assert_eq!(report.files[1].name, "3242_17095-PII_2020-04-01.csv");
//! assert_eq!(report.files[1].rows, 30);
//! assert!(dir.path().join("out/3242_17095-PII_2020-04-01.csv").exists());
//!
//! // The ledger makes the same night a no-op.
//! let again = connector.deliver(&audience, std::iter::empty::<Result<Profile, String>>(), date)?;
//! assert_eq!(again.files[0].status, FileStatus::AlreadyDelivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Configuration
//!
//! See [`Config::load`]: relative paths are relative to the configuration file's folder;
//! every problem is reported at once with its key path (`sftp.port: "22x" is not a port
//! number`), unknown keys included.
#![deny(missing_docs)]
// No library function over about 100 lines (issue 14): the delivery is split into stages.
#![warn(clippy::too_many_lines)]
// "LiveRamp", "OpenPGP", "NDJSON" are prose here, not code.
#![allow(clippy::doc_markdown)]

mod config;
mod connector;
mod delivery;
mod destination;
mod error;
pub mod ingest;
mod members;
mod options;
mod pipeline;
mod report;
mod source;
mod spool;
mod stream;

pub use chrono;
pub use config::{
    Audience, Config, ConfigError, DEFAULT_ADMIN_LISTEN, DEFAULT_API_KEY_ENV,
    DEFAULT_DSR_RETENTION_DAYS, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_MEMBER_LINE_BYTES, DEFAULT_RETENTION_DAYS, Destination, FileSettings,
    ScheduleSettings, ServerSettings, StoreAudience, StoreSettings,
};
pub use connector::{Connector, check_member_sources, open_ledger, open_store};
pub use delivery::record::{REPORT_NIGHTS_KEPT, saved_reports};
pub use error::Error;
pub use liveramp_audience_store as audience_store;
pub use liveramp_file_format::DataType;
pub use liveramp_firehose as firehose;
pub use members::{MemberError, MemberFault};
pub use options::{CheckSummary, DeliverOptions, KeySummary, MapSummary, SourceCheck};
pub use report::{
    FileReport, FileStatus, MAX_LISTED_MALFORMED, MalformedMember, PartReport, Report,
};
pub use source::{
    MemberChunk, MemberSource, NdjsonMembers, NdjsonSource, ProfileSource, SourceFailure,
    SourceSummary, StoreSource,
};

/// An error and its causes, `: `-joined.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

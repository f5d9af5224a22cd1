//! What an operator of the LiveRamp connector asks each morning, answered at a glance: did
//! every audience go out last night, how many rows, what was rejected and why, and is
//! mParticle's stream still arriving?
//!
//! This crate is the page model and its renderings, with no I/O: the caller (the `liveramp`
//! command: `liveramp serve`'s admin listener and `liveramp status`) gathers a [`StatusInput`]
//! from the ledger, the saved delivery reports and the membership store, and [`StatusPage`]
//! turns it into
//!
//! - an HTML page ([`StatusPage::html`]): one row per audience (id, external name, connected,
//!   members now, newest change received, last night's outcome, rows per file, rejected by
//!   reason), a chart per audience of the last 30 nights' delivered rows and rejections
//!   (inline SVG), and the ingest rate over the last hour; rendered on the server, with no
//!   external asset and no script, so it works offline and behind
//!   `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:`
//!   ([`CONTENT_SECURITY_POLICY`]); it refreshes itself every minute (`meta refresh`) and reads
//!   on a laptop and a phone;
//! - an audience's history ([`StatusPage::audience_html`]), night by night, with each file's
//!   name, rows, bytes, SHA-256, attempts and error, and the reasons members or values were
//!   rejected;
//! - the same data as JSON ([`StatusPage::json`]: the [`StatusModel`] serialised, documented
//!   field by field) for monitoring scripts;
//! - a terminal summary ([`StatusPage::text`]).
//!
//! Nothing on the page is PII or a secret: counts, names of audiences and files, digests and
//! error texts (which the connector writes without member values). The page says how long the
//! data behind it is kept.
//!
//! ```
//! use liveramp_status::{AudienceInput, FileInput, NightInput, Outcome, StatusInput, StatusPage};
//! use chrono::{NaiveDate, TimeZone, Utc};
//!
//! let now = Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap();
//! let mut night = NightInput::new(NaiveDate::from_ymd_opt(2026, 11, 28).unwrap());
//! let mut file = FileInput::new("pii", "3242_17095-PII_2026-11-28.csv.gpg", Outcome::Delivered);
//! file.rows = 1074;
//! file.rejected.insert("email.no_at".to_owned(), 25);
//! night.files.push(file);
//! let mut audience = AudienceInput::new("17095", "High-value customers");
//! audience.connected = Some(true);
//! audience.members = Some(1200);
//! audience.nights.push(night);
//! let mut input = StatusInput::new("LiveRamp production", now);
//! input.audiences.push(audience);
//!
//! let page = StatusPage::new(input);
//! let model = page.model();
//! assert_eq!(model.audiences[0].last_night.as_ref().unwrap().outcome, Outcome::Delivered);
//! assert_eq!(model.audiences[0].last_night.as_ref().unwrap().rejected["email.no_at"], 25);
//! assert!(page.html().contains("High-value customers"));
//! assert!(page.text().contains("17095  High-value customers  delivered 2026-11-28"));
//! ```
#![deny(missing_docs)]
// "LiveRamp", "mParticle" are proper names here.
#![allow(clippy::doc_markdown)]

mod html;
mod model;
mod text;

pub use model::{
    AudienceInput, AudienceStatus, FileInput, IngestMinute, LastNight, NightInput, NightStatus,
    Outcome, Retention, StatusInput, StatusModel,
};

/// The Content-Security-Policy the pages are served with (and render correctly under): no
/// script, no external anything, inline styles and `data:` images only.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// How often the pages reload themselves, in seconds.
pub const REFRESH_SECONDS: u32 = 60;

/// Nights shown in each audience's chart.
pub const CHART_NIGHTS: usize = 30;

/// What can go wrong rendering a page.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No audience has this id.
    #[error("no audience {id} on this connector")]
    UnknownAudience {
        /// The id asked for.
        id: String,
    },
}

/// The status, ready to render. Build it once per request from a [`StatusInput`].
#[derive(Debug, Clone)]
pub struct StatusPage {
    model: StatusModel,
}

impl StatusPage {
    /// Summarises `input` (the last night of each audience, totals, the ingest rate).
    pub fn new(input: StatusInput) -> StatusPage {
        StatusPage {
            model: StatusModel::from_input(input),
        }
    }

    /// The page model (what every rendering shows).
    pub fn model(&self) -> &StatusModel {
        &self.model
    }

    /// The overview page (`GET /`).
    pub fn html(&self) -> String {
        html::index(&self.model)
    }

    /// One audience's history (`GET /audiences/ID`).
    pub fn audience_html(&self, id: &str) -> Result<String, Error> {
        self.model
            .audiences
            .iter()
            .find(|a| a.id == id)
            .map(|a| html::audience(&self.model, a))
            .ok_or_else(|| Error::UnknownAudience { id: id.to_owned() })
    }

    /// The model as JSON (`GET /api/status`): see [`StatusModel`] for the fields.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.model).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The terminal summary (`liveramp status`): one line per audience.
    pub fn text(&self) -> String {
        text::summary(&self.model)
    }
}

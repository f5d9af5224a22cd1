//! The terminal summary (`liveramp status`).

use std::fmt::Write as _;

use crate::html::thousands;
use crate::model::StatusModel;

/// One line per audience, then the totals and the stream.
pub(crate) fn summary(model: &StatusModel) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} audience{}, {} delivered last night, {} need attention, {} never delivered",
        model.configuration_name,
        model.audiences.len(),
        if model.audiences.len() == 1 { "" } else { "s" },
        model.delivered_last_night,
        model.needing_attention,
        model.never_delivered
    );
    for a in &model.audiences {
        let mut line = format!("{}  {}  ", a.id, a.external_name);
        match &a.last_night {
            Some(n) => {
                let _ = write!(line, "{} {}", n.outcome.label(), n.run_date);
                let files: Vec<String> = n
                    .files
                    .iter()
                    .map(|(t, rows, _)| format!("{t} {} rows", thousands(*rows)))
                    .collect();
                if !files.is_empty() {
                    let _ = write!(line, " ({})", files.join(", "));
                }
                let rejected: u64 = n.rejected.values().sum();
                if rejected > 0 {
                    let _ = write!(line, ", {} rejected", thousands(rejected));
                }
                if let Some(e) = &n.error {
                    let _ = write!(line, ": {e}");
                }
                if n.outcome != crate::Outcome::Delivered
                    && let Some(d) = a.last_delivered
                {
                    let _ = write!(line, "; last delivered {d}");
                }
            }
            None => line.push_str("never delivered"),
        }
        match (a.connected, a.members) {
            (Some(false), _) => line.push_str("; disconnected"),
            (_, Some(m)) => {
                let _ = write!(line, "; {} members now", thousands(m));
            }
            _ => {}
        }
        if let Some(t) = &a.newest_change {
            let _ = write!(line, ", newest change {t}");
        }
        let _ = writeln!(out, "{line}");
    }
    match model.ingest_last_hour {
        Some(n) => {
            let _ = writeln!(
                out,
                "stream: {} changes in the last hour{}",
                thousands(n),
                model
                    .last_change
                    .as_ref()
                    .map(|t| format!(", newest {t}"))
                    .unwrap_or_default()
            );
        }
        None => match &model.last_change {
            Some(t) => {
                let _ = writeln!(
                    out,
                    "stream: newest change {t}; the rate over the last hour is counted by the \
                     running `liveramp serve` (its status page), not here"
                );
            }
            None => out.push_str("stream: none here\n"),
        },
    }
    if let Some(next) = &model.next_run {
        let _ = writeln!(out, "next nightly run: {next}");
    }
    out
}

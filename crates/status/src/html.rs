//! The HTML renderings: one self-contained page each, no script, no external asset.
// Chart coordinates are pixels: precision loss in the casts cannot show.
#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;

use crate::model::{AudienceStatus, NightStatus, Outcome, StatusModel};
use crate::{CHART_NIGHTS, REFRESH_SECONDS};

/// Text as HTML (element content and attribute values).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const STYLE: &str = "\
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}\
*{box-sizing:border-box}\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1f2328;background:#fff}\
header,main,footer{max-width:1200px;margin:0 auto;padding:12px 16px}\
header{border-bottom:1px solid var(--line)}\
h1{font-size:20px;margin:4px 0}h1 small{font-weight:normal;color:var(--muted)}\
h2{font-size:17px;margin:20px 0 8px}\
.meta,footer{color:var(--muted);font-size:13px}\
.summary{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:12px 0}\
.pill{display:inline-block;padding:2px 10px;border-radius:12px;background:var(--bg);border:1px solid var(--line)}\
.delivered{color:var(--ok)}.failed,.header_changed,.small_file{color:var(--bad);font-weight:600}\
.in_progress,.not_delivered{color:var(--warn)}\
.table{overflow-x:auto;border:1px solid var(--line);border-radius:6px}\
table{border-collapse:collapse;width:100%;min-width:720px}\
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}\
th{background:var(--bg);font-weight:600;font-size:13px}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
code{font-size:12px;word-break:break-all}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}\
figure{margin:0;padding:8px;border:1px solid var(--line);border-radius:6px}\
figcaption{font-size:13px;margin-bottom:4px}\
svg{width:100%;height:auto;display:block}\
#ingest-chart{width:240px;height:30px;display:inline-block;vertical-align:middle}\
.bar-rows{fill:var(--ok)}.bar-rejected{fill:var(--bad)}.bar-none{fill:var(--line)}\
.spark{stroke:#0969da;fill:none;stroke-width:1.5}\
ul.reasons{margin:0;padding-left:18px;font-size:13px}ul.reasons li{white-space:nowrap}\
@media (max-width:640px){body{font-size:14px}header,main,footer{padding:8px}}";

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

fn header(out: &mut String, model: &StatusModel) {
    let _ = write!(
        out,
        "<header><h1>LiveRamp connector <small>{}</small></h1><p class=\"meta\">Generated \
         <time id=\"generated\">{}</time>{}; this page reloads every minute.</p></header>",
        escape(&model.configuration_name),
        escape(&model.generated_at),
        model
            .next_run
            .as_ref()
            .map(|t| format!(
                " · next nightly run <time id=\"next-run\">{}</time>",
                escape(t)
            ))
            .unwrap_or_default()
    );
}

fn footer(out: &mut String, model: &StatusModel) {
    let r = &model.retention;
    let _ = write!(
        out,
        "<footer id=\"retention\">Data kept: delivery reports (rows, rejections by reason) for \
         the last {} nights; the ledger of every delivery {}",
        r.report_nights,
        if r.ledger_forever {
            "for every night"
        } else {
            "as the database keeps it"
        }
    );
    if let Some(days) = r.store_days {
        let _ = write!(
            out,
            "; the membership store keeps message ids, removals and disconnected audiences for \
             {days} days"
        );
    }
    out.push_str(
        ". This page shows counts, names and digests only: no member data, no secret.</footer>",
    );
}

fn outcome_html(outcome: Outcome) -> String {
    format!(
        "<span class=\"{}\">{}</span>",
        serde_json::to_value(outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        escape(outcome.label())
    )
}

fn outcome_key(outcome: Outcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A sparkline of changes per minute over the last hour.
fn ingest_chart(out: &mut String, model: &StatusModel) {
    let Some(total) = model.ingest_last_hour else {
        out.push_str("<span class=\"pill\" id=\"ingest\">no real-time stream here</span>");
        return;
    };
    let _ = write!(
        out,
        "<span class=\"pill\" id=\"ingest\" data-changes=\"{total}\">ingest: {} changes in the \
         last hour{}</span>",
        thousands(total),
        model
            .last_change
            .as_ref()
            .map(|t| format!(", newest {}", escape(t)))
            .unwrap_or_default()
    );
    let max = model
        .ingest_per_minute
        .iter()
        .map(|m| m.changes)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut points = String::new();
    for (i, m) in model.ingest_per_minute.iter().enumerate() {
        let x = i as f64 * 240.0 / 59.0_f64.max(model.ingest_per_minute.len() as f64 - 1.0);
        let y = 28.0 - (m.changes as f64 / max as f64) * 26.0;
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    let _ = write!(
        out,
        "<svg id=\"ingest-chart\" viewBox=\"0 0 240 30\" width=\"240\" height=\"30\" role=\"img\" \
         aria-label=\"changes per minute, last hour\"><polyline class=\"spark\" points=\"{}\"/></svg>",
        points.trim_end()
    );
}

/// Bars of the last nights' delivered rows and rejections, oldest left.
fn nights_chart(out: &mut String, audience: &AudienceStatus) {
    let nights: Vec<&NightStatus> = audience.nights.iter().rev().collect();
    let max = nights
        .iter()
        .map(|n| n.delivered_rows.max(n.rejected_total))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = 300.0 / CHART_NIGHTS as f64;
    let _ = write!(
        out,
        "<figure id=\"chart-{id}\"><figcaption>{name}: delivered rows <span class=\"delivered\">■</span> \
         and rejections <span class=\"failed\">■</span>, last {CHART_NIGHTS} nights</figcaption>\
         <svg viewBox=\"0 0 300 90\" role=\"img\" aria-label=\"delivered rows and rejections per night\">",
        id = escape(&audience.id),
        name = escape(&audience.external_name),
    );
    let offset = CHART_NIGHTS.saturating_sub(nights.len());
    for (i, night) in nights.iter().enumerate() {
        let x = (offset + i) as f64 * slot;
        let h = |n: u64| (n as f64 / max as f64) * 80.0;
        let (rows, rejected) = (h(night.delivered_rows), h(night.rejected_total));
        let class = if night.outcome == Outcome::Delivered {
            "bar-rows"
        } else {
            "bar-none"
        };
        let _ = write!(
            out,
            "<g class=\"night\" data-date=\"{date}\" data-rows=\"{r}\" data-rejected=\"{j}\">\
             <title>{date}: {rows_text} rows, {rej_text} rejected ({label})</title>\
             <rect class=\"{class}\" x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{w:.1}\" height=\"{rows:.1}\"/>\
             <rect class=\"bar-rejected\" x=\"{x2:.1}\" y=\"{y2:.1}\" width=\"{w:.1}\" height=\"{rejected:.1}\"/></g>",
            date = night.run_date,
            r = night.delivered_rows,
            j = night.rejected_total,
            rows_text = thousands(night.delivered_rows),
            rej_text = thousands(night.rejected_total),
            label = escape(night.outcome.label()),
            y1 = 85.0 - rows,
            y2 = 85.0 - rejected,
            w = slot * 0.42,
            x2 = x + slot * 0.45,
        );
    }
    out.push_str(
        "<line x1=\"0\" y1=\"85\" x2=\"300\" y2=\"85\" stroke=\"#d0d7de\"/></svg></figure>",
    );
}

fn reasons(rejected: &std::collections::BTreeMap<String, u64>) -> String {
    if rejected.is_empty() {
        return "none".to_owned();
    }
    let mut items = String::new();
    for (code, n) in rejected {
        let _ = write!(
            items,
            "<li data-reason=\"{}\"><code>{}</code> {}</li>",
            escape(code),
            escape(code),
            thousands(*n)
        );
    }
    format!("<ul class=\"reasons\">{items}</ul>")
}

fn audience_row(out: &mut String, a: &AudienceStatus) {
    let (outcome, files, rejected, date) = match &a.last_night {
        Some(n) => (
            format!(
                "{} <span class=\"meta\">{}</span>{}",
                outcome_html(n.outcome),
                n.run_date,
                n.error
                    .as_ref()
                    .map(|e| format!("<br><span class=\"meta error\">{}</span>", escape(e)))
                    .unwrap_or_default()
            ),
            n.files
                .iter()
                .map(|(t, rows, o)| {
                    format!(
                        "<span data-file=\"{t}\" data-rows=\"{rows}\">{t}: {} {}</span>",
                        thousands(*rows),
                        if *o == Outcome::Delivered {
                            String::new()
                        } else {
                            format!("({})", escape(o.label()))
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>"),
            reasons(&n.rejected),
            outcome_key(n.outcome),
        ),
        None => (
            outcome_html(Outcome::NotDelivered) + " <span class=\"meta\">never</span>",
            "–".to_owned(),
            "–".to_owned(),
            "never".to_owned(),
        ),
    };
    let _ = write!(
        out,
        "<tr id=\"audience-{id}\" data-outcome=\"{date}\"><td><a href=\"audiences/{id}\">{id}</a></td>\
         <td>{name}</td><td>{connected}</td><td class=\"num members\">{members}</td>\
         <td class=\"newest\">{newest}</td><td class=\"outcome\">{outcome}</td>\
         <td class=\"files\">{files}</td><td class=\"rejected\">{rejected}</td></tr>",
        id = escape(&a.id),
        name = escape(&a.external_name),
        connected = match a.connected {
            Some(true) => "yes".to_owned(),
            Some(false) => "<span class=\"meta\">no</span>".to_owned(),
            None => format!("<span class=\"meta\">{}</span>", escape(&a.source)),
        },
        members = a.members.map_or_else(|| "–".to_owned(), thousands),
        newest = a
            .newest_change
            .as_ref()
            .map_or_else(|| "–".to_owned(), |t| escape(t)),
    );
}

/// The overview.
pub(crate) fn index(model: &StatusModel) -> String {
    let mut out = String::with_capacity(16 << 10);
    head(
        &mut out,
        &format!("LiveRamp connector: {}", model.configuration_name),
    );
    header(&mut out, model);
    out.push_str("<main><div class=\"summary\">");
    let _ = write!(
        out,
        "<span class=\"pill\" id=\"summary\">{} audience{}: <span class=\"delivered\">{} \
         delivered</span> last night, <span class=\"{}\">{} need attention</span>, {} never \
         delivered</span>",
        model.audiences.len(),
        if model.audiences.len() == 1 { "" } else { "s" },
        model.delivered_last_night,
        if model.needing_attention > 0 {
            "failed"
        } else {
            "meta"
        },
        model.needing_attention,
        model.never_delivered
    );
    ingest_chart(&mut out, model);
    out.push_str("</div>");
    if model.audiences.is_empty() {
        out.push_str("<p id=\"empty\">No audience yet: connect one in mParticle (an audience subscription reaches this connector), or add one with a members file to the configuration.</p>");
    } else {
        out.push_str(
            "<div class=\"table\"><table id=\"audiences\"><thead><tr><th>ID</th><th>External \
             name</th><th>Connected</th><th>Members now</th><th>Newest change</th><th>Last \
             night</th><th>Rows per file</th><th>Rejected by reason</th></tr></thead><tbody>",
        );
        for a in &model.audiences {
            audience_row(&mut out, a);
        }
        out.push_str("</tbody></table></div><h2>The last 30 nights</h2><div class=\"charts\">");
        for a in &model.audiences {
            nights_chart(&mut out, a);
        }
        out.push_str("</div>");
    }
    out.push_str("</main>");
    footer(&mut out, model);
    out.push_str("</body></html>\n");
    out
}

/// One audience's nights.
pub(crate) fn audience(model: &StatusModel, a: &AudienceStatus) -> String {
    let mut out = String::with_capacity(16 << 10);
    head(
        &mut out,
        &format!("{} ({}): LiveRamp connector", a.external_name, a.id),
    );
    header(&mut out, model);
    let _ = write!(
        out,
        "<main><p><a href=\"../\">← all audiences</a></p><h2 id=\"title\">Audience {} · {}</h2>\
         <p class=\"meta\">{} · members now {} · newest change {}</p>",
        escape(&a.id),
        escape(&a.external_name),
        match a.connected {
            Some(true) => "connected".to_owned(),
            Some(false) => "disconnected: no longer delivered".to_owned(),
            None => format!("from a {}", escape(&a.source)),
        },
        a.members.map_or_else(|| "unknown".to_owned(), thousands),
        a.newest_change
            .as_ref()
            .map_or_else(|| "none".to_owned(), |t| escape(t)),
    );
    nights_chart(&mut out, a);
    if a.nights.is_empty() {
        out.push_str("<p id=\"never\">Never delivered.</p>");
    }
    out.push_str(
        "<div class=\"table\"><table id=\"nights\"><thead><tr><th>Night</th><th>File</th>\
         <th>Outcome</th><th>Rows</th><th>Bytes</th><th>SHA-256</th><th>Attempts</th>\
         <th>Rejected by reason</th></tr></thead><tbody>",
    );
    for night in &a.nights {
        for (i, f) in night.files.iter().enumerate() {
            let _ = write!(
                out,
                "<tr class=\"file\" data-date=\"{date}\" data-type=\"{t}\" data-rows=\"{rows}\">\
                 <td>{night_cell}</td><td><code>{name}</code></td><td>{outcome}{error}</td>\
                 <td class=\"num\">{rows_text}</td><td class=\"num\">{bytes}</td>\
                 <td><code>{sha}</code></td><td class=\"num\">{attempts}</td><td>{reasons}</td></tr>",
                date = night.run_date,
                t = escape(&f.data_type),
                rows = f.rows,
                night_cell = if i == 0 {
                    format!(
                        "{}{}",
                        night.run_date,
                        night
                            .members
                            .map(|m| format!(
                                "<br><span class=\"meta\">{} members{}</span>",
                                thousands(m),
                                night
                                    .malformed_members
                                    .filter(|n| *n > 0)
                                    .map(|n| format!(", {} malformed", thousands(n)))
                                    .unwrap_or_default()
                            ))
                            .unwrap_or_default()
                    )
                } else {
                    String::new()
                },
                name = escape(&f.name),
                outcome = outcome_html(f.outcome),
                error = f
                    .error
                    .as_ref()
                    .map(|e| format!("<br><span class=\"meta error\">{}</span>", escape(e)))
                    .unwrap_or_default(),
                rows_text = thousands(f.rows),
                bytes = thousands(f.bytes),
                sha = escape(&f.sha256),
                attempts = f.attempts,
                reasons = reasons(&f.rejected),
            );
        }
    }
    out.push_str("</tbody></table></div></main>");
    footer(&mut out, model);
    out.push_str("</body></html>\n");
    out
}

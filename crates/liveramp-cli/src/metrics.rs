//! Last-delivery gauges appended to the Firehose server's `GET /metrics`, from the ledger.

use std::fmt::Write as _;

use chrono::Utc;
use liveramp_connector::Connector;
use liveramp_scheduler::DeliveryId;

/// Prometheus text: per audience and data type, the last delivered night, its rows, and
/// whether the latest scheduled night was delivered (1), failed (0) or not tried yet (absent).
pub(crate) fn last_deliveries(connector: &Connector) -> String {
    let config = connector.config();
    let Ok(audiences) = connector.audiences() else {
        return String::new();
    };
    let latest = config
        .schedule
        .schedule
        .latest_run(Utc::now())
        .map(|r| r.date);
    let mut at = String::from(
        "# HELP liveramp_last_delivery_timestamp_seconds When the newest delivered night of an audience's file was recorded.\n\
         # TYPE liveramp_last_delivery_timestamp_seconds gauge\n",
    );
    let mut rows = String::from(
        "# HELP liveramp_last_delivery_rows Rows of the newest delivered night of an audience's file.\n\
         # TYPE liveramp_last_delivery_rows gauge\n",
    );
    let mut ok = String::from(
        "# HELP liveramp_last_night_delivered Whether the latest scheduled night of an audience's file was delivered (1) or failed (0).\n\
         # TYPE liveramp_last_night_delivered gauge\n",
    );
    for audience in &audiences {
        for data_type in config.data_types() {
            let delivery =
                DeliveryId::new(&config.configuration_name, &audience.id, data_type.as_str());
            let labels = format!(
                "audience=\"{}\",data_type=\"{}\"",
                audience.id.replace(['"', '\\', '\n'], "_"),
                data_type.as_str()
            );
            if let Ok(Some(record)) = connector.ledger().last_delivered(&delivery) {
                let _ = writeln!(
                    at,
                    "liveramp_last_delivery_timestamp_seconds{{{labels}}} {}",
                    record.at.timestamp()
                );
                let n: u64 = record.delivered.files.iter().map(|f| f.rows).sum();
                let _ = writeln!(rows, "liveramp_last_delivery_rows{{{labels}}} {n}");
            }
            if let Some(date) = latest
                && let Ok(status) = connector.ledger().status(&delivery.on(date))
            {
                if status.delivered.is_some() {
                    let _ = writeln!(ok, "liveramp_last_night_delivered{{{labels}}} 1");
                } else if status.last_error.is_some() {
                    let _ = writeln!(ok, "liveramp_last_night_delivered{{{labels}}} 0");
                }
            }
        }
    }
    at + &rows + &ok
}

//! The visible period's rows as CSV (the tab's "Export…" and `sockeye --history --csv`) and
//! as JSON lines (`--json`): one row per bucket, app and user, times in local ISO 8601.

use gettextrs::gettext;
use gtk::glib::TimeZone;
use sockeye_protocol::recorder::{UsageRow, OTHER_USERS_APP, SYSTEM_APP};
use std::borrow::Cow;
use std::io::Write;

use super::period::local_time;

/// The CSV header line's columns.
pub const CSV_COLUMNS: [&str; 6] = [
    "bucket_start",
    "app",
    "name",
    "uid",
    "received_bytes",
    "sent_bytes",
];

/// The name a row is shown with: the translated "Other users" and "System" for the two
/// summed rows, else the recorded name (or the app key when the recorder had none).
pub fn display_name(row: &UsageRow) -> String {
    match row.app.as_str() {
        OTHER_USERS_APP => gettext("Other Users"),
        SYSTEM_APP => gettext("System"),
        _ if row.display_name.is_empty() => row.app.clone(),
        _ => row.display_name.clone(),
    }
}

/// `t` (seconds since the epoch) as local ISO 8601 with the offset: `2026-12-07T14:00:00+01:00`.
pub fn iso_local(t: u64, tz: &TimeZone) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|t| local_time(t, tz))
        .and_then(|d| d.format("%Y-%m-%dT%H:%M:%S%:z").ok())
        .map(|s| s.to_string())
        .unwrap_or_else(|| t.to_string())
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, with quotes
/// doubled.
pub fn csv_field(value: &str) -> Cow<'_, str> {
    if value.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// `rows` sorted by bucket, then app and uid: the order every export writes.
pub fn sorted(rows: &[UsageRow]) -> Vec<&UsageRow> {
    let mut rows: Vec<&UsageRow> = rows.iter().collect();
    rows.sort_by(|a, b| (a.bucket_start, &a.app, a.uid).cmp(&(b.bucket_start, &b.app, b.uid)));
    rows
}

/// Writes the header and `rows` as CSV with CRLF line ends (RFC 4180).
pub fn write_csv(rows: &[UsageRow], tz: &TimeZone, out: &mut impl Write) -> std::io::Result<()> {
    write!(out, "{}\r\n", CSV_COLUMNS.join(","))?;
    for row in sorted(rows) {
        let name = display_name(row);
        write!(
            out,
            "{},{},{},{},{},{}\r\n",
            iso_local(row.bucket_start, tz),
            csv_field(&row.app),
            csv_field(&name),
            row.uid,
            row.received_bytes,
            row.sent_bytes
        )?;
    }
    Ok(())
}

/// One JSON object per row and line: `bucket_start` (local ISO 8601), `app`, `name`, `uid`,
/// `sent_bytes`, `received_bytes`.
pub fn write_json_lines(
    rows: &[UsageRow],
    tz: &TimeZone,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for row in sorted(rows) {
        let line = serde_json::json!({
            "bucket_start": iso_local(row.bucket_start, tz),
            "app": row.app,
            "name": display_name(row),
            "uid": row.uid,
            "sent_bytes": row.sent_bytes,
            "received_bytes": row.received_bytes,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

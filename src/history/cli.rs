//! `sockeye --history [--since 24h|7d|2026-12-01] [--by hour|day] [--csv|--json]`: the
//! recorder's rows in a terminal, with no display needed.

use gettextrs::gettext;
use gtk::glib::{DateTime, TimeZone};
use sockeye_protocol::recorder::UsageRow;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use super::client::{recorder_path, HistoryError, RecorderClient};
use super::export::{self, display_name};
use super::period::{local_time, Bucket};
use crate::format::{NumberFormat, Units};

/// How far back `--since` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Hours(u32),
    Days(u32),
    /// From local midnight of this date (year, month, day).
    Date(i32, i32, i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Table,
    Csv,
    Json,
}

/// The parsed options of `--history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryArgs {
    pub since: Since,
    /// Bucket length; by default hours for up to two days, days beyond.
    pub by: Option<Bucket>,
    pub output: Output,
}

/// Parses the arguments after `--history`. The error is a sentence for the terminal.
pub fn parse(args: &[OsString]) -> Result<HistoryArgs, String> {
    let mut parsed = HistoryArgs {
        since: Since::Hours(24),
        by: None,
        output: Output::Table,
    };
    let mut args = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.to_string(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next().map(|v| v.into_owned()))
                .ok_or_else(|| gettext("{} needs a value").replacen("{}", name, 1))
        };
        match name.as_str() {
            "--since" => parsed.since = parse_since(&value("--since")?)?,
            "--by" => {
                parsed.by = Some(match value("--by")?.as_str() {
                    "hour" => Bucket::Hour,
                    "day" => Bucket::Day,
                    other => {
                        return Err(gettext("Unknown --by “{}”: use “hour” or “day”.")
                            .replacen("{}", other, 1))
                    }
                })
            }
            "--csv" if parsed.output == Output::Table => parsed.output = Output::Csv,
            "--json" if parsed.output == Output::Table => parsed.output = Output::Json,
            "--csv" | "--json" => return Err(gettext("Choose one of --csv and --json.")),
            other => {
                return Err(gettext("Unknown option “{}” for --history.").replacen("{}", other, 1))
            }
        }
    }
    Ok(parsed)
}

/// `24h`, `7d` or `2026-12-01`.
fn parse_since(text: &str) -> Result<Since, String> {
    let bad = || {
        gettext("Cannot read --since “{}”: use hours (24h), days (7d) or a date (2026-12-01).")
            .replacen("{}", text, 1)
    };
    let number = |digits: &str| {
        digits
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0 && *n <= 3660 * 24)
    };
    if let Some(hours) = text.strip_suffix('h') {
        return number(hours).map(Since::Hours).ok_or_else(bad);
    }
    if let Some(days) = text.strip_suffix('d') {
        return number(days)
            .filter(|d| *d <= 3660)
            .map(Since::Days)
            .ok_or_else(bad);
    }
    let parts: Vec<&str> = text.split('-').collect();
    if let [y, m, d] = parts[..] {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse()) {
            if DateTime::from_local(y, m, d, 0, 0, 0.0).is_ok() {
                return Ok(Since::Date(y, m, d));
            }
        }
    }
    Err(bad())
}

/// The query for `args` at `now`: (from, to, bucket). `from` is moved back to the start of
/// its hour or local day so the first bucket is whole.
pub fn query(args: &HistoryArgs, now: &DateTime) -> Option<(u64, u64, Bucket)> {
    let tz = now.timezone();
    let to = now.to_unix();
    let from = match args.since {
        Since::Hours(h) => to - 3600 * i64::from(h),
        Since::Days(d) => to - 86_400 * i64::from(d),
        Since::Date(y, m, d) => DateTime::new(&tz, y, m, d, 0, 0, 0.0).ok()?.to_unix(),
    };
    let bucket = args.by.unwrap_or(if to - from <= 2 * 86_400 {
        Bucket::Hour
    } else {
        Bucket::Day
    });
    let start = local_time(from, &tz)?;
    let floored = match bucket {
        Bucket::Hour => DateTime::new(
            &tz,
            start.year(),
            start.month(),
            start.day_of_month(),
            start.hour(),
            0,
            0.0,
        ),
        Bucket::Day => DateTime::new(
            &tz,
            start.year(),
            start.month(),
            start.day_of_month(),
            0,
            0,
            0.0,
        ),
    }
    .ok()?
    .to_unix();
    Some((
        u64::try_from(floored.min(to)).ok()?,
        u64::try_from(to).ok()?,
        bucket,
    ))
}

/// Runs `--history` with the arguments after it.
pub fn run(args: &[OsString]) -> ExitCode {
    let args = match parse(args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("sockeye: {message}");
            return ExitCode::from(2);
        }
    };
    let tz = TimeZone::local();
    let Some((from, to, bucket)) = DateTime::now(&tz).ok().and_then(|now| query(&args, &now))
    else {
        eprintln!("sockeye: {}", gettext("Cannot read the local time."));
        return ExitCode::FAILURE;
    };
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HistoryError::Spawn)
        .and_then(|runtime| {
            runtime.block_on(async {
                let client = RecorderClient::connect().await?;
                if !client.is_running().await? {
                    return Err(HistoryError::NotRunning);
                }
                client.usage(from, to, bucket.seconds()).await
            })
        });
    let rows = match fetched {
        Ok(rows) => rows,
        Err(HistoryError::NotRunning) => {
            eprintln!("sockeye: {}", off_message());
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("sockeye: {}", error.message());
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match args.output {
        Output::Csv => export::write_csv(&rows, &tz, &mut out),
        Output::Json => export::write_json_lines(&rows, &tz, &mut out),
        Output::Table => write_table(&rows, &tz, bucket, &NumberFormat::from_locale(), &mut out),
    }
    .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sockeye: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What to tell a terminal user when no recorder runs.
pub fn off_message() -> String {
    gettext(
        "History is off: no recorder runs on the system bus. Turn it on in Sockeye’s History tab, or run: pkexec {} --enable-service",
    )
    .replacen("{}", &recorder_path().display().to_string(), 1)
}

/// A table for people: start, name, user, received, sent; a total line at the end.
pub fn write_table(
    rows: &[UsageRow],
    tz: &TimeZone,
    bucket: Bucket,
    numbers: &NumberFormat,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let time_format = match bucket {
        Bucket::Hour => "%Y-%m-%d %H:%M",
        Bucket::Day => "%Y-%m-%d",
    };
    let header = [
        gettext("Start"),
        gettext("Application"),
        gettext("User"),
        gettext("Received"),
        gettext("Sent"),
    ];
    let mut lines: Vec<[String; 5]> = vec![header];
    let (mut received, mut sent) = (0u64, 0u64);
    for row in export::sorted(rows) {
        received = received.saturating_add(row.received_bytes);
        sent = sent.saturating_add(row.sent_bytes);
        let start = i64::try_from(row.bucket_start)
            .ok()
            .and_then(|t| local_time(t, tz))
            .and_then(|d| d.format(time_format).ok())
            .map(|s| s.to_string())
            .unwrap_or_default();
        let user = match row.uid {
            sockeye_protocol::recorder::OTHER_USERS_UID => String::new(),
            uid => uid.to_string(),
        };
        lines.push([
            start,
            display_name(row),
            user,
            numbers.amount(row.received_bytes, Units::Bytes),
            numbers.amount(row.sent_bytes, Units::Bytes),
        ]);
    }
    lines.push([
        gettext("Total"),
        String::new(),
        String::new(),
        numbers.amount(received, Units::Bytes),
        numbers.amount(sent, Units::Bytes),
    ]);
    let mut widths = [0usize; 5];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for line in &lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            // Amounts line up on the right, text on the left.
            if i >= 3 {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            if i + 1 < line.len() {
                text.push_str("  ");
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

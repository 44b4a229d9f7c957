//! How snapshots look in the terminal: the `--json` line and the `--trace` table.

use serde::Serialize;
use sockeye_engine::{HostStats, ProcessStats, Snapshot, Transport};
use std::fmt::Write;

/// The `--json` object: the snapshot's fields, then `hosts`, then whether the per-process
/// socket counters are available.
#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(flatten)]
    snapshot: &'a Snapshot,
    /// `{"name": string or null, "addresses": [..], "sent_bytes", "received_bytes",
    /// "sent_rate", "received_rate", "pids": [..]}`, the busiest first.
    hosts: &'a [HostStats],
    /// Short-lived UDP senders are found from the kernel's route-lookup tracepoints
    /// (`fib:fib_table_lookup`, `fib6:fib6_table_lookup`, and the privilege to read
    /// them): without, a sender whose socket closed before its first packet was looked
    /// up lands in "unknown UDP".
    sender_log: bool,
    /// Route lookups the sender log missed because the kernel's ring was full, since
    /// the capture started.
    sender_events_lost: u64,
    /// The kernel reports socket-layer bytes (`sock:sock_send_length`, Linux 6.3+, and the
    /// privilege to read it): without them each process's `socket_sent_bytes` and
    /// `socket_received_bytes` are left out, never zero.
    socket_counters: bool,
    /// Send and receive calls the socket counters missed because the kernel's ring was
    /// full, since the capture started: with any, some socket counters are low.
    socket_events_lost: u64,
}

/// One `--json` line (without the newline): the snapshot exactly as serialised, with the
/// remote hosts as of that snapshot.
pub fn json_line(snapshot: &Snapshot, hosts: &[HostStats]) -> Result<String, serde_json::Error> {
    serde_json::to_string(&JsonLine {
        snapshot,
        hosts,
        sender_log: snapshot.totals.sender_log,
        sender_events_lost: snapshot.totals.sender_events_lost,
        socket_counters: snapshot.totals.socket_counters,
        socket_events_lost: snapshot.totals.socket_events_lost,
    })
}

/// Clears the screen and moves the cursor home (only written to a terminal).
pub const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

/// The `--trace` table for one snapshot: processes by traffic, the unattributed buckets
/// and the interfaces, in human units. With socket counters, two more columns give what
/// each process wrote to and read from its sockets (payload, no headers).
pub fn trace_table(snapshot: &Snapshot) -> String {
    let sockets = snapshot.totals.socket_counters;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sockeye  {}  interval {} ms  ({} of captured bytes attributed)",
        utc_time(snapshot.time),
        snapshot.interval_ms,
        attributed_share(snapshot),
    );
    let _ = write!(
        out,
        "{:>7}  {:<20} {:<10} {:>10} {:>10} {:>12} {:>12}",
        "PID", "PROCESS", "USER", "SENT", "RECEIVED", "SEND RATE", "RECV RATE"
    );
    if sockets {
        let _ = write!(out, " {:>10} {:>10}", "APP SENT", "APP RECV");
    }
    out.push('\n');
    let mut processes: Vec<&ProcessStats> = snapshot.processes.iter().collect();
    processes.sort_by(|a, b| {
        let total = |p: &ProcessStats| p.sent_bytes.saturating_add(p.received_bytes);
        total(b).cmp(&total(a)).then(a.pid.cmp(&b.pid))
    });
    for p in processes {
        let name = match (p.exited, p.details_unavailable) {
            (true, _) => format!("{} (exited)", p.name),
            // Its command line could not be read in time: the name may not say enough.
            (false, true) => format!("{} (no details)", p.name),
            (false, false) => p.name.clone(),
        };
        let _ = write!(
            out,
            "{:>7}  {:<20} {:<10} {:>10} {:>10} {:>12} {:>12}",
            p.pid,
            clip(&name, 20),
            clip(&p.user, 10),
            bytes(p.sent_bytes),
            bytes(p.received_bytes),
            rate(p.sent_rate),
            rate(p.received_rate),
        );
        if sockets {
            let socket = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), bytes);
            let _ = write!(
                out,
                " {:>10} {:>10}",
                socket(p.socket_sent_bytes),
                socket(p.socket_received_bytes)
            );
        }
        out.push('\n');
    }
    if sockets && snapshot.totals.socket_events_lost > 0 {
        let _ = writeln!(
            out,
            "         ({} send and receive calls missed: some APP columns are low)",
            snapshot.totals.socket_events_lost
        );
    }
    if !snapshot.totals.sender_log {
        let _ = writeln!(
            out,
            "         (short-lived UDP senders are not traced on this system: \
             some may count as unknown UDP)"
        );
    } else if snapshot.totals.sender_events_lost > 0 {
        let _ = writeln!(
            out,
            "         ({} UDP sends untraced: some short-lived senders may count as unknown UDP)",
            snapshot.totals.sender_events_lost
        );
    }
    for bucket in &snapshot.unattributed {
        let label = match bucket.protocol {
            Transport::Tcp => "unknown TCP",
            Transport::Udp => "unknown UDP",
            Transport::Icmp => "unknown ICMP",
            Transport::Other => "other",
            Transport::Tunnel => "kernel tunnels",
        };
        let _ = writeln!(
            out,
            "{:>7}  {:<20} {:<10} {:>10} {:>10}",
            "-",
            label,
            "",
            bytes(bucket.sent_bytes),
            bytes(bucket.received_bytes),
        );
    }
    let _ = writeln!(
        out,
        "{:>7}  {:<31} {:>10} {:>10} {:>12}",
        "", "INTERFACE", "SENT", "RECEIVED", "DROPPED"
    );
    for interface in &snapshot.interfaces {
        let _ = writeln!(
            out,
            "{:>7}  {:<31} {:>10} {:>10} {:>12}",
            "",
            clip(&interface.name, 31),
            bytes(interface.sent_bytes),
            bytes(interface.received_bytes),
            interface.dropped,
        );
    }
    out
}

/// Most hosts the `--trace --hosts` table lists (the busiest).
const TRACE_HOSTS: usize = 200;

/// The `--trace --hosts` table: the header line, then remote hosts by traffic (a name, or
/// an address when no DNS answer named it), their addresses and the pids that talked to
/// them.
pub fn hosts_table(snapshot: &Snapshot, hosts: &[HostStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sockeye  {}  interval {} ms  ({} remote hosts)",
        utc_time(snapshot.time),
        snapshot.interval_ms,
        hosts.len(),
    );
    let _ = writeln!(
        out,
        "{:<32} {:<24} {:>10} {:>10} {:>12} {:>12}  PIDS",
        "HOST", "ADDRESSES", "SENT", "RECEIVED", "SEND RATE", "RECV RATE"
    );
    for host in hosts.iter().take(TRACE_HOSTS) {
        let addresses: Vec<String> = host.addresses.iter().map(ToString::to_string).collect();
        let name = host.name.clone().unwrap_or_else(|| addresses.join(" "));
        let pids: Vec<String> = host.pids.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "{:<32} {:<24} {:>10} {:>10} {:>12} {:>12}  {}",
            clip(&name, 32),
            clip(&addresses.join(" "), 24),
            bytes(host.sent_bytes),
            bytes(host.received_bytes),
            rate(host.sent_rate),
            rate(host.received_rate),
            pids.join(" "),
        );
    }
    if hosts.len() > TRACE_HOSTS {
        let _ = writeln!(out, "… and {} more", hosts.len() - TRACE_HOSTS);
    }
    out
}

/// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if value < 1024 {
        return format!("{value} B");
    }
    let mut scaled = value as f64 / 1024.0;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{scaled:.1} {}", UNITS[unit])
}

/// A rate in bytes per second, in the same units: `1.5 KiB/s`.
pub fn rate(bytes_per_second: f64) -> String {
    let whole = if bytes_per_second.is_finite() && bytes_per_second > 0.0 {
        bytes_per_second.round() as u64
    } else {
        0
    };
    format!("{}/s", bytes(whole))
}

fn attributed_share(snapshot: &Snapshot) -> String {
    let totals = snapshot.totals;
    if totals.captured_bytes == 0 {
        return "-".into();
    }
    let share = totals.attributed_bytes as f64 * 100.0 / totals.captured_bytes as f64;
    format!("{share:.1}%")
}

/// At most `width` characters of `text`.
fn clip(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc_time(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests;

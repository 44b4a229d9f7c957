//! A stand-in for `sockeye-recorder` in tests: serves `io.github.sockeye.Recorder1` with
//! known rows on a private dbus-daemon that the app under test takes for its system bus
//! (`DBUS_SYSTEM_BUS_ADDRESS`). Day buckets are summed from the hourly rows at local
//! midnights (the test's `TZ`), as the real recorder does.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use sockeye_protocol::recorder::{
    ExecutableUsageRow, RecorderStatus, UsageRow, OTHER_USERS_APP, OTHER_USERS_UID,
    RECORDER_BUS_NAME, RECORDER_PATH, SYSTEM_APP,
};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// What the fake serves: hourly rows, executables per app, spans.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub rows: Vec<UsageRow>,
    pub executables: Vec<(String, ExecutableUsageRow)>,
    pub spans: Vec<(u64, u64)>,
}

/// A private bus (session configuration) that plays the system bus.
pub struct PrivateBus {
    pub address: String,
    daemon: Child,
}

impl PrivateBus {
    pub fn start() -> Self {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().expect("bus stdout"))
            .read_line(&mut line)
            .expect("bus address");
        Self {
            address: line.trim().to_owned(),
            daemon,
        }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The fake recorder's object; owns the name while the value lives.
pub struct FakeRecorder {
    runtime: tokio::runtime::Runtime,
    connection: Option<zbus::Connection>,
    pub recorded: Arc<Mutex<Recorded>>,
}

struct Service {
    recorded: Arc<Mutex<Recorded>>,
}

/// Local midnight before `t` (the `TZ` of this process).
fn local_day(t: u64) -> u64 {
    let local = gtk::glib::DateTime::from_unix_local(t as i64).unwrap();
    gtk::glib::DateTime::new(
        &local.timezone(),
        local.year(),
        local.month(),
        local.day_of_month(),
        0,
        0,
        0.0,
    )
    .unwrap()
    .to_unix() as u64
}

fn bucket_of(t: u64, bucket_s: u32) -> u64 {
    if bucket_s >= 86_400 {
        local_day(t)
    } else {
        t - t % u64::from(bucket_s)
    }
}

#[zbus::interface(name = "io.github.sockeye.Recorder1")]
impl Service {
    fn get_usage(&self, from: u64, to: u64, bucket_s: u32) -> zbus::fdo::Result<Vec<UsageRow>> {
        if from > to || bucket_s == 0 {
            return Err(zbus::fdo::Error::InvalidArgs("bad range".into()));
        }
        let recorded = self.recorded.lock().unwrap();
        let mut sums: BTreeMap<(u64, String, u32), UsageRow> = BTreeMap::new();
        for row in recorded
            .rows
            .iter()
            .filter(|r| r.bucket_start >= from && r.bucket_start < to)
        {
            let start = bucket_of(row.bucket_start, bucket_s);
            let sum = sums
                .entry((start, row.app.clone(), row.uid))
                .or_insert_with(|| UsageRow {
                    bucket_start: start,
                    sent_bytes: 0,
                    received_bytes: 0,
                    ..row.clone()
                });
            sum.sent_bytes += row.sent_bytes;
            sum.received_bytes += row.received_bytes;
        }
        Ok(sums.into_values().collect())
    }

    fn get_app_usage(
        &self,
        app: &str,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> zbus::fdo::Result<Vec<ExecutableUsageRow>> {
        let recorded = self.recorded.lock().unwrap();
        let mut sums: BTreeMap<(u64, String), ExecutableUsageRow> = BTreeMap::new();
        for (_, row) in recorded
            .executables
            .iter()
            .filter(|(a, r)| a == app && r.bucket_start >= from && r.bucket_start < to)
        {
            let start = bucket_of(row.bucket_start, bucket_s.max(1));
            let sum = sums
                .entry((start, row.executable.clone()))
                .or_insert_with(|| ExecutableUsageRow {
                    bucket_start: start,
                    executable: row.executable.clone(),
                    sent_bytes: 0,
                    received_bytes: 0,
                });
            sum.sent_bytes += row.sent_bytes;
            sum.received_bytes += row.received_bytes;
        }
        Ok(sums.into_values().collect())
    }

    fn get_spans(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        self.recorded
            .lock()
            .unwrap()
            .spans
            .iter()
            .filter(|(s, e)| *e > from && *s < to)
            .map(|(s, e)| ((*s).max(from), (*e).min(to)))
            .collect()
    }

    fn get_status(&self) -> RecorderStatus {
        let recorded = self.recorded.lock().unwrap();
        RecorderStatus {
            recording_since: recorded.spans.iter().map(|s| s.0).min().unwrap_or(0),
            running_since: recorded.spans.last().map(|s| s.0).unwrap_or(0),
            hourly_days: 90,
            retention_days: 730,
            database_bytes: 1 << 20,
            pending_rows: 0,
            sees_all: false,
        }
    }

    fn clear(&self) {
        let mut recorded = self.recorded.lock().unwrap();
        recorded.rows.clear();
        recorded.executables.clear();
    }
}

impl FakeRecorder {
    /// Serves `recorded` on the bus at `address` under the recorder's name.
    pub fn serve(address: &str, recorded: Recorded) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let recorded = Arc::new(Mutex::new(recorded));
        let service = Service {
            recorded: recorded.clone(),
        };
        let connection = runtime.block_on(async {
            zbus::connection::Builder::address(address)
                .unwrap()
                .name(RECORDER_BUS_NAME)
                .unwrap()
                .serve_at(RECORDER_PATH, service)
                .unwrap()
                .build()
                .await
                .expect("serve the fake recorder")
        });
        Self {
            runtime,
            connection: Some(connection),
            recorded,
        }
    }

    /// Gives the name up (the recorder stopped).
    pub fn stop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.runtime.block_on(async {
                let _ = connection.release_name(RECORDER_BUS_NAME).await;
                let _ = connection.close().await;
            });
        }
    }
}

impl Drop for FakeRecorder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start of the current hour, seconds since the epoch.
pub fn this_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    now - now % 3600
}

pub fn usage(t: u64, app: &str, name: &str, uid: u32, sent: u64, received: u64) -> UsageRow {
    UsageRow {
        bucket_start: t,
        app: app.into(),
        display_name: name.into(),
        uid,
        sent_bytes: sent,
        received_bytes: received,
    }
}

/// Realistic use for screenshots: several apps over two days, with the recorder off from
/// five to three hours ago.
pub fn realistic(uid: u32) -> Recorded {
    let now_hour = this_hour();
    let first = local_day(now_hour) - 86_400;
    let gap = (now_hour - 5 * 3600, now_hour - 3 * 3600);
    let apps: [(&str, &str, u64, u64); 6] = [
        ("org.mozilla.firefox", "Firefox", 38_000_000, 3_100_000),
        ("org.gnome.Fractal", "Fractal", 4_200_000, 900_000),
        ("com.valvesoftware.Steam", "Steam", 160_000_000, 2_000_000),
        ("/usr/bin/rsync", "rsync", 600_000, 41_000_000),
        ("org.gnome.Software", "Software", 12_000_000, 300_000),
        ("/usr/bin/ssh", "ssh", 250_000, 180_000),
    ];
    let mut rows = Vec::new();
    let mut executables = Vec::new();
    let mut t = first;
    let mut k = 0u64;
    while t <= now_hour {
        let in_gap = t >= gap.0 && t < gap.1;
        let hour = ((t - first) / 3600) % 24;
        // Busier in the working day and the evening.
        let weight = match hour {
            0..=6 => 1,
            7..=11 => 6,
            12..=17 => 8,
            _ => 5,
        };
        if !in_gap {
            for (i, (app, name, recv, sent)) in apps.iter().enumerate() {
                let wobble = 1 + (k * 7 + i as u64 * 13) % 5;
                // Steam only some hours, rsync at night.
                if (i == 2 && hour % 5 != 1) || (i == 3 && hour > 5) {
                    continue;
                }
                let r = recv / 10 * weight * wobble / 6;
                let s = sent / 10 * weight * wobble / 6;
                rows.push(usage(t, app, name, uid, s, r));
                if i == 0 {
                    executables.push((
                        app.to_string(),
                        ExecutableUsageRow {
                            bucket_start: t,
                            executable: "/app/lib/firefox/firefox".into(),
                            sent_bytes: s * 2 / 3,
                            received_bytes: r * 3 / 4,
                        },
                    ));
                    executables.push((
                        app.to_string(),
                        ExecutableUsageRow {
                            bucket_start: t,
                            executable: "/app/lib/firefox/firefox-bin".into(),
                            sent_bytes: s - s * 2 / 3,
                            received_bytes: r - r * 3 / 4,
                        },
                    ));
                }
            }
            rows.push(usage(
                t,
                SYSTEM_APP,
                "",
                0,
                20_000 * weight,
                90_000 * weight,
            ));
            rows.push(usage(
                t,
                OTHER_USERS_APP,
                "",
                OTHER_USERS_UID,
                30_000 * weight,
                400_000 * weight,
            ));
        }
        t += 3600;
        k += 1;
    }
    Recorded {
        rows,
        executables,
        spans: vec![(first, gap.0), (gap.1, now_hour + 3600)],
    }
}

//! A stand-in for the helper that invents `SOCKEYE_FAKE_HELPER=<n>` busy processes, for the
//! GUI cost benchmark (`build-aux/gui-bench`) and screenshots. Built only with the cargo
//! feature `fake-helper`, and even then used only when that variable is set.

use sockeye_protocol::{Connection, Interface, Process, Unattributed, Update};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The process names (and application ids) the fake processes take in turn. No app ids:
/// this machine has none of their desktop files, so rows group by process name.
const APPS: [(&str, &str); 8] = [
    ("firefox", ""),
    ("evolution", ""),
    ("telegram-desktop", ""),
    ("syncthing", ""),
    ("flatpak", ""),
    ("gnome-software", ""),
    ("geary", ""),
    ("transmission-gtk", ""),
];

#[derive(Debug)]
struct State {
    capturing: bool,
    interval_ms: u32,
    tick: u64,
    /// (sent, received) bytes per fake process.
    totals: Vec<(u64, u64)>,
    /// The command lines went out with an update of this capture (as the real helper, the
    /// fake sends each once).
    command_lines_sent: bool,
}

#[derive(Debug)]
pub struct FakeHelper {
    state: Mutex<State>,
}

impl FakeHelper {
    /// How many processes `SOCKEYE_FAKE_HELPER` asks for, if set.
    pub fn requested() -> Option<usize> {
        std::env::var("SOCKEYE_FAKE_HELPER")
            .ok()?
            .trim()
            .parse()
            .ok()
            .map(|n: usize| n.clamp(1, 100_000))
    }

    pub fn new(processes: usize) -> Self {
        Self {
            state: Mutex::new(State {
                capturing: false,
                interval_ms: 1000,
                tick: 0,
                totals: vec![(0, 0); processes],
                command_lines_sent: false,
            }),
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a panic elsewhere already; keep serving the data.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn start(&self, interval_ms: u32) {
        self.with_state(|s| {
            if !s.capturing {
                s.command_lines_sent = false;
            }
            s.capturing = true;
            s.interval_ms = interval_ms.clamp(100, 60_000);
        });
    }

    pub fn stop(&self) {
        self.with_state(|s| s.capturing = false);
    }

    pub fn reset_totals(&self) {
        self.with_state(|s| s.totals.iter_mut().for_each(|t| *t = (0, 0)));
    }

    /// pid → command line of those of `pids` that are fake processes.
    pub fn command_lines(&self, pids: &[u32]) -> HashMap<u32, String> {
        let count = self.with_state(|s| s.totals.len());
        pids.iter()
            .filter_map(|&pid| {
                let index = usize::try_from(pid.checked_sub(FIRST_PID)?).ok()?;
                (index < count).then(|| (pid, command_line(index)))
            })
            .collect()
    }

    pub fn connections(&self, pid: u32) -> Vec<Connection> {
        (0..3u16)
            .map(|i| Connection {
                protocol: if i == 2 { "udp" } else { "tcp" }.into(),
                local: format!("127.0.0.1:{}", 40_000 + (pid % 20_000) as u16 + i),
                remote: format!("127.0.0.{}:{}", 2 + i, [443, 8080, 53][usize::from(i)]),
                sent_bytes: u64::from(pid) * 10 + u64::from(i) * 1000,
                received_bytes: u64::from(pid) * 40 + u64::from(i) * 5000,
                sent_rate: f64::from(i) * 120.0,
                received_rate: f64::from(i) * 900.0,
            })
            .collect()
    }

    pub async fn run_updates(&self, emit: impl Fn(Update) + Send + Sync) -> String {
        loop {
            let interval = self.with_state(|s| s.interval_ms);
            tokio::time::sleep(Duration::from_millis(u64::from(interval))).await;
            if let Some(update) = self.with_state(|s| s.capturing.then(|| next_update(s))) {
                emit(update);
            }
        }
    }
}

/// Pid of the first fake process; the others follow.
const FIRST_PID: u32 = 100_000;

fn command_line(index: usize) -> String {
    let (name, _) = APPS[index % APPS.len()];
    format!("/usr/bin/{name} --worker {index}")
}

/// Deterministic, varied traffic: each process has its own rhythm.
fn next_update(s: &mut State) -> Update {
    s.tick += 1;
    let seconds = f64::from(s.interval_ms) / 1000.0;
    let tick = s.tick;
    let processes = s
        .totals
        .iter_mut()
        .enumerate()
        .map(|(i, total)| {
            let phase = (tick as f64 / 4.0 + i as f64).sin().abs();
            let busy = i % 7 == 0;
            let received_rate = if busy {
                200_000.0 * phase
            } else {
                800.0 * phase
            };
            let sent_rate = received_rate / 6.0;
            total.0 += (sent_rate * seconds) as u64;
            total.1 += (received_rate * seconds) as u64;
            let (name, app_id) = APPS[i % APPS.len()];
            Process {
                pid: FIRST_PID + i as u32,
                name: name.into(),
                // Sent apart, once: `command_lines`.
                cmdline: String::new(),
                uid: 1000,
                user: "alice".into(),
                app_id: app_id.into(),
                exited: false,
                details_unavailable: false,
                sent_bytes: total.0,
                received_bytes: total.1,
                sent_packets: total.0 / 1000,
                received_packets: total.1 / 1000,
                sent_rate,
                received_rate,
            }
        })
        .collect();
    let attributed: u64 = s.totals.iter().map(|t| t.0 + t.1).sum();
    let command_lines = if std::mem::replace(&mut s.command_lines_sent, true) {
        HashMap::new()
    } else {
        (0..s.totals.len())
            .map(|i| (FIRST_PID + i as u32, command_line(i)))
            .collect()
    };
    Update {
        time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        interval_ms: s.interval_ms,
        processes,
        unattributed: vec![
            Unattributed {
                protocol: "tcp".into(),
                sent_bytes: attributed / 2000,
                received_bytes: attributed / 1000,
            },
            Unattributed {
                protocol: "icmp".into(),
                sent_bytes: tick * 84,
                received_bytes: tick * 84,
            },
        ],
        interfaces: vec![Interface {
            name: "eth0".into(),
            sent_bytes: attributed / 3,
            received_bytes: attributed,
            dropped: 0,
        }],
        command_lines,
    }
}

//! A stand-in for the helper that invents `SOCKEYE_FAKE_HELPER=<n>` busy processes, for the
//! GUI cost benchmark (`build-aux/gui-bench`) and screenshots. Built only with the cargo
//! feature `fake-helper`, and even then used only when that variable is set.
//!
//! Each fake app talks to a few named hosts (as the helper names them from DNS answers) and
//! some unnamed addresses; every address is a loopback or documentation one, so nothing a
//! screenshot shows, and no reverse lookup the GUI might try, reaches a real host.

use sockeye_protocol::{Connection, Host, Interface, Process, Unattributed, Update};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The process names and application ids the fake processes take in turn. Where no desktop
/// file has the id (the benchmark), a row is named by its id; the AppStream screenshots
/// (tests/appstream_screenshots.rs) install desktop files for them. flatpak is a system
/// process, without an application.
const APPS: [(&str, &str); 8] = [
    ("firefox", "org.mozilla.firefox"),
    ("evolution", "org.gnome.Evolution"),
    ("telegram-desktop", "org.telegram.desktop"),
    ("syncthing", "com.github.zocker_160.SyncThingy"),
    ("flatpak", ""),
    ("gnome-software", "org.gnome.Software"),
    ("geary", "org.gnome.Geary"),
    ("transmission-gtk", "com.transmissionbt.Transmission"),
];

/// A fake remote host: its name (empty: none seen), its addresses, port and service.
struct FakeHost {
    name: &'static str,
    addresses: &'static [&'static str],
    protocol: &'static str,
    port: u16,
    service: &'static str,
}

const HOSTS: [FakeHost; 10] = [
    FakeHost {
        name: "github.com",
        addresses: &["127.0.0.11", "127.0.0.12"],
        protocol: "tcp",
        port: 443,
        service: "https",
    },
    FakeHost {
        name: "fonts.gstatic.com",
        addresses: &["127.0.0.21"],
        protocol: "tcp",
        port: 443,
        service: "https",
    },
    FakeHost {
        name: "matrix.org",
        addresses: &["127.0.0.31"],
        protocol: "tcp",
        port: 443,
        service: "https",
    },
    FakeHost {
        name: "imap.fastmail.com",
        addresses: &["127.0.0.41"],
        protocol: "tcp",
        port: 993,
        service: "imaps",
    },
    FakeHost {
        name: "relays.syncthing.net",
        addresses: &["::1"],
        protocol: "tcp",
        port: 22067,
        service: "",
    },
    FakeHost {
        name: "",
        addresses: &["192.0.2.7"],
        protocol: "udp",
        port: 51413,
        service: "",
    },
    FakeHost {
        name: "dl.flathub.org",
        addresses: &["127.0.0.51"],
        protocol: "tcp",
        port: 443,
        service: "https",
    },
    FakeHost {
        name: "deb.debian.org",
        addresses: &["127.0.0.61"],
        protocol: "tcp",
        port: 80,
        service: "http",
    },
    FakeHost {
        name: "",
        addresses: &["2001:db8::5"],
        protocol: "tcp",
        port: 6881,
        service: "",
    },
    FakeHost {
        name: "",
        addresses: &["127.0.0.53"],
        protocol: "udp",
        port: 53,
        service: "domain",
    },
];

/// Which of [`HOSTS`] each of [`APPS`] talks to, busiest first (indices).
const APP_HOSTS: [&[usize]; 8] = [
    &[0, 1, 0, 9],
    &[3, 1],
    &[2, 9],
    &[4, 5],
    &[6],
    &[6, 7],
    &[3],
    &[5, 8, 5],
];

#[derive(Debug)]
struct State {
    capturing: bool,
    interval_ms: u32,
    tick: u64,
    /// (sent, received) bytes per fake process.
    totals: Vec<(u64, u64)>,
    /// (sent, received) bytes per second of each fake process over the last interval.
    rates: Vec<(f64, f64)>,
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
                rates: vec![(0.0, 0.0); processes],
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

    /// The connections of a fake process: one per entry of its app's hosts, sharing its
    /// totals and rates (the first the most).
    pub fn connections(&self, pid: u32) -> Vec<Connection> {
        let Some(index) = pid
            .checked_sub(FIRST_PID)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return Vec::new();
        };
        self.with_state(|s| {
            let (Some(totals), Some(rates)) = (s.totals.get(index), s.rates.get(index)) else {
                return Vec::new();
            };
            connections_of(index, *totals, *rates)
        })
    }

    /// Every host the fake processes talked to, as `GetHosts` answers.
    pub fn hosts(&self) -> Vec<Host> {
        self.with_state(|s| {
            let mut hosts: Vec<Host> = HOSTS
                .iter()
                .map(|h| Host {
                    name: h.name.into(),
                    addresses: h.addresses.iter().map(|a| (*a).to_owned()).collect(),
                    ..Default::default()
                })
                .collect();
            for (index, (totals, rates)) in s.totals.iter().zip(&s.rates).enumerate() {
                let hosts_of_app = APP_HOSTS[index % APP_HOSTS.len()];
                for (c, &h) in connections_of(index, *totals, *rates)
                    .iter()
                    .zip(hosts_of_app)
                {
                    let host = &mut hosts[h];
                    host.sent_bytes += c.sent_bytes;
                    host.received_bytes += c.received_bytes;
                    host.sent_rate += c.sent_rate;
                    host.received_rate += c.received_rate;
                    let pid = FIRST_PID + index as u32;
                    if c.sent_bytes + c.received_bytes > 0 && host.pids.last() != Some(&pid) {
                        host.pids.push(pid);
                    }
                }
            }
            hosts.retain(|h| !h.pids.is_empty());
            hosts
        })
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

/// The connections of fake process `index` with these (sent, received) totals and rates:
/// the n-th of its app's hosts takes 1/2^(n+1) of them (the last the rest).
fn connections_of(index: usize, totals: (u64, u64), rates: (f64, f64)) -> Vec<Connection> {
    let hosts_of_app = APP_HOSTS[index % APP_HOSTS.len()];
    let port_base = 40_000 + (index % 20_000) as u16;
    hosts_of_app
        .iter()
        .enumerate()
        .map(|(n, &h)| {
            let host = &HOSTS[h];
            let last = n + 1 == hosts_of_app.len();
            let share = |v: u64| if last { v >> n } else { v >> (n + 1) };
            let share_f = |v: f64| {
                if last {
                    v / f64::from(1u32 << n)
                } else {
                    v / f64::from(2u32 << n)
                }
            };
            let address = host.addresses[(index / APPS.len()) % host.addresses.len()];
            let (local_ip, remote) = if address.contains(':') {
                ("[::1]", format!("[{address}]:{}", host.port))
            } else {
                ("127.0.0.1", format!("{address}:{}", host.port))
            };
            Connection {
                protocol: host.protocol.into(),
                local: format!("{local_ip}:{}", port_base + n as u16),
                remote,
                sent_bytes: share(totals.0),
                received_bytes: share(totals.1),
                sent_rate: share_f(rates.0),
                received_rate: share_f(rates.1),
                remote_name: host.name.into(),
                service: host.service.into(),
            }
        })
        .collect()
}

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
        .zip(s.rates.iter_mut())
        .enumerate()
        .map(|(i, (total, rates))| {
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
            *rates = (sent_rate, received_rate);
            let (name, app_id) = APPS[i % APPS.len()];
            Process {
                pid: FIRST_PID + i as u32,
                name: name.into(),
                // Sent apart, once: `command_lines`.
                cmdline: String::new(),
                // The viewer's own, so rows carry no "(user)" suffix.
                uid: rustix::process::getuid().as_raw(),
                user: std::env::var("USER").unwrap_or_else(|_| "alice".into()),
                app_id: app_id.into(),
                exited: false,
                details_unavailable: false,
                sent_bytes: total.0,
                received_bytes: total.1,
                sent_packets: total.0 / 1000,
                received_packets: total.1 / 1000,
                sent_rate,
                received_rate,
                // Payload is the wire bytes less some 5 % of headers (TCP/IP over
                // Ethernet at full frames).
                socket_counters: true,
                socket_sent_bytes: total.0 / 20 * 19,
                socket_received_bytes: total.1 / 20 * 19,
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
            Unattributed {
                protocol: "tunnel".into(),
                sent_bytes: attributed / 400,
                received_bytes: attributed / 300,
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

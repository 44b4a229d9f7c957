//! Engine snapshots carry totals since the capture started; the database wants what each
//! interval added. [`DeltaTracker`] remembers the last totals of every process, interface
//! and unattributed bucket and hands out the differences, never a negative one.

use crate::usage::{Counters, UsageKey};
use sockeye_engine::{ProcessStats, Snapshot, Transport};
use std::collections::HashMap;

/// What a process looked like when its executable was read: when the engine reports
/// another name, user or app for the same pid (an `execve`, a `setuid`), the executable is
/// read again. The totals' baseline stays: the engine's entry for a pid it still reports
/// continues to count, so starting from zero would count its bytes twice.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    name: String,
    uid: u32,
    app_id: Option<String>,
}

#[derive(Debug)]
struct Known {
    identity: Identity,
    totals: Counters,
    /// The executable's path, read once when the process was first seen.
    executable: String,
}

/// One interval's traffic of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub key: UsageKey,
    pub display_name: String,
    pub counters: Counters,
}

/// The last totals seen, per pid, interface and protocol.
#[derive(Debug, Default)]
pub struct DeltaTracker {
    processes: HashMap<u32, Known>,
    interfaces: HashMap<String, Counters>,
    unattributed: HashMap<Transport, Counters>,
}

fn process_counters(p: &ProcessStats) -> Counters {
    Counters {
        sent_bytes: p.sent_bytes,
        received_bytes: p.received_bytes,
        sent_packets: p.sent_packets,
        received_packets: p.received_packets,
    }
}

/// The executable of a running process: `/proc/PID/exe` (needs ptrace-read access, which
/// the recorder keeps as `CAP_SYS_PTRACE`). The engine does not report it.
pub fn proc_executable(pid: u32) -> Option<String> {
    let path = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let text = path.to_string_lossy();
    // A replaced binary reads "/usr/bin/foo (deleted)": it is still that program.
    Some(text.strip_suffix(" (deleted)").unwrap_or(&text).to_owned())
}

/// The executable to record when `/proc/PID/exe` gave none (the process was gone, or a
/// kernel thread): the command line's first word when it is a path, else the short name.
fn fallback_executable(p: &ProcessStats) -> String {
    match p.cmdline.split(' ').next() {
        Some(first) if first.starts_with('/') => first.to_owned(),
        _ => p.name.clone(),
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(path)
}

impl DeltaTracker {
    /// What `snapshot` adds since the previous one. `executable` finds a new process's
    /// executable path (tests pass a fake). Entries the engine no longer reports are
    /// forgotten; keys with nothing new are left out.
    pub fn deltas(
        &mut self,
        snapshot: &Snapshot,
        executable: impl Fn(u32) -> Option<String>,
    ) -> Vec<Delta> {
        let mut out = Vec::new();
        let mut seen = HashMap::with_capacity(snapshot.processes.len());
        for p in &snapshot.processes {
            let identity = Identity {
                name: p.name.clone(),
                uid: p.uid,
                app_id: p.app_id.clone(),
            };
            let totals = process_counters(p);
            let (earlier, exe) = match self.processes.remove(&p.pid) {
                Some(known) if known.identity == identity => (known.totals, known.executable),
                Some(known) => (
                    known.totals,
                    executable(p.pid).unwrap_or_else(|| fallback_executable(p)),
                ),
                None => (
                    Counters::default(),
                    executable(p.pid).unwrap_or_else(|| fallback_executable(p)),
                ),
            };
            let counters = totals.since(&earlier);
            if !counters.is_zero() {
                let app = p.app_id.clone().unwrap_or_else(|| exe.clone());
                out.push(Delta {
                    key: UsageKey::process(&app, &exe, p.uid),
                    display_name: base_name(&exe).to_owned(),
                    counters,
                });
            }
            seen.insert(
                p.pid,
                Known {
                    identity,
                    totals,
                    executable: exe,
                },
            );
        }
        self.processes = seen;

        let mut interfaces = HashMap::with_capacity(snapshot.interfaces.len());
        for i in &snapshot.interfaces {
            let totals = Counters {
                sent_bytes: i.sent_bytes,
                received_bytes: i.received_bytes,
                ..Counters::default()
            };
            let earlier = self.interfaces.remove(&i.name).unwrap_or_default();
            let counters = totals.since(&earlier);
            if !counters.is_zero() {
                out.push(Delta {
                    key: UsageKey::interface(&i.name),
                    display_name: i.name.clone(),
                    counters,
                });
            }
            interfaces.insert(i.name.clone(), totals);
        }
        self.interfaces = interfaces;

        for u in &snapshot.unattributed {
            let totals = Counters {
                sent_bytes: u.sent_bytes,
                received_bytes: u.received_bytes,
                ..Counters::default()
            };
            let earlier = self.unattributed.insert(u.protocol, totals);
            let counters = totals.since(&earlier.unwrap_or_default());
            if !counters.is_zero() {
                let name = u.protocol.name();
                out.push(Delta {
                    key: UsageKey::unattributed(name),
                    display_name: name.to_owned(),
                    counters,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::usage::Kind;
    use sockeye_engine::{InterfaceStats, UnattributedStats};

    fn process(pid: u32, name: &str, sent: u64, received: u64) -> ProcessStats {
        ProcessStats {
            pid,
            name: name.into(),
            uid: 1000,
            sent_bytes: sent,
            received_bytes: received,
            sent_packets: sent / 100,
            received_packets: received / 100,
            ..Default::default()
        }
    }

    fn exe(pid: u32) -> Option<String> {
        Some(format!("/usr/bin/prog{pid}"))
    }

    #[test]
    fn the_second_snapshot_adds_only_the_difference() {
        let mut tracker = DeltaTracker::default();
        let first = Snapshot {
            processes: vec![process(7, "curl", 1000, 5000)],
            ..Default::default()
        };
        let second = Snapshot {
            processes: vec![process(7, "curl", 1500, 9000)],
            ..Default::default()
        };
        let d1 = tracker.deltas(&first, exe);
        let d2 = tracker.deltas(&second, exe);
        assert_eq!(d1[0].counters.sent_bytes, 1000);
        assert_eq!(d2.len(), 1);
        assert_eq!(d2[0].counters.sent_bytes, 500);
        assert_eq!(d2[0].counters.received_bytes, 4000);
        assert_eq!(d2[0].key.app, "/usr/bin/prog7");
        assert_eq!(d2[0].display_name, "prog7");
    }

    #[test]
    fn a_total_that_goes_down_is_no_negative_delta() {
        let mut tracker = DeltaTracker::default();
        let high = Snapshot {
            processes: vec![process(7, "curl", 1000, 1000)],
            interfaces: vec![InterfaceStats {
                name: "lo".into(),
                sent_bytes: 900,
                received_bytes: 900,
                dropped: 0,
            }],
            ..Default::default()
        };
        let low = Snapshot {
            processes: vec![process(7, "curl", 10, 2000)],
            interfaces: vec![InterfaceStats {
                name: "lo".into(),
                sent_bytes: 100,
                received_bytes: 100,
                dropped: 0,
            }],
            ..Default::default()
        };
        tracker.deltas(&high, exe);
        let d = tracker.deltas(&low, exe);
        assert_eq!(d.len(), 1, "the interface added nothing: {d:?}");
        assert_eq!(d[0].counters.sent_bytes, 0);
        assert_eq!(d[0].counters.received_bytes, 1000);
    }

    #[test]
    fn a_pid_that_runs_another_program_keeps_its_baseline_and_gets_the_new_executable() {
        let mut tracker = DeltaTracker::default();
        tracker.deltas(
            &Snapshot {
                processes: vec![process(7, "curl", 1000, 0)],
                ..Default::default()
            },
            exe,
        );
        let d = tracker.deltas(
            &Snapshot {
                processes: vec![process(7, "wget", 1200, 0)],
                ..Default::default()
            },
            |_| Some("/usr/bin/wget".into()),
        );
        assert_eq!(d[0].counters.sent_bytes, 200, "the engine's total went on");
        assert_eq!(d[0].key.executable, "/usr/bin/wget");
    }

    #[test]
    fn an_app_id_is_the_app_key_and_unattributed_traffic_gets_its_protocol() {
        let mut tracker = DeltaTracker::default();
        let mut p = process(9, "epiphany", 10, 20);
        p.app_id = Some("org.gnome.Epiphany".into());
        let d = tracker.deltas(
            &Snapshot {
                processes: vec![p],
                unattributed: vec![UnattributedStats {
                    protocol: Transport::Udp,
                    sent_bytes: 3,
                    received_bytes: 4,
                }],
                ..Default::default()
            },
            |_| None,
        );
        assert_eq!(d[0].key.app, "org.gnome.Epiphany");
        assert_eq!(
            d[0].key.executable, "epiphany",
            "the short name when exe is gone"
        );
        assert_eq!(d[1].key.kind, Kind::Unattributed);
        assert_eq!(d[1].key.app, "udp");
    }
}

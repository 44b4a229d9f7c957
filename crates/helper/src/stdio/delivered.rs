//! What the client already has, so that each `Updated` signal carries only what is new to
//! it — a command line once, an exited process's final row once — and stays within
//! [`MAX_UPDATE_BYTES`] however many processes come and go with huge arguments.
//!
//! ```text
//! snapshot ─ compose ─► Update + Receipt ─ send ─┬─ sent:   record ─► Delivered learns it
//!                                                └─ failed: record ─► logged, all resent
//! ```

use super::{convert, wire_size};
use sockeye_engine::Snapshot;
use sockeye_protocol::{Process, Update, MAX_COMMAND_LINE_BYTES_PER_UPDATE, MAX_UPDATE_BYTES};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

/// A fingerprint of what the client was sent for one pid (keyed per helper run, so nobody
/// can craft two command lines that look the same to it).
type Fingerprint = u64;

/// What the client has of the current capture.
#[derive(Debug, Default)]
pub struct Delivered {
    /// The capture the entries belong to; a new one starts from nothing.
    generation: u64,
    /// pid → the command line the client has.
    command_lines: HashMap<u32, Fingerprint>,
    /// pid → the exited row the client has.
    exited_rows: HashMap<u32, Fingerprint>,
    keys: RandomState,
    /// Updates in a row that could not be sent.
    failed_sends: u64,
    /// The generation whose rows alone were found over the budget (said once).
    over_budget_told: Option<u64>,
}

/// What one update carried, learned once it was sent.
#[derive(Debug)]
pub struct Receipt {
    generation: u64,
    command_lines: Vec<(u32, Fingerprint)>,
    exited_rows: Vec<(u32, Fingerprint)>,
    /// Upper bound of the signal's size, in bytes.
    pub size: usize,
}

/// An update ready to send.
#[derive(Debug)]
pub struct Composed {
    pub update: Update,
    pub receipt: Receipt,
    /// A line for the log: the rows alone are over [`MAX_UPDATE_BYTES`] (said once a capture).
    pub warning: Option<String>,
}

impl Delivered {
    /// The update for `snapshot` of capture `generation`: every running process's row, the
    /// rows of exited processes that changed since they were sent, and as many unsent
    /// command lines as fit (running processes first).
    pub fn compose(&mut self, generation: u64, snapshot: &Snapshot) -> Composed {
        if generation != self.generation {
            self.command_lines.clear();
            self.exited_rows.clear();
            self.generation = generation;
        }
        // Pids the engine forgot: a reused one starts afresh.
        let present: HashSet<u32> = snapshot.processes.iter().map(|p| p.pid).collect();
        self.command_lines.retain(|pid, _| present.contains(pid));
        self.exited_rows.retain(|pid, _| present.contains(pid));

        let mut update = Update {
            time: snapshot.time,
            interval_ms: snapshot.interval_ms,
            processes: Vec::with_capacity(snapshot.processes.len()),
            unattributed: snapshot
                .unattributed
                .iter()
                .map(convert::unattributed)
                .collect(),
            interfaces: snapshot.interfaces.iter().map(convert::interface).collect(),
            command_lines: HashMap::new(),
        };
        let mut receipt = Receipt {
            generation,
            command_lines: Vec::new(),
            exited_rows: Vec::new(),
            size: wire_size::update(&update),
        };
        for stats in &snapshot.processes {
            let row = convert::row(stats);
            if row.exited {
                let fingerprint = self.row_fingerprint(&row);
                if self.exited_rows.get(&row.pid) == Some(&fingerprint) {
                    continue;
                }
                receipt.exited_rows.push((row.pid, fingerprint));
            }
            receipt.size += wire_size::process(&row);
            update.processes.push(row);
        }
        let mut warning = None;
        if receipt.size > MAX_UPDATE_BYTES && self.over_budget_told != Some(generation) {
            self.over_budget_told = Some(generation);
            warning = Some(format!(
                "{} process rows take {} bytes, over the budget of {MAX_UPDATE_BYTES}: \
                 they are sent anyway, without command lines",
                update.processes.len(),
                receipt.size
            ));
        }

        let room =
            MAX_COMMAND_LINE_BYTES_PER_UPDATE.min(MAX_UPDATE_BYTES.saturating_sub(receipt.size));
        let mut used = 0;
        let running = snapshot.processes.iter().filter(|p| !p.exited);
        let exited = snapshot.processes.iter().filter(|p| p.exited);
        for stats in running.chain(exited) {
            let fingerprint = self.text_fingerprint(&stats.cmdline);
            match self.command_lines.get(&stats.pid) {
                Some(had) if *had == fingerprint => continue,
                // The client starts with an empty one.
                None if stats.cmdline.is_empty() => continue,
                _ => {}
            }
            let cost = wire_size::command_line(&stats.cmdline);
            if used + cost > room || update.command_lines.contains_key(&stats.pid) {
                continue;
            }
            used += cost;
            update
                .command_lines
                .insert(stats.pid, stats.cmdline.clone());
            receipt.command_lines.push((stats.pid, fingerprint));
        }
        receipt.size += used;
        Composed {
            update,
            receipt,
            warning,
        }
    }

    /// Learns what `receipt`'s update carried when it was sent; when it was not, keeps it
    /// for the next update. Returns a line for the log: the first failure of a run, and
    /// the recovery after one.
    pub fn record(&mut self, receipt: Receipt, sent: &zbus::Result<()>) -> Option<String> {
        match sent {
            Ok(()) => {
                if receipt.generation == self.generation {
                    self.command_lines.extend(receipt.command_lines);
                    self.exited_rows.extend(receipt.exited_rows);
                }
                let failed = std::mem::take(&mut self.failed_sends);
                (failed > 0).then(|| format!("updates are sent again, after {failed} that failed"))
            }
            Err(error) => {
                self.failed_sends += 1;
                (self.failed_sends == 1).then(|| {
                    format!(
                        "an update of at most {} bytes could not be sent ({error}); \
                         its news go with the next one",
                        receipt.size
                    )
                })
            }
        }
    }

    fn text_fingerprint(&self, text: &str) -> Fingerprint {
        self.keys.hash_one(text)
    }

    /// Everything of an exited row that can still change (totals after a reset, rates).
    fn row_fingerprint(&self, row: &Process) -> Fingerprint {
        let mut hasher = self.keys.build_hasher();
        (&row.name, &row.user, &row.app_id, row.uid).hash(&mut hasher);
        (row.sent_bytes, row.received_bytes).hash(&mut hasher);
        (row.sent_packets, row.received_packets).hash(&mut hasher);
        (row.sent_rate.to_bits(), row.received_rate.to_bits()).hash(&mut hasher);
        hasher.finish()
    }
}

#[cfg(test)]
#[path = "delivered_tests.rs"]
mod tests;

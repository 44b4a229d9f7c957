//! The recorder's state: the database, the rows not yet written, and the totals last seen.
//! Each interval's engine snapshot enters through [`Recording::record_snapshot`]; a timer
//! calls [`Recording::flush`]; the D-Bus methods read through the query methods, which add
//! the unwritten rows so the current hour is live.

use crate::config::Config;
use crate::delta::{proc_executable, DeltaTracker};
use crate::pending::Pending;
use crate::store::{Store, StoreError};
use crate::usage::{Kind, Slot, UsageEntry, DAY_S, HOUR_S};
use crate::visibility::{self, Viewer};
use sockeye_engine::Snapshot;
use sockeye_protocol::recorder::{ExecutableUsageRow, RecorderStatus, UsageRow};
use std::path::Path;

pub struct Recording {
    store: Store,
    pending: Pending,
    tracker: DeltaTracker,
    config: Config,
    /// When this run started, seconds since the epoch: the start of its span.
    running_since: u64,
    /// Writes that failed in a row (a full disk); reset by one that works.
    failed_writes: u64,
    /// When the old rows were last pruned.
    pruned_at: Option<u64>,
}

impl Recording {
    /// Opens (or starts) the history in `state_directory` and writes this run's span.
    pub fn open(state_directory: &Path, config: Config, now: u64) -> Result<Recording, StoreError> {
        let (store, _moved) = Store::open(&state_directory.join(crate::config::DATABASE_FILE))?;
        let mut recording = Recording {
            store,
            pending: Pending::default(),
            tracker: DeltaTracker::default(),
            config,
            running_since: now,
            failed_writes: 0,
            pruned_at: None,
        };
        // A full disk at start is no reason not to record: the span is written later.
        if let Err(error) = recording.flush(now) {
            eprintln!("sockeye-recorder: {error}");
        }
        Ok(recording)
    }

    /// Takes one interval's engine snapshot: what it adds since the last one goes into the
    /// rows of its hour. Every snapshot passes through here, once.
    pub fn record_snapshot(&mut self, snapshot: &Snapshot) {
        // The middle of the interval decides the hour the traffic counts for.
        let middle = (snapshot.time.saturating_mul(1000))
            .saturating_sub(u64::from(snapshot.interval_ms) / 2)
            / 1000;
        let slot = Slot::of_time(middle);
        for delta in self.tracker.deltas(snapshot, proc_executable) {
            self.pending
                .add(slot, delta.key, &delta.display_name, &delta.counters);
        }
        let cap = usize::try_from(self.config.max_pending_rows).unwrap_or(usize::MAX);
        self.pending.enforce_cap(cap, slot.hour.unwrap_or(0));
    }

    /// The engine started a new capture (its totals start from zero again).
    pub fn capture_restarted(&mut self) {
        self.tracker = DeltaTracker::default();
    }

    /// Writes the pending rows and extends this run's span to `now`. On failure the rows
    /// stay pending (bounded) for the next try, and the error is returned to be logged.
    pub fn flush(&mut self, now: u64) -> Result<(), StoreError> {
        let rows = self.pending.take();
        match self.store.write(&rows, self.running_since, now) {
            Ok(()) => {
                if self.failed_writes > 0 {
                    eprintln!(
                        "sockeye-recorder: writing works again after {} failed attempts",
                        self.failed_writes
                    );
                }
                self.failed_writes = 0;
            }
            Err(error) => {
                self.pending.restore(rows);
                self.failed_writes += 1;
                return Err(error);
            }
        }
        if self
            .pruned_at
            .is_none_or(|at| now.saturating_sub(at) >= HOUR_S)
        {
            self.store
                .prune(now, self.config.hourly_days, self.config.retention_days)?;
            self.pruned_at = Some(now);
        }
        Ok(())
    }

    /// Flushes, then folds the WAL into the main file: the last thing before exit.
    pub fn close(&mut self, now: u64) -> Result<(), StoreError> {
        self.flush(now)?;
        self.store.checkpoint()
    }

    /// Process entries of `[from, to)` in buckets, stored and pending.
    fn entries(&self, from: u64, to: u64, bucket_s: u64) -> Result<Vec<UsageEntry>, StoreError> {
        let mut entries = self.store.usage(Kind::Process, from, to, bucket_s)?;
        let origin = crate::store::origin(from, bucket_s);
        for ((slot, key), value) in self.pending.rows() {
            if key.kind != Kind::Process {
                continue;
            }
            let start = match slot.hour {
                Some(hour) if !bucket_s.is_multiple_of(DAY_S) => hour,
                _ => slot.day,
            };
            if start < origin || start >= to {
                continue;
            }
            entries.push(UsageEntry {
                bucket_start: crate::store::bucket_of(start, origin, bucket_s),
                key: key.clone(),
                display_name: value.display_name.clone(),
                counters: value.counters,
            });
        }
        Ok(entries)
    }

    pub fn usage(
        &self,
        from: u64,
        to: u64,
        bucket_s: u64,
        viewer: Viewer,
    ) -> Result<Vec<UsageRow>, StoreError> {
        Ok(visibility::usage_rows(
            &self.entries(from, to, bucket_s)?,
            viewer,
        ))
    }

    pub fn app_usage(
        &self,
        app: &str,
        from: u64,
        to: u64,
        bucket_s: u64,
        viewer: Viewer,
    ) -> Result<Vec<ExecutableUsageRow>, StoreError> {
        Ok(visibility::app_rows(
            &self.entries(from, to, bucket_s)?,
            app,
            viewer,
        ))
    }

    /// The spans of `[from, to)`, this run's reaching `now` even before it is written.
    pub fn spans(&self, from: u64, to: u64, now: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut spans = self.store.spans(from, to)?;
        let (start, end) = (self.running_since.max(from), now.min(to));
        if start < end {
            match spans.iter_mut().find(|(s, _)| *s == start) {
                Some(span) => span.1 = span.1.max(end),
                None => spans.push((start, end)),
            }
        }
        spans.sort_unstable();
        Ok(spans)
    }

    pub fn status(&self, sees_all: bool) -> Result<RecorderStatus, StoreError> {
        Ok(RecorderStatus {
            recording_since: self.store.oldest()?.unwrap_or(self.running_since),
            running_since: self.running_since,
            hourly_days: self.config.hourly_days,
            retention_days: self.config.retention_days,
            database_bytes: self.store.size_on_disk(),
            pending_rows: if self.failed_writes > 0 {
                self.pending.len() as u64
            } else {
                0
            },
            sees_all,
        })
    }

    /// Deletes `uid`'s rows, or every row (`None`), stored and pending.
    pub fn clear(&mut self, uid: Option<u32>) -> Result<(), StoreError> {
        self.store.clear(uid)?;
        self.pending.clear(uid);
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

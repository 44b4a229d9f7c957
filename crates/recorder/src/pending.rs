//! Rows not yet in the database: the traffic since the last flush, and everything a
//! failed write (a full disk) left behind. Bounded: past the cap, rows are merged into
//! fewer — older hours into their day, then one user's apps of a day into one row — so the
//! bytes stay counted; only when even that cannot fit are the oldest days given up, and
//! their bytes counted in [`Pending::unkept_bytes`].

use crate::usage::{Counters, Kind, Slot, UsageKey};
use std::collections::BTreeMap;

/// The app key of a row that merged several apps of one user and day.
pub const MERGED_APP: &str = "@merged";

/// A pending row's sums and the latest display name of its key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingValue {
    pub display_name: String,
    pub counters: Counters,
}

/// The rows waiting for the next write.
#[derive(Debug, Default)]
pub struct Pending {
    rows: BTreeMap<(Slot, UsageKey), PendingValue>,
    /// Rows folded into others because the cap was reached, since the recorder started.
    pub merged_rows: u64,
    /// Bytes that could not be kept at all (the cap held only by giving up whole days).
    pub unkept_bytes: u64,
}

impl Pending {
    /// Adds `counters` to the row of `slot` and `key`.
    pub fn add(&mut self, slot: Slot, key: UsageKey, display_name: &str, counters: &Counters) {
        let value = self.rows.entry((slot, key)).or_default();
        if value.display_name != display_name {
            display_name.clone_into(&mut value.display_name);
        }
        value.counters.add(counters);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> impl Iterator<Item = (&(Slot, UsageKey), &PendingValue)> {
        self.rows.iter()
    }

    /// Takes every row out (to write them); [`Pending::restore`] puts them back on failure.
    pub fn take(&mut self) -> BTreeMap<(Slot, UsageKey), PendingValue> {
        std::mem::take(&mut self.rows)
    }

    /// Puts rows that could not be written back, merged with what came in meanwhile.
    pub fn restore(&mut self, rows: BTreeMap<(Slot, UsageKey), PendingValue>) {
        for ((slot, key), value) in rows {
            self.add(slot, key, &value.display_name, &value.counters);
        }
    }

    /// Forgets the rows of `uid`'s processes (`Clear`), or every row.
    pub fn clear(&mut self, uid: Option<u32>) {
        match uid {
            Some(uid) => self
                .rows
                .retain(|(_, key), _| !(key.kind == Kind::Process && key.uid == uid)),
            None => self.rows.clear(),
        }
    }

    /// Brings the row count to at most `cap`, merging before giving anything up. The rows
    /// of `current_hour` stay hourly as long as anything else can be merged.
    pub fn enforce_cap(&mut self, cap: usize, current_hour: u64) {
        if self.rows.len() <= cap {
            return;
        }
        self.regroup(|slot, key| {
            let hour = slot.hour.filter(|hour| *hour == current_hour);
            (Slot { hour, ..slot }, key)
        });
        if self.rows.len() <= cap {
            return;
        }
        self.regroup(|slot, key| {
            if key.kind != Kind::Process {
                return (slot, key);
            }
            let merged = UsageKey::process(MERGED_APP, "", key.uid);
            (Slot { hour: None, ..slot }, merged)
        });
        while self.rows.len() > cap {
            let Some(oldest) = self.rows.keys().next().map(|(slot, _)| slot.day) else {
                break;
            };
            let before = self.rows.len();
            let mut given_up = 0_u64;
            self.rows.retain(|(slot, _), value| {
                let keep = slot.day != oldest;
                if !keep {
                    given_up = given_up.saturating_add(value.counters.bytes());
                }
                keep
            });
            self.merged_rows += (before - self.rows.len()) as u64;
            self.unkept_bytes = self.unkept_bytes.saturating_add(given_up);
        }
    }

    /// Moves every row to the slot and key `to` gives it, summing rows that meet.
    fn regroup(&mut self, to: impl Fn(Slot, UsageKey) -> (Slot, UsageKey)) {
        let before = self.rows.len();
        let rows = std::mem::take(&mut self.rows);
        for ((slot, key), value) in rows {
            let (slot, key) = to(slot, key);
            self.add(slot, key, &value.display_name, &value.counters);
        }
        self.merged_rows += (before - self.rows.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn bytes(n: u64) -> Counters {
        Counters {
            sent_bytes: n,
            received_bytes: n,
            sent_packets: 1,
            received_packets: 1,
        }
    }

    fn total(pending: &Pending) -> u64 {
        pending.rows().map(|(_, v)| v.counters.bytes()).sum()
    }

    #[test]
    fn over_the_cap_hours_merge_into_days_and_no_byte_is_lost() {
        let mut pending = Pending::default();
        for hour in 0..48_u64 {
            for app in 0..10 {
                let slot = Slot {
                    day: hour / 24 * 86_400,
                    hour: Some(hour * 3600),
                };
                let key = UsageKey::process(&format!("/bin/a{app}"), "/bin/x", 1000);
                pending.add(slot, key, "x", &bytes(5));
            }
        }
        let before = total(&pending);
        pending.enforce_cap(100, 47 * 3600);
        assert!(pending.len() <= 100, "{}", pending.len());
        assert_eq!(total(&pending), before);
        assert!(pending.merged_rows > 0);
        assert_eq!(pending.unkept_bytes, 0);
    }

    #[test]
    fn far_over_the_cap_apps_merge_per_user_and_day() {
        let mut pending = Pending::default();
        for day in 0..3_u64 {
            for app in 0..500 {
                let slot = Slot {
                    day: day * 86_400,
                    hour: Some(day * 86_400),
                };
                let key = UsageKey::process(&format!("/bin/a{app}"), "/bin/x", 1000 + app % 2);
                pending.add(slot, key, "x", &bytes(1));
            }
        }
        let before = total(&pending);
        pending.enforce_cap(10, 0);
        assert_eq!(pending.len(), 6, "two users, three days");
        assert_eq!(total(&pending), before);
        assert!(pending
            .rows()
            .all(|((_, key), _)| key.app == MERGED_APP && key.executable.is_empty()));
    }

    #[test]
    fn when_even_merging_cannot_fit_the_oldest_days_are_counted_as_unkept() {
        let mut pending = Pending::default();
        for day in 0..5_u64 {
            for uid in 0..4 {
                let slot = Slot {
                    day: day * 86_400,
                    hour: None,
                };
                pending.add(slot, UsageKey::process("a", "a", uid), "a", &bytes(10));
            }
        }
        pending.enforce_cap(8, 0);
        assert!(pending.len() <= 8);
        assert_eq!(pending.unkept_bytes, 3 * 4 * 20);
        assert_eq!(total(&pending) + pending.unkept_bytes, 5 * 4 * 20);
    }
}

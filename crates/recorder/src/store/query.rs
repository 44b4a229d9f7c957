//! Reading the history back: a period's rows in buckets, the spans, the oldest row.

use super::{count, damaged, int, packed, Store, StoreError};
use crate::usage::{Counters, Kind, UsageEntry, DAY_S, HOUR_S};
use std::collections::HashMap;

/// Where bucket `bucket_s` of a query starting at `from` begins for a row starting at
/// `start`: buckets are counted from `from` for day-multiples (the caller's local
/// midnight), from the hour holding `from` otherwise.
pub fn origin(from: u64, bucket_s: u64) -> u64 {
    if bucket_s.is_multiple_of(DAY_S) {
        from
    } else {
        from - from % HOUR_S
    }
}

/// The start of the bucket holding `start`.
pub fn bucket_of(start: u64, origin: u64, bucket_s: u64) -> u64 {
    origin + (start.saturating_sub(origin)) / bucket_s * bucket_s
}

impl Store {
    /// Rows of `kind` in `[from, to)` summed per bucket of `bucket_s` seconds and key.
    /// Day buckets read day rows; shorter ones read the packed hours, and day rows for
    /// the days before the oldest hours kept.
    pub fn usage(
        &self,
        kind: Kind,
        from: u64,
        to: u64,
        bucket_s: u64,
    ) -> Result<Vec<UsageEntry>, StoreError> {
        let origin = origin(from, bucket_s);
        let mut entries = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            if bucket_s.is_multiple_of(DAY_S) {
                self.read_table(
                    "usage_day",
                    kind,
                    origin,
                    to,
                    bucket_s,
                    origin,
                    &mut entries,
                )
            } else {
                let oldest_block: Option<i64> =
                    self.connection
                        .query_row("SELECT MIN(day) FROM hour_blocks", [], |row| row.get(0))?;
                let blocks_from = oldest_block.map_or(to, count);
                if blocks_from > origin {
                    // Whole days before the hours kept; their rows go in the bucket of
                    // the day. (Pruning keeps hours by whole days, so these days are whole.)
                    self.read_table(
                        "usage_day",
                        kind,
                        origin,
                        blocks_from.min(to),
                        bucket_s,
                        origin,
                        &mut entries,
                    )?;
                }
                self.read_hours(
                    kind,
                    origin.max(blocks_from),
                    to,
                    bucket_s,
                    origin,
                    &mut entries,
                )
            }
        })();
        result.map_err(|error| self.error(error))?;
        Ok(entries)
    }

    #[allow(clippy::too_many_arguments)]
    fn read_table(
        &self,
        table: &str,
        kind: Kind,
        from: u64,
        to: u64,
        bucket_s: u64,
        origin: u64,
        entries: &mut Vec<UsageEntry>,
    ) -> rusqlite::Result<()> {
        if from >= to {
            return Ok(());
        }
        // A row per bucket and key already when buckets are as long as the rows: then no
        // GROUP BY (and no sort); `visibility` sums what meets in a bucket anyway.
        let row_length = if table == "usage_day" { DAY_S } else { HOUR_S };
        let (columns, group) = if bucket_s > row_length {
            (
                "SUM(sent_bytes), SUM(received_bytes), SUM(sent_packets), SUM(received_packets)",
                "GROUP BY 1, 2",
            )
        } else {
            (
                "sent_bytes, received_bytes, sent_packets, received_packets",
                "",
            )
        };
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT (MAX(start, ?3) - ?3) / ?4, key, {columns} FROM {table} \
             WHERE start >= ?1 AND start < ?2 {group}"
        ))?;
        let rows =
            statement.query_map([int(from), int(to), int(origin), int(bucket_s)], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    Counters {
                        sent_bytes: count(row.get(2)?),
                        received_bytes: count(row.get(3)?),
                        sent_packets: count(row.get(4)?),
                        received_packets: count(row.get(5)?),
                    },
                ))
            })?;
        for row in rows {
            let (index, id, counters) = row?;
            let Some(record) = self.records.get(&id) else {
                continue;
            };
            if record.key.kind != kind {
                continue;
            }
            entries.push(UsageEntry {
                bucket_start: origin + count(index) * bucket_s,
                key: record.key.clone(),
                display_name: record.display_name.clone(),
                counters,
            });
        }
        Ok(())
    }

    /// The hours starting in `[from, to)` from their days' blocks, in buckets of
    /// `bucket_s` (shorter than a day) counted from `origin`.
    fn read_hours(
        &self,
        kind: Kind,
        from: u64,
        to: u64,
        bucket_s: u64,
        origin: u64,
        entries: &mut Vec<UsageEntry>,
    ) -> rusqlite::Result<()> {
        if from >= to {
            return Ok(());
        }
        // A day holding `from` starts at most a long day (25 h, plus an offset that is
        // not whole hours) before it.
        let mut statement = self.connection.prepare_cached(
            "SELECT day, key, hours FROM hour_blocks WHERE day > ?1 AND day < ?2",
        )?;
        let earliest = from.saturating_sub(DAY_S + 2 * HOUR_S);
        let mut rows = statement.query([int(earliest), int(to)])?;
        let mut sums: HashMap<(u64, i64), Counters> = HashMap::new();
        while let Some(row) = rows.next()? {
            let day = count(row.get(0)?);
            let id: i64 = row.get(1)?;
            if self
                .records
                .get(&id)
                .is_none_or(|record| record.key.kind != kind)
            {
                continue;
            }
            let blob = row.get_ref(2)?.as_blob()?;
            let hours = packed::decode(blob).ok_or_else(|| damaged(day, id))?;
            for (index, counters) in hours {
                let start = packed::start_of(day, index);
                if start >= from && start < to {
                    sums.entry((bucket_of(start, origin, bucket_s), id))
                        .or_default()
                        .add(&counters);
                }
            }
        }
        let mut sums: Vec<_> = sums.into_iter().collect();
        sums.sort_unstable_by_key(|(bucket_and_id, _)| *bucket_and_id);
        for ((bucket_start, id), counters) in sums {
            if let Some(record) = self.records.get(&id) {
                entries.push(UsageEntry {
                    bucket_start,
                    key: record.key.clone(),
                    display_name: record.display_name.clone(),
                    counters,
                });
            }
        }
        Ok(())
    }

    /// The recorder's runs overlapping `[from, to)`, clipped to it: (start, end).
    pub fn spans(&self, from: u64, to: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let result = (|| -> rusqlite::Result<Vec<(u64, u64)>> {
            let mut statement = self.connection.prepare_cached(
                "SELECT start, end FROM spans WHERE end > ?1 AND start < ?2 ORDER BY start",
            )?;
            let rows = statement.query_map([int(from), int(to)], |row| {
                Ok((count(row.get(0)?), count(row.get(1)?)))
            })?;
            rows.map(|row| row.map(|(start, end): (u64, u64)| (start.max(from), end.min(to))))
                .collect()
        })();
        result.map_err(|error| self.error(error))
    }

    /// When the oldest row kept starts (a span or a day), seconds since the epoch.
    pub fn oldest(&self) -> Result<Option<u64>, StoreError> {
        self.connection
            .query_row(
                "SELECT MIN(m) FROM (SELECT MIN(start) AS m FROM spans \
                 UNION ALL SELECT MIN(start) FROM usage_day)",
                [],
                |row| row.get::<_, Option<i64>>(0),
            )
            .map(|value| value.map(count))
            .map_err(|error| self.error(error))
    }
}

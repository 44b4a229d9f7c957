//! The schema and its migrations, numbered by `PRAGMA user_version`.
//!
//! ```text
//! keys         id → (kind, app, executable, uid, display_name)  who a row counts
//! hour_blocks  (day, key) → the day's hours, packed              kept hourly_days
//! usage_day    (start, key) → bytes and packets each way         local days, kept retention_days
//! spans        (start, end)                                       when the recorder ran
//! ```
//!
//! Both usage tables are `WITHOUT ROWID` with the primary key `(start or day, key)`: the
//! table is its own index ordered by time, so a period's rows are one range scan and no
//! second index costs space. Day rows are written together with the hours (not summed
//! later), so "the last 30 days by day" reads 30 rows per key, not 720. Hours are packed a
//! day per row (see `packed`): version 1 kept a row per hour (`usage_hour`), 111 MB for
//! the benchmark's year of 500 apps × 3 users.

use super::packed;
use crate::usage::Counters;
use rusqlite::{params, Connection, Transaction};
use std::collections::{BTreeMap, HashMap};

/// One step of the schema: SQL, or code where rows must be rewritten.
enum Step {
    Sql(&'static str),
    Code(fn(&Transaction) -> rusqlite::Result<()>),
}

/// The first schema (version 1), kept apart so tests can build a file of that version.
pub const VERSION_1: &str = "CREATE TABLE keys (
        id INTEGER PRIMARY KEY,
        kind INTEGER NOT NULL,
        app TEXT NOT NULL,
        executable TEXT NOT NULL,
        uid INTEGER NOT NULL,
        display_name TEXT NOT NULL,
        UNIQUE (kind, app, executable, uid)
    );
    CREATE TABLE usage_hour (
        start INTEGER NOT NULL,
        key INTEGER NOT NULL,
        sent_bytes INTEGER NOT NULL,
        received_bytes INTEGER NOT NULL,
        sent_packets INTEGER NOT NULL,
        received_packets INTEGER NOT NULL,
        PRIMARY KEY (start, key)
    ) WITHOUT ROWID;
    CREATE TABLE usage_day (
        start INTEGER NOT NULL,
        key INTEGER NOT NULL,
        sent_bytes INTEGER NOT NULL,
        received_bytes INTEGER NOT NULL,
        sent_packets INTEGER NOT NULL,
        received_packets INTEGER NOT NULL,
        PRIMARY KEY (start, key)
    ) WITHOUT ROWID;
    CREATE TABLE spans (
        id INTEGER PRIMARY KEY,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL
    );";

/// Each step takes the schema from version `index` to `index + 1`.
const MIGRATIONS: &[Step] = &[
    // 0 → 1: the first schema.
    Step::Sql(VERSION_1),
    // 1 → 2: hours packed a day per row.
    Step::Code(pack_hours),
];

/// The version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Why the file cannot be used as a history database (it is then moved aside).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the file has schema version {0}, newer than this recorder knows ({CURRENT_VERSION})")]
    Newer(i64),
    #[error("the file holds tables that are not a Sockeye history ({0})")]
    Foreign(String),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings the schema to [`CURRENT_VERSION`], each step in its own transaction, then checks
/// that every table reads as this build expects.
pub fn migrate(connection: &mut Connection) -> Result<(), SchemaError> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > CURRENT_VERSION {
        return Err(SchemaError::Newer(version));
    }
    if version == 0 {
        let tables: Vec<String> = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if !tables.is_empty() {
            return Err(SchemaError::Foreign(tables.join(", ")));
        }
    }
    let from = usize::try_from(version).unwrap_or(0);
    for (index, step) in MIGRATIONS.iter().enumerate().skip(from) {
        let transaction = connection.transaction()?;
        match step {
            Step::Sql(sql) => transaction.execute_batch(sql)?,
            Step::Code(code) => code(&transaction)?,
        }
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
        transaction.commit()?;
    }
    if (1..2).contains(&version) {
        // The hour rows just packed leave most of the file free: give it back once.
        connection.execute_batch("VACUUM")?;
    }
    check_shape(connection)
}

/// The table of packed hours (version 2 on).
const HOUR_BLOCKS: &str = "CREATE TABLE hour_blocks (
        day INTEGER NOT NULL,
        key INTEGER NOT NULL,
        hours BLOB NOT NULL,
        PRIMARY KEY (day, key)
    ) WITHOUT ROWID;";

/// Longer than any local day and its midnight's offset from a whole hour, in seconds.
const LONGEST_DAY_S: i64 = 90_000;

/// 1 → 2: every `usage_hour` row into its day's block (the day its day row has, found
/// from the day rows' starts; an hour with no day row before it gets a day row of its own
/// sums, so no count is lost), then `usage_hour` goes.
fn pack_hours(transaction: &Transaction) -> rusqlite::Result<()> {
    transaction.execute_batch(HOUR_BLOCKS)?;
    // Each key's day starts, to find the day row an hour was written with.
    let mut days: HashMap<i64, Vec<i64>> = HashMap::new();
    {
        let mut statement = transaction.prepare("SELECT start, key FROM usage_day")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            days.entry(row.get(1)?).or_default().push(row.get(0)?);
        }
    }
    // The hours come in time order (the table is ordered by (start, key)), so a day's
    // blocks are written once the hours have passed it: memory holds about two days.
    let mut blocks: BTreeMap<(i64, i64), packed::Hours> = BTreeMap::new();
    let mut orphans: BTreeMap<(i64, i64), Counters> = BTreeMap::new();
    let mut insert =
        transaction.prepare("INSERT INTO hour_blocks (day, key, hours) VALUES (?1, ?2, ?3)")?;
    {
        let mut hours = transaction.prepare(
            "SELECT start, key, sent_bytes, received_bytes, sent_packets, received_packets \
             FROM usage_hour",
        )?;
        let mut rows = hours.query([])?;
        while let Some(row) = rows.next()? {
            let start: i64 = row.get(0)?;
            let key: i64 = row.get(1)?;
            let counters = Counters {
                sent_bytes: super::count(row.get(2)?),
                received_bytes: super::count(row.get(3)?),
                sent_packets: super::count(row.get(4)?),
                received_packets: super::count(row.get(5)?),
            };
            let start_u = super::count(start);
            // The latest day row of the key starting at most a (long) day before the hour.
            let written = days.get(&key).and_then(|starts| {
                let after = starts.partition_point(|day| *day <= start);
                after
                    .checked_sub(1)
                    .and_then(|at| starts.get(at).copied())
                    .filter(|day| start - day < LONGEST_DAY_S)
            });
            let (day, orphan) = match written {
                Some(day) => (day, false),
                None => (super::int(crate::localtime::local_midnight(start_u)), true),
            };
            // Version 1 wrote only whole hours, which always have an index in their day.
            let Some(index) = packed::index_of(super::count(day), start_u) else {
                continue;
            };
            blocks
                .entry((day, key))
                .or_default()
                .entry(index)
                .or_default()
                .add(&counters);
            if orphan {
                orphans.entry((day, key)).or_default().add(&counters);
            }
            while let Some(done) = blocks.first_entry() {
                if done.key().0.saturating_add(LONGEST_DAY_S) > start {
                    break;
                }
                let ((day, key), hours) = done.remove_entry();
                insert.execute(params![day, key, packed::encode(&hours)])?;
            }
        }
    }
    for ((day, key), hours) in &blocks {
        insert.execute(params![day, key, packed::encode(hours)])?;
    }
    let mut day_row = transaction.prepare(
        "INSERT INTO usage_day VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (start, key) DO UPDATE SET \
         sent_bytes = sent_bytes + excluded.sent_bytes, \
         received_bytes = received_bytes + excluded.received_bytes, \
         sent_packets = sent_packets + excluded.sent_packets, \
         received_packets = received_packets + excluded.received_packets",
    )?;
    for ((day, key), c) in &orphans {
        day_row.execute(params![
            day,
            key,
            super::int(c.sent_bytes),
            super::int(c.received_bytes),
            super::int(c.sent_packets),
            super::int(c.received_packets)
        ])?;
    }
    transaction.execute_batch("DROP TABLE usage_hour;")
}

/// Reads nothing from every table, naming every column: fails when one is missing.
fn check_shape(connection: &Connection) -> Result<(), SchemaError> {
    for statement in [
        "SELECT id, kind, app, executable, uid, display_name FROM keys LIMIT 0",
        "SELECT day, key, hours FROM hour_blocks LIMIT 0",
        "SELECT start, key, sent_bytes, received_bytes, sent_packets, received_packets \
         FROM usage_day LIMIT 0",
        "SELECT id, start, end FROM spans LIMIT 0",
    ] {
        connection
            .prepare(statement)
            .map_err(|error| SchemaError::Foreign(error.to_string()))?;
    }
    Ok(())
}

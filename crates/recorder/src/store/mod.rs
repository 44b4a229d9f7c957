//! The history database: `history.sqlite` in the state directory (SQLite in WAL mode).
//!
//! Writes come in batches ([`Store::write`], one transaction each flush), so a SIGKILL
//! loses at most the rows since the last flush and never leaves a half-written batch. A
//! file that is not a readable history is moved aside (see `recover`); a write that fails
//! (a full disk) leaves the batch with the caller to retry, and everything committed before
//! stays as it was.

mod packed;
mod query;
mod recover;
mod schema;

pub use query::{bucket_of, origin};
pub use recover::utc_stamp;
pub use schema::CURRENT_VERSION;

use crate::pending::PendingValue;
use crate::usage::{Kind, Slot, UsageKey, DAY_S};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Why the database could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot move the unreadable database {path} aside: {source}")]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Schema {
        path: PathBuf,
        #[source]
        source: schema::SchemaError,
    },
}

/// What a key's row in `keys` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: UsageKey,
    pub display_name: String,
}

/// An open history database.
pub struct Store {
    connection: Connection,
    path: PathBuf,
    /// `keys` in memory, both ways: rows are written and read by id.
    ids: HashMap<UsageKey, i64>,
    records: HashMap<i64, KeyRecord>,
    /// The `spans` row of this run, once it is written.
    span: Option<i64>,
}

/// Clamps a count to SQLite's signed 64-bit integers.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The error for a block of hours that does not decode (the file was damaged).
fn damaged(day: u64, key: i64) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        format!("the hours of key {key} on day {day} are damaged").into(),
    )
}

/// Reads back a stored count (never negative in a file we wrote).
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl Store {
    /// Opens (or creates) `path`. A file that is not a readable history of a schema this
    /// build knows is moved aside first; the second value names where it went.
    pub fn open(path: &Path) -> Result<(Store, Option<PathBuf>), StoreError> {
        let sqlite = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        match Store::open_checked(path) {
            Ok(store) => Ok((store, None)),
            Err(OpenFailure::Unusable(reason)) => {
                let moved = recover::move_aside(path).map_err(|source| StoreError::MoveAside {
                    path: path.to_owned(),
                    source,
                })?;
                eprintln!(
                    "sockeye-recorder: {} was unreadable ({reason}); moved aside to {}, \
                     starting a new history",
                    path.display(),
                    moved.display()
                );
                let store =
                    Store::open_checked(path).map_err(|failure| failure.into_error(path))?;
                Ok((store, Some(moved)))
            }
            Err(OpenFailure::Io(source)) => Err(sqlite(source)),
        }
    }

    fn open_checked(path: &Path) -> Result<Store, OpenFailure> {
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(OpenFailure::classify)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(OpenFailure::classify)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenFailure::Unusable(format!(
                "journal mode {mode}, not WAL"
            )));
        }
        // FULL: a committed flush survives power loss too, not only a killed process.
        connection
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;")
            .map_err(OpenFailure::classify)?;
        let check: String = connection
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(OpenFailure::classify)?;
        if check != "ok" {
            return Err(OpenFailure::Unusable(format!("integrity check: {check}")));
        }
        schema::migrate(&mut connection).map_err(|error| match error {
            schema::SchemaError::Sqlite(source) => OpenFailure::classify(source),
            other => OpenFailure::Unusable(other.to_string()),
        })?;
        let mut store = Store {
            connection,
            path: path.to_owned(),
            ids: HashMap::new(),
            records: HashMap::new(),
            span: None,
        };
        store.load_keys().map_err(OpenFailure::classify)?;
        Ok(store)
    }

    fn load_keys(&mut self) -> rusqlite::Result<()> {
        let mut statement = self
            .connection
            .prepare("SELECT id, kind, app, executable, uid, display_name FROM keys")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
                row.get::<_, String>(5)?,
            ))
        })?;
        for row in rows {
            let (id, kind, app, executable, uid, display_name) = row?;
            let Some(kind) = Kind::from_code(kind) else {
                continue;
            };
            let key = UsageKey {
                kind,
                app,
                executable,
                uid: u32::try_from(uid).unwrap_or(u32::MAX),
            };
            self.ids.insert(key.clone(), id);
            self.records.insert(id, KeyRecord { key, display_name });
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes one flush: every row into its hour and its day, and this run's span up to
    /// `now`, in one transaction. On error nothing of it is kept and `rows` stay with the
    /// caller.
    pub fn write(
        &mut self,
        rows: &BTreeMap<(Slot, UsageKey), PendingValue>,
        span_start: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let mut new_keys: Vec<(UsageKey, i64, String)> = Vec::new();
        let result = self.write_transaction(rows, span_start, now, &mut new_keys);
        match result {
            Ok(span) => {
                self.span = Some(span);
                for (key, id, display_name) in new_keys {
                    self.ids.insert(key.clone(), id);
                    self.records.insert(id, KeyRecord { key, display_name });
                }
                for ((_, key), value) in rows {
                    if let Some(id) = self.ids.get(key) {
                        if let Some(record) = self.records.get_mut(id) {
                            if record.display_name != value.display_name {
                                record.display_name.clone_from(&value.display_name);
                            }
                        }
                    }
                }
                Ok(())
            }
            Err(error) => Err(self.error(error)),
        }
    }

    fn write_transaction(
        &mut self,
        rows: &BTreeMap<(Slot, UsageKey), PendingValue>,
        span_start: u64,
        now: u64,
        new_keys: &mut Vec<(UsageKey, i64, String)>,
    ) -> rusqlite::Result<i64> {
        let transaction = self.connection.transaction()?;
        {
            let mut insert_key = transaction.prepare_cached(
                "INSERT INTO keys (kind, app, executable, uid, display_name) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut rename_key =
                transaction.prepare_cached("UPDATE keys SET display_name = ?2 WHERE id = ?1")?;
            let upsert = |table: &str| {
                format!(
                    "INSERT INTO {table} VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (start, key) DO UPDATE SET \
                     sent_bytes = sent_bytes + excluded.sent_bytes, \
                     received_bytes = received_bytes + excluded.received_bytes, \
                     sent_packets = sent_packets + excluded.sent_packets, \
                     received_packets = received_packets + excluded.received_packets"
                )
            };
            let mut day = transaction.prepare_cached(&upsert("usage_day"))?;
            // The batch's hours by (day, key), merged into their blocks after the loop.
            let mut blocks: BTreeMap<(u64, i64), packed::Hours> = BTreeMap::new();
            let mut pending_ids: HashMap<&UsageKey, i64> = HashMap::new();
            for ((slot, key), value) in rows {
                let id = match self.ids.get(key).or_else(|| pending_ids.get(key)) {
                    Some(id) => {
                        let known = self.records.get(id).map(|r| r.display_name.as_str());
                        if known.is_some_and(|name| name != value.display_name) {
                            rename_key.execute(params![id, value.display_name])?;
                        }
                        *id
                    }
                    None => {
                        insert_key.execute(params![
                            key.kind.code(),
                            key.app,
                            key.executable,
                            key.uid,
                            value.display_name
                        ])?;
                        let id = transaction.last_insert_rowid();
                        pending_ids.insert(key, id);
                        new_keys.push((key.clone(), id, value.display_name.clone()));
                        id
                    }
                };
                let c = &value.counters;
                let values = |start: u64| {
                    [
                        int(start),
                        id,
                        int(c.sent_bytes),
                        int(c.received_bytes),
                        int(c.sent_packets),
                        int(c.received_packets),
                    ]
                };
                if let Some(index) = slot.hour.and_then(|hour| packed::index_of(slot.day, hour)) {
                    blocks
                        .entry((slot.day, id))
                        .or_default()
                        .entry(index)
                        .or_default()
                        .add(c);
                }
                day.execute(values(slot.day))?;
            }
            let mut read_block = transaction
                .prepare_cached("SELECT hours FROM hour_blocks WHERE day = ?1 AND key = ?2")?;
            let mut write_block = transaction.prepare_cached(
                "INSERT OR REPLACE INTO hour_blocks (day, key, hours) VALUES (?1, ?2, ?3)",
            )?;
            for ((day, id), more) in &blocks {
                let stored: Option<Vec<u8>> = read_block
                    .query_row(params![int(*day), id], |row| row.get(0))
                    .optional()?;
                let mut hours = match stored {
                    Some(blob) => packed::decode(&blob).ok_or_else(|| damaged(*day, *id))?,
                    None => packed::Hours::new(),
                };
                packed::add(&mut hours, more);
                write_block.execute(params![int(*day), id, packed::encode(&hours)])?;
            }
        }
        let span = match self.span {
            Some(id) => {
                transaction.execute(
                    "UPDATE spans SET end = ?2 WHERE id = ?1",
                    params![id, int(now)],
                )?;
                id
            }
            None => {
                transaction.execute(
                    "INSERT INTO spans (start, end) VALUES (?1, ?2)",
                    params![int(span_start), int(now)],
                )?;
                transaction.last_insert_rowid()
            }
        };
        transaction.commit()?;
        Ok(span)
    }

    /// Deletes hourly rows older than `hourly_days` (their days stay) and every row and
    /// span older than `retention_days`, counted back from `now`.
    pub fn prune(
        &mut self,
        now: u64,
        hourly_days: u32,
        retention_days: u32,
    ) -> Result<(), StoreError> {
        // From a local midnight, so the days before the hours kept are whole day rows.
        let hourly_cutoff =
            crate::localtime::local_midnight(now.saturating_sub(u64::from(hourly_days) * DAY_S));
        let cutoff = now.saturating_sub(u64::from(retention_days) * DAY_S);
        let result = (|| -> rusqlite::Result<()> {
            let transaction = self.connection.transaction()?;
            transaction.execute(
                "DELETE FROM hour_blocks WHERE day < ?1",
                [int(hourly_cutoff)],
            )?;
            transaction.execute("DELETE FROM usage_day WHERE start < ?1", [int(cutoff)])?;
            transaction.execute("DELETE FROM spans WHERE end < ?1", [int(cutoff)])?;
            transaction.commit()
        })();
        result.map_err(|error| self.error(error))
    }

    /// Deletes the rows of `uid`'s processes, or every row and span (`None`).
    pub fn clear(&mut self, uid: Option<u32>) -> Result<(), StoreError> {
        let result = (|| -> rusqlite::Result<()> {
            let transaction = self.connection.transaction()?;
            match uid {
                Some(uid) => {
                    let filter = "key IN (SELECT id FROM keys WHERE kind = 0 AND uid = ?1)";
                    transaction
                        .execute(&format!("DELETE FROM hour_blocks WHERE {filter}"), [uid])?;
                    transaction.execute(&format!("DELETE FROM usage_day WHERE {filter}"), [uid])?;
                    transaction.execute("DELETE FROM keys WHERE kind = 0 AND uid = ?1", [uid])?;
                }
                None => {
                    transaction.execute_batch(
                        "DELETE FROM hour_blocks; DELETE FROM usage_day; DELETE FROM keys; \
                         DELETE FROM spans;",
                    )?;
                }
            }
            transaction.commit()
        })();
        result.map_err(|error| self.error(error))?;
        match uid {
            Some(uid) => {
                let gone: Vec<UsageKey> = self
                    .ids
                    .keys()
                    .filter(|key| key.kind == Kind::Process && key.uid == uid)
                    .cloned()
                    .collect();
                for key in gone {
                    if let Some(id) = self.ids.remove(&key) {
                        self.records.remove(&id);
                    }
                }
            }
            None => {
                self.ids.clear();
                self.records.clear();
                self.span = None;
            }
        }
        Ok(())
    }

    /// Runs `PRAGMA integrity_check` (the full one); `"ok"` when the file is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|error| self.error(error))
    }

    /// Size of the main file and its WAL, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|meta| meta.len())
            .sum()
    }

    /// Folds the WAL back into the main file (a flush on SIGTERM ends with it).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.connection
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(|error| self.error(error))
    }

    /// The connection, for the benchmark's bulk load.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

/// Why a file did not open: unusable as a history (moved aside), or an I/O problem with
/// the place itself (reported; moving the file would not help).
enum OpenFailure {
    Unusable(String),
    Io(rusqlite::Error),
}

impl OpenFailure {
    fn classify(error: rusqlite::Error) -> OpenFailure {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                OpenFailure::Unusable(error.to_string())
            }
            _ => OpenFailure::Io(error),
        }
    }

    fn into_error(self, path: &Path) -> StoreError {
        match self {
            OpenFailure::Unusable(reason) => StoreError::Schema {
                path: path.to_owned(),
                source: schema::SchemaError::Foreign(reason),
            },
            OpenFailure::Io(source) => StoreError::Sqlite {
                path: path.to_owned(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests;

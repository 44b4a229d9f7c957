//! The D-Bus contract of `sockeye-recorder`, the optional history service on the system bus:
//! names, payload types and the client proxy, shared by the recorder and the GUI.

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

/// Well-known name the recorder owns on the system bus.
pub const RECORDER_BUS_NAME: &str = "io.github.sockeye.Recorder";
/// Interface of the recorder's history object.
pub const RECORDER_INTERFACE: &str = "io.github.sockeye.Recorder1";
/// Object path of the recorder's history object.
pub const RECORDER_PATH: &str = "/io/github/sockeye/Recorder";
/// The systemd system unit that runs the recorder.
pub const RECORDER_UNIT: &str = "sockeye-recorder.service";
/// polkit action that lets a caller see (and clear) every user's rows.
pub const HISTORY_ALL_ACTION: &str = "io.github.sockeye.Sockeye.history-all";

/// `UsageRow::app` of the row that sums other users' processes for a caller without
/// `history-all`; the GUI shows its own translated name for it.
pub const OTHER_USERS_APP: &str = "@other-users";
/// `UsageRow::app` of the row that sums system processes (uid below 1000, and `nobody`)
/// for a caller without `history-all`.
pub const SYSTEM_APP: &str = "@system";
/// `UsageRow::uid` of the summed "Other users" row.
pub const OTHER_USERS_UID: u32 = u32::MAX;

/// Longest span `GetUsage` and `GetAppUsage` accept, in seconds (ten years).
pub const MAX_QUERY_SPAN_S: u64 = 10 * 366 * 24 * 3600;

/// One row of `GetUsage`: D-Bus signature `(tssutt)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct UsageRow {
    /// Start of the bucket, seconds since the Unix epoch (a multiple of the bucket length
    /// counted from local midnight for day buckets, from the hour for hour buckets).
    pub bucket_start: u64,
    /// The app id when known (`org.gnome.Epiphany`), else the executable's path; or
    /// [`OTHER_USERS_APP`] / [`SYSTEM_APP`].
    pub app: String,
    /// Name to show: the desktop file's name or the executable's base name, as recorded.
    pub display_name: String,
    pub uid: u32,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// One row of `GetAppUsage`: one executable of one app in one bucket, `(tstt)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ExecutableUsageRow {
    pub bucket_start: u64,
    /// The executable's path.
    pub executable: String,
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// What `GetStatus` answers, `(ttuuttb)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct RecorderStatus {
    /// When the oldest row still kept was recorded, seconds since the Unix epoch; 0 when
    /// nothing is recorded yet.
    pub recording_since: u64,
    /// When this run of the recorder started, seconds since the Unix epoch.
    pub running_since: u64,
    /// Days hourly rows are kept before they are summed into days.
    pub hourly_days: u32,
    /// Days any row is kept.
    pub retention_days: u32,
    /// Size of the database on disk (main file and WAL), in bytes.
    pub database_bytes: u64,
    /// Rows waiting in memory because the last write failed (a full disk); 0 normally.
    pub pending_rows: u64,
    /// Whether the caller may see every user's rows (`history-all`, checked without
    /// asking for a password).
    pub sees_all: bool,
}

/// The errors the recorder replies with, named `io.github.sockeye.Recorder1.Error.<Variant>`.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "io.github.sockeye.Recorder1.Error")]
pub enum RecorderError {
    #[zbus(error)]
    ZBus(zbus::Error),
    /// An argument is out of range (`from` after `to`, a zero bucket, a span over ten
    /// years); the message says which.
    InvalidArgs(String),
    /// polkit did not authorise the call.
    NotAuthorized(String),
    /// The database could not be read or written; the message says why.
    Storage(String),
}

/// Client side of `io.github.sockeye.Recorder1` on the system bus.
#[zbus::proxy(
    interface = "io.github.sockeye.Recorder1",
    default_service = "io.github.sockeye.Recorder",
    default_path = "/io/github/sockeye/Recorder"
)]
pub trait Recorder1 {
    /// Usage in `[from, to)` in buckets of `bucket_s` seconds (3600 or 86400; other
    /// lengths are multiples of the hour): the caller's own rows, plus "Other users" and
    /// "System" sums, or every row with `history-all`. Times in seconds since the epoch.
    fn get_usage(&self, from: u64, to: u64, bucket_s: u32) -> zbus::Result<Vec<UsageRow>>;
    /// One app's usage (an `app` of `GetUsage`) split by executable, with the same rules.
    fn get_app_usage(
        &self,
        app: &str,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> zbus::Result<Vec<ExecutableUsageRow>>;
    /// The spans in `[from, to)` when the recorder ran, `a(tt)`: (start, end) in seconds
    /// since the epoch. Time outside them is a gap, not zero use.
    fn get_spans(&self, from: u64, to: u64) -> zbus::Result<Vec<(u64, u64)>>;
    fn get_status(&self) -> zbus::Result<RecorderStatus>;
    /// Deletes the caller's rows; every row with `history-all` (polkit may ask).
    fn clear(&self) -> zbus::Result<()>;
}

//! `io.github.sockeye.Recorder1` on the system bus. Every method learns the caller's uid
//! from the bus daemon (`GetConnectionUnixUser` of the message's sender), never from an
//! argument, and asks polkit — without a dialog, except for `Clear` — whether the caller
//! may see every user's rows.

use crate::recording::Recording;
use crate::visibility::Viewer;
use sockeye_protocol::recorder::{
    ExecutableUsageRow, RecorderError, RecorderStatus, UsageRow, HISTORY_ALL_ACTION,
    MAX_QUERY_SPAN_S,
};
use std::sync::{Arc, Mutex, MutexGuard};
use zbus::message::Header;
use zbus::names::BusName;

/// The recording, shared with the capture forwarder and the flush timer.
pub type Shared = Arc<Mutex<Recording>>;

/// Locks the recording; a panic while holding it leaves plain data behind: keep serving.
pub fn lock(shared: &Mutex<Recording>) -> MutexGuard<'_, Recording> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct HistoryService {
    pub recording: Shared,
}

/// Checks a period and bucket length; the error says what is wrong.
pub fn check_period(from: u64, to: u64, bucket_s: Option<u32>) -> Result<(), RecorderError> {
    if from > to {
        return Err(RecorderError::InvalidArgs(format!(
            "the period starts ({from}) after it ends ({to})"
        )));
    }
    if to - from > MAX_QUERY_SPAN_S {
        return Err(RecorderError::InvalidArgs(format!(
            "the period is {} s long; at most {MAX_QUERY_SPAN_S} s (ten years) can be asked",
            to - from
        )));
    }
    if let Some(bucket_s) = bucket_s {
        if bucket_s == 0 || bucket_s % 3600 != 0 {
            return Err(RecorderError::InvalidArgs(format!(
                "the bucket length must be a whole number of hours (3600, 86400, …), not {bucket_s} s"
            )));
        }
    }
    Ok(())
}

fn storage(error: crate::store::StoreError) -> RecorderError {
    RecorderError::Storage(error.to_string())
}

/// The caller's unique name and uid, as the bus daemon knows them.
async fn caller(
    connection: &zbus::Connection,
    header: &Header<'_>,
) -> Result<(std::string::String, u32), RecorderError> {
    let sender = header
        .sender()
        .ok_or_else(|| RecorderError::NotAuthorized("the call has no sender".into()))?;
    let dbus = zbus::fdo::DBusProxy::new(connection).await?;
    let uid = dbus
        .get_connection_unix_user(BusName::Unique(sender.clone()))
        .await
        .map_err(|error| RecorderError::NotAuthorized(error.to_string()))?;
    Ok((sender.to_string(), uid))
}

/// Whom the answer is for: everyone's rows with `history-all`, checked without a dialog.
async fn viewer(
    connection: &zbus::Connection,
    header: &Header<'_>,
) -> Result<Viewer, RecorderError> {
    let (name, uid) = caller(connection, header).await?;
    if crate::polkit::authorized(connection, &name, HISTORY_ALL_ACTION, false).await {
        Ok(Viewer::All)
    } else {
        Ok(Viewer::User(uid))
    }
}

impl HistoryService {
    /// Runs a database read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Recording) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, RecorderError> {
        let shared = self.recording.clone();
        tokio::task::spawn_blocking(move || read(&lock(&shared)))
            .await
            .map_err(|error| RecorderError::Storage(error.to_string()))?
            .map_err(storage)
    }
}

#[zbus::interface(name = "io.github.sockeye.Recorder1")]
impl HistoryService {
    async fn get_usage(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> Result<Vec<UsageRow>, RecorderError> {
        check_period(from, to, Some(bucket_s))?;
        let viewer = viewer(connection, &header).await?;
        self.read(move |r| r.usage(from, to, u64::from(bucket_s), viewer))
            .await
    }

    async fn get_app_usage(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
        app: String,
        from: u64,
        to: u64,
        bucket_s: u32,
    ) -> Result<Vec<ExecutableUsageRow>, RecorderError> {
        check_period(from, to, Some(bucket_s))?;
        let viewer = viewer(connection, &header).await?;
        self.read(move |r| r.app_usage(&app, from, to, u64::from(bucket_s), viewer))
            .await
    }

    async fn get_spans(&self, from: u64, to: u64) -> Result<Vec<(u64, u64)>, RecorderError> {
        check_period(from, to, None)?;
        self.read(move |r| r.spans(from, to, now())).await
    }

    async fn get_status(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<RecorderStatus, RecorderError> {
        let sees_all = viewer(connection, &header).await? == Viewer::All;
        self.read(move |r| r.status(sees_all)).await
    }

    /// Deletes every row when polkit grants `history-all` (it may ask for a password
    /// here), else the caller's own rows.
    async fn clear(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), RecorderError> {
        let (name, uid) = caller(connection, &header).await?;
        let all = crate::polkit::authorized(connection, &name, HISTORY_ALL_ACTION, true).await;
        let target = if all { None } else { Some(uid) };
        let shared = self.recording.clone();
        tokio::task::spawn_blocking(move || lock(&shared).clear(target))
            .await
            .map_err(|error| RecorderError::Storage(error.to_string()))?
            .map_err(storage)?;
        eprintln!(
            "sockeye-recorder: uid {uid} cleared {}",
            if all {
                "every user's history".to_owned()
            } else {
                format!("the history of uid {uid}")
            }
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_periods_get_messages_that_say_what_is_wrong() {
        let message = |r: Result<(), RecorderError>| match r {
            Err(RecorderError::InvalidArgs(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(message(check_period(10, 5, Some(3600))).contains("after it ends"));
        assert!(message(check_period(0, 10, Some(0))).contains("whole number of hours"));
        assert!(message(check_period(0, 10, Some(1800))).contains("1800"));
        assert!(message(check_period(0, MAX_QUERY_SPAN_S + 1, Some(3600))).contains("ten years"));
        assert!(check_period(0, MAX_QUERY_SPAN_S, Some(86_400)).is_ok());
        assert!(check_period(5, 5, None).is_ok());
    }
}

//! Live capture: a thread owning one pcap handle per interface, fed control messages by
//! [`crate::Capture`] and woken by an eventfd.

mod devices;
mod dispatch;
mod interfaces;
mod session;
mod snap_filter;
mod source;
#[cfg(test)]
mod tests;
mod waker;

pub use session::Control;

use crate::accounting::{Accounting, AccountingConfig};
use crate::owner::OwnerLookup;
use crate::parse::FragmentTable;
use crate::{CaptureOptions, EngineError, Snapshot};
use interfaces::Interfaces;
use session::{Session, UpdateFn};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
pub use waker::Waker;

/// Shortest accounting interval accepted, so a mistaken 0 cannot spin the thread.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The capture thread, returning the final snapshot.
pub type CaptureThread = JoinHandle<Result<Snapshot, EngineError>>;

/// Opens the handles (on the caller's thread, so errors are returned) and starts the thread.
pub fn spawn<O: OwnerLookup + 'static>(
    options: CaptureOptions,
    owners: O,
    on_update: UpdateFn,
) -> Result<(Sender<Control>, Arc<Waker>, CaptureThread), EngineError> {
    spawn_on(
        options,
        owners,
        Box::new(devices::PcapDevices::default()),
        session::RESCAN_PERIOD,
        on_update,
    )
}

/// [`spawn`] on given devices, re-listed every `rescan_period`.
fn spawn_on<O: OwnerLookup + 'static>(
    options: CaptureOptions,
    owners: O,
    devices: Box<dyn source::Devices>,
    rescan_period: Duration,
    on_update: UpdateFn,
) -> Result<(Sender<Control>, Arc<Waker>, CaptureThread), EngineError> {
    let mut interfaces = Interfaces::new(devices, options.interfaces.clone());
    interfaces.rescan(true)?;
    let waker = Arc::new(Waker::new().map_err(|source| EngineError::Io {
        what: "eventfd".into(),
        source,
    })?);
    let (control, receiver) = std::sync::mpsc::channel();
    let mut accounting = Accounting::new(owners, AccountingConfig::default(), Instant::now());
    accounting.set_stacked(interfaces.stacked);
    let session = Session {
        accounting,
        interfaces,
        fragments: FragmentTable::default(),
        interval: options.interval.max(MIN_INTERVAL),
        rescan_period,
        control: receiver,
        waker: Arc::clone(&waker),
        on_update,
    };
    let thread = std::thread::Builder::new()
        .name("sockeye-capture".into())
        .spawn(move || session.run())
        .map_err(|source| EngineError::Io {
            what: "capture thread".into(),
            source,
        })?;
    Ok((control, waker, thread))
}

//! The History tab and `sockeye --history`: what each app used per hour and day, as
//! recorded by the optional `sockeye-recorder` system service.
//!
//! ```text
//! HistoryPage (view.rs, relm4) ─┬─ off: AdwStatusPage "Turn On History…"
//!                               └─ on:  period picker ─ HistoryChart (chart.rs)
//!                                       app list (app_list.rs) ─ one app: chart, executables
//! client   the recorder on the system bus (Recorder1Proxy, owner watch) and the fixed
//!          pkexec commands that turn the service on and off
//! period   periods as local-time slots (hours of a day, days of a week or month)
//! series   rows summed per app and per slot; gaps from the recorder's spans
//! export   CSV and JSON lines of the rows
//! cli      the terminal mode
//! ```

mod app_list;
mod chart;
pub mod cli;
pub mod client;
pub mod export;
mod layout;
pub mod period;
mod render;
pub mod series;
pub mod view;

pub use view::{HistoryInput, HistoryOutput, HistoryPage};

#[cfg(test)]
mod tests;

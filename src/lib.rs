//! Sockeye's GUI crate as a library, so integration tests can drive the launcher and the
//! models without a display. The binary (`main.rs`) only dispatches.

pub mod app;
pub mod config;
pub mod launcher;
pub mod terminal;

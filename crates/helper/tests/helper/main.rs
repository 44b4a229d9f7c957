//! Integration tests of `sockeye-helper --stdio`: the real binary, a real socketpair, a
//! real zbus client. Run as root (CI is root): they start the privileged helper.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;
mod dbus;
#[path = "../../../engine/tests/root/fuse.rs"]
mod fuse;
mod gdbus;
mod hosts;
mod lifecycle;
mod privilege;
mod reach;
#[cfg(feature = "sandbox-probe")]
mod sandbox;
mod stalled_details;
mod updates;
#[path = "../../../engine/tests/root/victim.rs"]
mod victim;

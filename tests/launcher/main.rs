//! Integration tests of the GUI crate's launcher and `sockeye --json/--trace`, with the
//! real helper binary (build it first: `cargo build -p sockeye-helper`). Run as root.

// Helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod common;
mod direct;
mod flatpak;
mod mismatch;
mod ownership;
mod pkexec;
mod probe;
mod terminal;

//! Attribution against the real kernel (run as root): sockets of child processes whose pid
//! the test knows, on loopback, in test network namespaces across a veth, ICMP, and a
//! process that lives 50 ms.

// Test helpers outside `#[test]` functions panic on purpose, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod details;
mod loopback;
mod namespaces;
mod support;

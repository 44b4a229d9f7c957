//! Root integration tests: real traffic from processes the test starts, captured by the
//! engine and checked against an independent count of the bytes on the wire.
//!
//! Run as root (CI does); as another user every scenario prints why it is skipped.
//! `cargo test -p sockeye-engine --test root -- --nocapture` prints one SCENARIO line each.

mod address_flood;
mod bridged_nat;
mod churn;
mod dns_names;
mod fuse;
mod heap;
mod lifecycle;
mod loopback;
mod macvlan;
mod namespace;
mod packet_socket;
mod short_udp;
mod socket_bytes;
mod stalled_details;
mod support;
mod traffic;
mod tunnel;
mod victim;

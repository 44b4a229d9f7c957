//! Which network namespaces exist and which addresses each owns: the namespaces a socket on
//! a local address may live in, and whether an address is this machine's at all.

pub(super) mod address_book;
pub(super) mod local_addrs;
pub(super) mod namespace;
pub(super) mod namespace_set;
pub(super) mod rank;
pub(super) mod tunnel_ports;

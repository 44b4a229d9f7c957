//! Kernel access for attribution: netlink and sock_diag sockets, `/proc/PID/net` socket
//! tables, the packet socket table, bounded reads of untrusted `/proc` files, and the kernel's last allocated pid.
//! Nothing here knows about flows or processes; the other rooms ask through these.

pub(super) mod bounded_read;
pub(super) mod last_pid;
pub(super) mod netlink;
pub(super) mod packet_table;
pub(super) mod proc_net;
pub(super) mod sock_diag;

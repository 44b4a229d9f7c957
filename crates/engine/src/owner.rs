//! The seam between accounting and the operating system: who owns a socket, which
//! addresses are local, and what a process is. The real implementation
//! ([`crate::attribution::SystemOwners`]) reads the kernel's socket tables and `/proc`;
//! accounting tests use fakes.

use crate::Transport;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// A process id.
pub type Pid = u32;

/// What the GUI and terminal modes show about a process; kept after the process exits so
/// short-lived processes stay in the totals under their own name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: Pid,
    /// Short name (`/proc/PID/comm`).
    pub name: String,
    /// Command line, arguments joined by spaces (empty for kernel threads).
    pub cmdline: String,
    pub uid: u32,
    /// User name for `uid`, or the number as text when it has no name.
    pub user: String,
    /// Flatpak app id, systemd/GNOME app scope id or snap name, when known.
    pub app_id: Option<String>,
    /// The process has exited since it was first seen.
    pub exited: bool,
    /// Its command line (and Flatpak app id) could not be read within 200 ms: the read
    /// hung, as the process can make it (see `attribution/processes/late_details/`).
    /// `cmdline` is then empty and `app_id` comes from its cgroup only.
    pub details_unavailable: bool,
}

/// Payload bytes one process wrote to and read from its inet sockets, at the socket layer
/// (see `attribution/socket_bytes/`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketBytes {
    pub sent: u64,
    pub received: u64,
}

/// Every process's [`SocketBytes`] since the counters started, and the send and receive
/// calls that could not be counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketTally {
    pub per_pid: HashMap<Pid, SocketBytes>,
    /// Calls lost: dropped by the kernel (a full ring) or past the bound on pids kept.
    pub lost: u64,
}

/// Answers the questions accounting asks about sockets and processes.
pub trait OwnerLookup: Send {
    /// The process owning the `transport` socket whose local end is `local` and whose peer
    /// is `remote`, in any network namespace of this machine. For ICMP echo the port of
    /// both addresses is the echo identifier.
    ///
    /// Accounting calls this once for each new flow endpoint (and, rate-limited by the
    /// caller, again while it stays unknown), so an unknown socket must be looked up at
    /// once and incrementally: a process that lives for 50 ms must still be found, and a
    /// full `/proc` rescan per call is too slow.
    fn owner(&mut self, transport: Transport, local: SocketAddr, remote: SocketAddr)
        -> Option<Pid>;

    /// Whether `ip` is an address of this machine or of one of its network namespaces;
    /// decides direction (the local source *sent*, the local destination *received*).
    fn is_local(&self, ip: IpAddr) -> bool;

    /// Details of a process that [`OwnerLookup::owner`] returned.
    fn process(&self, pid: Pid) -> Option<&ProcessInfo>;

    /// The network namespace of a process [`OwnerLookup::owner`] returned, by the inode of
    /// its `/proc/PID/ns/net`: DNS answers name addresses per namespace (`names/`). `None`
    /// when unknown (the process is gone); the default knows none.
    fn namespace(&self, _pid: Pid) -> Option<u64> {
        None
    }

    /// Called when the capture thread has caught up with every packet, at least every few
    /// milliseconds: a moment to learn cheaply, ahead of their first packet, what the
    /// next lookups will need (the real lookup reads the processes started since). Should
    /// return within about a millisecond (setting up a network namespace that just
    /// appeared takes a little longer, once, and is why it is done here and not inside a
    /// lookup).
    fn prepare(&mut self) {}

    /// Descriptors that become readable when the lookup has news to act on at once (a
    /// process connecting: its details are read while it runs). The capture thread polls
    /// them with its handles and calls [`Self::woken`] when one is. The default has none.
    fn wake_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        Vec::new()
    }

    /// One of [`Self::wake_fds`] was readable: take the news in. Cheap (reads the logs and
    /// the details of processes just seen, nothing else).
    fn woken(&mut self) {}

    /// The socket-layer byte counters, current as of this call; `None` when this kernel or
    /// this process's privilege cannot provide them (absent, not zero). The default has
    /// none.
    fn socket_bytes(&mut self) -> Option<&SocketTally> {
        None
    }

    /// The process that sent a frame carrying no IP packet, of EtherType `ethertype`, out
    /// of interface `ifindex` (it left with the interface's own address) through a packet
    /// socket, when one process alone can have; `None` otherwise (then it is "other").
    /// The default knows none.
    fn packet_owner(&mut self, _ifindex: u32, _ethertype: u16) -> Option<Pid> {
        None
    }

    /// Whether `port` is the UDP port of a tunnel the kernel runs on this machine (a VXLAN,
    /// Geneve or bare UDP device): unowned traffic to or from it is that tunnel's
    /// (`accounting/tunnels.rs`). The default knows none.
    fn udp_tunnel_port(&self, _port: u16) -> bool {
        false
    }

    /// Whether short-lived UDP senders are found (the route-lookup tracepoints are read:
    /// `Some`, with the events the kernel dropped so far) or fall to "unknown UDP" once
    /// their socket is gone (`None`). The default has no such log.
    fn sender_log(&self) -> Option<u64> {
        None
    }

    /// The process that last sent UDP from `local`'s port to `remote`, by the route-lookup
    /// log, whether or not its socket is still open; `None` without the log or a record.
    /// Asked for the first datagram after a pause in a UDP flow: another process than the
    /// flow's owner means a new socket took the same port towards the same peer (UDP has
    /// no SYN to tell a new exchange). The default has no log.
    fn last_udp_sender(&mut self, _local: SocketAddr, _remote: SocketAddr) -> Option<Pid> {
        None
    }

    /// Called once per interval: follow address changes, mark exited processes, and forget
    /// processes that are neither alive nor in `referenced` (pids accounting still holds).
    fn refresh(&mut self, referenced: &dyn Fn(Pid) -> bool);
}

//! What the tracepoint told, kept for the lookups that ask: which process connected each
//! kernel socket, which socket each client four-tuple is, which process listens (or
//! listened moments ago) on each address, and those processes' names. Every map is
//! bounded: two generations of [`GENERATION`] entries, [`MAX_NAMES`] names.

use super::record::Change;
use super::{ConnectLog, Listener, LISTEN, LISTENER_GRACE, SYN_SENT, TCP};
use crate::attribution::kernel::bounded_read::read_text;
use crate::attribution::namespaces::namespace::namespace_of;
use crate::attribution::processes::process_info::parse_comm;
use crate::attribution::sockets::socket_table::canonical;
use crate::attribution::sockets::unspecified;
use crate::owner::Pid;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Instant;

/// Most sockets and connections remembered per generation (two generations are kept).
pub(in crate::attribution) const GENERATION: usize = 32_768;
/// Most processes whose name is remembered.
const MAX_NAMES: usize = 8_192;

/// Two generations of a map: lookups see both, inserts go to the newer, and the older is
/// dropped when the newer is full. Bounded at twice [`GENERATION`] entries.
#[derive(Debug)]
pub(in crate::attribution) struct Generations<K, V> {
    pub(super) new: HashMap<K, V>,
    pub(super) old: HashMap<K, V>,
}

impl<K, V> Default for Generations<K, V> {
    fn default() -> Self {
        Self {
            new: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Copy> Generations<K, V> {
    pub(in crate::attribution) fn insert(&mut self, key: K, value: V) {
        if self.new.len() >= GENERATION {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(key, value);
    }

    /// Entries held, in both generations.
    #[cfg(test)]
    pub(in crate::attribution) fn len(&self) -> usize {
        self.new.len() + self.old.len()
    }

    pub(in crate::attribution) fn get(&self, key: &K) -> Option<V> {
        self.new.get(key).or_else(|| self.old.get(key)).copied()
    }
}

impl ConnectLog {
    /// Remembers what one state change tells.
    pub(super) fn note(&mut self, change: Change, proc_root: &Path) {
        if change.newstate == SYN_SENT {
            // In connect(): the pid is the caller's.
            self.connector.insert(change.socket, change.pid);
            self.note_name(change.pid, proc_root);
        } else if change.newstate == LISTEN && change.protocol == TCP {
            // In listen(): the pid is the caller's, the port bound (0 only for a socket
            // listening unbound, whose port is chosen after the event: not kept).
            if change.local.port() != 0 {
                let listener = Listener {
                    pid: change.pid,
                    namespace: namespace_of(proc_root, change.pid),
                    socket: change.socket,
                    closed: None,
                };
                self.listener.insert(canonical(change.local), listener);
                self.note_name(change.pid, proc_root);
            }
        } else if change.oldstate == LISTEN && change.protocol == TCP {
            // Closed (or its listen() failed: the state is set before the port is
            // checked). Kept for a grace period, for the connections it served.
            let key = canonical(change.local);
            if let Some(mut listener) = self.listener.get(&key) {
                if listener.socket == change.socket && listener.closed.is_none() {
                    listener.closed = Some(Instant::now());
                    self.listener.insert(key, listener);
                }
            }
        } else if change.oldstate == SYN_SENT && change.local.port() != 0 {
            // The handshake ended: the socket is still the connector's, so its pid is
            // taken now. Joined later through the socket's address, a connection whose
            // socket was freed and its address reused by a sibling's new socket was
            // credited to that sibling (one connection in 50 short-lived processes).
            if let Some(pid) = self.connector.get(&change.socket) {
                let key = (canonical(change.local), canonical(change.remote));
                self.client_of.insert(key, pid);
            }
        }
    }

    /// Remembers the name of `pid` while it runs (it may be gone by the time its traffic
    /// is looked up).
    fn note_name(&mut self, pid: Pid, proc_root: &Path) {
        if self.started.len() < super::MAX_STARTED && self.started.last() != Some(&pid) {
            self.started.push(pid);
        }
        if self.names.contains_key(&pid) {
            return;
        }
        if self.names.len() >= MAX_NAMES {
            self.names.clear();
        }
        // Read and cleaned as every other process name (`process_info`): this one stands
        // in for the name once the process is gone.
        let comm = read_text(&proc_root.join(pid.to_string()).join("comm"), 256)
            .map(|text| parse_comm(&text))
            .unwrap_or_default();
        self.names.insert(pid, comm);
    }

    /// The listener last opened on `local` (exactly, else on its port at the wildcard
    /// address) that is still open or closed within [`LISTENER_GRACE`], for the server end
    /// of a TCP connection whose sockets are gone.
    pub(crate) fn listener(&mut self, local: SocketAddr, proc_root: &Path) -> Option<Listener> {
        self.drain(proc_root);
        let recent = |l: &Listener| l.closed.is_none_or(|at| at.elapsed() < LISTENER_GRACE);
        let local = canonical(local);
        // An IPv6 wildcard listener also takes IPv4 connections (unless IPV6_V6ONLY).
        [
            local,
            SocketAddr::new(unspecified(local.ip()), local.port()),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), local.port()),
        ]
        .iter()
        .find_map(|addr| self.listener.get(addr).filter(recent))
    }

    /// The process that opened the TCP connection from `local` to `remote`, if its
    /// handshake was seen.
    pub(crate) fn connector(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        proc_root: &Path,
    ) -> Option<Pid> {
        self.drain(proc_root);
        self.client_of.get(&(canonical(local), canonical(remote)))
    }

    /// The name `pid` had when it connected.
    pub(crate) fn name(&self, pid: Pid) -> Option<&str> {
        self.names
            .get(&pid)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }
}

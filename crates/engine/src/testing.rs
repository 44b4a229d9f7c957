//! Test doubles shared by the engine's unit tests.

use crate::owner::{OwnerLookup, Pid, ProcessInfo};
use crate::Transport;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// An owner lookup answering from a fixed socket table, counting its lookups.
#[derive(Default)]
pub struct FakeOwners {
    /// (transport, local endpoint) → pid; the remote end is ignored (unconnected socket).
    pub sockets: HashMap<(Transport, SocketAddr), Pid>,
    pub local: Vec<IpAddr>,
    pub processes: HashMap<Pid, ProcessInfo>,
    pub lookups: usize,
}

impl FakeOwners {
    pub fn with_local(local: &[IpAddr]) -> Self {
        Self {
            local: local.to_vec(),
            ..Self::default()
        }
    }

    pub fn bind(&mut self, transport: Transport, local: SocketAddr, pid: Pid) {
        self.sockets.insert((transport, local), pid);
        self.processes.insert(
            pid,
            ProcessInfo {
                pid,
                name: format!("proc{pid}"),
                cmdline: format!("proc{pid} --flag"),
                uid: 1000,
                user: "alice".into(),
                app_id: None,
                exited: false,
            },
        );
    }

    /// The process exits: its sockets vanish, its details stay (marked exited).
    pub fn exit(&mut self, pid: Pid) {
        self.sockets.retain(|_, owner| *owner != pid);
        if let Some(info) = self.processes.get_mut(&pid) {
            info.exited = true;
        }
    }
}

impl OwnerLookup for FakeOwners {
    fn owner(&mut self, transport: Transport, local: SocketAddr, _: SocketAddr) -> Option<Pid> {
        self.lookups += 1;
        self.sockets.get(&(transport, local)).copied()
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local.contains(&ip)
    }

    fn process(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    fn refresh(&mut self, _: &dyn Fn(Pid) -> bool) {}
}

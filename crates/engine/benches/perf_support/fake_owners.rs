//! An owner lookup with no system behind it, for measuring the engine's own work: every
//! local endpoint belongs to one of a fixed set of pids (by port), found at the first
//! lookup. Counts lookups, so benchmarks can show they happen per flow, not per packet.

use sockeye_engine::owner::{OwnerLookup, Pid, ProcessInfo};
use sockeye_engine::Transport;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Fake system: addresses 192.0.2.10, 2001:db8::10, 10.0.0.0/8 and loopback are local.
pub struct FakeOwners {
    /// How many distinct pids own the sockets (pid = 1000 + port % processes).
    pub processes: u32,
    /// First pid handed out; moves on to simulate short-lived processes.
    pub first_pid: u32,
    pub infos: HashMap<Pid, ProcessInfo>,
    pub lookups: u64,
}

impl FakeOwners {
    pub fn new(processes: u32) -> Self {
        Self {
            processes: processes.max(1),
            first_pid: 1000,
            infos: HashMap::new(),
            lookups: 0,
        }
    }
}

impl OwnerLookup for FakeOwners {
    fn owner(&mut self, _: Transport, local: SocketAddr, _: SocketAddr) -> Option<Pid> {
        self.lookups += 1;
        let pid = self.first_pid + u32::from(local.port()) % self.processes;
        self.infos.entry(pid).or_insert_with(|| ProcessInfo {
            pid,
            name: format!("proc{pid}"),
            cmdline: format!("/usr/bin/proc{pid} --serve"),
            uid: 1000,
            user: "user".into(),
            app_id: None,
            exited: false,
        });
        Some(pid)
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                v4.is_loopback() || v4 == Ipv4Addr::new(192, 0, 2, 10) || v4.octets()[0] == 10
            }
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.segments() == [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]
            }
        }
    }

    fn process(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.infos.get(&pid)
    }

    fn refresh(&mut self, referenced: &dyn Fn(Pid) -> bool) {
        // Processes below `first_pid` have exited: keep them only while referenced.
        let first = self.first_pid;
        for (pid, info) in self.infos.iter_mut() {
            if *pid < first {
                info.exited = true;
            }
        }
        self.infos
            .retain(|pid, info| !info.exited || referenced(*pid));
    }
}

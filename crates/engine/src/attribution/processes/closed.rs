//! The holder of a socket, and what a connection whose holder cannot be read is credited
//! to (closed already, or accepted but its descriptor not installed yet): an accepted
//! connection goes, like its TIME_WAIT remains, to the holder of its listener.

use crate::attribution::sockets::socket_table::SockProto;
use crate::attribution::sockets::unspecified;
use crate::attribution::SystemOwners;
use crate::owner::Pid;
use crate::Transport;
use std::net::SocketAddr;

impl SystemOwners {
    /// The process holding socket `inode` of this connection (`hint`: its listener's
    /// inode, if known): the cheap passes first, then, while the kernel still has the
    /// socket, the costly ones; when it is gone, or no descriptor shows it yet, the
    /// listener's holder (TCP).
    ///
    /// An accepted socket has its inode (in sock_diag) from inside `accept()`, a moment
    /// before its descriptor is installed, and the search may not read the accepting
    /// process in time; a connection over in a millisecond or two (loopback) gets no
    /// retry, as accounting retries on the flow's next packets only. Its listener's
    /// holder is the answer the same lookup gives a moment earlier (before `accept()`
    /// the kernel answers with the listener).
    pub(in crate::attribution) fn holder(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
        inode: u64,
        hint: Option<u64>,
    ) -> Option<Pid> {
        if let Some(pid) = self.holders.quick_owner(inode, hint) {
            return Some(pid);
        }
        // A client connection whose connect() was seen: no /proc search needed.
        if let Some(pid) = self.connector(transport, local, remote) {
            return Some(pid);
        }
        let searched = self.still_open(transport, local, remote, inode);
        if searched {
            if let Some(pid) = self.holders.search_owner(inode, hint) {
                return Some(pid);
            }
        }
        if transport != Transport::Tcp {
            return None;
        }
        // A client's port has no listener: its connection stays unattributed.
        let Some(listener) = hint.or_else(|| self.listener(local)) else {
            // The listener is gone too: whoever the tracepoint saw listen there.
            return self.listened_on(transport, local);
        };
        if searched && listener == inode {
            return None; // just searched for in vain
        }
        self.holders.owner(listener, None)
    }

    /// The inode of the TCP listener on `local` (its address or the wildcard), asked of
    /// the kernel.
    fn listener(&mut self, local: SocketAddr) -> Option<u64> {
        let nobody = SocketAddr::new(unspecified(local.ip()), 0);
        let candidates = self.candidates(local.ip());
        candidates.indices.iter().find_map(|&i| {
            let diag = self.namespaces.list.get_mut(i)?.diag.as_mut()?;
            let entry = diag.find(SockProto::Tcp, local, nobody).ok()??;
            let listening = entry.remote.ip().is_unspecified() && entry.remote.port() == 0;
            (listening && entry.inode != 0).then_some(entry.inode)
        })
    }

    /// Whether the kernel still has socket `inode` for this connection (`true` when it
    /// cannot tell: no sock_diag).
    fn still_open(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
        inode: u64,
    ) -> bool {
        let proto = match transport {
            Transport::Tcp => SockProto::Tcp,
            Transport::Udp => SockProto::Udp,
            Transport::Icmp | Transport::Other | Transport::Tunnel => return true,
        };
        let candidates = self.candidates(local.ip());
        candidates.indices.iter().any(|&i| {
            let Some(diag) = self
                .namespaces
                .list
                .get_mut(i)
                .and_then(|ns| ns.diag.as_mut())
            else {
                return true;
            };
            !matches!(diag.find(proto, local, remote), Ok(answer)
                if answer.is_none_or(|e| e.inode != inode))
        })
    }
}

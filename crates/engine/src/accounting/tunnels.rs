//! Which flows are a kernel tunnel's own packets: the outer packets of a tunnel that the
//! kernel runs, with no process behind them. Unattributed, they go to the tunnel bucket
//! ([`crate::Transport::Tunnel`]), not to "unknown UDP" or "other", so that a user
//! reading the unattributed rows sees what they are (the inner traffic is seen on the
//! tunnel's own device, and credited to the apps there).
//!
//! - **IP protocols only tunnels carry** ([`TUNNEL_PROTOCOLS`]): IPIP, IPv6 in IPv4
//!   (`sit`), GRE, IPsec's ESP and AH, EtherIP, L2TPv3 and MPLS in IP. A raw socket of that
//!   protocol is still asked first (a userspace GRE endpoint owns its packets); only
//!   what no process owns is the tunnel's.
//! - **UDP**: a flow to or from the port of a VXLAN, Geneve or bare UDP device of this
//!   machine ([`OwnerLookup::udp_tunnel_port`], read from the devices' link information
//!   over netlink). Its sender is the kernel: a VXLAN device sends from a port hashed from
//!   the inner flow to the peer's VXLAN port and receives on its own, so both directions
//!   are matched on either port. An open socket on such a port still wins (a userspace
//!   VXLAN endpoint is a process), and the UDP sender log is not asked about such flows:
//!   the route lookup of a VXLAN device runs in the context of whichever task sent the
//!   inner packet, and would credit the outer packet to the app. So a process that sends
//!   to a tunnel port and exits before its socket is looked up is counted as the tunnel's.
//!   The ports are those of every namespace whose netlink the engine can read (the host's
//!   always; others only when it keeps `CAP_SYS_ADMIN`, which the helper does not). A
//!   VXLAN device made on the host and then moved into a container (Docker's overlay
//!   networks) is listed only in the container's namespace: under the helper its outer
//!   packets stay "unknown UDP".
//! - **Not** a kernel tunnel: a userspace VPN (OpenVPN, wireguard-go, tailscale, an IKE
//!   daemon's NAT-T port 4500), whose outer packets go through its own socket and are
//!   credited to it. WireGuard in the kernel tells its port only over generic netlink
//!   (which needs `CAP_NET_ADMIN`, dropped): its outer packets stay "unknown UDP".

use super::flows::FlowKey;
use crate::owner::OwnerLookup;
use crate::Transport;

/// IP protocol numbers carried only by tunnels (IANA): IPIP 4, IPv6 in IP 41, GRE 47,
/// ESP 50, AH 51, EtherIP 97, L2TPv3 115, MPLS in IP 137.
pub(super) const TUNNEL_PROTOCOLS: [u16; 8] = [4, 41, 47, 50, 51, 97, 115, 137];

/// Whether the flow `key` is a kernel tunnel's own, should no process own it.
pub(super) fn is_kernel_tunnel<O: OwnerLookup>(key: &FlowKey, owners: &O) -> bool {
    match key.transport {
        // The "ports" of another protocol's flow are its protocol number (parse/ip.rs).
        Transport::Other => TUNNEL_PROTOCOLS.contains(&key.a.port()),
        Transport::Udp => {
            owners.udp_tunnel_port(key.a.port()) || owners.udp_tunnel_port(key.b.port())
        }
        Transport::Tcp | Transport::Icmp | Transport::Tunnel => false,
    }
}

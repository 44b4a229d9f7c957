//! `SystemOwners` against the real system: loopback sockets of this process, the
//! `/proc/net` fallback without netlink, and random or mutated input for every parser.

use super::*;
use kernel::{netlink, proc_net, sock_diag};
use namespaces::local_addrs;
use processes::{app_id, holders, process_info, users};
use sockets::socket_table::SockProto;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// Asks until an answer comes or 5 s pass (a long-lived process's new socket may wait
/// for the rate-limited rescan, as accounting's retries do).
fn poll_owner(
    owners: &mut SystemOwners,
    transport: Transport,
    local: SocketAddr,
    remote: SocketAddr,
) -> Option<Pid> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = owners.owner(transport, local, remote);
        if got.is_some() || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn without_netlink_the_proc_net_tables_still_attribute_sockets() {
    let mut owners = SystemOwners::new().unwrap();
    for ns in &mut owners.namespaces.list {
        ns.diag = None;
    }
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = Some(std::process::id());
    let (local, remote) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
    assert_eq!(poll_owner(&mut owners, Transport::Tcp, local, remote), me);
    let peer = "127.0.0.1:9".parse().unwrap();
    let udp_local = udp.local_addr().unwrap();
    assert_eq!(poll_owner(&mut owners, Transport::Udp, udp_local, peer), me);
    owners.refresh(&|_| true);
    assert!(owners.namespaces.list[0].diag.is_none(), "stays on /proc");
    assert_eq!(owners.owner(Transport::Tcp, local, remote), me);
}

#[test]
fn a_closed_server_side_connection_belongs_to_its_listener_s_holder() {
    use std::io::Read;
    let mut owners = SystemOwners::new().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let (local, remote) = (server.local_addr().unwrap(), server.peer_addr().unwrap());
    drop(server); // the server closes first: its side ends in TIME_WAIT
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    drop(client);
    let me = Some(std::process::id());
    assert_eq!(poll_owner(&mut owners, Transport::Tcp, local, remote), me);
}

/// Sends descriptor `fd` over `via` (SCM_RIGHTS): until received, the message alone holds
/// the socket, which no process's descriptor table shows.
fn send_fd(via: &std::os::unix::net::UnixDatagram, fd: std::os::fd::BorrowedFd<'_>) {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    let byte = [0u8; 1];
    let iov = [std::io::IoSlice::new(&byte)];
    assert_eq!(
        sendmsg(via, &iov, &mut control, SendFlags::empty()).unwrap(),
        1
    );
}

/// Inside `accept()` the kernel gives the new socket its inode a moment before its
/// descriptor is installed; a loopback connection can be over before accounting's first
/// retry, so the first answer must already be the listener's holder.
#[test]
fn an_accepted_connection_no_descriptor_shows_yet_belongs_to_its_listener_s_holder() {
    use std::os::fd::AsFd;
    // Listening before the first scan, as servers do: the listener's holder is then known
    // without a search, whose 3 ms budget a busy test process (other tests' threads and
    // descriptors) may spend in vain.
    let listener = TcpListener::bind("[::1]:0").unwrap();
    let mut owners = SystemOwners::new().unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let (local, remote) = (server.local_addr().unwrap(), server.peer_addr().unwrap());
    let (in_flight, _receiver) = std::os::unix::net::UnixDatagram::pair().unwrap();
    send_fd(&in_flight, server.as_fd());
    drop(server);
    let me = Some(std::process::id());
    assert_eq!(owners.owner(Transport::Tcp, local, remote), me);
    drop(client);
}

/// Every parser of kernel output, fed random bytes and random mutations of real
/// samples: none may panic (they are all fed untrusted input).
#[test]
fn random_and_mutated_input_never_panics_a_parser() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let samples: [&[u8]; 5] = [
        b"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0",
        b"42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 50",
        b"0::/user.slice/app-gnome-org.gnome.Maps\\x2dX-77.scope\n1:name=systemd:/app-x-1.scope",
        b"[Application]\nname=org.example.App\n",
        b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    ];
    for round in 0..20_000 {
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            (0..next() % 200).map(|_| next() as u8).collect()
        } else {
            samples[round % samples.len()].to_vec()
        };
        for _ in 0..next() % 4 {
            if !bytes.is_empty() {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        for m in netlink::messages(&bytes).take(64) {
            let _ = m;
        }
        let _ = netlink::attributes(&bytes).count();
        let _ = sock_diag::decode_message(SockProto::Tcp, &bytes);
        let _ = local_addrs::parse_ifaddr(&bytes);
        let _ = proc_net::parse_line(SockProto::Udp, &text);
        let _ = process_info::parse_stat(&text);
        let _ = process_info::parse_comm(&text);
        let _ = process_info::parse_cmdline(&bytes);
        let _ = process_info::parse_status_uid(&text);
        let _ = app_id::cgroup_app_id(&text);
        let _ = app_id::flatpak_app_id(&text);
        let _ = users::parse_passwd(&text);
        let _ = local_addrs::parse_fib_trie_local(&text, 65_536);
        let _ = local_addrs::parse_if_inet6(&text, 65_536);
        let _ = holders::parse_socket_link(&text);
        let _ = namespaces::namespace::parse_ns_link(&text);
    }
}

#[test]
fn other_traffic_has_no_owner_and_loopback_is_always_local() {
    let mut owners = SystemOwners::new().unwrap();
    let any = "127.0.0.1:1".parse().unwrap();
    assert_eq!(owners.owner(Transport::Other, any, any), None);
    assert!(owners.is_local("127.4.5.6".parse().unwrap()));
    assert!(owners.is_local("::1".parse().unwrap()));
    assert!(owners.is_local("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!owners.is_local("192.0.2.1".parse().unwrap()), "TEST-NET-1");
    assert!(owners.process(u32::MAX).is_none());
}

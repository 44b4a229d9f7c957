//! Attribution against the real kernel (run as root): sockets of child processes whose pid
//! the test knows, on loopback, in test network namespaces across a veth, ICMP, and a
//! process that lives 50 ms.

// Test helpers outside `#[test]` functions panic on purpose, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod support {
    use serde_json::Value;
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::process::{Child, ChildStdout, Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    /// Helpers every child script starts with: `out(**fields)` prints one JSON line,
    /// `a(sockname)` formats an address as Rust parses it, `wait()` blocks until the test
    /// closes stdin.
    const PRELUDE: &str = r#"
import socket, sys, json, time, ctypes
def a(s):
    return f"[{s[0]}]:{s[1]}" if ":" in s[0] else f"{s[0]}:{s[1]}"
def out(**kw):
    print(json.dumps(kw), flush=True)
def wait():
    sys.stdin.read()
"#;

    /// A child process running a Python script; killed when dropped.
    pub struct Script {
        child: Child,
        stdout: BufReader<ChildStdout>,
    }

    impl Script {
        /// Runs `script` with `/usr/bin/python3` (in namespace `netns` if given).
        pub fn start(netns: Option<&str>, script: &str) -> Self {
            let source = format!("{PRELUDE}\n{script}");
            let mut command = match netns {
                Some(ns) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", ns, "/usr/bin/python3", "-c", &source]);
                    c
                }
                None => {
                    let mut c = Command::new("/usr/bin/python3");
                    c.args(["-c", &source]);
                    c
                }
            };
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs");
            let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            Self { child, stdout }
        }

        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// The next JSON line the script printed.
        pub fn line(&mut self) -> Value {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("read child");
            assert!(!line.is_empty(), "child exited before printing");
            serde_json::from_str(&line).expect("child printed JSON")
        }

        /// Waits (bounded) for the child to exit by itself.
        pub fn wait_exit(&mut self) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if self.child.try_wait().expect("try_wait").is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("child did not exit");
        }
    }

    impl Drop for Script {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn addr(value: &Value) -> SocketAddr {
        value
            .as_str()
            .expect("address string")
            .parse()
            .expect("address")
    }

    fn ip(args: &[&str]) {
        let status = Command::new("ip").args(args).status().expect("ip runs");
        assert!(status.success(), "ip {args:?} failed");
    }

    /// A network namespace joined to this one by a veth pair, with `host_ip` on this side
    /// and `ns_ip` inside; removed when dropped (even when the test fails).
    pub struct TestNamespace {
        pub name: String,
        host_if: String,
        pub host_ip: String,
        pub ns_ip: String,
    }

    impl TestNamespace {
        pub fn new() -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let pid = std::process::id();
            let name = format!("sockeye-attr-{pid}-{n}");
            let host_if = format!("sa{pid}{n}h");
            let ns_if = format!("sa{pid}{n}n");
            let subnet = format!("10.{}.{}", 150 + n, pid % 250);
            let guard = Self {
                name: name.clone(),
                host_if: host_if.clone(),
                host_ip: format!("{subnet}.1"),
                ns_ip: format!("{subnet}.2"),
            };
            ip(&["netns", "add", &name]);
            ip(&[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ]);
            ip(&["link", "set", &ns_if, "netns", &name]);
            ip(&[
                "addr",
                "add",
                &format!("{}/24", guard.host_ip),
                "dev",
                &host_if,
            ]);
            ip(&["link", "set", &host_if, "up"]);
            let in_ns = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &name, "ip"];
                all.extend_from_slice(args);
                ip(&all);
            };
            in_ns(&["addr", "add", &format!("{}/24", guard.ns_ip), "dev", &ns_if]);
            in_ns(&["link", "set", &ns_if, "up"]);
            in_ns(&["link", "set", "lo", "up"]);
            guard
        }

        /// Adds a second address (`.3`) on this side of the veth and returns it.
        pub fn add_host_address(&self) -> std::net::IpAddr {
            let extra = format!("{}.3", self.host_ip.rsplit_once('.').unwrap().0);
            ip(&["addr", "add", &format!("{extra}/24"), "dev", &self.host_if]);
            extra.parse().unwrap()
        }

        /// Runs a sysctl inside the namespace.
        pub fn sysctl(&self, setting: &str) {
            let status = Command::new("ip")
                .args(["netns", "exec", &self.name, "sysctl", "-qw", setting])
                .status()
                .expect("sysctl runs");
            assert!(status.success());
        }
    }

    impl Drop for TestNamespace {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["link", "del", &self.host_if])
                .status();
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }

    /// Polls `probe` until it returns `Some` or 5 s pass.
    pub fn poll<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = probe() {
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

mod loopback {
    use super::support::{addr, Script};
    use sockeye_engine::attribution::SystemOwners;
    use sockeye_engine::owner::OwnerLookup;
    use sockeye_engine::Transport;

    const TCP_PAIR: &str = r#"
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
host = "::1" if sys.argv[1] == "6" else "127.0.0.1"
l = socket.socket(fam); l.bind((host, 0)); l.listen()
c = socket.socket(fam); c.connect(l.getsockname()[:2]); s, _ = l.accept()
out(listener=a(l.getsockname()), client=a(c.getsockname()), server=a(s.getsockname()))
wait()
"#;

    fn tcp_connection_belongs_to_the_child_at_both_ends(family: &str) {
        // Started before the child, so the child's sockets are found incrementally.
        let mut owners = SystemOwners::new().unwrap();
        let mut child = Script::start(None, &TCP_PAIR.replace("sys.argv[1]", family));
        let v = child.line();
        let (client, server, listener) =
            (addr(&v["client"]), addr(&v["server"]), addr(&v["listener"]));
        let pid = Some(child.pid());
        assert_eq!(owners.owner(Transport::Tcp, client, server), pid);
        assert_eq!(owners.owner(Transport::Tcp, server, client), pid);
        // A SYN from a new peer belongs to the listener.
        let new_peer = "[::1]:9".parse().unwrap();
        let syn_from = if family == "\"6\"" {
            new_peer
        } else {
            "127.0.0.1:9".parse().unwrap()
        };
        assert_eq!(owners.owner(Transport::Tcp, listener, syn_from), pid);
        assert!(owners.is_local(client.ip()));
        let info = owners.process(child.pid()).expect("details");
        assert_eq!(info.name, "python3");
        assert!(info.cmdline.starts_with("/usr/bin/python3 -c"));
    }

    #[test]
    fn tcp_over_ipv4_loopback_belongs_to_the_child_at_both_ends() {
        tcp_connection_belongs_to_the_child_at_both_ends("\"4\"");
    }

    #[test]
    fn tcp_over_ipv6_loopback_belongs_to_the_child_at_both_ends() {
        tcp_connection_belongs_to_the_child_at_both_ends("\"6\"");
    }

    #[test]
    fn connected_and_unconnected_udp_sockets_belong_to_their_process() {
        let mut owners = SystemOwners::new().unwrap();
        let mut child = Script::start(
            None,
            r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); c.bind(("::1", 0)); c.connect(("::1", 9))
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
d.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); d.bind(("::", 0))
out(unconnected=a(u.getsockname()), connected=a(c.getsockname()), dual=d.getsockname()[1])
wait()
"#,
        );
        let v = child.line();
        let pid = Some(child.pid());
        let unconnected = addr(&v["unconnected"]);
        let anyone = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(owners.owner(Transport::Udp, unconnected, anyone), pid);
        let connected = addr(&v["connected"]);
        assert_eq!(
            owners.owner(Transport::Udp, connected, "[::1]:9".parse().unwrap()),
            pid
        );
        // A dual-stack IPv6 socket on [::] receives IPv4 datagrams too.
        let dual = format!("127.0.0.1:{}", v["dual"]).parse().unwrap();
        assert_eq!(owners.owner(Transport::Udp, dual, anyone), pid);
    }

    #[test]
    fn process_details_survive_odd_names() {
        let mut owners = SystemOwners::new().unwrap();
        let mut child = Script::start(
            None,
            r#"
ctypes.CDLL(None).prctl(15, b"odd (name) x\ny", 0, 0, 0)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
out(addr=a(u.getsockname()))
wait()
"#,
        );
        let local = addr(&child.line()["addr"]);
        let pid = owners.owner(Transport::Udp, local, "127.0.0.1:1".parse().unwrap());
        assert_eq!(pid, Some(child.pid()));
        let info = owners.process(child.pid()).unwrap();
        assert_eq!(info.name, "odd (name) x?y");
        assert_eq!((info.uid, info.user.as_str()), (0, "root"));
        assert!(!info.exited);
    }

    #[test]
    fn a_process_living_50_ms_is_found_and_keeps_its_name_after_exit() {
        let mut owners = SystemOwners::new().unwrap();
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let to = receiver.local_addr().unwrap();
        let mut child = Script::start(
            None,
            &format!(
                r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"hello", ("127.0.0.1", {}))
time.sleep(0.05)
"#,
                to.port()
            ),
        );
        let mut buf = [0u8; 16];
        let (_, from) = receiver.recv_from(&mut buf).unwrap();
        let pid = child.pid();
        assert_eq!(owners.owner(Transport::Udp, from, to), Some(pid));
        child.wait_exit();
        assert_eq!(owners.process(pid).unwrap().name, "python3");
        owners.refresh(&|p| p == pid);
        let info = owners.process(pid).expect("kept while referenced");
        assert!(info.exited);
        assert_eq!(info.name, "python3");
        owners.refresh(&|_| false);
        assert!(owners.process(pid).is_none());
    }
}

mod namespaces {
    use super::support::{addr, poll, Script, TestNamespace};
    use sockeye_engine::attribution::SystemOwners;
    use sockeye_engine::owner::OwnerLookup;
    use sockeye_engine::Transport;
    use std::net::{IpAddr, SocketAddr, TcpListener};

    #[test]
    fn a_process_in_another_namespace_is_attributed_across_a_veth() {
        let ns = TestNamespace::new();
        let mut owners = SystemOwners::new().unwrap();
        let host_ip: IpAddr = ns.host_ip.parse().unwrap();
        let listener = TcpListener::bind((host_ip, 0)).unwrap();
        let server = listener.local_addr().unwrap();
        let mut child = Script::start(
            Some(&ns.name),
            &format!(
                r#"
c = socket.create_connection(("{}", {}))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 0))
out(client=a(c.getsockname()), udp=u.getsockname()[1])
wait()
"#,
                ns.host_ip,
                server.port()
            ),
        );
        let v = child.line();
        let (accepted, _) = listener.accept().unwrap();
        let client = addr(&v["client"]);
        assert_eq!(
            owners.owner(Transport::Tcp, client, server),
            Some(child.pid()),
            "the namespaced sender"
        );
        // This (long-lived, not recently active) process opened its listener after the
        // last full /proc scan, so the first lookup may be refused by the full-scan rate
        // limit; accounting asks again while a flow stays unknown, as this poll does.
        let receiver = poll(|| owners.owner(Transport::Tcp, server, client));
        assert_eq!(
            receiver,
            Some(std::process::id()),
            "this process, the receiver"
        );
        let ns_ip: IpAddr = ns.ns_ip.parse().unwrap();
        assert!(owners.is_local(ns_ip) && owners.is_local(host_ip));
        // An address added later is local at once, without waiting for a refresh (the
        // kernel's change notification may take a moment: poll within a bound).
        let added = ns.add_host_address();
        assert!(poll(|| owners.is_local(added).then_some(())).is_some());
        let udp = SocketAddr::new(ns_ip, v["udp"].as_u64().unwrap() as u16);
        let from_host = SocketAddr::new(host_ip, 7777);
        assert_eq!(
            owners.owner(Transport::Udp, udp, from_host),
            Some(child.pid())
        );
        drop(accepted);
    }

    #[test]
    fn a_namespace_created_after_start_is_followed_without_a_refresh() {
        let mut owners = SystemOwners::new().unwrap();
        let ns = TestNamespace::new();
        let (ns_ip, host_ip): (IpAddr, IpAddr) =
            (ns.ns_ip.parse().unwrap(), ns.host_ip.parse().unwrap());
        assert!(poll(|| owners.is_local(ns_ip).then_some(())).is_some());
        assert!(poll(|| owners.is_local(host_ip).then_some(())).is_some());
        let mut child = Script::start(
            Some(&ns.name),
            r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 0))
out(port=u.getsockname()[1])
wait()
"#,
        );
        let port = child.line()["port"].as_u64().unwrap() as u16;
        let local = SocketAddr::new(ns_ip, port);
        let from_host = SocketAddr::new(host_ip, 7777);
        let found = poll(|| owners.owner(Transport::Udp, local, from_host));
        assert_eq!(found, Some(child.pid()));
    }

    #[test]
    fn a_ping_socket_owns_the_echo_traffic_of_its_identifier() {
        let ns = TestNamespace::new();
        ns.sysctl("net.ipv4.ping_group_range=0 2147483647");
        let mut owners = SystemOwners::new().unwrap();
        let mut child = Script::start(
            Some(&ns.name),
            &format!(
                r#"
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
p.sendto(b"\x08\x00\x00\x00\x00\x00\x00\x01ping", ("{}", 0))
out(ident=p.getsockname()[1])
wait()
"#,
                ns.host_ip
            ),
        );
        let ident = child.line()["ident"].as_u64().unwrap() as u16;
        let local = SocketAddr::new(ns.ns_ip.parse().unwrap(), ident);
        let remote = SocketAddr::new(ns.host_ip.parse().unwrap(), ident);
        let found = poll(|| owners.owner(Transport::Icmp, local, remote));
        assert_eq!(found, Some(child.pid()));
    }

    #[test]
    fn a_raw_icmp_socket_owns_echo_traffic_of_its_namespace() {
        let ns = TestNamespace::new();
        let mut owners = SystemOwners::new().unwrap();
        // ping as root without ping sockets allowed uses a raw ICMP socket.
        let mut ping = std::process::Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "ping", "-q", "-c", "50", "-i", "0.1",
            ])
            .arg(&ns.host_ip)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let local = SocketAddr::new(ns.ns_ip.parse().unwrap(), 4321);
        let remote = SocketAddr::new(ns.host_ip.parse().unwrap(), 4321);
        let found = poll(|| owners.owner(Transport::Icmp, local, remote));
        let _ = ping.kill();
        let _ = ping.wait();
        assert_eq!(found, Some(ping.id()));
        assert_eq!(owners.process(ping.id()).unwrap().name, "ping");
    }

    #[test]
    fn of_several_raw_icmp_sockets_the_ping_whose_pid_is_the_identifier_owns_the_echo() {
        let ns = TestNamespace::new();
        let mut owners = SystemOwners::new().unwrap();
        let start_ping = || {
            std::process::Command::new("ip")
                .args([
                    "netns", "exec", &ns.name, "ping", "-q", "-c", "50", "-i", "0.1",
                ])
                .arg(&ns.host_ip)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut pings = [start_ping(), start_ping()];
        let ns_ip: IpAddr = ns.ns_ip.parse().unwrap();
        let host_ip: IpAddr = ns.host_ip.parse().unwrap();
        let mut found = Vec::new();
        for ping in &pings {
            // iputils ping on a raw socket uses its pid as the echo identifier.
            let ident = (ping.id() & 0xffff) as u16;
            let (local, remote) = (
                SocketAddr::new(ns_ip, ident),
                SocketAddr::new(host_ip, ident),
            );
            found.push(poll(|| {
                owners
                    .owner(Transport::Icmp, local, remote)
                    .filter(|&pid| pid == ping.id())
            }));
        }
        for ping in &mut pings {
            let _ = ping.kill();
            let _ = ping.wait();
        }
        assert_eq!(found, [Some(pings[0].id()), Some(pings[1].id())]);
    }
}

mod details {
    use super::support::{addr, Script};
    use sockeye_engine::attribution::SystemOwners;
    use sockeye_engine::owner::OwnerLookup;
    use sockeye_engine::Transport;
    use std::path::PathBuf;

    /// A cgroup `<hierarchy>/sockeye-attr-<pid>.slice/<unit>` holding one process;
    /// the process is moved back to the root cgroup and the directories removed on drop.
    struct TestCgroup {
        root: PathBuf,
        slice: PathBuf,
        scope: PathBuf,
        pid: u32,
    }

    impl TestCgroup {
        /// The writable hierarchy systemd would use: cgroup2 if mounted, else the v1
        /// `name=systemd` one.
        fn hierarchy() -> PathBuf {
            let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
            let find = |pred: &dyn Fn(&[&str]) -> bool| {
                mounts.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    (f.len() > 3 && pred(&f)).then(|| PathBuf::from(f[1]))
                })
            };
            find(&|f| f[2] == "cgroup2")
                .or_else(|| find(&|f| f[2] == "cgroup" && f[3].contains("name=systemd")))
                .expect("a cgroup hierarchy to test app ids with")
        }

        fn new(unit: &str, pid: u32) -> Self {
            let root = Self::hierarchy();
            let slice = root.join(format!("sockeye-attr-{}.slice", std::process::id()));
            let scope = slice.join(unit);
            std::fs::create_dir_all(&scope).unwrap();
            let guard = Self {
                root,
                slice,
                scope,
                pid,
            };
            std::fs::write(guard.scope.join("cgroup.procs"), pid.to_string()).unwrap();
            guard
        }
    }

    impl Drop for TestCgroup {
        fn drop(&mut self) {
            let _ = std::fs::write(self.root.join("cgroup.procs"), self.pid.to_string());
            let _ = std::fs::remove_dir(&self.scope);
            let _ = std::fs::remove_dir(&self.slice);
        }
    }

    #[test]
    fn a_process_in_a_gnome_app_scope_carries_its_app_id() {
        let mut owners = SystemOwners::new().unwrap();
        let mut child = Script::start(
            None,
            r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
out(addr=a(u.getsockname()))
wait()
"#,
        );
        let local = addr(&child.line()["addr"]);
        let unit = format!("app-gnome-org.sockeye.Test\\x2dApp-{}.scope", child.pid());
        let _cgroup = TestCgroup::new(&unit, child.pid());
        let pid = owners.owner(Transport::Udp, local, "127.0.0.1:1".parse().unwrap());
        assert_eq!(pid, Some(child.pid()));
        let info = owners.process(child.pid()).unwrap();
        assert_eq!(info.app_id.as_deref(), Some("org.sockeye.Test-App"));
        drop(child);
    }

    #[test]
    fn thirty_short_lived_processes_are_each_found_under_their_own_pid() {
        let mut owners = SystemOwners::new().unwrap();
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let to = receiver.local_addr().unwrap();
        let mut credited = Vec::new();
        // One after the other, each living 50 ms after its datagram, as a shell loop of
        // short commands would.
        for _ in 0..30 {
            let mut child = Script::start(
                None,
                &format!(
                    r#"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.1", {}))
time.sleep(0.05)
"#,
                    to.port()
                ),
            );
            let mut buf = [0u8; 8];
            let (_, from) = receiver.recv_from(&mut buf).unwrap();
            let got = owners.owner(Transport::Udp, from, to);
            child.wait_exit();
            credited.push((child.pid(), got));
        }
        let wrong: Vec<_> = credited
            .iter()
            .filter(|(pid, got)| *got != Some(*pid))
            .collect();
        assert!(wrong.is_empty(), "not credited to their sender: {wrong:?}");
        for (pid, _) in &credited {
            let info = owners.process(*pid).unwrap();
            assert_eq!(info.name, "python3");
        }
    }
}

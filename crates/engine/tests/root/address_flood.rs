//! A namespace flooded with local addresses, made as an unprivileged user would: the engine
//! (with the helper's capabilities) keeps attributing real traffic beside it.

use crate::support::*;
use crate::traffic::*;
use rustix::thread::{CapabilitySet, CapabilitySets};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Local addresses in the flooded namespace.
const FLOOD_ADDRESSES: u32 = 65_536;
/// The user the flood runs as.
const NOBODY: &str = "65534";

/// A process in a user and network namespace of its own whose loopback has
/// [`FLOOD_ADDRESSES`] local addresses, killed on drop (the namespace goes with it).
///
/// The addresses are `local` routes (`ip route add local A/32 dev lo table local`): to the
/// kernel and in `/proc/PID/net/fib_trie` each is a `/32 host LOCAL` entry like the one an
/// `ip addr add` makes, but adding 65,536 of them takes a second where 65,536 `ip addr add`
/// on one interface take minutes (each walks the interface's address list).
struct FloodedNamespace {
    child: Child,
    /// Whether a non-root user owns its user namespace (else root made it for one).
    unprivileged: bool,
}

impl FloodedNamespace {
    fn create() -> FloodedNamespace {
        // As any user may where unprivileged user namespaces are allowed…
        let unprivileged = [
            "setpriv",
            "--reuid",
            NOBODY,
            "--regid",
            NOBODY,
            "--clear-groups",
            "--",
            "unshare",
            "-rn",
        ];
        // …and else made by root (its owner is then root: the namespace is not ranked
        // last, the other bounds still hold).
        let by_root = ["unshare", "-rn"];
        if let Some(child) = Self::start(&unprivileged) {
            return FloodedNamespace {
                child,
                unprivileged: true,
            };
        }
        println!("  unprivileged user namespaces refused here: root makes the namespace");
        let child = Self::start(&by_root).expect("a user and network namespace with a flood");
        FloodedNamespace {
            child,
            unprivileged: false,
        }
    }

    /// Runs the flood inside the namespace `prefix` makes; `None` when it failed.
    fn start(prefix: &[&str]) -> Option<Child> {
        // `ip` adds the routes from stdin, the shell reports how many there are and then
        // becomes a process that stays in the namespace.
        let script = "ip link set lo up && ip -batch - && \
                      echo ready $(ip -4 route show table local type local | wc -l) && \
                      exec sleep 3600";
        let mut child = Command::new(prefix[0])
            .args(&prefix[1..])
            .args(["sh", "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut batch = String::new();
        for i in 0..FLOOD_ADDRESSES {
            let [_, b, c, d] = i.to_be_bytes();
            batch += &format!(
                "route add local 10.{}.{c}.{d}/32 dev lo table local\n",
                200 + b
            );
        }
        let mut stdin = child.stdin.take()?;
        let written = stdin.write_all(batch.as_bytes());
        drop(stdin);
        let mut line = String::new();
        let stdout = child.stdout.take()?;
        let read = BufReader::new(stdout).read_line(&mut line);
        let routes: Option<u32> = line
            .strip_prefix("ready ")
            .and_then(|n| n.trim().parse().ok());
        if written.is_err() || read.is_err() || routes.is_none_or(|n| n < FLOOD_ADDRESSES) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(child)
    }
}

impl Drop for FloodedNamespace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time the engine's capture threads of this process have used (user and system).
fn capture_thread_cpu() -> Duration {
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("own tasks")
        .flatten()
    {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end() != "sockeye-capture" {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        // Fields after the name: state is field 3, utime 14 and stime 15.
        let fields: Vec<u64> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split(' ').skip(11).take(2))
            .into_iter()
            .flatten()
            .filter_map(|f| f.parse().ok())
            .collect();
        total += fields.iter().sum::<u64>();
    }
    Duration::from_millis(total * 1000 / ticks)
}

/// Starts the engine with the capabilities the helper keeps, which exclude
/// `CAP_SYS_ADMIN`: without it the engine cannot `setns` into another namespace and reads
/// its addresses from a member's `/proc/PID/net`, as the helper does. Capabilities are
/// per thread; the engine's threads inherit this one's, which are restored after. The
/// connect tracepoint is opened before, as the helper opens it before its drop.
fn start_engine_as_the_helper() -> Engine {
    let _ = sockeye_engine::attribution::preopen_connect_log();
    let sets: CapabilitySets = rustix::thread::capabilities(None).expect("capability sets");
    let mut helper = sets;
    helper.effective.remove(CapabilitySet::SYS_ADMIN);
    rustix::thread::set_capabilities(None, helper).expect("drop CAP_SYS_ADMIN");
    let engine = Engine::start();
    rustix::thread::set_capabilities(None, sets).expect("restore the capabilities");
    engine
}

/// The 300-connection workload under a fresh engine: its measurement, the capture
/// thread's CPU time and the wall time it took.
fn workload(name: &str) -> (TcpOutcome, Duration, Duration) {
    let engine = start_engine_as_the_helper();
    let (cpu, started) = (capture_thread_cpu(), Instant::now());
    let outcome = three_hundred_loopback_connections(&engine, name);
    let (cpu, wall) = (capture_thread_cpu().saturating_sub(cpu), started.elapsed());
    engine.capture.stop().expect("stop");
    println!(
        "SCENARIO {name}: capture thread {} ms of CPU in {} ms",
        cpu.as_millis(),
        wall.as_millis()
    );
    (outcome, cpu, wall)
}

/// 300 short loopback connections, first alone, then while a user's namespace holds
/// 65,536 local addresses: each is credited in full both times.
#[test]
fn a_namespace_flooded_with_addresses_does_not_blind_the_capture() {
    let name = "300 connections beside 65,536 addresses";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let (alone, _, _) = workload("300 connections, no flood");
    assert_attributed(&alone.measurement, &alone.snapshot);

    let flood = FloodedNamespace::create();
    println!(
        "  flooded namespace: pid {}, user namespace owned by {}",
        flood.child.id(),
        if flood.unprivileged { "nobody" } else { "root" }
    );
    let (flooded, _, _) = workload(name);
    drop(flood);
    assert_attributed(&flooded.measurement, &flooded.snapshot);
}

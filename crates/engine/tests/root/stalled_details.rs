//! Processes whose details cannot be read, each made so by an unprivileged victim with a
//! FUSE file system that never answers (`fuse.rs`): one wedges its own mmap lock behind a
//! read of a FUSE file, so reading its `/proc/PID/cmdline` hangs (`fuse_victim.py`); one
//! makes such a file system its root in a user namespace, so looking up its
//! `/proc/PID/root/.flatpak-info` hangs (`chroot_victim.py`). Capture must go on for
//! everyone else, and each victim is shown with its details marked unavailable.

use crate::fuse::StalledFuse;
use crate::support::*;
use crate::traffic::*;
use crate::victim::{Victim, MMAP_LOCK_VICTIM};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const CHROOT_VICTIM: &str = include_str!("chroot_victim.py");
/// How long snapshots are watched while the victim's details hang.
const WATCH: Duration = Duration::from_secs(2);

/// Longest time, over `window`, between two snapshots arriving.
fn longest_gap(engine: &Engine, window: Duration) -> Duration {
    let start = Instant::now();
    let (mut seen, mut since, mut longest) = (engine.updates(), start, Duration::ZERO);
    while start.elapsed() < window {
        std::thread::sleep(Duration::from_millis(10));
        let now = engine.updates();
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
        longest = longest.max(since.elapsed());
    }
    longest
}

#[test]
fn a_process_whose_command_line_cannot_be_read_does_not_stall_capture() {
    let name = "command line stuck behind FUSE";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("receiver");
    let port = receiver.local_addr().expect("receiver address").port();
    let fuse = StalledFuse::mount(false);
    let file = fuse.file();
    let victim = Victim::start(python(), MMAP_LOCK_VICTIM, fuse, &file, port);
    victim.wait_until_wedged();
    capture_goes_on_beside(name, &engine, &receiver, victim, "cmdline");
    engine.capture.stop().expect("stop");
}

#[test]
fn a_process_whose_root_hangs_lookups_does_not_stall_capture() {
    let name = "root of a process on FUSE";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("receiver");
    let port = receiver.local_addr().expect("receiver address").port();
    let fuse = StalledFuse::mount(true);
    let root = fuse.file().parent().expect("mount point").to_owned();
    let victim = Victim::start(python(), CHROOT_VICTIM, fuse, &root, port);
    capture_goes_on_beside(name, &engine, &receiver, victim, "root/.flatpak-info");
    engine.capture.stop().expect("stop");
}

/// With `victim` stuck so that reading its `/proc/PID/<hung>` hangs: snapshots keep
/// coming, other processes' traffic is credited (command lines included), and the victim
/// is credited under its name with its details marked unavailable. `victim` is dropped
/// here, also when an assertion fails: it and its FUSE connection go before the engine.
fn capture_goes_on_beside(
    name: &str,
    engine: &Engine,
    receiver: &UdpSocket,
    mut victim: Victim,
    hung: &str,
) {
    println!("  victim pid {}", victim.pid);
    // The attack is live: a plain read of that file hangs in FUSE.
    let held = victim.hold_a_read(hung);
    victim.go();
    receiver
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("receiver timeout");
    receiver
        .recv(&mut [0; 256])
        .expect("the victim's traffic arrives");

    let gap = longest_gap(engine, WATCH);
    println!(
        "SCENARIO {name}: longest gap between snapshots {} ms over {} ms ({} requests held)",
        gap.as_millis(),
        WATCH.as_millis(),
        victim.reads_held()
    );
    assert!(
        gap < Duration::from_secs(1),
        "snapshots stopped for {} ms while the victim's details hung",
        gap.as_millis()
    );
    // Other processes' traffic is still credited, each to its own pid.
    let outcome = run_tcp(
        engine,
        &TcpExchange {
            name,
            interface: "lo",
            server: here("127.0.0.1"),
            client: here("127.0.0.1"),
            send: 20_000,
            reply: 5_000,
            clients: 5,
            connections: 4,
        },
    );
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    // The victim itself is credited at once, under its name and user, its details
    // marked unavailable (their read passed its deadline).
    let victim_shown = |s: &sockeye_engine::Snapshot| {
        s.processes.iter().any(|p| {
            p.pid == victim.pid
                && p.sent_bytes > 0
                && p.name == "python3"
                && p.user == "nobody"
                && p.details_unavailable
                && p.cmdline.is_empty()
        })
    };
    let snapshot = engine.settle(victim_shown);
    let shown = snapshot.processes.iter().find(|p| p.pid == victim.pid);
    assert!(victim_shown(&snapshot), "the victim as shown: {shown:?}");
    // The peers' command lines were read all the same.
    for pid in &outcome.client_pids {
        let client = snapshot.processes.iter().find(|p| p.pid == *pid);
        assert!(
            client.is_some_and(|p| p.cmdline.contains("tcp-client") && !p.details_unavailable),
            "client {pid}: {client:?}"
        );
    }
    drop(victim);
    assert!(
        held.returns_within(Duration::from_secs(5)),
        "aborting the FUSE connection released the held read"
    );
}

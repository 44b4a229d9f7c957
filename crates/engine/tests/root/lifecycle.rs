//! The capture's life cycle: start, control, and a prompt stop that closes every handle.

use crate::support::*;
use sockeye_engine::{Capture, CaptureOptions, EngineError};
use std::time::{Duration, Instant};

/// Packet sockets (pcap handles) this process holds.
fn packet_sockets() -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/net/packet") else {
        return 0;
    };
    // Columns: sk RefCnt Type Proto Iface R Rmem User Inode; match our own inodes.
    let ours: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|target| {
                    let t = target.to_string_lossy().into_owned();
                    t.strip_prefix("socket:[")?
                        .strip_suffix(']')
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            line.split_whitespace()
                .nth(8)
                .is_some_and(|inode| ours.contains(inode))
        })
        .count()
}

#[test]
fn stop_returns_promptly_and_closes_every_handle() {
    let Some(_serial) = root_scenario("stop closes handles") else {
        return;
    };
    let before = packet_sockets();
    let engine = Engine::start();
    let open = packet_sockets();
    assert!(open > before, "one packet socket per interface is open");
    let _ = engine.snapshot();

    let started = Instant::now();
    let last = engine.capture.stop().expect("final snapshot");
    let took = started.elapsed();
    println!(
        "STOP took {} ms, {} handles were open",
        took.as_millis(),
        open - before
    );
    assert!(took < Duration::from_millis(200), "stop took {took:?}");
    assert_eq!(packet_sockets(), before, "every pcap handle is closed");
    assert_nothing_lost(&last);
}

#[test]
fn dropping_a_capture_closes_its_handles() {
    let Some(_serial) = root_scenario("drop closes handles") else {
        return;
    };
    let before = packet_sockets();
    let capture = Capture::start(CaptureOptions::default(), |_| {}).expect("start");
    assert!(packet_sockets() > before);
    drop(capture);
    assert_eq!(packet_sockets(), before);
}

#[test]
fn a_named_interface_that_does_not_exist_is_refused() {
    let Some(_serial) = root_scenario("unknown interface") else {
        return;
    };
    let options = CaptureOptions {
        interfaces: vec!["sockeye-nope0".into()],
        ..CaptureOptions::default()
    };
    match Capture::start(options, |_| {}) {
        Err(EngineError::NoSuchInterface(name)) => assert_eq!(name, "sockeye-nope0"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("capture started on a missing interface"),
    }
}

#[test]
fn interval_changes_and_resets_reach_the_capture_thread() {
    let Some(_serial) = root_scenario("interval and reset") else {
        return;
    };
    let engine = Engine::start();
    let _ = engine.snapshot();
    engine.capture.set_interval(Duration::from_millis(50));
    let snapshot = engine.settle(|s| s.interval_ms == 50);
    assert_eq!(snapshot.interval_ms, 50);

    let ping = std::process::Command::new("ping")
        .args(["-c", "2", "-i", "0.2", "-q", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ping");
    assert!(ping.success());
    let seen = engine.settle(|s| s.totals.captured_bytes > 0);
    assert!(seen.totals.captured_bytes > 0);
    engine.capture.reset_totals();
    let after = engine.settle(|s| s.totals.captured_bytes < seen.totals.captured_bytes);
    assert!(after.totals.captured_bytes < seen.totals.captured_bytes);
    assert_nothing_lost(&after);
    engine.capture.stop().expect("stop");
}

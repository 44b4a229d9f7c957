//! Churn: short-lived processes and many short connections, where lookups that come late
//! or once a second (as in bandwhich and nethogs) lose the traffic.

use crate::support::*;
use crate::traffic::*;

#[test]
fn thirty_short_lived_processes_are_each_credited_with_their_own_bytes() {
    let name = "30 short-lived processes (TCP)";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let outcome = run_tcp(
        &engine,
        &TcpExchange {
            name,
            interface: "lo",
            server: here("127.0.0.1"),
            client: here("127.0.0.1"),
            send: 20_000,
            reply: 5_000,
            clients: 30,
            connections: 1,
        },
    );
    println!(
        "SHORT-LIVED longest client lifetime: {} ms",
        outcome.longest_client.as_millis()
    );
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    // Command lines are read off the capture thread, a little after the first lookup:
    // how many of these clients, gone within milliseconds, still got theirs.
    let with_cmdline = outcome
        .client_pids
        .iter()
        .filter(|pid| {
            outcome
                .snapshot
                .processes
                .iter()
                .any(|p| p.pid == **pid && p.cmdline.contains("tcp-client"))
        })
        .count();
    println!(
        "SHORT-LIVED command lines read: {with_cmdline} of {}",
        outcome.client_pids.len()
    );
    for pid in &outcome.client_pids {
        let (sent, received) = outcome.truth.get(pid).copied().unwrap_or_default();
        let credited = outcome
            .snapshot
            .processes
            .iter()
            .find(|p| p.pid == *pid)
            .map(|p| p.sent_bytes.min(sent) + p.received_bytes.min(received))
            .unwrap_or(0);
        assert!(
            credited as f64 >= 0.99 * (sent + received) as f64,
            "pid {pid}: {credited} of {} bytes credited",
            sent + received
        );
    }
    // Exits are noticed at the owner lookup's next refresh (at most a second apart).
    let exited = |s: &sockeye_engine::Snapshot, pid: &u32| {
        s.processes.iter().any(|p| p.pid == *pid && p.exited)
    };
    let later = engine.settle(|s| outcome.client_pids.iter().all(|pid| exited(s, pid)));
    for pid in &outcome.client_pids {
        assert!(exited(&later, pid), "pid {pid} is kept and marked exited");
    }
    engine.capture.stop().expect("stop");
}

#[test]
fn three_hundred_sequential_connections_from_one_process_are_credited() {
    let name = "300 sequential TCP connections";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let engine = Engine::start();
    let outcome = three_hundred_loopback_connections(&engine, name);
    assert_attributed(&outcome.measurement, &outcome.snapshot);
    engine.capture.stop().expect("stop");
}

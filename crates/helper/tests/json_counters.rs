//! `sockeye-helper --json` under churn, as a script or a Prometheus exporter reads it
//! (issue 14, item 3): 20 short-lived processes of one executable one after the other,
//! then 30 at once, each making one TCP exchange over loopback. Each is credited with its
//! own connection (never a sibling's), every credited pid is named, and no cumulative
//! counter — per process, per unattributed bucket, per interface — is lower on any line
//! than on the line before. Capturing needs root: elsewhere this says why it skips, and
//! under CI it fails.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_sockeye-helper");
/// Bytes each client sends, and the server's answer.
const SEND: usize = 20_000;
const REPLY: usize = 5_000;
/// The clients: one script, one executable (`/usr/bin/python3`), told apart by pid.
const CLIENT: &str = "import os, socket, sys\n\
    c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n\
    c.sendall(b's' * 20000); c.shutdown(socket.SHUT_WR)\n\
    while c.recv(65536): pass\n\
    print(os.getpid(), c.getsockname()[1], flush=True)\n";

/// Serves `count` connections on 127.0.0.1: reads each to its end, answers [`REPLY`].
fn serve(listener: TcpListener, count: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut answering = Vec::new();
        for _ in 0..count {
            let Ok((mut connection, _)) = listener.accept() else {
                break;
            };
            answering.push(std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65536];
                while connection.read(&mut buffer).is_ok_and(|n| n > 0) {}
                let _ = connection.write_all(&[b'r'; REPLY]);
            }));
        }
        for thread in answering {
            let _ = thread.join();
        }
    })
}

fn client(port: u16) -> Child {
    Command::new("/usr/bin/python3")
        .args(["-S", "-c", CLIENT, &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a client")
}

/// Waits for a client; its pid (as it printed it).
fn finish(child: Child) -> u32 {
    let out = child.wait_with_output().expect("client runs");
    assert!(out.status.success(), "client failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("client printed {text:?}"))
}

/// Counter values of one line, each under a name that stays the same across lines.
fn counters(line: &Value) -> HashMap<String, u64> {
    let mut all = HashMap::new();
    let mut put = |name: String, value: &Value| {
        all.insert(name, value.as_u64().expect("a counter is a u64"));
    };
    for p in line["processes"].as_array().expect("processes") {
        let pid = &p["pid"];
        for field in [
            "sent_bytes",
            "received_bytes",
            "sent_packets",
            "received_packets",
        ] {
            put(format!("process {pid} {field}"), &p[field]);
        }
    }
    for b in line["unattributed"].as_array().expect("buckets") {
        let protocol = &b["protocol"];
        put(format!("unknown {protocol} sent"), &b["sent_bytes"]);
        put(format!("unknown {protocol} received"), &b["received_bytes"]);
    }
    for i in line["interfaces"].as_array().expect("interfaces") {
        let name = &i["name"];
        for field in ["sent_bytes", "received_bytes", "dropped"] {
            put(format!("interface {name} {field}"), &i[field]);
        }
    }
    all
}

#[test]
fn short_lived_processes_of_one_executable_are_each_credited_named_and_no_counter_goes_down() {
    if !sockeye_engine::testing::root_or_skip("capturing needs root") {
        return;
    }
    let mut helper = Command::new(HELPER)
        .args([
            "--json",
            "--interval",
            "100",
            "--duration",
            "60",
            "--interface",
            "lo",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run helper");
    let (lines_in, lines) = mpsc::channel::<String>();
    let stdout = helper.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_in.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    seen.push(
        lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a first line: the capture runs"),
    );

    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("address").port();
    let server = serve(listener, 50);
    let mut pids = Vec::new();
    for _ in 0..20 {
        pids.push(finish(client(port)));
    }
    let concurrent: Vec<Child> = (0..30).map(|_| client(port)).collect();
    pids.extend(concurrent.into_iter().map(finish));
    server.join().expect("server");

    // Lines until every client is credited its exchange (or 10 s).
    let credited = |line: &Value, pid: u32| -> Option<(u64, u64, String)> {
        let p = line["processes"]
            .as_array()?
            .iter()
            .find(|p| p["pid"] == pid)?;
        Some((
            p["sent_bytes"].as_u64()?,
            p["received_bytes"].as_u64()?,
            p["name"].as_str()?.to_owned(),
        ))
    };
    let complete = |line: &Value| {
        pids.iter().all(|&pid| {
            credited(line, pid).is_some_and(|(s, r, _)| s >= SEND as u64 && r >= REPLY as u64)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        seen.push(line);
        let last: Value = serde_json::from_str(seen.last().expect("a line")).expect("JSON");
        if complete(&last) {
            break;
        }
    }
    // Two more lines: nothing may go down after the traffic either.
    for _ in 0..2 {
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(2)) {
            seen.push(line);
        }
    }
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&helper),
        rustix::process::Signal::INT,
    );
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
    let _ = helper.wait();
    let _ = reader.join();

    let parsed: Vec<Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    let mut decreases = Vec::new();
    for (i, pair) in parsed.windows(2).enumerate() {
        let (before, after) = (counters(&pair[0]), counters(&pair[1]));
        for (name, value) in &before {
            match after.get(name) {
                Some(later) if later >= value => {}
                later => decreases.push(format!("line {}: {name} {value} -> {later:?}", i + 1)),
            }
        }
    }
    println!(
        "JSON-COUNTERS {} lines, {} counters on the last, {} decreases",
        parsed.len(),
        parsed.last().map_or(0, |l| counters(l).len()),
        decreases.len()
    );
    assert!(decreases.is_empty(), "counters went down: {decreases:#?}");

    let last = parsed.last().expect("lines");
    // 20 KB of payload in 64 KiB loopback segments plus the handshake, FIN and ACKs:
    // a client credited with a sibling's connection too would have twice that.
    let most = 2 * SEND as u64;
    for &pid in &pids {
        let (sent, received, name) =
            credited(last, pid).unwrap_or_else(|| panic!("pid {pid} not credited: {last}"));
        assert!(
            (SEND as u64..most).contains(&sent) && received >= REPLY as u64,
            "pid {pid}: sent {sent}, received {received} (its own exchange: {SEND} and {REPLY} B of payload)"
        );
        assert_eq!(name, "python3", "pid {pid} is named");
    }
    for p in last["processes"].as_array().expect("processes") {
        assert!(
            p["name"].as_str().is_some_and(|n| !n.is_empty()),
            "every credited pid is named: {p}"
        );
    }
}

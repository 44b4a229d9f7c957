//! 10,000 real short-lived processes of 2,000 different executables (hard links of one
//! small program), each sending one datagram over loopback: the exported app series stay
//! at the configured bound the whole time.
//!
//! The program is a few lines of C compiled here: it lives about a millisecond (socat,
//! dynamically linked to OpenSSL, took ten times as long, and the test minutes).

use crate::http_client::scrape;
use crate::support::*;
use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROCESSES: usize = 10_000;
const EXECUTABLES: usize = 2_000;
const TOP_APPS: usize = 100;
/// The UDP sink's port.
const PORT: u16 = 19744;
/// Processes started at once.
const PARALLEL: usize = 4;

#[test]
fn ten_thousand_processes_of_two_thousand_executables_keep_the_series_bound() {
    let name = "10,000 short-lived processes of 2,000 executables";
    let Some(_serial) = root_scenario(name) else {
        return;
    };
    let dir = scratch("mx-churn");
    let first = compile_sender(dir.path());
    let executables: Vec<_> = (0..EXECUTABLES)
        .map(|i| {
            let path = dir.path().join(format!("e{i:04}"));
            if i > 0 {
                std::fs::hard_link(&first, &path).unwrap();
            }
            path
        })
        .collect();
    let sink = std::net::UdpSocket::bind(("127.0.0.1", PORT)).unwrap();
    sink.set_nonblocking(true).unwrap();

    let recorder = Recorder::start(TOP_APPS, Duration::from_millis(250));
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let executables = Arc::new(executables);
    let workers: Vec<_> = (0..PARALLEL)
        .map(|_| {
            let (next, executables) = (Arc::clone(&next), Arc::clone(&executables));
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= PROCESSES {
                    break;
                }
                let status = Command::new(&executables[i % EXECUTABLES])
                    .arg(PORT.to_string())
                    .stdin(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
            })
        })
        .collect();
    // Drain the sink while the processes run, so no datagram waits in a full buffer.
    let mut datagrams = 0usize;
    let mut buffer = [0u8; 2048];
    let mut names = HashSet::new();
    let mut pids = HashSet::new();
    while workers.iter().any(|w| !w.is_finished()) {
        while sink.recv(&mut buffer).is_ok() {
            datagrams += 1;
        }
        if let Some(snapshot) = recorder.snapshot() {
            for p in snapshot.processes.iter().filter(|p| is_sender(&p.name)) {
                names.insert(p.name.clone());
                pids.insert(p.pid);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for worker in workers {
        worker.join().unwrap();
    }
    let spawn_time = started.elapsed();
    poll("the last datagrams", Duration::from_secs(5), || {
        while sink.recv(&mut buffer).is_ok() {
            datagrams += 1;
        }
        (datagrams >= PROCESSES).then_some(())
    });
    // One more interval, so the exporter has seen the last processes.
    let last = recorder.snapshot().unwrap().time;
    poll("one more snapshot", Duration::from_secs(5), || {
        (recorder.snapshot()?.time > last).then_some(())
    });
    if let Some(snapshot) = recorder.snapshot() {
        for p in snapshot.processes.iter().filter(|p| is_sender(&p.name)) {
            names.insert(p.name.clone());
            pids.insert(p.pid);
        }
    }

    let reply = scrape(recorder.address, None);
    let series = reply
        .body
        .lines()
        .filter(|l| l.starts_with("sockeye_app_network_bytes_total"))
        .count();
    let users: HashSet<&str> = reply
        .body
        .lines()
        .filter(|l| l.starts_with("sockeye_app_network_bytes_total"))
        .filter_map(|l| l.split("user=\"").nth(1)?.split('"').next())
        .collect();
    let most = recorder.most_app_series();
    // Named pairs, plus app="other" for each user.
    let bound = 2 * (TOP_APPS + users.len());
    println!(
        "MEASURED {name}: spawned in {:.1} s; {} of {PROCESSES} processes and {} of \
         {EXECUTABLES} executables credited by name; {datagrams} datagrams; app series now \
         {series}, at most {most}, bound {bound} ({} users)",
        spawn_time.as_secs_f64(),
        pids.len(),
        names.len(),
        users.len()
    );
    assert!(
        names.len() > 2 * TOP_APPS,
        "the engine credited enough executables to test the bound"
    );
    assert!(most <= bound, "{most} series, bound {bound}");
    assert_eq!(series, bound, "the named set is full, no more");
    recorder.capture.stop().unwrap();
}

/// Whether a process name is one of the hard links' (`e0000`…`e1999`).
fn is_sender(name: &str) -> bool {
    name.len() == 5 && name.starts_with('e') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Sends one 64-byte datagram to 127.0.0.1:PORT (its one argument) and exits.
const SENDER_C: &str = r#"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return 1;
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons((unsigned short)atoi(argv[1]));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char payload[64] = "sockeye";
    return sendto(fd, payload, sizeof payload, 0, (struct sockaddr *)&to, sizeof to)
        == sizeof payload ? 0 : 1;
}
"#;

/// Compiles the sender as `dir/e0000` with the system's C compiler.
fn compile_sender(dir: &std::path::Path) -> std::path::PathBuf {
    let source = dir.join("sender.c");
    std::fs::write(&source, SENDER_C).unwrap();
    let program = dir.join("e0000");
    let output = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&program)
        .arg(&source)
        .output()
        .expect("a C compiler (build-essential)");
    assert!(
        output.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    program
}

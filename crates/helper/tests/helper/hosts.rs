//! `GetHosts` and `GetConnections` carry names from real DNS answers: dnsmasq on a loopback
//! address answers for `sockeye.test` with another loopback address, where a listener of
//! this test waits; a client asks dnsmasq itself, then connects where it was told.

use crate::common::connect;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The DNS test client shared with the engine's root scenario.
const CLIENT: &str = include_str!("../../../engine/tests/root/dns_client.py");
/// Where dnsmasq listens, and the address it gives every name under `sockeye.test`.
const SERVER: &str = "127.231.0.88";
const ANSWER: &str = "127.231.0.89";

/// dnsmasq in the foreground, killed on drop.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `dns_client.py ARGS` to its end; its output lines.
fn client(args: &[&str]) -> Vec<String> {
    let mut child = Command::new("python3")
        .args(["-S", "-c", CLIENT])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_connections_carry_the_name_the_process_looked_up() {
    let dir = tempfile::Builder::new()
        .prefix("hs-hosts-")
        .tempdir()
        .unwrap();
    let _dnsmasq = Dnsmasq(
        Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--port=53",
            ])
            .args(["--bind-interfaces", "--user=root", "--local-ttl=60"])
            .arg(format!("--listen-address={SERVER}"))
            .arg(format!("--address=/sockeye.test/{ANSWER}"))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-facility={}",
                dir.path().join("log").display()
            ))
            .spawn()
            .expect("dnsmasq runs (Debian package dnsmasq-base)"),
    );
    let listener = TcpListener::bind((ANSWER, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut sink = Vec::new();
            let _ = (&stream).read_to_end(&mut sink);
        }
    });
    let ready = crate::common::poll_until(Duration::from_secs(10), || {
        client(&["bulk", SERVER, "1"])
            .first()
            .is_some_and(|l| l.ends_with(" 1"))
    });
    assert!(ready, "dnsmasq never answered");

    let session = connect().await;
    session.proxy.start(100).await.unwrap();
    let out = client(&[
        "resolve-connect",
        SERVER,
        "www.sockeye.test",
        "1",
        &port.to_string(),
        "20000",
    ]);
    assert_eq!(out.last().map(String::as_str), Some("done"), "{out:?}");
    let words: Vec<&str> = out[0].split_whitespace().collect();
    assert_eq!((words[0], words[2]), ("resolved", ANSWER), "{out:?}");
    let pid: u32 = words[1].parse().unwrap();

    let remote = format!("{ANSWER}:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (connection, host) = loop {
        let connection = session
            .proxy
            .get_connections(pid)
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.remote == remote && c.sent_bytes >= 20_000);
        let host = session
            .proxy
            .get_hosts()
            .await
            .unwrap()
            .into_iter()
            .find(|h| h.pids.contains(&pid) && h.addresses.iter().any(|a| a == ANSWER));
        if let (Some(connection), Some(host)) = (&connection, &host) {
            if host.sent_bytes >= 20_000 {
                break (connection.clone(), host.clone());
            }
        }
        assert!(
            Instant::now() < deadline,
            "no named connection or host: {connection:?} {host:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(connection.remote_name, "www.sockeye.test", "{connection:?}");
    assert_eq!(host.name, "www.sockeye.test", "{host:?}");
    assert_eq!(host.addresses, [ANSWER]);
    // The question went to dnsmasq's port 53: that connection is named by its service.
    let asked = session.proxy.get_connections(pid).await.unwrap();
    assert!(
        asked
            .iter()
            .any(|c| c.remote == format!("{SERVER}:53") && c.service == "domain"),
        "{asked:?}"
    );
}

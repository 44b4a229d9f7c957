//! Least privilege, read back from `/proc/<helper>/status` of every thread.

use crate::common::connect;
use std::time::Duration;

/// CAP_DAC_READ_SEARCH (2), CAP_NET_RAW (13), CAP_SYS_PTRACE (19): the documented set.
const KEPT: u64 = (1 << 2) | (1 << 13) | (1 << 19);

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{name} in status"))
        .trim()
        .to_owned()
}

fn mask(status: &str, name: &str) -> u64 {
    u64::from_str_radix(&field(status, name), 16).unwrap()
}

fn assert_least_privilege(pid: u32) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let mut threads = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert_eq!(mask(&status, "CapEff"), KEPT, "CapEff\n{status}");
        assert_eq!(mask(&status, "CapPrm"), KEPT, "CapPrm");
        assert_eq!(mask(&status, "CapBnd"), KEPT, "CapBnd");
        assert_eq!(mask(&status, "CapInh"), 0, "CapInh");
        assert_eq!(mask(&status, "CapAmb"), 0, "CapAmb");
        assert_eq!(field(&status, "NoNewPrivs"), "1");
        threads += 1;
    }
    assert!(threads >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_keeps_only_the_documented_capabilities_in_every_thread() {
    let session = connect().await;
    assert_least_privilege(session.helper.pid());
    // Threads started later (the engine's capture thread, tokio's blocking pool) inherit
    // the reduced sets.
    if session.proxy.start(100).await.is_ok() {
        let mut updates = session.proxy.receive_updated().await.unwrap();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            futures_lite::StreamExt::next(&mut updates),
        )
        .await;
        assert_least_privilege(session.helper.pid());
        session.proxy.stop().await.unwrap();
    }
    assert_least_privilege(session.helper.pid());
}

#[test]
fn terminal_modes_keep_only_the_documented_capabilities_too() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(crate::common::HELPER)
        .args(["--json", "--interval", "100"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with('{'), "a JSON line: {line}");
    assert_least_privilege(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

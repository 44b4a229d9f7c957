//! `promtool check metrics` (Prometheus's own linter and parser) on what the exporter serves.

use crate::http_client::scrape;
use crate::started;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn promtool_accepts_the_exposition() {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have promtool (Debian's prometheus package)"
        );
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
        return;
    }
    let (_exporter, address) = started();
    // promtool reads the Prometheus text format; Prometheus itself reads the OpenMetrics
    // one in the root test.
    let reply = scrape(address, Some("text/plain;version=0.0.4"));
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("we\\\"ird\\\\na\\nme"), "escaped");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(reply.body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool: {report}\n{}",
        reply.body
    );
    assert!(
        report.trim().is_empty(),
        "promtool found problems: {report}"
    );
}

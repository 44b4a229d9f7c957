//! A standard D-Bus tool talks to the helper: `gdbus` through a socat bridge.

use crate::common::{self, HELPER};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Bridge {
    socat: std::process::Child,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
    }
}

/// `socat UNIX-LISTEN:<path> EXEC:"sockeye-helper --stdio"`: socat gives the helper one
/// end of a Unix stream socketpair as stdin and stdout.
fn bridge() -> Bridge {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("helper.sock");
    let socat = Command::new("socat")
        .arg(format!("UNIX-LISTEN:{}", path.display()))
        .arg(format!("EXEC:{HELPER} --stdio"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("socat (apt install socat)");
    assert!(common::poll_until(Duration::from_secs(5), || path.exists()));
    Bridge {
        socat,
        _dir: dir,
        path,
    }
}

fn gdbus(bridge: &Bridge, method: &str, args: &[&str]) -> String {
    let output = Command::new("gdbus")
        .args(["call", "--address"])
        .arg(format!("unix:path={}", bridge.path.display()))
        // gdbus treats every address as a bus: it says Hello and wants a destination.
        .args(["--dest", sockeye_protocol::HELPER_PEER_NAME])
        .args(["-o", "/io/github/sockeye/Capture", "-m", method])
        .args(args)
        .output()
        .expect("gdbus (apt install libglib2.0-bin)");
    assert!(
        output.status.success(),
        "gdbus failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn gdbus_calls_get_stats_through_a_socat_bridge() {
    let mut bridge = bridge();
    let stats = gdbus(&bridge, "io.github.sockeye.Capture1.GetStats", &[]);
    assert_eq!(stats, "(@a{u(tt)} {},)");
    // gdbus hung up: socat closes the socketpair, the helper exits, socat ends.
    let ended = common::poll_until(Duration::from_secs(2), || {
        matches!(bridge.socat.try_wait(), Ok(Some(_)))
    });
    assert!(ended, "socat and the helper end after the one connection");
}

#[test]
fn gdbus_reads_the_version_property() {
    let bridge = bridge();
    let version = gdbus(
        &bridge,
        "org.freedesktop.DBus.Properties.Get",
        &["io.github.sockeye.Capture1", "Version"],
    );
    assert_eq!(version, format!("(<'{}'>,)", sockeye_protocol::VERSION));
}

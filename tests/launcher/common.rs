//! The helper binary under test, fake programs for PATH, and polling with a deadline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `sockeye-helper` from the same target directory as the `sockeye` binary under test,
/// built (or found up to date) by cargo once per test binary: another package's binary
/// is not built for these tests otherwise.
pub fn helper_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let sockeye = Path::new(env!("CARGO_BIN_EXE_sockeye"));
            let helper = sockeye.with_file_name("sockeye-helper");
            // target/<profile>/sockeye → target
            let target_dir = sockeye.parent().and_then(Path::parent).unwrap();
            let profile = sockeye.parent().and_then(Path::file_name).unwrap();
            let mut build = Command::new(env!("CARGO"));
            // With the feature `./build-aux/dev test` gives the whole workspace: this build
            // writes the same target/<profile>/sockeye-helper that the helper's own tests run
            // later in that `cargo test`, and a build without it would replace their binary
            // with one lacking the probe (inert unless SOCKEYE_SANDBOX_PROBE is set).
            build
                .args(["build", "--quiet", "-p", "sockeye-helper"])
                .args(["--features", "sockeye-helper/sandbox-probe"])
                .arg("--manifest-path")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
                .env("CARGO_TARGET_DIR", target_dir);
            if profile == "release" {
                build.arg("--release");
            }
            let status = build.status().unwrap();
            assert!(status.success(), "cargo build -p sockeye-helper failed");
            assert!(
                helper.is_file(),
                "{} missing after the build",
                helper.display()
            );
            helper
        })
        .clone()
}

/// Writes an executable shell script.
///
/// Through `install`, a child process: a file this multi-threaded test process wrote
/// itself can be open for writing in a child another test forks meanwhile (between its
/// fork and exec), and executing it then fails with ETXTBSY (seen in CI).
pub fn script(path: &Path, body: &str) {
    let source = path.with_extension("source");
    std::fs::write(&source, format!("#!/bin/sh\n{body}\n")).unwrap();
    let status = std::process::Command::new("install")
        .arg("-m")
        .arg("0755")
        .arg(&source)
        .arg(path)
        .status()
        .expect("install runs");
    assert!(status.success(), "install {source:?} {path:?}: {status}");
    let _ = std::fs::remove_file(&source);
}

/// Copies the built helper to `path` (mode 0755, root's), creating its directory.
///
/// Tests that launch through pkexec use a copy in a temporary directory rather than the
/// build tree: the launcher runs through pkexec only a helper that root alone can modify,
/// and a checkout (hence its target directory) may belong to a user. By a child process,
/// for the reason [`script`] gives.
pub fn install_helper(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(helper_binary())
        .arg(path)
        .status()
        .expect("install runs");
    assert!(status.success(), "install the helper to {path:?}: {status}");
}

/// Polls `condition` every 10 ms until it holds or `limit` passes.
pub fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Pids of live processes (not zombies) whose executable is `exe`.
pub fn processes_running(exe: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|target| target == exe)
                && is_running(*pid)
        })
        .collect()
}

/// Whether process `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

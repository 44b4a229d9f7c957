//! `sockeye-helper --json` / `--trace` end to end: the binary's lines, exit codes and
//! signal handling. Capturing needs root: as another user those tests say why they skip, and under CI they fail.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_sockeye-helper");

/// Whether a capturing test can run (root); skipped with a message otherwise, failed under CI.
fn is_root() -> bool {
    sockeye_engine::testing::root_or_skip("capturing needs root")
}

#[test]
fn bad_arguments_exit_with_status_2_and_say_what_is_wrong() {
    for (args, says) in [
        (
            vec!["--json", "--interval", "soon"],
            "invalid value \"soon\" for --interval",
        ),
        (
            vec!["--json", "--frobnicate"],
            "unknown argument \"--frobnicate\"",
        ),
        (vec![], "no mode given"),
    ] {
        let out = Command::new(HELPER)
            .args(&args)
            .output()
            .expect("run helper");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stderr.contains("Usage:"), "{args:?}: {stderr}");
    }
}

#[test]
fn json_mode_prints_one_line_per_interval_in_the_documented_shape() {
    if !is_root() {
        return;
    }
    let out = Command::new(HELPER)
        .args([
            "--json",
            "--interval",
            "200",
            "--duration",
            "1.1",
            "--interface",
            "lo",
        ])
        .output()
        .expect("run helper");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    // Five intervals of 200 ms, then the final line.
    assert!((5..=7).contains(&lines.len()), "{} lines", lines.len());
    for line in &lines {
        let keys: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "hosts",
                "interfaces",
                "interval_ms",
                "processes",
                "sender_events_lost",
                "sender_log",
                "socket_counters",
                "socket_events_lost",
                "time",
                "unattributed"
            ]
        );
        for host in line["hosts"].as_array().expect("hosts") {
            assert!(host["name"].is_null() || host["name"].is_string(), "{host}");
            assert!(host["addresses"].is_array(), "{host}");
            assert!(host["sent_bytes"].is_u64() && host["received_bytes"].is_u64());
            assert!(host["pids"].is_array(), "{host}");
        }
        assert_eq!(line["interval_ms"], 200);
        let buckets: Vec<&str> = line["unattributed"]
            .as_array()
            .expect("buckets")
            .iter()
            .filter_map(|b| b["protocol"].as_str())
            .collect();
        assert_eq!(buckets, ["tcp", "udp", "icmp", "other", "tunnel"]);
        assert_eq!(line["interfaces"][0]["name"], "lo");
        // As root on this kernel (6.3+, tracefs) the helper opens the socket counters
        // before its sandbox forbids perf_event_open; CI's machines have them.
        // So is the UDP sender log (the route-lookup tracepoints).
        if std::env::var_os("CI").is_some() {
            assert_eq!(line["socket_counters"], true, "{line}");
            assert_eq!(line["sender_log"], true, "{line}");
        }
    }
}

#[test]
fn ctrl_c_ends_cleanly_with_a_final_line() {
    if !is_root() {
        return;
    }
    let mut child = Command::new(HELPER)
        .args(["--json", "--interval", "60000", "--interface", "lo"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run helper");
    // Wait until it captures (its packet socket shows up), then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid = child.id();
    let helper = rustix::process::Pid::from_child(&child);
    while !std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() > 4)
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "helper did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    rustix::process::kill_process(helper, rustix::process::Signal::INT).expect("signal sent");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect();
    let status = child.wait().expect("helper exits");
    assert!(status.success(), "{status}");
    assert_eq!(lines.len(), 1, "only the final line: {lines:?}");
    let last: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    assert_eq!(last["interval_ms"], 60000);
}

#[test]
fn trace_mode_writes_a_plain_table_when_not_on_a_terminal() {
    if !is_root() {
        return;
    }
    let out = Command::new(HELPER)
        .args([
            "--trace",
            "--interval",
            "100",
            "--duration",
            "0.35",
            "--interface",
            "lo",
        ])
        .output()
        .expect("run helper");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\x1b'), "no escape sequences in a pipe");
    assert!(stdout.contains("PID  PROCESS"));
    assert!(stdout.contains("unknown UDP"));
}

#[test]
fn trace_hosts_mode_writes_the_hosts_table() {
    if !is_root() {
        return;
    }
    let out = Command::new(HELPER)
        .args([
            "--trace",
            "--hosts",
            "--interval",
            "100",
            "--duration",
            "0.35",
            "--interface",
            "lo",
        ])
        .output()
        .expect("run helper");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("remote hosts)"), "{stdout}");
    assert!(stdout.contains("HOST  "), "{stdout}");
    assert!(!stdout.contains("PID  PROCESS"), "{stdout}");
}

#[test]
fn an_unprivileged_user_is_told_capture_needs_root() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipping: needs root (to drop to nobody) and setpriv");
        return;
    }
    // A copy nobody can execute (the build directory may not be reachable for nobody).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let helper = dir.path().join("sockeye-helper");
    // Copied by a child process: a file written here may be open for writing in a child
    // another test forks meanwhile, and executing it fails with ETXTBSY.
    let copied = Command::new("install")
        .args(["-m", "0755", HELPER])
        .arg(&helper)
        .status()
        .expect("install runs");
    assert!(copied.success(), "copy helper: {copied}");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&helper)
        .args(["--json", "--duration", "1"])
        .output()
        .expect("run helper as nobody");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("Run it as root"), "{stderr}");
}

/// A cgroup2 directory `<unified>/sockeye-helper-<pid>.slice/<unit>` holding one process;
/// the process is moved back and the directories removed on drop.
struct AppScope {
    root: std::path::PathBuf,
    slice: std::path::PathBuf,
    scope: std::path::PathBuf,
    pid: u32,
}

impl AppScope {
    fn new(unit: &str, pid: u32) -> Self {
        let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
        let root = mounts
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == "cgroup2")
            .map(|f| std::path::PathBuf::from(f[1]))
            .expect("a cgroup2 hierarchy");
        let slice = root.join(format!("sockeye-helper-{}.slice", std::process::id()));
        let scope = slice.join(unit);
        std::fs::create_dir_all(&scope).expect("create the scope");
        let guard = Self {
            root,
            slice,
            scope,
            pid,
        };
        std::fs::write(guard.scope.join("cgroup.procs"), pid.to_string()).expect("move");
        guard
    }
}

impl Drop for AppScope {
    fn drop(&mut self) {
        let _ = std::fs::write(self.root.join("cgroup.procs"), self.pid.to_string());
        let _ = std::fs::remove_dir(&self.scope);
        let _ = std::fs::remove_dir(&self.slice);
    }
}

/// A child process killed and reaped when the test ends, passed or failed.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn another_user_s_look_alike_firefox_scope_is_reported_with_its_uid() {
    if !is_root() {
        return;
    }
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = receiver.local_addr().expect("address").port();
    // `nobody` plays bob: `systemd-run --user --scope --unit=app-gnome-org.mozilla.firefox-1`
    // then traffic. It sends until the test closes its stdin.
    let script = format!(
        "import os, socket, sys, threading\n\
         os.setgroups([]); os.setgid(65534); os.setuid(65534)\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         print('ready', flush=True); sys.stdin.readline()\n\
         done = threading.Event()\n\
         threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()\n\
         while not done.wait(0.02):\n\
         \x20   u.sendto(b'x' * 100, ('127.0.0.1', {port}))\n"
    );
    let mut child = Killed(
        Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3"),
    );
    let pid = child.0.id();
    let mut child_out = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut ready = String::new();
    child_out.read_line(&mut ready).expect("ready");
    assert_eq!(ready.trim(), "ready");
    let _scope = AppScope::new("app-gnome-org.mozilla.firefox-1.scope", pid);
    let mut stdin = child.0.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"go\n").expect("go");

    let mut helper = Killed(
        Command::new(HELPER)
            .args(["--json", "--interval", "200", "--duration", "20"])
            .args(["--interface", "lo"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run helper"),
    );
    let lines = BufReader::new(helper.0.stdout.take().expect("stdout")).lines();
    let mut found = None;
    // The helper ends after 20 s at most, so this loop does too.
    for line in lines.map_while(Result::ok) {
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        let processes = value["processes"].as_array().cloned().unwrap_or_default();
        if let Some(p) = processes
            .into_iter()
            .find(|p| p["pid"] == pid && p["sent_bytes"].as_u64() > Some(0))
        {
            found = Some(p);
            break;
        }
    }
    drop(helper);
    drop(stdin);
    let process = found.expect("the look-alike process in the helper's output");
    assert_eq!(process["app_id"], "org.mozilla.firefox");
    assert_eq!(process["uid"], 65534);
    assert_eq!(process["user"], "nobody");
}

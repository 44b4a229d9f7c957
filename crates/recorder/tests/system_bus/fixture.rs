//! What the system-bus tests stand on: a private dbus-daemon (as the system bus) and
//! polkitd, test users, the recorder started as its unit starts it, loopback traffic with
//! tcpdump's count beside it. Everything is undone on drop, even when a test fails.

use sockeye_protocol::recorder::UsageRow;
use sockeye_recorder::store::Store;
use sockeye_recorder::usage::{Kind, DAY_S};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tests share loopback traffic, the users and /etc/sockeye/recorder.conf: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Calls `f` every 100 ms until it gives a value or `limit` passes.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed and reaped on drop.
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A file written for the test and removed (or put back as it was) on drop.
pub struct TestFile {
    path: PathBuf,
    before: Option<Vec<u8>>,
}

impl TestFile {
    pub fn write(path: impl Into<PathBuf>, text: &str) -> TestFile {
        let path = path.into();
        let before = std::fs::read(&path).ok();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        TestFile { path, before }
    }
}

impl Drop for TestFile {
    fn drop(&mut self) {
        match &self.before {
            Some(before) => {
                let _ = std::fs::write(&self.path, before);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// A private system bus with polkitd on it, the recorder's bus policy and polkit actions.
pub struct Bus {
    pub address: String,
    _polkitd: Owned,
    _daemon: Owned,
    _policy: Option<TestFile>,
    _config: TestFile,
    dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Bus {
    pub fn start() -> Bus {
        let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::Builder::new()
            .prefix("rc-bus-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let system_d = dir.path().join("system.d");
        std::fs::create_dir(&system_d).unwrap();
        std::fs::copy(
            source_root().join("data/io.github.sockeye.Recorder.conf"),
            system_d.join("io.github.sockeye.Recorder.conf"),
        )
        .unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <includedir>{}</includedir>
</busconfig>
"#,
                socket.display(),
                system_d.display()
            ),
        )
        .unwrap();
        let daemon = Owned(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .arg("--nofork")
                .stdout(Stdio::null())
                .spawn()
                .expect("dbus-daemon (apt install dbus)"),
        );
        assert!(poll(Duration::from_secs(10), || socket.exists().then_some(())).is_some());
        let address = format!("unix:path={}", socket.display());

        // polkit knows actions only from its directory: the real policy, configured for the
        // built recorder, unless an installed one is there already.
        let installed = Path::new("/usr/share/polkit-1/actions/io.github.sockeye.Sockeye.policy");
        let policy = (!installed.exists()).then(|| {
            let text = std::fs::read_to_string(
                source_root().join("data/io.github.sockeye.Sockeye.policy.in"),
            )
            .unwrap()
            .replace("@HELPER_PATH@", "/usr/libexec/sockeye-helper")
            .replace("@RECORDER_PATH@", env!("CARGO_BIN_EXE_sockeye-recorder"));
            TestFile::write(
                "/usr/share/polkit-1/actions/io.github.sockeye.Sockeye.rc-test.policy",
                &text,
            )
        });
        let config_file = TestFile::write(
            "/etc/sockeye/recorder.conf",
            "flush_seconds = 1\ninterval_ms = 500\n",
        );
        let polkitd = Owned(
            Command::new("/usr/lib/polkit-1/polkitd")
                .arg("--no-debug")
                .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("polkitd (apt install polkitd)"),
        );
        let bus = Bus {
            address,
            _polkitd: polkitd,
            _daemon: daemon,
            _policy: policy,
            _config: config_file,
            dir,
            _serial: serial,
        };
        assert!(
            poll(Duration::from_secs(20), || bus
                .has_owner("org.freedesktop.PolicyKit1")
                .then_some(()))
            .is_some(),
            "polkitd never owned its name"
        );
        bus
    }

    pub fn has_owner(&self, name: &str) -> bool {
        Command::new("busctl")
            .arg(format!("--address={}", self.address))
            .args([
                "call",
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "NameHasOwner",
                "s",
                name,
            ])
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "b true")
    }

    /// Calls a Recorder1 method as `user` with busctl; its JSON answer, or the error text.
    pub fn call_as(&self, user: &TestUser, method: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new("setpriv")
            .args(user.setpriv())
            .arg("busctl")
            .arg(format!("--address={}", self.address))
            .args([
                "--json=short",
                "call",
                "io.github.sockeye.Recorder",
                "/io/github/sockeye/Recorder",
                "io.github.sockeye.Recorder1",
                method,
            ])
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn usage_as(&self, user: &TestUser, from: u64, to: u64, bucket: u32) -> Vec<UsageRow> {
        let Ok(json) = self.call_as(
            user,
            "GetUsage",
            &[
                "ttu",
                &from.to_string(),
                &to.to_string(),
                &bucket.to_string(),
            ],
        ) else {
            return Vec::new();
        };
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["data"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| UsageRow {
                bucket_start: row[0].as_u64().unwrap(),
                app: row[1].as_str().unwrap().to_owned(),
                display_name: row[2].as_str().unwrap().to_owned(),
                uid: row[3].as_u64().unwrap() as u32,
                sent_bytes: row[4].as_u64().unwrap(),
                received_bytes: row[5].as_u64().unwrap(),
            })
            .collect()
    }

    pub fn status_as(&self, user: &TestUser) -> String {
        self.call_as(user, "GetStatus", &[]).unwrap_or_default()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = &self.dir;
    }
}

/// `pending_rows` of a GetStatus answer.
pub fn pending_rows(status: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(status).ok()?;
    value["data"][5].as_u64()
}

/// A test user, created when missing (and kept: other runs use it again).
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    pub fn ensure(name: &str) -> TestUser {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, name]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        if id("-u").is_none() {
            let status = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/usr/sbin/nologin", name])
                .status()
                .unwrap();
            assert!(status.success(), "useradd {name}");
        }
        TestUser {
            name: name.to_owned(),
            uid: id("-u").unwrap(),
            gid: id("-g").unwrap(),
        }
    }

    fn setpriv(&self) -> Vec<String> {
        vec![
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--clear-groups".into(),
            "--".into(),
        ]
    }
}

/// The state directory: a temporary one, or a given path (the tmpfs).
pub struct State {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl State {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The recorder, run as `sockeye-recorder.service` runs it: ExecStart's arguments, the
/// unit's capability bounding set, no_new_privs, `$STATE_DIRECTORY`.
pub struct Recorder {
    child: Option<Child>,
    state: Option<State>,
}

impl Recorder {
    pub fn start(bus: &Bus, state: Option<State>) -> Recorder {
        let state = state.unwrap_or_else(|| {
            let temp = tempfile::Builder::new()
                .prefix("rc-state-")
                .tempdir()
                .unwrap();
            State {
                path: temp.path().to_owned(),
                _temp: Some(temp),
            }
        });
        Recorder::spawn(bus, state)
    }

    pub fn start_in(bus: &Bus, path: &Path) -> Recorder {
        Recorder::spawn(
            bus,
            State {
                path: path.to_owned(),
                _temp: None,
            },
        )
    }

    fn spawn(bus: &Bus, state: State) -> Recorder {
        let unit = std::fs::read_to_string(source_root().join("data/sockeye-recorder.service.in"))
            .unwrap();
        let exec = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap();
        let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
        let caps = unit
            .lines()
            .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
            .unwrap();
        let bounding: Vec<String> = caps
            .split_whitespace()
            .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
            .collect();
        let child = Command::new("setpriv")
            .arg(format!("--bounding-set=-all,{}", bounding.join(",")))
            .arg("--no-new-privs")
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_sockeye-recorder"))
            .args(&args)
            .env("STATE_DIRECTORY", &state.path)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .spawn()
            .unwrap();
        let recorder = Recorder {
            child: Some(child),
            state: Some(state),
        };
        assert!(
            poll(Duration::from_secs(30), || bus
                .has_owner("io.github.sockeye.Recorder")
                .then_some(()))
            .is_some(),
            "the recorder never owned its name"
        );
        recorder
    }

    fn end(mut self, signal: rustix::process::Signal) -> State {
        let mut child = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let status = child.wait().unwrap();
        if signal == rustix::process::Signal::TERM {
            assert!(status.success(), "SIGTERM is a clean exit: {status}");
        }
        self.state.take().unwrap()
    }

    pub fn kill(self) -> State {
        self.end(rustix::process::Signal::KILL)
    }

    pub fn stop(self) -> State {
        self.end(rustix::process::Signal::TERM)
    }

    fn state_path(&self) -> &Path {
        self.state.as_ref().unwrap().path()
    }

    /// Sent bytes of `uid`'s rows in the database (what has been flushed).
    pub fn flushed_sent(&self, uid: u32) -> u64 {
        stored_sent(self.state_path(), uid)
    }

    pub fn integrity(&self) -> String {
        let (store, _) = Store::open(&self.state_path().join("history.sqlite")).unwrap();
        store.integrity_check().unwrap()
    }

    pub fn moved_aside(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.state_path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.to_string_lossy().contains(".broken-")
                    && !p.to_string_lossy().ends_with("-wal")
                    && !p.to_string_lossy().ends_with("-shm")
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sent bytes of `uid`'s processes stored in `dir`'s database.
pub fn stored_sent(dir: &Path, uid: u32) -> u64 {
    let Ok((store, _)) = Store::open(&dir.join("history.sqlite")) else {
        return 0;
    };
    store
        .usage(Kind::Process, 0, 4_000_000_000, DAY_S)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.key.uid == uid)
        .map(|e| e.counters.sent_bytes)
        .sum()
}

/// A process of the test user that connects to itself over 127.0.0.1:`port` and sends
/// `bytes` through the connection (read back as they go), then waits a second and exits.
const TRAFFIC: &str = r#"
import socket, sys, time
port, total, pace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(1)
client = socket.create_connection(("127.0.0.1", port))
peer, _ = server.accept()
time.sleep(0.7)
chunk = b"x" * 16384
sent = 0
while sent < total:
    piece = chunk[: min(len(chunk), total - sent)]
    client.sendall(piece)
    got = 0
    while got < len(piece):
        got += len(peer.recv(len(piece) - got))
    sent += len(piece)
    if pace:
        time.sleep(pace)
client.close()
peer.close()
time.sleep(1.0)
"#;

/// Loopback traffic of one user, with tcpdump counting the same port.
pub struct Traffic {
    pcap: PathBuf,
}

impl Traffic {
    /// Runs the traffic to its end under tcpdump.
    pub fn run(user: &TestUser, port: u16, bytes: u64) -> Traffic {
        let pcap = PathBuf::from(format!(
            "/tmp/rc-traffic-{}-{port}.pcap",
            std::process::id()
        ));
        let mut tcpdump = Command::new("tcpdump")
            .args(["-i", "lo", "-nn", "-U", "-B", "16384", "-Z", "root", "-w"])
            .arg(&pcap)
            .arg(format!("tcp port {port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        // tcpdump says "listening on lo" once its capture is open.
        let mut stderr = tcpdump.stderr.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0_u8; 256];
        while !String::from_utf8_lossy(&seen).contains("listening on") {
            let n = std::io::Read::read(&mut stderr, &mut buf).unwrap();
            assert!(n > 0, "tcpdump ended: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        let status = Command::new("setpriv")
            .args(user.setpriv())
            .args([
                "/usr/bin/python3",
                "-c",
                TRAFFIC,
                &port.to_string(),
                &bytes.to_string(),
                // Paced, so that neither tcpdump nor the recorder drops packets.
                "0.002",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "the traffic script");
        let pid = rustix::process::Pid::from_raw(tcpdump.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        tcpdump.wait().unwrap();
        Traffic { pcap }
    }

    /// Traffic in the background, slowly, until dropped.
    pub fn start(user: &TestUser, port: u16, bytes: u64) -> impl Drop {
        Owned(
            Command::new("setpriv")
                .args(user.setpriv())
                .args([
                    "/usr/bin/python3",
                    "-c",
                    TRAFFIC,
                    &port.to_string(),
                    &bytes.to_string(),
                    "0.001",
                ])
                .spawn()
                .unwrap(),
        )
    }

    /// Wire bytes tcpdump saw: the sum of the records' original lengths.
    pub fn tcpdump_bytes(&self) -> u64 {
        let data = std::fs::read(&self.pcap).unwrap();
        let mut total = 0;
        let mut at = 24;
        while at + 16 <= data.len() {
            let captured = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
            let original = u32::from_le_bytes(data[at + 12..at + 16].try_into().unwrap());
            total += u64::from(original);
            at += 16 + captured;
        }
        total
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pcap);
    }
}

/// A polkit rule granting `history-all` to one user, removed on drop.
pub struct PolkitRule(#[allow(dead_code)] TestFile);

impl PolkitRule {
    pub fn grant_history_all(user: &str) -> PolkitRule {
        PolkitRule(TestFile::write(
            "/etc/polkit-1/rules.d/49-rc-history-all.rules",
            &format!(
                "polkit.addRule(function(action, subject) {{\n  if (action.id == \"io.github.sockeye.Sockeye.history-all\" && subject.user == \"{user}\") {{\n    return polkit.Result.YES;\n  }}\n}});\n"
            ),
        ))
    }
}

/// A tmpfs of `size` on a fresh directory, unmounted on drop.
pub struct SmallTmpfs(tempfile::TempDir);

impl SmallTmpfs {
    pub fn mount(size: &str) -> SmallTmpfs {
        let dir = tempfile::Builder::new()
            .prefix("rc-tmpfs-")
            .tempdir()
            .unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "rc-tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs");
        SmallTmpfs(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Fills the file system holding `dir` to the last byte; returns the filler file.
pub fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0xa5_u8; 4096];
    while file.write_all(&block).is_ok() {}
    while file.write_all(&block[..1]).is_ok() {}
    let _ = file.sync_all();
    filler
}

//! The real pkexec path: a system bus, polkitd, an unprivileged test user, Sockeye's
//! polkit action pointing at the helper under test, and a rule that allows only that
//! action for that user. Everything is undone by Drop guards, even when the test fails.

use crate::common::{self, helper_binary};
use crate::probe;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ACTION: &str = "io.github.sockeye.Sockeye.capture";
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// A system bus: the running one, or one we start (and stop again).
struct SystemBus {
    started_pid: Option<libc::pid_t>,
}

impl SystemBus {
    fn ensure() -> SystemBus {
        if std::os::unix::net::UnixStream::connect(SYSTEM_BUS).is_ok() {
            return SystemBus { started_pid: None };
        }
        std::fs::create_dir_all("/run/dbus").unwrap();
        let _ = std::fs::remove_file("/run/dbus/pid");
        let output = Command::new("dbus-daemon")
            .args(["--system", "--fork", "--print-pid"])
            .output()
            .expect("dbus-daemon (apt install dbus)");
        assert!(output.status.success(), "dbus-daemon --system failed");
        let pid = String::from_utf8_lossy(&output.stdout).trim().parse().ok();
        assert!(common::poll_until(Duration::from_secs(5), || {
            std::os::unix::net::UnixStream::connect(SYSTEM_BUS).is_ok()
        }));
        SystemBus { started_pid: pid }
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        if let Some(pid) = self.started_pid.and_then(rustix::process::Pid::from_raw) {
            // The daemon we started; one already gone is fine.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// An unprivileged user that exists for this test only.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn create() -> TestUser {
        let name = format!("sockeye-t{}", std::process::id());
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", &name])
            .status()
            .unwrap();
        assert!(status.success(), "useradd {name}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        TestUser { name, uid, gid }
    }

    /// `setpriv` arguments that run a command as this user.
    fn setpriv(&self) -> Vec<String> {
        vec![
            "setpriv".into(),
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--clear-groups".into(),
            "--".into(),
        ]
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A file that is removed again on drop.
struct InstalledFile(PathBuf);

impl InstalledFile {
    fn write(path: PathBuf, text: &str) -> InstalledFile {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        InstalledFile(path)
    }
}

impl Drop for InstalledFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A root-owned copy of the helper in a directory of its own, so "no helper runs as root"
/// can be checked by executable path while other tests run helpers too.
struct HelperCopy {
    dir: PathBuf,
    path: PathBuf,
}

impl HelperCopy {
    fn install() -> HelperCopy {
        let dir = PathBuf::from(format!("/tmp/sockeye-pkexec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("sockeye-helper");
        // By a child process, for the reason `common::script` gives.
        let status = std::process::Command::new("install")
            .arg("-m")
            .arg("0755")
            .arg(helper_binary())
            .arg(&path)
            .status()
            .expect("install runs");
        assert!(status.success(), "install the helper copy: {status}");
        HelperCopy { dir, path }
    }
}

impl Drop for HelperCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn policy(helper: &Path) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<policyconfig>
  <action id="{ACTION}">
    <description>See which processes use the network (test)</description>
    <message>Authentication is required to capture network traffic</message>
    <defaults>
      <allow_any>no</allow_any>
      <allow_inactive>no</allow_inactive>
      <allow_active>auth_admin_keep</allow_active>
    </defaults>
    <annotate key="org.freedesktop.policykit.exec.path">{}</annotate>
  </action>
</policyconfig>
"#,
        helper.display()
    )
}

fn rule(user: &str) -> String {
    format!(
        "polkit.addRule(function(action, subject) {{\n\
         \x20   if (action.id == \"{ACTION}\" && subject.user == \"{user}\") {{\n\
         \x20       return polkit.Result.YES;\n\
         \x20   }}\n\
         }});\n"
    )
}

/// A process of the test user for `pkcheck --process`.
struct UserProcess(Child);

impl Drop for UserProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether polkit (as of now) authorizes the action for `process` without a prompt.
fn authorized(process: &UserProcess) -> bool {
    Command::new("pkcheck")
        .args(["--action-id", ACTION, "--process"])
        .arg(process.0.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn an_unprivileged_user_launches_the_helper_through_pkexec_only_when_polkit_allows() {
    let _bus = SystemBus::ensure();
    let user = TestUser::create();
    let helper = HelperCopy::install();
    let _policy = InstalledFile::write(
        PathBuf::from(format!(
            "/usr/share/polkit-1/actions/io.github.sockeye.Sockeye.test-{}.policy",
            std::process::id()
        )),
        &policy(&helper.path),
    );
    let rule_file = InstalledFile::write(
        PathBuf::from(format!(
            "/etc/polkit-1/rules.d/49-sockeye-test-{}.rules",
            std::process::id()
        )),
        &rule(&user.name),
    );
    let setpriv = user.setpriv();
    let sleeper = UserProcess(
        Command::new(&setpriv[0])
            .args(&setpriv[1..])
            .args(["sleep", "60"])
            .spawn()
            .unwrap(),
    );
    // polkitd notices new rules within a few seconds: poll its answer, not the clock.
    assert!(
        common::poll_until(Duration::from_secs(20), || authorized(&sleeper)),
        "polkit never authorized the rule's user"
    );

    let env = [
        ("SOCKEYE_HELPER", helper.path.to_str().unwrap()),
        ("PATH", "/usr/bin:/bin"),
        ("SHELL", "/bin/sh"),
        ("HOME", "/"),
    ];
    let wrapper: Vec<&str> = setpriv.iter().map(String::as_str).collect();
    let line = probe::run(&env, &wrapper);
    eprintln!("allowed: {line}");
    assert!(line.starts_with("PROBE ok method=Pkexec"), "{line}");
    assert!(line.contains("updated=true stats=Ok("), "{line}");
    assert!(
        line.contains("helper_uid=0"),
        "the helper ran as root: {line}"
    );
    assert!(common::poll_until(Duration::from_secs(2), || {
        common::processes_running(&helper.path).is_empty()
    }));

    // `sockeye --json` from a user's terminal goes through pkexec the same way.
    let json = Command::new(&setpriv[0])
        .args(&setpriv[1..])
        .arg(env!("CARGO_BIN_EXE_sockeye"))
        .args(["--json", "--duration", "1", "--interval", "200"])
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    assert!(
        json.status.success(),
        "sockeye --json as the user: {}",
        String::from_utf8_lossy(&json.stderr)
    );
    let first = String::from_utf8_lossy(&json.stdout);
    let first = first.lines().next().unwrap_or_default();
    assert!(first.starts_with("{\"time\":"), "a JSON line: {first}");

    drop(rule_file);
    assert!(
        common::poll_until(Duration::from_secs(20), || !authorized(&sleeper)),
        "polkit kept authorizing after the rule was removed"
    );
    let line = probe::run(&env, &wrapper);
    eprintln!("rule removed: {line}");
    assert!(line.starts_with("PROBE err=NotAuthorized"), "{line}");
    assert!(
        common::processes_running(&helper.path).is_empty(),
        "no helper runs as root"
    );
}

/// Runs the probe as `nobody` with a PATH holding only `bin` (fake programs), so the
/// launcher picks pkexec and finds ours; the helper is a root-owned copy in `bin/libexec`.
fn probe_as_nobody_with(bin: &Path) -> String {
    let path = bin.to_str().unwrap();
    let helper = bin.join("libexec/sockeye-helper");
    common::install_helper(&helper);
    probe::run(
        &[("PATH", path), ("SOCKEYE_HELPER", helper.to_str().unwrap())],
        &[
            // Absolute: the PATH given holds only the fake programs.
            "/usr/bin/setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
    )
}

fn world_readable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_dismissed_password_dialog_is_authorization_dismissed() {
    let dir = world_readable_tempdir();
    // pkexec's exit status when the user cancels the dialog.
    common::script(&dir.path().join("pkexec"), "exit 126");
    let line = probe_as_nobody_with(dir.path());
    assert!(
        line.starts_with("PROBE err=AuthorizationDismissed"),
        "{line}"
    );
}

#[test]
fn without_pkexec_the_error_names_it() {
    let dir = world_readable_tempdir();
    let line = probe_as_nobody_with(dir.path());
    assert!(
        line.starts_with("PROBE err=HelperMissing pkexec is missing"),
        "{line}"
    );
}

//! Which series a process's bytes go to: its application and its user, never its pid.
//!
//! The application is the app id when the engine knows one (Flatpak, systemd app scope,
//! snap), else the executable's path, else the process name. The engine's snapshot does
//! not carry the executable, so it is read here from `/proc/PID/exe` the first time a live
//! process is seen (a process that exited before that is known by its name only, as the
//! engine saw it). The user is the user name, else the uid.

use sockeye_engine::ProcessStats;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `app` value that sums everything outside the named set; never a key of its own.
pub const OTHER: &str = "other";
/// The `user` value of a process whose uid could not be read.
const UNKNOWN_USER: &str = "unknown";
/// What the kernel appends to `/proc/PID/exe` when the file was replaced or removed (a
/// package upgrade while the program runs): the same application.
const DELETED_SUFFIX: &str = " (deleted)";

/// One (application, user) pair: the labels of two series, sent and received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppKey {
    pub app: Arc<str>,
    pub user: Arc<str>,
}

/// Reads executables' paths from a process file system (the real `/proc`, or a tree a
/// test made).
#[derive(Debug, Clone)]
pub struct Executables {
    proc_root: PathBuf,
}

impl Executables {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
        }
    }

    /// The path of `pid`'s executable, when it still runs and may be read.
    pub fn of(&self, pid: u32) -> Option<String> {
        executable_of(&self.proc_root, pid)
    }
}

fn executable_of(proc_root: &Path, pid: u32) -> Option<String> {
    let target = std::fs::read_link(proc_root.join(pid.to_string()).join("exe")).ok()?;
    let text = target.to_string_lossy();
    let path = text.strip_suffix(DELETED_SUFFIX).unwrap_or(&text);
    (path.starts_with('/')).then(|| path.to_owned())
}

/// The key of `process`; `executables` is asked only when the engine knows no app id and
/// the process still runs.
pub fn app_key(process: &ProcessStats, executables: &Executables) -> AppKey {
    let app = match process.app_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => id.to_owned(),
        None => (!process.exited)
            .then(|| executables.of(process.pid))
            .flatten()
            .or_else(|| (!process.name.is_empty()).then(|| process.name.clone()))
            .unwrap_or_else(|| "unknown".to_owned()),
    };
    AppKey {
        app: app.into(),
        user: user_label(process).into(),
    }
}

/// The user name, else the uid as text ("unknown" when even that was unreadable).
fn user_label(process: &ProcessStats) -> String {
    if !process.user.is_empty() {
        process.user.clone()
    } else if process.uid == u32::MAX {
        UNKNOWN_USER.to_owned()
    } else {
        process.uid.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn process(pid: u32, name: &str) -> ProcessStats {
        ProcessStats {
            pid,
            name: name.into(),
            uid: 1000,
            user: "alice".into(),
            ..ProcessStats::default()
        }
    }

    /// A fake /proc where pid 10 runs /usr/bin/curl, pid 11 a replaced binary, and pid
    /// 12's exe link is unreadable (a kernel thread has none).
    fn fake_proc() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (pid, target) in [
            (10, "/usr/bin/curl"),
            (11, "/opt/app/bin/app (deleted)"),
            (13, "relative"),
        ] {
            let dir = root.path().join(pid.to_string());
            std::fs::create_dir(&dir).unwrap();
            symlink(target, dir.join("exe")).unwrap();
        }
        std::fs::create_dir(root.path().join("12")).unwrap();
        root
    }

    #[test]
    fn app_id_wins_then_executable_then_name() {
        let root = fake_proc();
        let executables = Executables::new(root.path());
        let mut flatpak = process(10, "curl");
        flatpak.app_id = Some("org.example.App".into());
        assert_eq!(&*app_key(&flatpak, &executables).app, "org.example.App");
        assert_eq!(
            &*app_key(&process(10, "curl"), &executables).app,
            "/usr/bin/curl"
        );
        assert_eq!(
            &*app_key(&process(11, "app"), &executables).app,
            "/opt/app/bin/app"
        );
        assert_eq!(
            &*app_key(&process(12, "kworker"), &executables).app,
            "kworker"
        );
        assert_eq!(&*app_key(&process(13, "odd"), &executables).app, "odd");
        assert_eq!(&*app_key(&process(99, ""), &executables).app, "unknown");
        let mut exited = process(10, "curl");
        exited.exited = true;
        assert_eq!(
            &*app_key(&exited, &executables).app,
            "curl",
            "an exited process's pid may be someone else's now"
        );
    }

    #[test]
    fn user_is_the_name_else_the_uid() {
        let executables = Executables::new("/nonexistent");
        let mut p = process(1, "x");
        assert_eq!(&*app_key(&p, &executables).user, "alice");
        p.user.clear();
        assert_eq!(&*app_key(&p, &executables).user, "1000");
        p.uid = u32::MAX;
        assert_eq!(&*app_key(&p, &executables).user, "unknown");
    }
}

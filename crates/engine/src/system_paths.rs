//! Where the engine finds the system's own tables (`/proc`, `/etc/passwd`, `/run/netns`,
//! tracefs): one value handed down from [`crate::attribution::SystemOwners`], so no module
//! names a fixed path and tests can point the engine at a tree they made.

use std::path::PathBuf;

/// The system paths the engine reads. [`SystemPaths::default`] is the real system's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPaths {
    /// The process file system: pids, their descriptors, namespaces and `net/` tables,
    /// `loadavg` (the last pid) and `self/mountinfo`.
    pub proc: PathBuf,
    /// The user database, for user names of uids.
    pub passwd: PathBuf,
    /// Where `ip netns add` mounts named network namespaces.
    pub run_netns: PathBuf,
    /// Where tracefs may be mounted, in the order they are tried: the first that holds
    /// the tracepoints the engine reads is used.
    pub tracefs: Vec<PathBuf>,
}

impl Default for SystemPaths {
    fn default() -> Self {
        Self {
            proc: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
            run_netns: PathBuf::from("/run/netns"),
            tracefs: vec![
                PathBuf::from("/sys/kernel/tracing"),
                PathBuf::from("/sys/kernel/debug/tracing"),
            ],
        }
    }
}

impl SystemPaths {
    /// The system's paths with `/proc` replaced (tests with a fake process tree).
    pub fn with_proc(proc: impl Into<PathBuf>) -> Self {
        Self {
            proc: proc.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_are_the_real_systems() {
        let paths = SystemPaths::default();
        assert_eq!(paths.proc, PathBuf::from("/proc"));
        assert_eq!(paths.tracefs[0], PathBuf::from("/sys/kernel/tracing"));
        assert_eq!(
            SystemPaths::with_proc("/tmp/fake").passwd,
            PathBuf::from("/etc/passwd")
        );
    }
}

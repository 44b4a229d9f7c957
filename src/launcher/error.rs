//! Why the helper could not be started or stopped working: one variant per sentence the GUI
//! shows ("Authorization was dismissed", "The capture helper is not installed"…).

use std::path::PathBuf;

/// A program the launcher needs and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingProgram {
    /// `sockeye-helper` itself (at the path given with the error).
    Helper,
    /// `pkexec` (polkit) is not installed.
    Pkexec,
    /// `flatpak-spawn` is not available inside the sandbox.
    FlatpakSpawn,
}

impl std::fmt::Display for MissingProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MissingProgram::Helper => "sockeye-helper",
            MissingProgram::Pkexec => "pkexec",
            MissingProgram::FlatpakSpawn => "flatpak-spawn",
        })
    }
}

/// How the helper process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperExit {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
    /// The last lines it wrote to stderr (at most [`STDERR_TAIL_BYTES`] bytes).
    pub stderr_tail: String,
}

/// How much of the helper's stderr is kept for error messages, in bytes.
pub const STDERR_TAIL_BYTES: usize = 4096;

impl HelperExit {
    /// The error this exit means. `through_pkexec` says whether pkexec stood in front of
    /// the helper, which makes 126 "dismissed" and 127 "not authorized".
    pub fn to_error(&self, through_pkexec: bool) -> LaunchError {
        let stderr = self.stderr_tail.clone();
        match (self.code, self.signal) {
            (Some(126), _) if through_pkexec => LaunchError::AuthorizationDismissed,
            (Some(127), _) if through_pkexec => LaunchError::NotAuthorized { stderr },
            (_, Some(signal)) => LaunchError::HelperCrashed { signal, stderr },
            (code, None) => LaunchError::HelperExited {
                code: code.unwrap_or(-1),
                stderr,
            },
        }
    }
}

/// Why starting or talking to the helper failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The user closed the password dialog (pkexec exit status 126).
    #[error("authorization was dismissed: capturing network traffic needs administrator rights")]
    AuthorizationDismissed,
    /// polkit refused, or no authentication agent could ask (pkexec exit status 127).
    #[error(
        "not authorized to capture network traffic (polkit refused, or no authentication \
         agent is running to ask for the password){}",
        tail(stderr)
    )]
    NotAuthorized { stderr: String },
    /// A program needed to start the helper is missing; `path` is where it was looked for.
    #[error("{program} is missing: {}", missing_advice(program, path))]
    HelperMissing {
        program: MissingProgram,
        path: PathBuf,
    },
    /// Something other than root can modify the helper or a directory above it (a
    /// `flatpak --user` install, a build tree): asking for the administrator password to
    /// run it would hand root to whoever changes it. Sockeye must be installed system-wide.
    #[error(
        "the capture helper {} is not safe to run as root: {weakness}; install Sockeye \
         system-wide (as root, for all users) to capture network traffic",
        path.display()
    )]
    HelperUnsafe {
        path: PathBuf,
        weakness: super::root_only::Weakness,
    },
    /// The helper exited (before or after connecting) with this status.
    #[error("the capture helper exited with status {code}{}", tail(stderr))]
    HelperExited { code: i32, stderr: String },
    /// The helper was killed by this signal (a crash: SIGSEGV, SIGABRT…, or SIGKILL).
    #[error(
        "the capture helper was killed by signal {signal}{}{}",
        signal_name(*signal),
        tail(stderr)
    )]
    HelperCrashed { signal: i32, stderr: String },
    /// The helper speaks another protocol version (a partial upgrade): restart Sockeye.
    #[error("the capture helper has version {helper}, Sockeye expects {expected}")]
    ProtocolMismatch { helper: String, expected: String },
    /// The D-Bus connection to the helper failed.
    #[error("D-Bus connection to the capture helper failed: {0}")]
    DBus(#[from] zbus::Error),
    /// A system call failed (socketpair, spawning a process).
    #[error("cannot start the capture helper: {0}")]
    Io(#[from] std::io::Error),
}

/// What to do about a missing program, for [`LaunchError::HelperMissing`].
fn missing_advice(program: &MissingProgram, path: &std::path::Path) -> String {
    match program {
        MissingProgram::Helper => format!(
            "{} does not exist (is Sockeye fully installed?)",
            path.display()
        ),
        MissingProgram::Pkexec => {
            "install polkit to capture network traffic as an ordinary user".to_owned()
        }
        MissingProgram::FlatpakSpawn => {
            "it is needed to start the capture helper outside the sandbox".to_owned()
        }
    }
}

/// ` (SIGSEGV)` for the signals a helper dies of, else nothing.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGPIPE => " (SIGPIPE)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSYS => " (SIGSYS)",
        _ => "",
    }
}

fn tail(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: Option<i32>, signal: Option<i32>) -> HelperExit {
        HelperExit {
            code,
            signal,
            stderr_tail: "boom\n".into(),
        }
    }

    #[test]
    fn pkexec_statuses_become_authorization_errors() {
        assert!(matches!(
            exit(Some(126), None).to_error(true),
            LaunchError::AuthorizationDismissed
        ));
        assert!(matches!(
            exit(Some(127), None).to_error(true),
            LaunchError::NotAuthorized { .. }
        ));
    }

    #[test]
    fn without_pkexec_126_is_a_plain_exit_status() {
        assert!(matches!(
            exit(Some(126), None).to_error(false),
            LaunchError::HelperExited { code: 126, .. }
        ));
    }

    #[test]
    fn a_signal_is_a_crash_and_keeps_the_stderr_tail() {
        let error = exit(None, Some(11)).to_error(true);
        assert!(matches!(
            error,
            LaunchError::HelperCrashed { signal: 11, .. }
        ));
        assert_eq!(
            error.to_string(),
            "the capture helper was killed by signal 11 (SIGSEGV): boom"
        );
    }

    #[test]
    fn a_missing_helper_names_its_path_and_missing_pkexec_says_what_to_install() {
        let helper = LaunchError::HelperMissing {
            program: MissingProgram::Helper,
            path: "/usr/libexec/sockeye-helper".into(),
        };
        assert_eq!(
            helper.to_string(),
            "sockeye-helper is missing: /usr/libexec/sockeye-helper does not exist \
             (is Sockeye fully installed?)"
        );
        let pkexec = LaunchError::HelperMissing {
            program: MissingProgram::Pkexec,
            path: "pkexec".into(),
        };
        assert_eq!(
            pkexec.to_string(),
            "pkexec is missing: install polkit to capture network traffic as an ordinary user"
        );
    }
}

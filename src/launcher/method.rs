//! How to start `sockeye-helper` here: directly (already root), through pkexec (native
//! install or development build), or on the host through `flatpak-spawn --host pkexec`.

use super::error::{LaunchError, MissingProgram};
use super::root_only::{self, Weakness};
use crate::config;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Name of the helper binary.
pub const HELPER_NAME: &str = "sockeye-helper";
/// Environment variable naming the helper binary to use (development and tests).
///
/// Not a privilege boundary, and so honoured in every build: whoever sets our environment
/// already runs code as this user and could call pkexec with any program directly. It
/// cannot borrow Sockeye's polkit message either: the policy's `exec.path` names only the
/// installed helper, so for any other path polkit shows its generic prompt, which names
/// the program it is asked to run as root.
pub const HELPER_ENV: &str = "SOCKEYE_HELPER";
/// Environment variable naming the Flatpak info file instead of `/.flatpak-info` (tests).
pub const FLATPAK_INFO_ENV: &str = "SOCKEYE_FLATPAK_INFO";
/// Where Flatpak tells a sandboxed app about itself.
pub const FLATPAK_INFO: &str = "/.flatpak-info";
/// Most of the Flatpak info file read, in bytes.
const FLATPAK_INFO_MAX_BYTES: u64 = 64 * 1024;

/// How the helper is started; [`LaunchMethod::detect`] picks one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchMethod {
    /// We are root already: run the helper itself.
    Direct { helper: PathBuf },
    /// `pkexec <helper>`: polkit asks for the password (action
    /// `io.github.sockeye.Sockeye.capture` when `helper` is the installed path).
    Pkexec { helper: PathBuf },
    /// `flatpak-spawn --host pkexec <helper>`, with `helper` a path on the host
    /// (`<app-path>/libexec/sockeye-helper`).
    Flatpak { helper: PathBuf },
}

impl LaunchMethod {
    /// Picks how to start the helper, in this order:
    ///
    /// 1. inside Flatpak (`/.flatpak-info`, or the file named by `SOCKEYE_FLATPAK_INFO`,
    ///    exists): `flatpak-spawn --host pkexec <app-path>/libexec/sockeye-helper`;
    /// 2. otherwise the helper binary is the first of: `$SOCKEYE_HELPER`; `sockeye-helper`
    ///    next to the running executable or one directory up (a cargo build tree:
    ///    `target/<profile>/`, and `deps/` for test binaries); `<libexecdir>/sockeye-helper`
    ///    (the installed path, which the polkit policy's `exec.path` names exactly);
    /// 3. run it directly when the effective uid is 0, else through `pkexec`.
    pub fn detect() -> Result<LaunchMethod, LaunchError> {
        let info_path = std::env::var_os(FLATPAK_INFO_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(FLATPAK_INFO));
        if info_path.exists() {
            let helper = flatpak_helper_path(&info_path)?;
            return Ok(LaunchMethod::Flatpak { helper });
        }
        let helper = find_helper(
            std::env::var_os(HELPER_ENV),
            std::env::current_exe().ok().as_deref(),
        );
        let root = rustix::process::geteuid().is_root();
        Ok(if root {
            LaunchMethod::Direct { helper }
        } else {
            LaunchMethod::Pkexec { helper }
        })
    }

    /// The helper binary this method runs (a host path for [`LaunchMethod::Flatpak`]).
    pub fn helper(&self) -> &Path {
        match self {
            LaunchMethod::Direct { helper }
            | LaunchMethod::Pkexec { helper }
            | LaunchMethod::Flatpak { helper } => helper,
        }
    }

    /// Whether starting the helper may show a password dialog (polkit), so the GUI can
    /// wait for a click instead of launching on its own.
    pub fn may_ask_for_password(&self) -> bool {
        self.through_pkexec()
    }

    /// Whether pkexec stands between us and the helper (its exit statuses 126 and 127 then
    /// mean "dismissed" and "not authorized").
    pub fn through_pkexec(&self) -> bool {
        !matches!(self, LaunchMethod::Direct { .. })
    }

    /// The program we execute ourselves, and how to name it when it is missing.
    fn program(&self) -> (OsString, MissingProgram) {
        match self {
            LaunchMethod::Direct { helper } => (helper.clone().into(), MissingProgram::Helper),
            LaunchMethod::Pkexec { .. } => ("pkexec".into(), MissingProgram::Pkexec),
            LaunchMethod::Flatpak { .. } => ("flatpak-spawn".into(), MissingProgram::FlatpakSpawn),
        }
    }

    /// A command running the helper with `helper_args` (e.g. `--stdio`); stdio is left to
    /// the caller. Fails with [`LaunchError::HelperMissing`] when the helper or the program
    /// in front of it is not there.
    ///
    /// Through pkexec, the helper must be root's alone (the file and every directory above
    /// it, see [`root_only`](super::root_only)), else [`LaunchError::HelperUnsafe`]; pkexec
    /// is then given the resolved path that was checked.
    pub fn command<S: AsRef<OsStr>>(&self, helper_args: &[S]) -> Result<Command, LaunchError> {
        self.check_installed()?;
        let (program, _) = self.program();
        let mut command = Command::new(program);
        match self {
            LaunchMethod::Direct { .. } => {}
            LaunchMethod::Pkexec { helper } => {
                command.arg(checked(helper, root_only::check_local(helper))?);
            }
            LaunchMethod::Flatpak { helper } => {
                let host = root_only::HostTools::flatpak_host();
                let verdict = host.check(helper).map_err(|e| self.spawn_error(e))?;
                command
                    .args(["--host", "pkexec"])
                    .arg(checked(helper, verdict)?);
            }
        }
        command.args(helper_args);
        Ok(command)
    }

    /// Maps a failure to execute [`LaunchMethod::command`] to the error naming what is
    /// missing.
    pub fn spawn_error(&self, error: std::io::Error) -> LaunchError {
        if error.kind() == std::io::ErrorKind::NotFound {
            let (program, missing) = self.program();
            return LaunchError::HelperMissing {
                program: missing,
                path: program.into(),
            };
        }
        LaunchError::Io(error)
    }

    fn check_installed(&self) -> Result<(), LaunchError> {
        let helper = self.helper();
        let present = match self {
            LaunchMethod::Direct { .. } | LaunchMethod::Pkexec { .. } => helper.is_file(),
            // The host path is not visible in the sandbox, but the same file is under /app.
            LaunchMethod::Flatpak { .. } => {
                helper.is_file() || Path::new("/app/libexec").join(HELPER_NAME).is_file()
            }
        };
        if present {
            Ok(())
        } else {
            Err(LaunchError::HelperMissing {
                program: MissingProgram::Helper,
                path: helper.to_owned(),
            })
        }
    }
}

/// The resolved helper path to give pkexec, or the error saying who else can change it.
///
/// A helper we run directly is not checked: we are root already and nobody is asked for
/// a password, so there is no authorisation to ride (and root chose to run that file).
fn checked(helper: &Path, verdict: Result<PathBuf, Weakness>) -> Result<PathBuf, LaunchError> {
    verdict.map_err(|weakness| LaunchError::HelperUnsafe {
        path: helper.to_owned(),
        weakness,
    })
}

/// Step 2 of [`LaunchMethod::detect`]: the override, the build tree, then libexecdir.
fn find_helper(override_path: Option<OsString>, current_exe: Option<&Path>) -> PathBuf {
    if let Some(path) = override_path.filter(|p| !p.is_empty()) {
        // pkexec matches the policy's exec.path against an absolute path (and would look
        // a bare name up in PATH).
        let path = PathBuf::from(path);
        return std::path::absolute(&path).unwrap_or(path);
    }
    if let Some(dir) = current_exe.and_then(Path::parent) {
        let candidates = [Some(dir), dir.parent()];
        for candidate in candidates.into_iter().flatten() {
            let path = candidate.join(HELPER_NAME);
            if path.is_file() {
                return path;
            }
        }
    }
    Path::new(config::LIBEXECDIR).join(HELPER_NAME)
}

/// `<app-path>/libexec/sockeye-helper`, with `app-path` from the `[Instance]` group of the
/// Flatpak info file.
fn flatpak_helper_path(info_path: &Path) -> Result<PathBuf, LaunchError> {
    use std::io::Read;
    // Flatpak writes a few hundred bytes; a bound keeps a wrong path (a device, a huge
    // file named by SOCKEYE_FLATPAK_INFO) from being read whole.
    let mut text = String::new();
    std::fs::File::open(info_path)?
        .take(FLATPAK_INFO_MAX_BYTES)
        .read_to_string(&mut text)?;
    let app_path = instance_app_path(&text).ok_or_else(|| LaunchError::HelperMissing {
        program: MissingProgram::Helper,
        path: info_path.join("[Instance] app-path"),
    })?;
    Ok(Path::new(&app_path).join("libexec").join(HELPER_NAME))
}

/// The `app-path` key of the `[Instance]` group of a keyfile, when it is an absolute path
/// (pkexec would look a relative one up in the host's `PATH`).
fn instance_app_path(keyfile: &str) -> Option<String> {
    let mut in_instance = false;
    for line in keyfile.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_instance = line == "[Instance]";
        } else if in_instance {
            if let Some((key, value)) = line.split_once('=') {
                if key.trim() == "app-path" {
                    let value = value.trim();
                    return Path::new(value).is_absolute().then(|| value.to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "[Application]\nname=io.github.sockeye.Sockeye\n\n[Instance]\n\
        instance-id=123\napp-path=/var/lib/flatpak/app/io.github.sockeye.Sockeye/x86_64/master/abc/files\n";

    #[test]
    fn app_path_comes_from_the_instance_group() {
        assert_eq!(
            instance_app_path(INFO).as_deref(),
            Some("/var/lib/flatpak/app/io.github.sockeye.Sockeye/x86_64/master/abc/files")
        );
    }

    #[test]
    fn app_path_in_another_group_is_ignored() {
        assert_eq!(instance_app_path("[Application]\napp-path=/x\n"), None);
    }

    #[test]
    fn an_empty_or_relative_app_path_is_refused() {
        assert_eq!(instance_app_path("[Instance]\napp-path=\n"), None);
        assert_eq!(instance_app_path("[Instance]\napp-path=files\n"), None);
    }

    #[test]
    fn the_override_wins_over_the_build_tree() {
        let found = find_helper(Some("/opt/h".into()), Some(Path::new("/nowhere/sockeye")));
        assert_eq!(found, PathBuf::from("/opt/h"));
    }

    #[test]
    fn a_relative_override_is_made_absolute() {
        let found = find_helper(Some("target/debug/sockeye-helper".into()), None);
        assert!(found.is_absolute());
        assert!(found.ends_with("target/debug/sockeye-helper"));
    }

    #[test]
    fn without_build_tree_the_installed_path_is_used() {
        let found = find_helper(None, Some(Path::new("/nowhere/bin/sockeye")));
        assert_eq!(found, Path::new(config::LIBEXECDIR).join(HELPER_NAME));
    }

    #[test]
    fn a_helper_next_to_the_executable_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HELPER_NAME), "").unwrap();
        let found = find_helper(None, Some(&dir.path().join("deps").join("test-bin")));
        assert_eq!(found, dir.path().join(HELPER_NAME));
    }

    #[test]
    fn flatpak_runs_pkexec_on_the_host() {
        let method = LaunchMethod::Flatpak {
            helper: "/app-path/libexec/sockeye-helper".into(),
        };
        let command = method.command(&["--stdio"]);
        // The helper is not installed here: the check names it.
        assert!(matches!(
            command,
            Err(LaunchError::HelperMissing {
                program: MissingProgram::Helper,
                ..
            })
        ));
    }
}

//! Refuses a helper that anything but root can modify. pkexec runs the helper as root once
//! the user has typed the administrator password; if the file, or any directory above it,
//! can be changed by the user (a `flatpak --user` install, a build tree), malware running
//! as the user swaps it and waits for that password. So every component of the resolved
//! path must be owned by root and writable by nobody else, and pkexec is given exactly the
//! path that was checked.
//!
//! ```text
//! /usr/libexec/sockeye-helper ─ canonicalize ─ walk from "/" ─┬─ each directory: uid 0,
//!                                                              │   no group/other write
//!                                                              │   (or sticky: /tmp)
//!                                                              └─ the file: regular, uid 0,
//!                                                                  no group/other write
//! ```
//!
//! - Native installs are checked here, through `O_PATH | O_NOFOLLOW` descriptors opened one
//!   component below the last and `fstat`ed, so what is judged is what the walk reached; a
//!   symbolic link met on the canonical path means it changed under us and is refused.
//! - A Flatpak's helper lies on the host, outside the sandbox: the same walk runs there with
//!   the host's `realpath` and `stat` through `flatpak-spawn --host` ([`HostTools`]).
//! - Once every component is root's, nothing but root can change what the path names
//!   between this check and pkexec's `execve`, so the check cannot be raced by a user.
//! - POSIX ACLs granting write to someone show as group write in the mode (the ACL mask),
//!   and are refused with it.

use rustix::fs::{FileType, Mode, OFlags};
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Most bytes of the host tools' answer read (a path and one line per component).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why a helper path is not root's alone; shown with the path in the launcher's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    /// The component belongs to another user, who may replace or rewrite it.
    #[error("{} belongs to uid {uid}", path.display())]
    NotRootOwned { path: PathBuf, uid: u32 },
    /// Group members (or, for `others`, every user) may write it.
    #[error("{} is writable by {}", path.display(), if *others { "every user" } else { "its group" })]
    Writable { path: PathBuf, others: bool },
    /// The helper is not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    /// A component above the helper is not a directory, or a symbolic link appeared on the
    /// resolved path while it was checked.
    #[error("{} changed while it was checked", path.display())]
    Changed { path: PathBuf },
    /// The path could not be resolved or a component could not be examined.
    #[error("{} cannot be examined: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
}

/// What one component of the path is: owner and `st_mode` (type and permission bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    uid: u32,
    mode: u32,
}

/// Resolves `helper` on this system and checks that only root can modify it or any
/// directory above it; returns the resolved path, the one to give pkexec.
pub fn check_local(helper: &Path) -> Result<PathBuf, Weakness> {
    let unreadable = |path: &Path, reason: String| Weakness::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let canonical = std::fs::canonicalize(helper).map_err(|e| unreadable(helper, e.to_string()))?;
    let names = normal_components(&canonical)?;
    let open_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root = Path::new("/");
    let mut dir = rustix::fs::open(root, open_flags | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| unreadable(root, e.to_string()))?;
    let stat = rustix::fs::fstat(&dir).map_err(|e| unreadable(root, e.to_string()))?;
    judge(root, node(&stat), names.is_empty())?;
    let mut path = PathBuf::from("/");
    for (i, name) in names.iter().enumerate() {
        path.push(name);
        let fd = rustix::fs::openat(&dir, *name, open_flags, Mode::empty())
            .map_err(|e| unreadable(&path, e.to_string()))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| unreadable(&path, e.to_string()))?;
        judge(&path, node(&stat), i + 1 == names.len())?;
        dir = fd;
    }
    Ok(canonical)
}

fn node(stat: &rustix::fs::Stat) -> Node {
    Node {
        uid: stat.st_uid,
        mode: stat.st_mode,
    }
}

/// The names below `/` of an absolute, resolved path; anything else (`..`, a relative
/// path) means the resolution was not what it claimed.
fn normal_components(canonical: &Path) -> Result<Vec<&OsStr>, Weakness> {
    let mut names = Vec::new();
    for component in canonical.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(name) => names.push(name),
            _ => {
                return Err(Weakness::Changed {
                    path: canonical.to_owned(),
                })
            }
        }
    }
    Ok(names)
}

/// Judges one component: the helper itself when `last`, else a directory above it.
fn judge(path: &Path, node: Node, last: bool) -> Result<(), Weakness> {
    let kind = FileType::from_raw_mode(node.mode);
    let path_buf = || path.to_owned();
    match kind {
        FileType::Symlink => return Err(Weakness::Changed { path: path_buf() }),
        FileType::RegularFile if last => {}
        FileType::Directory if !last => {}
        _ if last => return Err(Weakness::NotAFile { path: path_buf() }),
        _ => return Err(Weakness::Changed { path: path_buf() }),
    }
    if node.uid != 0 {
        return Err(Weakness::NotRootOwned {
            path: path_buf(),
            uid: node.uid,
        });
    }
    // In a sticky directory (/tmp) others may add entries but not rename or remove root's,
    // so the root-owned component below stays what it is.
    let sticky = kind == FileType::Directory && node.mode & libc::S_ISVTX != 0;
    if !sticky && node.mode & 0o022 != 0 {
        return Err(Weakness::Writable {
            path: path_buf(),
            others: node.mode & 0o002 != 0,
        });
    }
    Ok(())
}

/// Runs `realpath` and `stat` where the helper lives: on the Flatpak host through
/// `flatpak-spawn --host`, or here (tests, and the same answers a host would give).
#[derive(Debug, Clone)]
pub struct HostTools {
    /// The command in front of `realpath` and `stat` (empty: run them here).
    prefix: Vec<OsString>,
}

impl HostTools {
    /// The Flatpak host's tools.
    pub fn flatpak_host() -> Self {
        Self {
            prefix: vec!["flatpak-spawn".into(), "--host".into()],
        }
    }

    /// This system's own `realpath` and `stat`.
    #[cfg(test)]
    pub fn here() -> Self {
        Self { prefix: Vec::new() }
    }

    /// [`check_local`], with the host's tools: resolves `helper` there, then reads the
    /// owner and mode of `/`, each directory down and the file. The outer error says that
    /// the command in front (`flatpak-spawn`) could not be started at all.
    pub fn check(&self, helper: &Path) -> std::io::Result<Result<PathBuf, Weakness>> {
        match self.check_with_tools(helper) {
            Err(ToolFailure::NotStarted(error)) => Err(error),
            Err(ToolFailure::Weak(weakness)) => Ok(Err(weakness)),
            Ok(path) => Ok(Ok(path)),
        }
    }

    fn check_with_tools(&self, helper: &Path) -> Result<PathBuf, ToolFailure> {
        let unreadable = |reason: String| Weakness::Unreadable {
            path: helper.to_owned(),
            reason,
        };
        let resolved = self.run(&["realpath", "-e", "--"], &[helper.as_os_str()])?;
        let canonical = PathBuf::from(resolved.trim_end_matches('\n'));
        if !canonical.is_absolute() || resolved.lines().count() != 1 {
            return Err(unreadable(format!("realpath answered {resolved:?}")).into());
        }
        let names = normal_components(&canonical)?;
        let mut paths = vec![PathBuf::from("/")];
        for name in &names {
            let next = paths[paths.len() - 1].join(name);
            paths.push(next);
        }
        let args: Vec<&OsStr> = paths.iter().map(|p| p.as_os_str()).collect();
        // uid and raw st_mode in hex, one line per path in order; no `-L`, so a link that
        // appeared since `realpath` shows as one.
        let answer = self.run(&["stat", "-c", "%u %f", "--"], &args)?;
        let lines: Vec<&str> = answer.lines().collect();
        if lines.len() != paths.len() {
            return Err(unreadable(format!("stat answered {answer:?}")).into());
        }
        for (i, (path, line)) in paths.iter().zip(lines).enumerate() {
            let node = parse_stat_line(line).ok_or_else(|| Weakness::Unreadable {
                path: path.clone(),
                reason: format!("stat answered {line:?}"),
            })?;
            judge(path, node, i + 1 == paths.len())?;
        }
        Ok(canonical)
    }

    /// Runs `tool` with `args` (after `--`), returns its standard output as text.
    fn run(&self, tool: &[&str], args: &[&OsStr]) -> Result<String, ToolFailure> {
        let what = tool.first().copied().unwrap_or_default();
        let fail = |reason: String| Weakness::Unreadable {
            path: args.last().map(PathBuf::from).unwrap_or_default(),
            reason,
        };
        let mut words: Vec<&OsStr> = self.prefix.iter().map(OsString::as_os_str).collect();
        words.extend(tool.iter().map(OsStr::new));
        words.extend(args);
        let Some((program, rest)) = words.split_first() else {
            return Err(fail("no command to run".to_owned()).into());
        };
        let mut command = Command::new(program);
        command.args(rest);
        let output = command
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(ToolFailure::NotStarted)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(fail(format!("{what} failed: {}", stderr.trim())).into());
        }
        if output.stdout.len() > MAX_ANSWER_BYTES {
            return Err(fail(format!("{what} answered too much")).into());
        }
        String::from_utf8(output.stdout)
            .map_err(|_| fail(format!("{what} answered non-UTF-8")).into())
    }
}

/// Why the host tools gave no verdict: they could not be started, or what they said.
enum ToolFailure {
    NotStarted(std::io::Error),
    Weak(Weakness),
}

impl From<Weakness> for ToolFailure {
    fn from(weakness: Weakness) -> Self {
        ToolFailure::Weak(weakness)
    }
}

/// `<uid> <st_mode in hex>`, as `stat -c '%u %f'` prints it.
fn parse_stat_line(line: &str) -> Option<Node> {
    let (uid, mode) = line.trim().split_once(' ')?;
    Some(Node {
        uid: uid.parse().ok()?,
        mode: u32::from_str_radix(mode, 16).ok()?,
    })
}

#[cfg(test)]
#[path = "root_only_tests.rs"]
mod tests;

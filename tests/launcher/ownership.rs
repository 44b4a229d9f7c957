//! The launcher refuses, before pkexec runs, a helper that the user it runs as can modify,
//! and gives pkexec the resolved path of one that only root can: `nobody` runs the probe
//! with a fake `pkexec` that records its arguments and answers "dismissed".

use crate::common::{self, install_helper};
use crate::probe;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `nobody`, as `setpriv` arguments.
const AS_NOBODY: [&str; 5] = [
    "/usr/bin/setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
];

/// A tempdir others may enter, with `bin/pkexec` logging to `calls.log` (writable by all).
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("calls.log");
    std::fs::write(&log, "").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
    common::script(
        &bin.join("pkexec"),
        &format!("echo \"pkexec $*\" >> {}\nexit 126", log.display()),
    );
    dir
}

fn probe_as_nobody(dir: &Path, helper: &Path) -> String {
    let path = format!("{}:/usr/bin:/bin", dir.join("bin").display());
    probe::run(
        &[
            ("PATH", &path),
            ("SOCKEYE_HELPER", helper.to_str().unwrap()),
        ],
        &AS_NOBODY,
    )
}

#[test]
fn a_helper_in_a_directory_the_user_owns_is_refused_before_pkexec_runs() {
    let dir = fixture();
    // As `flatpak --user` installs: in the user's own directory tree.
    let home = dir.path().join("home");
    let helper = home.join(".local/share/flatpak/app/x/files/libexec/sockeye-helper");
    install_helper(&helper);
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&home)
        .status()
        .unwrap();
    assert!(status.success());
    let line = probe_as_nobody(dir.path(), &helper);
    assert!(line.starts_with("PROBE err=HelperUnsafe"), "{line}");
    assert!(line.contains("belongs to uid 65534"), "{line}");
    assert!(line.contains("install Sockeye system-wide"), "{line}");
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(calls, "", "pkexec must not be asked");
}

#[test]
fn a_root_only_helper_is_given_to_pkexec_by_its_resolved_path() {
    let dir = fixture();
    let helper = dir.path().join("libexec/sockeye-helper");
    install_helper(&helper);
    let link = dir.path().join("sockeye-helper-link");
    std::os::unix::fs::symlink("libexec/sockeye-helper", &link).unwrap();
    let line = probe_as_nobody(dir.path(), &link);
    assert!(
        line.starts_with("PROBE err=AuthorizationDismissed"),
        "{line}"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    let resolved = std::fs::canonicalize(&helper).unwrap();
    assert_eq!(calls, format!("pkexec {} --stdio\n", resolved.display()));
}

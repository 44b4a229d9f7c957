//! The Flatpak launch path end to end: a fixture `.flatpak-info`, a fake `flatpak-spawn`
//! (drops its options and runs the rest, as `--host` would on the host) and a fake
//! `pkexec` (we are root), both recording how they were called.

use crate::common::{self, install_helper};
use crate::probe;

#[test]
fn inside_flatpak_the_helper_runs_through_flatpak_spawn_host_pkexec() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let app_path = root.join("app-files");
    std::fs::create_dir_all(app_path.join("libexec")).unwrap();
    // A link to a root-owned copy elsewhere: the host check must follow it.
    let copy = root.join("store/sockeye-helper");
    install_helper(&copy);
    std::os::unix::fs::symlink(&copy, app_path.join("libexec/sockeye-helper")).unwrap();
    let info = root.join("flatpak-info");
    std::fs::write(
        &info,
        format!(
            "[Application]\nname=io.github.sockeye.Sockeye\nruntime=runtime/org.gnome.Platform/x86_64/47\n\n\
             [Instance]\ninstance-id=1234\napp-path={}\nbranch=master\n",
            app_path.display()
        ),
    )
    .unwrap();
    let bin = root.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = root.join("calls.log");
    common::script(
        &bin.join("flatpak-spawn"),
        &format!(
            "echo \"flatpak-spawn $*\" >> {log}\n\
             while [ \"${{1#--}}\" != \"$1\" ]; do shift; done\n\
             exec \"$@\"",
            log = log.display()
        ),
    );
    common::script(
        &bin.join("pkexec"),
        &format!("echo \"pkexec $*\" >> {}\nexec \"$@\"", log.display()),
    );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let line = probe::run(
        &[
            ("PATH", &path),
            ("SOCKEYE_FLATPAK_INFO", info.to_str().unwrap()),
        ],
        &[],
    );
    assert!(line.starts_with("PROBE ok method=Flatpak"), "{line}");
    assert!(line.contains("updated=true stats=Ok("), "{line}");
    // The path given is a link to the build's helper: the host check resolves it, and
    // pkexec runs the file that was checked.
    let helper = std::fs::canonicalize(app_path.join("libexec/sockeye-helper")).unwrap();
    assert_eq!(helper, std::fs::canonicalize(&copy).unwrap());
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        format!(
            "flatpak-spawn --host realpath -e -- {link}\n\
             flatpak-spawn --host stat -c %u %f -- {components}\n\
             flatpak-spawn --host pkexec {h} --stdio\npkexec {h} --stdio\n",
            link = app_path.join("libexec/sockeye-helper").display(),
            components = components(&helper),
            h = helper.display()
        )
    );
}

#[test]
fn inside_a_per_user_flatpak_the_host_check_refuses_the_helper_before_pkexec() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // `flatpak --user` keeps the app in the user's home: the user owns the tree.
    let home = root.join("home/alice");
    let app_path =
        home.join(".local/share/flatpak/app/io.github.sockeye.Sockeye/x86_64/master/abc/files");
    install_helper(&app_path.join("libexec/sockeye-helper"));
    let status = std::process::Command::new("chown")
        .args(["-R", "4242:4242"])
        .arg(&home)
        .status()
        .unwrap();
    assert!(status.success());
    let info = root.join("flatpak-info");
    std::fs::write(
        &info,
        format!("[Instance]\napp-path={}\n", app_path.display()),
    )
    .unwrap();
    let bin = root.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = root.join("calls.log");
    common::script(
        &bin.join("flatpak-spawn"),
        &format!(
            "echo \"flatpak-spawn $*\" >> {log}\n\
             while [ \"${{1#--}}\" != \"$1\" ]; do shift; done\n\
             exec \"$@\"",
            log = log.display()
        ),
    );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let line = probe::run(
        &[
            ("PATH", &path),
            ("SOCKEYE_FLATPAK_INFO", info.to_str().unwrap()),
        ],
        &[],
    );
    assert!(line.starts_with("PROBE err=HelperUnsafe"), "{line}");
    let home = std::fs::canonicalize(&home).unwrap();
    assert!(
        line.contains(&format!("{} belongs to uid 4242", home.display())),
        "{line}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        !calls.contains("pkexec"),
        "only the check ran on the host: {calls}"
    );
}

#[test]
fn without_flatpak_spawn_the_error_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let app_path = dir.path().join("files");
    install_helper(&app_path.join("libexec/sockeye-helper"));
    let info = dir.path().join("flatpak-info");
    std::fs::write(
        &info,
        format!("[Instance]\napp-path={}\n", app_path.display()),
    )
    .unwrap();
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let line = probe::run(
        &[
            ("PATH", empty.to_str().unwrap()),
            ("SOCKEYE_FLATPAK_INFO", info.to_str().unwrap()),
        ],
        &[],
    );
    assert!(
        line.starts_with("PROBE err=HelperMissing flatpak-spawn is missing"),
        "{line}"
    );
}

/// `/`, each directory down to `path`, and `path`, space-separated (as the check passes
/// them to `stat`).
fn components(path: &std::path::Path) -> String {
    let mut all: Vec<String> = path.ancestors().map(|p| p.display().to_string()).collect();
    all.reverse();
    all.join(" ")
}

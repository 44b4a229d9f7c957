//! Real directory trees with real owners and modes (root: chown), judged by the local walk
//! and by the host tools (`realpath`, `stat`) run here, which must agree.

use super::*;
use std::os::unix::fs::{symlink, PermissionsExt};

/// Owner of the "user" parts of the trees; need not exist in /etc/passwd.
const USER: u32 = 4242;

fn root_tests() -> bool {
    sockeye_engine::testing::root_or_skip("helper ownership tests chown files to another user")
}

/// A temporary tree; directories made 0755 root, files 0755 root unless changed after.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        Self { dir }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Creates the file `relative` and its directories.
    fn file(&self, relative: &str) -> PathBuf {
        let path = self.path(relative);
        let parent = path.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        let mut dir = parent;
        while dir != self.dir.path() {
            chmod(dir, 0o755);
            dir = dir.parent().unwrap();
        }
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        chmod(&path, 0o755);
        path
    }

    /// Gives `relative` and everything below it to `uid`.
    fn chown_all(&self, relative: &str, uid: u32) {
        let status = std::process::Command::new("chown")
            .args(["-R", &format!("{uid}:{uid}")])
            .arg(self.path(relative))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

/// Both checks, which must agree.
fn verdict(helper: &Path) -> Result<PathBuf, Weakness> {
    let local = check_local(helper);
    let host = HostTools::here().check(helper).unwrap();
    assert_eq!(local, host, "local walk and host tools disagree");
    local
}

const SYSTEM_WIDE: &str =
    "var/lib/flatpak/app/io.github.sockeye.Sockeye/x86_64/master/abc/files/libexec/sockeye-helper";
const PER_USER: &str = "home/alice/.local/share/flatpak/app/io.github.sockeye.Sockeye/x86_64/\
                        master/abc/files/libexec/sockeye-helper";

#[test]
fn a_root_owned_helper_of_a_system_wide_flatpak_is_accepted_with_its_resolved_path() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let helper = tree.file(SYSTEM_WIDE);
    let resolved = std::fs::canonicalize(&helper).unwrap();
    assert_eq!(verdict(&helper), Ok(resolved));
}

#[test]
fn a_per_user_flatpak_is_refused_at_the_first_directory_the_user_owns() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let helper = tree.file(PER_USER);
    tree.chown_all("home/alice", USER);
    let home = std::fs::canonicalize(tree.path("home/alice")).unwrap();
    let expected = Err(Weakness::NotRootOwned {
        path: home.clone(),
        uid: USER,
    });
    assert_eq!(verdict(&helper), expected);
    // A root-owned helper file does not help: the user renames its directory away.
    chown(&helper, 0);
    assert_eq!(verdict(&helper), expected);
}

#[test]
fn a_helper_file_of_another_user_is_refused() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let helper = tree.file("usr/libexec/sockeye-helper");
    chown(&helper, USER);
    assert_eq!(
        verdict(&helper),
        Err(Weakness::NotRootOwned {
            path: std::fs::canonicalize(&helper).unwrap(),
            uid: USER,
        })
    );
}

#[test]
fn a_helper_or_directory_others_may_write_is_refused() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let helper = tree.file("usr/libexec/sockeye-helper");
    let resolved = std::fs::canonicalize(&helper).unwrap();
    for (mode, others) in [(0o775, false), (0o757, true)] {
        chmod(&helper, mode);
        assert_eq!(
            verdict(&helper),
            Err(Weakness::Writable {
                path: resolved.clone(),
                others
            }),
            "mode {mode:o}"
        );
    }
    chmod(&helper, 0o755);
    let libexec = resolved.parent().unwrap();
    chmod(libexec, 0o777);
    assert_eq!(
        verdict(&helper),
        Err(Weakness::Writable {
            path: libexec.to_owned(),
            others: true
        })
    );
    // Sticky, as /tmp: others may add entries but not replace root's.
    chmod(libexec, 0o1777);
    assert_eq!(verdict(&helper), Ok(resolved.clone()));
    // A sticky bit on the file itself protects nothing.
    chmod(libexec, 0o755);
    chmod(&helper, 0o1757);
    assert!(matches!(
        verdict(&helper),
        Err(Weakness::Writable { others: true, .. })
    ));
}

#[test]
fn a_symbolic_link_is_judged_by_where_it_leads_and_pkexec_gets_the_target() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let user_helper = tree.file("home/alice/bin/sockeye-helper");
    tree.chown_all("home/alice", USER);
    let root_helper = tree.file("usr/libexec/sockeye-helper");
    std::fs::create_dir_all(tree.path("opt")).unwrap();
    let to_user = tree.path("opt/to-user");
    symlink(&user_helper, &to_user).unwrap();
    assert!(matches!(
        verdict(&to_user),
        Err(Weakness::NotRootOwned { uid: USER, .. })
    ));
    let to_root = tree.path("opt/to-root");
    symlink("../usr/libexec/sockeye-helper", &to_root).unwrap();
    assert_eq!(
        verdict(&to_root),
        Ok(std::fs::canonicalize(&root_helper).unwrap())
    );
}

#[test]
fn a_directory_or_a_missing_file_is_not_a_helper() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let dir = tree.path("usr/libexec");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(verdict(&dir), Err(Weakness::NotAFile { .. })));
    let local = check_local(&dir.join("sockeye-helper"));
    assert!(
        matches!(local, Err(Weakness::Unreadable { .. })),
        "{local:?}"
    );
    let host = HostTools::here()
        .check(&dir.join("sockeye-helper"))
        .unwrap();
    assert!(matches!(host, Err(Weakness::Unreadable { .. })), "{host:?}");
}

#[test]
fn a_user_writable_helper_is_refused_by_the_launcher_before_pkexec_runs() {
    if !root_tests() {
        return;
    }
    let tree = Tree::new();
    let helper = tree.file(PER_USER);
    tree.chown_all("home", USER);
    let method = crate::launcher::LaunchMethod::Pkexec {
        helper: helper.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = match runtime.block_on(crate::launcher::launch(&method)) {
        Err(error) => error,
        Ok(_) => panic!("a user-writable helper was launched"),
    };
    assert!(
        matches!(&error, crate::launcher::LaunchError::HelperUnsafe { path, .. } if *path == helper),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("install Sockeye system-wide"), "{message}");
    assert!(message.contains("belongs to uid 4242"), "{message}");
}

#[test]
fn the_judgement_of_one_component() {
    let path = Path::new("/x");
    let file = |uid, perms| Node {
        uid,
        mode: libc::S_IFREG | perms,
    };
    let dir = |uid, perms| Node {
        uid,
        mode: libc::S_IFDIR | perms,
    };
    assert_eq!(judge(path, file(0, 0o755), true), Ok(()));
    assert_eq!(judge(path, dir(0, 0o755), false), Ok(()));
    assert_eq!(judge(path, dir(0, 0o1777), false), Ok(()));
    assert!(matches!(
        judge(path, dir(0, 0o755), true),
        Err(Weakness::NotAFile { .. })
    ));
    assert!(matches!(
        judge(path, file(0, 0o755), false),
        Err(Weakness::Changed { .. })
    ));
    let link = Node {
        uid: 0,
        mode: libc::S_IFLNK | 0o777,
    };
    assert!(matches!(
        judge(path, link, false),
        Err(Weakness::Changed { .. })
    ));
    assert!(matches!(
        judge(path, dir(7, 0o1777), false),
        Err(Weakness::NotRootOwned { uid: 7, .. })
    ));
}

#[test]
fn stat_lines_are_parsed_or_refused() {
    assert_eq!(
        parse_stat_line("0 81ed\n"),
        Some(Node {
            uid: 0,
            mode: libc::S_IFREG | 0o755
        })
    );
    assert_eq!(
        parse_stat_line("0 43ff"),
        Some(Node {
            uid: 0,
            mode: 0o41777
        })
    );
    for garbage in ["", "0", "x 81ed", "0 zz", "-1 81ed", "0 81ed extra"] {
        assert_eq!(parse_stat_line(garbage), None, "{garbage:?}");
    }
}

//! The application a process belongs to, so the GUI can group by app and show its icon:
//! the Flatpak app id from `/proc/PID/root/.flatpak-info`, else the app id systemd and
//! GNOME put into the process's cgroup (`app-gnome-<id>-<n>.scope`,
//! `app-flatpak-<id>-<n>.scope`, `app-<launcher>-<id>@<random>.service`) or a snap name
//! (`snap.<name>.<app>….scope`).

use crate::attribution::kernel::bounded_read::{read_plain_file_of, read_text};
use std::path::Path;

/// Most bytes read of `.flatpak-info` and of a cgroup file.
const MAX_FILE: u64 = 64 * 1024;
/// Longest app id accepted (D-Bus names are at most 255 bytes).
const MAX_ID: usize = 255;

/// The app id of the process whose `/proc` directory is `proc_dir` and whose real uid is
/// `uid`: its Flatpak app id, else its cgroup's. The two halves are read apart: the first
/// may hang (see `late_details/`).
#[cfg(test)]
pub(crate) fn app_id(proc_dir: &Path, uid: u32) -> Option<String> {
    flatpak_app_id_of(proc_dir, uid).or_else(|| cgroup_app_id_of(proc_dir))
}

/// The app id in the `.flatpak-info` of the process whose `/proc` directory is `proc_dir`
/// and whose real uid is `uid`. The file counts only as a plain file of that user (Flatpak
/// writes it as the user; the process controls its root and what lies there, see
/// [`read_plain_file_of`]). Looking it up walks the process's root, which it chooses: this
/// may hang, so it is read off the capture thread.
pub(crate) fn flatpak_app_id_of(proc_dir: &Path, uid: u32) -> Option<String> {
    read_plain_file_of(uid, &proc_dir.join("root/.flatpak-info"), MAX_FILE)
        .ok()
        .and_then(|text| flatpak_app_id(&text))
}

/// The app id in the cgroup of the process whose `/proc` directory is `proc_dir`.
pub(crate) fn cgroup_app_id_of(proc_dir: &Path) -> Option<String> {
    let cgroup = read_text(&proc_dir.join("cgroup"), MAX_FILE).ok()?;
    cgroup_app_id(&cgroup)
}

/// `name=` of the `[Application]` group of a `.flatpak-info` key file.
pub(crate) fn flatpak_app_id(text: &str) -> Option<String> {
    let mut in_application = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_application = line == "[Application]";
        } else if in_application {
            if let Some(value) = line.strip_prefix("name=") {
                return valid(value.trim().to_owned());
            }
        }
    }
    None
}

/// The app id in a `/proc/PID/cgroup` file: from its unified (`0::`) path, else (on
/// hybrid systems, where that path may be just `/`) from the systemd hierarchy's; each
/// read from the innermost unit outwards.
pub(crate) fn cgroup_app_id(text: &str) -> Option<String> {
    let unified = text.lines().find_map(|l| l.strip_prefix("0::"));
    let systemd = text
        .lines()
        .find_map(|l| Some(l.split_once(":name=systemd:")?.1));
    [unified, systemd]
        .into_iter()
        .flatten()
        .find_map(|path| path.rsplit('/').find_map(unit_app_id))
}

/// The app id in one systemd unit name, following systemd's naming of desktop apps
/// (`app[-<launcher>]-<id>[@<random>].service`, `app[-<launcher>]-<id>-<random>.scope`)
/// and snapd's (`snap.<name>.<app>…`).
pub(crate) fn unit_app_id(unit: &str) -> Option<String> {
    if let Some(rest) = unit.strip_prefix("snap.") {
        let name = rest.split('.').next()?;
        return valid(unescape(name));
    }
    let rest = unit.strip_prefix("app-")?;
    let body = if let Some(service) = rest.strip_suffix(".service") {
        service.split('@').next()?
    } else if let Some(scope) = rest.strip_suffix(".scope") {
        let (body, random) = scope.rsplit_once('-')?;
        if random.is_empty() {
            return None;
        }
        body
    } else {
        return None;
    };
    // A launcher prefix ("gnome", "flatpak", "kde") has no dot; an id may have none either
    // ("firefox"), so only a prefix followed by more text is taken as the launcher.
    let id = match body.split_once('-') {
        Some((launcher, id)) if !launcher.contains('.') && !id.is_empty() => id,
        _ => body,
    };
    valid(unescape(id))
}

/// Undoes systemd's `\xNN` escaping (`\x2d` is `-`).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i..i + 4)
            .filter(|b| b[0] == b'\\' && b[1] == b'x')
            .and_then(|b| std::str::from_utf8(&b[2..]).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Accepts an id that is non-empty, not absurdly long and free of control characters,
/// slashes and spaces.
fn valid(id: String) -> Option<String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && !id.chars().any(|c| c.is_control() || c == '/' || c == ' ');
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatpak_info_names_the_application() {
        let info = "[Application]\nname=org.gnome.Maps\nruntime=runtime/org.gnome.Platform\n\n[Instance]\nname=other\n";
        assert_eq!(flatpak_app_id(info).as_deref(), Some("org.gnome.Maps"));
        assert_eq!(flatpak_app_id("[Instance]\nname=x\n"), None);
        assert_eq!(flatpak_app_id("[Application]\nname=\n"), None);
        assert_eq!(flatpak_app_id("garbage\0\u{1}"), None);
    }

    #[test]
    fn flatpak_info_counts_only_as_a_plain_file_of_the_process_s_user() {
        let proc_dir = tempfile::tempdir().unwrap();
        let root = proc_dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let info = root.join(".flatpak-info");
        std::fs::write(&info, "[Application]\nname=org.gnome.Maps\n").unwrap();
        let cgroup = "0::/user.slice/app.slice/app-gnome-org.gnome.Weather-7.scope\n";
        std::fs::write(proc_dir.path().join("cgroup"), cgroup).unwrap();
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&info).unwrap());
        assert_eq!(
            app_id(proc_dir.path(), owner).as_deref(),
            Some("org.gnome.Maps")
        );
        // Another user's file there: only the cgroup tells.
        assert_eq!(
            app_id(proc_dir.path(), owner.wrapping_add(1)).as_deref(),
            Some("org.gnome.Weather")
        );
        // A symlink to a file elsewhere is not followed.
        let elsewhere = proc_dir.path().join("secret");
        std::fs::rename(&info, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &info).unwrap();
        assert_eq!(
            app_id(proc_dir.path(), owner).as_deref(),
            Some("org.gnome.Weather")
        );
    }

    #[test]
    fn systemd_app_units_give_their_app_id() {
        let cases = [
            (
                "app-gnome-org.gnome.Terminal-3456.scope",
                Some("org.gnome.Terminal"),
            ),
            (
                "app-flatpak-org.mozilla.firefox-12345.scope",
                Some("org.mozilla.firefox"),
            ),
            ("app-gnome-google\\x2dchrome-9.scope", Some("google-chrome")),
            (
                "app-org.gnome.Nautilus@a1b2c3.service",
                Some("org.gnome.Nautilus"),
            ),
            ("app-kde-org.kde.konsole@x.service", Some("org.kde.konsole")),
            ("app-gnome-firefox-1234.scope", Some("firefox")),
            ("app-firefox-1234.scope", Some("firefox")),
            ("snap.firefox.firefox-0f1e.scope", Some("firefox")),
            ("snap.lxd.daemon.service", Some("lxd")),
            ("vte-spawn-0b5f.scope", None),
            ("app.slice", None),
            ("app-org.gnome.Terminal.slice", None),
            ("app-.scope", None),
            ("app--.scope", None),
            ("user@1000.service", None),
            ("app-gnome-bad\\x2", None),
        ];
        for (unit, want) in cases {
            assert_eq!(unit_app_id(unit).as_deref(), want, "{unit}");
        }
    }

    #[test]
    fn the_innermost_app_unit_of_the_unified_hierarchy_counts() {
        let v2 = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-org.gnome.Maps-77.scope\n";
        assert_eq!(cgroup_app_id(v2).as_deref(), Some("org.gnome.Maps"));
        let terminal_child = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope\n";
        assert_eq!(cgroup_app_id(terminal_child), None);
        let v1 = "12:pids:/\n1:name=systemd:/user.slice/app-gnome-org.gnome.Maps-77.scope\n0::/\n";
        assert_eq!(cgroup_app_id(v1).as_deref(), Some("org.gnome.Maps"));
        assert_eq!(cgroup_app_id("0::/system.slice/sshd.service\n"), None);
        assert_eq!(cgroup_app_id(""), None);
    }

    #[test]
    fn escapes_are_undone_and_broken_ones_kept() {
        assert_eq!(unescape("a\\x2db"), "a-b");
        assert_eq!(unescape("a\\x2"), "a\\x2");
        assert_eq!(unescape("a\\xZZb"), "a\\xZZb");
        assert_eq!(unescape("\\xff"), "\u{fffd}");
    }
}

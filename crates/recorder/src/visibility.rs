//! Who sees what: a caller sees its own processes' rows; other users' rows are summed into
//! one "Other users" row per bucket, system processes' (uid below 1000, and `nobody`) into
//! one "System" row — unless polkit granted `history-all`, which shows every row.

use crate::usage::{Counters, Kind, UsageEntry};
use sockeye_protocol::recorder::{
    ExecutableUsageRow, UsageRow, OTHER_USERS_APP, OTHER_USERS_UID, SYSTEM_APP,
};
use std::collections::BTreeMap;

/// The first uid of a regular user (Debian's and Fedora's `UID_MIN`).
pub const FIRST_USER_UID: u32 = 1000;
/// `nobody`: a system account despite its number.
pub const NOBODY_UID: u32 = 65534;
/// `UsageRow::uid` of the summed "System" row.
pub const SYSTEM_UID: u32 = 0;

/// Whom an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// polkit granted `history-all`: every row as recorded.
    All,
    /// Only this uid's own rows; the rest summed.
    User(u32),
}

/// Whether `uid` is a system account.
pub fn is_system_uid(uid: u32) -> bool {
    uid < FIRST_USER_UID || uid == NOBODY_UID
}

/// The (app, uid, display name) a row of `uid` and `app` is shown under for `viewer`.
fn shown_as<'a>(
    viewer: Viewer,
    app: &'a str,
    display: &'a str,
    uid: u32,
) -> (&'a str, u32, &'a str) {
    match viewer {
        Viewer::All => (app, uid, display),
        Viewer::User(me) if me == uid => (app, uid, display),
        Viewer::User(_) if is_system_uid(uid) => (SYSTEM_APP, SYSTEM_UID, "System"),
        Viewer::User(_) => (OTHER_USERS_APP, OTHER_USERS_UID, "Other users"),
    }
}

/// `GetUsage`'s rows from process entries: summed per bucket, app and uid (executables of
/// one app together) as `viewer` may see them, ordered by bucket, then app.
pub fn usage_rows(entries: &[UsageEntry], viewer: Viewer) -> Vec<UsageRow> {
    let mut sums: BTreeMap<(u64, &str, u32), (&str, Counters)> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.key.kind == Kind::Process) {
        let (app, uid, display) =
            shown_as(viewer, &entry.key.app, &entry.display_name, entry.key.uid);
        let sum = sums
            .entry((entry.bucket_start, app, uid))
            .or_insert((display, Counters::default()));
        sum.1.add(&entry.counters);
    }
    sums.into_iter()
        .map(|((bucket_start, app, uid), (display, counters))| UsageRow {
            bucket_start,
            app: app.to_owned(),
            display_name: display.to_owned(),
            uid,
            sent_bytes: counters.sent_bytes,
            received_bytes: counters.received_bytes,
        })
        .collect()
}

/// `GetAppUsage`'s rows: the entries of `app` as `viewer` sees it, per bucket and
/// executable. For the summed rows ("Other users", "System") no executable of another user
/// is named: each bucket is one row with an empty executable.
pub fn app_rows(entries: &[UsageEntry], app: &str, viewer: Viewer) -> Vec<ExecutableUsageRow> {
    let mut sums: BTreeMap<(u64, &str), Counters> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.key.kind == Kind::Process) {
        let (shown, uid, _) = shown_as(viewer, &entry.key.app, "", entry.key.uid);
        if shown != app {
            continue;
        }
        let own = viewer == Viewer::All || viewer == Viewer::User(uid);
        let executable = if own {
            entry.key.executable.as_str()
        } else {
            ""
        };
        sums.entry((entry.bucket_start, executable))
            .or_default()
            .add(&entry.counters);
    }
    sums.into_iter()
        .map(|((bucket_start, executable), c)| ExecutableUsageRow {
            bucket_start,
            executable: executable.to_owned(),
            sent_bytes: c.sent_bytes,
            received_bytes: c.received_bytes,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::UsageKey;

    fn entry(app: &str, exe: &str, uid: u32, sent: u64) -> UsageEntry {
        UsageEntry {
            bucket_start: 3600,
            key: UsageKey::process(app, exe, uid),
            display_name: app.rsplit('/').next().unwrap_or(app).to_owned(),
            counters: Counters {
                sent_bytes: sent,
                received_bytes: 2 * sent,
                ..Counters::default()
            },
        }
    }

    fn sample() -> Vec<UsageEntry> {
        vec![
            entry("org.gnome.Epiphany", "/usr/bin/epiphany", 1000, 10),
            entry("org.gnome.Epiphany", "/usr/libexec/webkit-network", 1000, 5),
            entry("/usr/bin/curl", "/usr/bin/curl", 1001, 7),
            entry("/usr/bin/wget", "/usr/bin/wget", 1002, 3),
            entry("/usr/sbin/sshd", "/usr/sbin/sshd", 0, 100),
            entry("/usr/sbin/chronyd", "/usr/sbin/chronyd", 105, 1),
            entry("/usr/bin/sleep", "/usr/bin/sleep", NOBODY_UID, 2),
            UsageEntry {
                key: UsageKey::interface("lo"),
                ..entry("lo", "", 0, 1000)
            },
        ]
    }

    #[test]
    fn a_user_sees_own_apps_and_sums_of_others_and_the_system() {
        let rows = usage_rows(&sample(), Viewer::User(1000));
        let find = |app: &str| rows.iter().find(|r| r.app == app).cloned();
        assert_eq!(rows.len(), 3, "{rows:?}");
        let own = find("org.gnome.Epiphany").unwrap();
        assert_eq!(
            (own.uid, own.sent_bytes, own.received_bytes),
            (1000, 15, 30)
        );
        let others = find(OTHER_USERS_APP).unwrap();
        assert_eq!((others.uid, others.sent_bytes), (OTHER_USERS_UID, 10));
        let system = find(SYSTEM_APP).unwrap();
        assert_eq!((system.uid, system.sent_bytes), (SYSTEM_UID, 103));
        assert!(
            rows.iter().all(|r| r.app != "/usr/bin/curl"),
            "no other user's app named"
        );
    }

    #[test]
    fn history_all_shows_every_row_and_nothing_summed() {
        let rows = usage_rows(&sample(), Viewer::All);
        assert_eq!(rows.len(), 6, "{rows:?}");
        assert!(rows
            .iter()
            .all(|r| r.app != OTHER_USERS_APP && r.app != SYSTEM_APP));
        let total: u64 = rows.iter().map(|r| r.sent_bytes).sum();
        assert_eq!(total, 128, "interfaces are not apps");
    }

    #[test]
    fn root_sees_its_own_processes_and_the_rest_of_the_system_summed() {
        let rows = usage_rows(&sample(), Viewer::User(0));
        let sshd = rows.iter().find(|r| r.app == "/usr/sbin/sshd").unwrap();
        assert_eq!(sshd.sent_bytes, 100);
        let system = rows.iter().find(|r| r.app == SYSTEM_APP).unwrap();
        assert_eq!(system.sent_bytes, 3);
    }

    #[test]
    fn app_usage_names_own_executables_but_not_other_users() {
        let mine = app_rows(&sample(), "org.gnome.Epiphany", Viewer::User(1000));
        assert_eq!(mine.len(), 2);
        assert!(mine
            .iter()
            .any(|r| r.executable == "/usr/libexec/webkit-network"));
        let theirs = app_rows(&sample(), OTHER_USERS_APP, Viewer::User(1000));
        assert_eq!(theirs.len(), 1);
        assert_eq!(
            (theirs[0].executable.as_str(), theirs[0].sent_bytes),
            ("", 10)
        );
        let hidden = app_rows(&sample(), "/usr/bin/curl", Viewer::User(1000));
        assert!(
            hidden.is_empty(),
            "another user's app by name shows nothing"
        );
        let all = app_rows(&sample(), "/usr/bin/curl", Viewer::All);
        assert_eq!(all[0].executable, "/usr/bin/curl");
    }
}

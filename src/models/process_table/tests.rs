//! Specifications of the process table: rows by pid, exited rows, unattributed rows,
//! the summary line, grouping, sorting and search.

use super::*;
use sockeye_protocol::{Interface, Process, Unattributed};

fn process(pid: u32, name: &str, app_id: &str, received: u64, sent: u64) -> Process {
    Process {
        pid,
        name: name.into(),
        cmdline: format!("/usr/bin/{name} --flag"),
        uid: 1000,
        user: "alice".into(),
        app_id: app_id.into(),
        received_bytes: received,
        sent_bytes: sent,
        received_rate: received as f64,
        sent_rate: sent as f64,
        ..Default::default()
    }
}

/// An update as the helper sends it: each row's command line apart from it.
fn update(mut processes: Vec<Process>, unattributed: Vec<Unattributed>) -> Update {
    let command_lines = processes
        .iter_mut()
        .map(|p| (p.pid, std::mem::take(&mut p.cmdline)))
        .collect();
    Update {
        time: 0,
        interval_ms: 1000,
        processes,
        unattributed,
        interfaces: vec![Interface {
            name: "lo".into(),
            dropped: 3,
            ..Default::default()
        }],
        command_lines,
    }
}

#[test]
fn processes_are_rows_keyed_by_pid_updated_in_place() {
    let mut table = ProcessTable::default();
    let first = table.apply(&update(vec![process(10, "curl", "", 100, 50)], vec![]));
    assert_eq!(first.added, vec![RowKey::Process(10)]);
    let second = table.apply(&update(vec![process(10, "curl", "", 300, 80)], vec![]));
    assert_eq!(second.added, vec![]);
    assert_eq!(second.updated, vec![RowKey::Process(10)]);
    let row = table.row(&RowKey::Process(10)).unwrap();
    assert_eq!((row.received, row.sent), (300, 80));
    assert_eq!(row.history.len(), 2);
    assert_eq!(row.subtitle(), "10 · alice · /usr/bin/curl --flag");
}

#[test]
fn a_process_whose_details_stalled_says_so_instead_of_showing_no_command_line() {
    let mut table = ProcessTable::default();
    let mut stalled = process(11, "python3", "", 10, 0);
    stalled.cmdline.clear();
    stalled.details_unavailable = true;
    table.apply(&update(vec![stalled], vec![]));
    let row = table.row(&RowKey::Process(11)).unwrap();
    assert!(row.details_unavailable);
    assert_eq!(row.subtitle(), "11 · alice · command line unavailable");
}

#[test]
fn a_process_missing_from_an_update_stays_dimmed_until_cleared() {
    let mut table = ProcessTable::default();
    table.apply(&update(
        vec![
            process(10, "curl", "", 100, 50),
            process(11, "wget", "", 1, 1),
        ],
        vec![],
    ));
    table.apply(&update(vec![process(11, "wget", "", 2, 2)], vec![]));
    let gone = table.row(&RowKey::Process(10)).unwrap();
    assert!(gone.exited);
    assert_eq!(gone.total_rate(), 0.0);
    assert_eq!(gone.received, 100, "totals stay visible");
    assert_eq!(table.clear_exited(), vec![RowKey::Process(10)]);
    assert!(table.row(&RowKey::Process(10)).is_none());
    assert!(table.row(&RowKey::Process(11)).is_some());
}

#[test]
fn unattributed_traffic_has_rows_with_rates_from_their_totals() {
    let mut table = ProcessTable::default();
    let u = |tcp: u64| {
        vec![Unattributed {
            protocol: "tcp".into(),
            sent_bytes: 0,
            received_bytes: tcp,
        }]
    };
    table.apply(&update(vec![], u(1_000)));
    table.apply(&update(vec![], u(3_000)));
    let row = table.row(&RowKey::Unattributed("tcp".into())).unwrap();
    assert_eq!(row.title, "Unknown TCP");
    assert_eq!(row.download_rate, 2_000.0);
}

#[test]
fn summary_gives_total_rates_attributed_share_and_drops() {
    let mut table = ProcessTable::default();
    let unattributed = vec![Unattributed {
        protocol: "udp".into(),
        sent_bytes: 2,
        received_bytes: 0,
    }];
    table.apply(&update(vec![process(1, "a", "", 600, 398)], unattributed));
    let s = table.summary();
    assert_eq!(s.attributed_share, Some(998.0 / 1000.0));
    assert_eq!(s.dropped, 3);
    assert_eq!(s.download_rate, 600.0);
    assert_eq!(table.stats().get(&1), Some(&(398, 600)));
}

#[test]
fn no_traffic_means_no_attributed_share() {
    let mut table = ProcessTable::default();
    table.apply(&update(vec![process(1, "a", "", 0, 0)], vec![]));
    assert_eq!(table.summary().attributed_share, None);
    assert!(table.row(&RowKey::Process(1)).unwrap().is_idle());
}

/// The uid of `process`'s processes, who also looks at the tables below.
const ALICE: u32 = 1000;

fn alice(group: &str) -> AppKey {
    AppKey {
        uid: ALICE,
        group: group.into(),
    }
}

#[test]
fn grouping_sums_processes_by_app_id_or_by_name() {
    let mut table = ProcessTable::for_viewer(ALICE);
    let names = |id: &str| (id == "org.mozilla.firefox").then(|| "Firefox".to_string());
    table.apply(&update(
        vec![
            process(1, "firefox", "org.mozilla.firefox", 100, 10),
            process(2, "Socket Process", "org.mozilla.firefox", 50, 5),
            process(3, "curl", "", 1, 1),
            process(4, "curl", "", 2, 2),
        ],
        vec![],
    ));
    let apps = table.applications(&names);
    let (firefox, pids) = &apps[&alice("org.mozilla.firefox")];
    assert_eq!(firefox.title, "Firefox");
    assert_eq!(
        (firefox.received, firefox.sent, firefox.process_count),
        (150, 15, 2)
    );
    assert_eq!(pids, &vec![1, 2]);
    assert_eq!(firefox.subtitle(), "2 processes");
    let (curl, pids) = &apps[&alice("process:curl")];
    assert_eq!((curl.title.as_str(), curl.download_rate), ("curl", 3.0));
    assert_eq!(pids, &vec![3, 4]);
}

#[test]
fn sorting_is_by_the_column_then_by_name_for_a_stable_order() {
    let mut a = RowData::new(RowKey::Process(1), "alpha".into());
    let mut b = RowData::new(RowKey::Process(2), "Beta".into());
    a.download_rate = 10.0;
    b.upload_rate = 20.0;
    assert_eq!(compare(&a, &b, SortColumn::Download), Ordering::Greater);
    assert_eq!(compare(&a, &b, SortColumn::TotalRate), Ordering::Less);
    assert_eq!(
        compare(&a, &b, SortColumn::Received),
        Ordering::Less,
        "tie → name"
    );
    assert_eq!(
        compare(&a, &b, SortColumn::Name),
        Ordering::Less,
        "case-insensitive"
    );
    let same_name = RowData::new(RowKey::Process(3), "alpha".into());
    assert_eq!(
        compare(&a, &same_name, SortColumn::Name),
        Ordering::Less,
        "tie → pid"
    );
}

#[test]
fn search_finds_name_pid_user_and_command_line() {
    let mut table = ProcessTable::default();
    table.apply(&update(vec![process(4242, "Telegram", "", 1, 1)], vec![]));
    let row = table.row(&RowKey::Process(4242)).unwrap();
    for query in [
        "",
        "tele",
        "TELEGRAM",
        "4242",
        "alice",
        "--flag",
        " usr/bin ",
    ] {
        assert!(row.matches(query), "{query:?} should match");
    }
    for query in ["424", "bob", "firefox"] {
        assert!(!row.matches(query), "{query:?} should not match");
    }
}

#[test]
fn a_command_line_sent_once_stays_with_its_row_and_is_found_by_search() {
    let mut table = ProcessTable::default();
    table.apply(&update(vec![process(7, "curl", "", 1, 1)], vec![]));
    // Later updates carry the row without its command line.
    let mut later = update(vec![process(7, "curl", "", 2, 2)], vec![]);
    later.command_lines.clear();
    table.apply(&later);
    let row = table.row(&RowKey::Process(7)).unwrap();
    assert_eq!(row.cmdline, "/usr/bin/curl --flag");
    assert!(row.matches("--flag"));
    assert!(!table.lacks_command_line(7));
}

#[test]
fn a_command_line_for_an_exited_row_left_out_of_the_update_still_lands() {
    let mut table = ProcessTable::default();
    table.apply(&update(vec![process(7, "curl", "", 1, 1)], vec![]));
    let mut later = update(vec![], vec![]);
    later.command_lines.insert(7, "/usr/bin/curl -O".into());
    // A line for a pid the table never had is dropped, not made into a row.
    later.command_lines.insert(8, "/usr/bin/ghost".into());
    let changes = table.apply(&later);
    let row = table.row(&RowKey::Process(7)).unwrap();
    assert!(row.exited);
    assert_eq!(row.cmdline, "/usr/bin/curl -O");
    assert_eq!(changes.updated, [RowKey::Process(7)]);
    assert!(table.row(&RowKey::Process(8)).is_none());
}

#[test]
fn command_lines_asked_for_fill_the_rows_that_lack_one() {
    let mut table = ProcessTable::default();
    let mut first = update(vec![process(7, "curl", "", 1, 1)], vec![]);
    first.command_lines.clear();
    table.apply(&first);
    assert!(table.lacks_command_line(7));
    assert!(!table.lacks_command_line(8), "no row, nothing to ask");
    let answer = HashMap::from([(7, "/usr/bin/curl".to_owned())]);
    let changes = table.set_command_lines(&answer);
    assert_eq!(changes.updated, [RowKey::Process(7)]);
    assert!(changes.added.is_empty());
    assert!(!table.lacks_command_line(7));
    assert!(
        table.set_command_lines(&answer).updated.is_empty(),
        "no change, no work"
    );
}

#[test]
fn hostile_rates_from_the_helper_are_shown_as_zero() {
    let mut table = ProcessTable::default();
    let mut p = process(1, "", "", 0, 0);
    p.received_rate = f64::NAN;
    p.sent_rate = -4.0;
    table.apply(&update(vec![p], vec![]));
    let row = table.row(&RowKey::Process(1)).unwrap();
    assert_eq!(row.total_rate(), 0.0);
    assert_eq!(row.title, "Process 1");
}

#[test]
fn changes_held_back_during_a_pause_list_each_row_once() {
    let mut table = ProcessTable::default();
    let mut pending = table.apply(&update(vec![process(10, "curl", "", 100, 0)], vec![]));
    pending.absorb(table.apply(&update(
        vec![
            process(10, "curl", "", 200, 0),
            process(11, "wget", "", 5, 0),
        ],
        vec![],
    )));
    pending.absorb(table.apply(&update(vec![process(11, "wget", "", 9, 0)], vec![])));
    assert_eq!(
        pending.added,
        vec![RowKey::Process(10), RowKey::Process(11)]
    );
    assert!(pending.updated.is_empty(), "{:?}", pending.updated);

    let mut later = table.apply(&update(vec![process(11, "wget", "", 10, 0)], vec![]));
    later.absorb(table.apply(&update(vec![process(11, "wget", "", 11, 0)], vec![])));
    assert_eq!(later.added, vec![]);
    assert_eq!(
        later.updated,
        vec![RowKey::Process(11), RowKey::Process(10)]
    );
}

/// A process of bob's, with the same app id or name as one of alice's.
fn bobs(pid: u32, name: &str, app_id: &str) -> Process {
    Process {
        uid: 1001,
        user: "bob".into(),
        ..process(pid, name, app_id, 7, 7)
    }
}

#[test]
fn another_user_s_look_alike_app_is_a_row_of_its_own_titled_with_its_user() {
    let mut table = ProcessTable::for_viewer(ALICE);
    let names = |id: &str| (id == "org.mozilla.firefox").then(|| "Firefox".to_string());
    table.apply(&update(
        vec![
            process(1, "firefox", "org.mozilla.firefox", 100, 10),
            // bob's `systemd-run --user --scope --unit=app-gnome-org.mozilla.firefox-1`
            bobs(2, "nc", "org.mozilla.firefox"),
            process(3, "curl", "", 1, 1),
            bobs(4, "curl", ""),
        ],
        vec![],
    ));
    let apps = table.applications(&names);
    assert_eq!(apps.len(), 4, "{:?}", apps.keys().collect::<Vec<_>>());
    let (ours, pids) = &apps[&alice("org.mozilla.firefox")];
    assert_eq!(
        (ours.title.as_str(), pids.as_slice()),
        ("Firefox", &[1][..])
    );
    assert_eq!((ours.received, ours.uid), (100, Some(ALICE)));
    let bob = |group: &str| AppKey {
        uid: 1001,
        group: group.into(),
    };
    let (theirs, pids) = &apps[&bob("org.mozilla.firefox")];
    assert_eq!(theirs.title, "Firefox (bob)");
    assert_eq!(pids, &vec![2]);
    assert_eq!((theirs.received, theirs.uid), (7, Some(1001)));
    assert_eq!(theirs.user, "bob");
    assert_eq!(apps[&alice("process:curl")].0.title, "curl");
    assert_eq!(apps[&bob("process:curl")].0.title, "curl (bob)");
}

#[test]
fn a_user_without_a_name_is_named_by_uid_and_the_viewer_s_rows_by_nobody() {
    let mut table = ProcessTable::for_viewer(1001);
    let mut nameless = bobs(5, "nc", "org.example.App");
    nameless.uid = 4242;
    nameless.user = String::new();
    table.apply(&update(
        vec![nameless, bobs(6, "nc", "org.example.App")],
        vec![],
    ));
    let titles: Vec<String> = table
        .applications(&|_| None)
        .into_values()
        .map(|(row, _)| row.title)
        .collect();
    assert_eq!(titles, ["org.example.App", "org.example.App (4242)"]);
}

#[test]
fn socket_counters_are_kept_per_process_and_summed_per_app_only_where_reported() {
    let mut table = ProcessTable::for_viewer(ALICE);
    let names = |_: &str| None;
    let counted = |pid, sent, received| Process {
        socket_counters: true,
        socket_sent_bytes: sent,
        socket_received_bytes: received,
        ..process(pid, "fetch", "", 2_000, 1_000)
    };
    table.apply(&update(
        vec![
            counted(1, 900, 1_800),
            counted(2, 100, 200),
            // A helper without the counters sends zeros that mean "not known".
            process(3, "old", "", 5, 5),
        ],
        vec![],
    ));
    assert_eq!(
        table.row(&RowKey::Process(1)).and_then(|r| r.socket),
        Some((900, 1_800))
    );
    assert_eq!(table.row(&RowKey::Process(3)).and_then(|r| r.socket), None);
    let apps = table.applications(&names);
    assert_eq!(apps[&alice("process:fetch")].0.socket, Some((1_000, 2_000)));
    assert_eq!(apps[&alice("process:old")].0.socket, None);
}

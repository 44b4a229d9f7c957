//! With no `[metrics]` table, the exporter opens nothing: no socket, no thread. Its own
//! test binary, so that no other test's sockets share the descriptor table.

// Test helpers outside `#[test]` functions panic on purpose, like the tests themselves.
#![allow(clippy::unwrap_used)]

use sockeye_metrics::{Exporter, MetricsConfig};

/// The sockets this process holds, by inode.
fn sockets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("socket:"))
        .collect()
}

/// The inodes of this process's sockets.
fn socket_inodes() -> Vec<String> {
    sockets()
        .iter()
        .map(|s| {
            s.trim_start_matches("socket:[")
                .trim_end_matches(']')
                .to_owned()
        })
        .collect()
}

/// This process's threads.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Listening TCP sockets (state 0A) of this network namespace owned by this process's
/// socket inodes.
fn listening_inodes() -> Vec<String> {
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    (fields.get(3) == Some(&"0A")).then(|| fields.get(9).map(|s| s.to_string()))
                })
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn with_metrics_off_nothing_listens() {
    let sockets_before = sockets();
    let threads_before = threads();
    let exporter = Exporter::start(None).expect("no error");
    assert!(exporter.is_none(), "no table, no exporter");
    assert_eq!(sockets(), sockets_before, "no socket was opened");
    assert_eq!(threads(), threads_before, "no thread was started");
    let ours = socket_inodes();
    assert!(
        !listening_inodes().iter().any(|inode| ours.contains(inode)),
        "this process listens on no TCP port"
    );

    // The check itself sees a listener when there is one.
    let config: MetricsConfig = toml::from_str("listen = \"127.0.0.1:0\"").unwrap();
    let on = Exporter::start(Some(&config)).unwrap().unwrap();
    let ours = socket_inodes();
    assert!(listening_inodes().iter().any(|inode| ours.contains(inode)));
    drop(on);
}

//! Launching the helper directly (we are root): connect, version check, exit reporting,
//! and no helper left behind.

use crate::common::{self, helper_binary};
use sockeye::launcher::{self, LaunchError, LaunchMethod, MissingProgram};
use std::time::Duration;

fn direct() -> LaunchMethod {
    LaunchMethod::Direct {
        helper: helper_binary(),
    }
}

#[tokio::test]
async fn direct_launch_connects_and_serves_the_capture_object() {
    let helper = launcher::launch(&direct()).await.expect("launch");
    assert_eq!(
        helper.proxy().version().await.unwrap(),
        sockeye_protocol::VERSION
    );
    assert!(helper.proxy().get_stats().await.unwrap().is_empty());
    assert!(helper.exit_status().is_none());
}

#[tokio::test]
async fn dropping_the_connection_ends_the_helper_within_one_second() {
    let helper = launcher::launch(&direct()).await.expect("launch");
    let pid = helper.pid();
    // A clone of the proxy outlives the HelperConnection: the socket is shut down anyway.
    let proxy = helper.proxy().clone();
    let exit = helper.close(Duration::from_secs(1)).await;
    let exit = exit.expect("helper exited within 1 s");
    assert_eq!(exit.code, Some(0));
    assert!(!common::is_running(pid), "reaped, not a zombie");
    assert!(proxy.get_stats().await.is_err(), "the connection is closed");
}

#[tokio::test]
async fn a_killed_helper_is_reported_as_crashed() {
    let helper = launcher::launch(&direct()).await.expect("launch");
    let pid = rustix::process::Pid::from_raw(helper.pid() as i32).expect("a helper pid");
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).expect("kill our child");
    let exit = tokio::time::timeout(Duration::from_secs(5), helper.exited())
        .await
        .expect("exit reported within 5 s");
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    assert!(matches!(
        exit.to_error(helper.method().through_pkexec()),
        LaunchError::HelperCrashed { signal: 9, .. }
    ));
}

#[tokio::test]
async fn a_missing_helper_is_named_with_its_path() {
    let method = LaunchMethod::Direct {
        helper: "/nonexistent/sockeye-helper".into(),
    };
    match launcher::launch(&method).await {
        Err(LaunchError::HelperMissing { program, path }) => {
            assert_eq!(program, MissingProgram::Helper);
            assert_eq!(path, std::path::Path::new("/nonexistent/sockeye-helper"));
        }
        other => panic!("expected HelperMissing, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn a_helper_that_exits_at_once_reports_its_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("sockeye-helper");
    common::script(&broken, "echo 'cannot open libpcap.so.1' >&2; exit 3");
    let method = LaunchMethod::Direct { helper: broken };
    match launcher::launch(&method).await {
        Err(LaunchError::HelperExited { code, stderr }) => {
            assert_eq!(code, 3);
            assert!(stderr.contains("cannot open libpcap.so.1"), "{stderr}");
        }
        other => panic!("expected HelperExited, got {:?}", other.err()),
    }
}

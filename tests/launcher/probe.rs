//! The launcher as another process sees it: `launch_probe` (ignored in normal runs) detects
//! the launch method from its environment, launches, calls GetStats and prints one
//! `PROBE …` line. Other tests run it in a subprocess with a PATH of fake programs, a
//! fixture `.flatpak-info`, or as an unprivileged user.

use sockeye::launcher::{self, LaunchError, LaunchMethod};
use std::process::Command;

/// Set in the probe's environment so a stray `--ignored` run does nothing surprising.
const PROBE_ENV: &str = "SOCKEYE_LAUNCH_PROBE";

#[tokio::test]
#[ignore = "run in a subprocess by the flatpak and pkexec tests"]
async fn launch_probe() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    let method = match LaunchMethod::detect() {
        Ok(method) => method,
        Err(error) => {
            println!("PROBE err={} {error}", variant(&error));
            return;
        }
    };
    match launcher::launch(&method).await {
        Ok(helper) => {
            // A real capture through whatever stands in front of the helper.
            let updated = capture_one_interval(&helper).await;
            let stats = helper.proxy().get_stats().await;
            // pkexec execs the helper in place: the pid we started is the helper's.
            let status = std::fs::read_to_string(format!("/proc/{}/status", helper.pid()))
                .unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap_or_default()
                    .to_owned()
            };
            // Uid: real, effective, saved, fs — the effective one.
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .unwrap_or_default();
            println!(
                "PROBE ok method={method:?} updated={updated} stats={:?} helper_pid={} \
                 helper_uid={uid} helper_capeff={} helper_nonewprivs={}",
                stats.map(|s| s.len()),
                helper.pid(),
                field("CapEff:"),
                field("NoNewPrivs:"),
            );
            let _ = helper.close(std::time::Duration::from_secs(1)).await;
        }
        Err(error) => println!("PROBE err={} {error}", variant(&error)),
    }
}

/// Starts a capture, waits for one `Updated` signal (at most 10 s) and stops; whether the
/// signal came.
async fn capture_one_interval(helper: &launcher::HelperConnection) -> bool {
    use zbus::export::futures_core::Stream;
    let Ok(mut updates) = helper.proxy().receive_updated().await else {
        return false;
    };
    if helper.proxy().start(200).await.is_err() {
        return false;
    }
    let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut updates).poll_next(cx));
    let updated = tokio::time::timeout(std::time::Duration::from_secs(10), next)
        .await
        .is_ok_and(|signal| signal.is_some());
    let _ = helper.proxy().stop().await;
    updated
}

fn variant(error: &LaunchError) -> &'static str {
    match error {
        LaunchError::AuthorizationDismissed => "AuthorizationDismissed",
        LaunchError::NotAuthorized { .. } => "NotAuthorized",
        LaunchError::HelperMissing { .. } => "HelperMissing",
        LaunchError::HelperUnsafe { .. } => "HelperUnsafe",
        LaunchError::HelperExited { .. } => "HelperExited",
        LaunchError::HelperCrashed { .. } => "HelperCrashed",
        LaunchError::ProtocolMismatch { .. } => "ProtocolMismatch",
        LaunchError::DBus(_) => "DBus",
        LaunchError::Io(_) => "Io",
    }
}

/// Runs the probe with `env` added (and `SOCKEYE_HELPER`/`SOCKEYE_FLATPAK_INFO` removed
/// unless given), optionally through `wrapper` (e.g. `setpriv --reuid …`), and returns its
/// `PROBE` line.
pub fn run(env: &[(&str, &str)], wrapper: &[&str]) -> String {
    let test_binary = std::env::current_exe().unwrap();
    let (program, leading) = match wrapper.split_first() {
        Some((program, rest)) => (program.to_string(), rest.to_vec()),
        None => (test_binary.to_string_lossy().into_owned(), Vec::new()),
    };
    let mut command = Command::new(program);
    command.args(leading);
    if !wrapper.is_empty() {
        command.arg(&test_binary);
    }
    command
        .args([
            "--exact",
            "probe::launch_probe",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("SOCKEYE_HELPER")
        .env_remove("SOCKEYE_FLATPAK_INFO")
        .env(PROBE_ENV, "1");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.find("PROBE ").map(|start| line[start..].to_owned()))
        .unwrap_or_else(|| {
            panic!(
                "no PROBE line; stdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

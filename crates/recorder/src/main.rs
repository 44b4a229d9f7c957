//! `sockeye-recorder`: see the library's documentation for what it is and why.

use anyhow::Context;
use sockeye_engine::privilege;
use sockeye_protocol::recorder::{RECORDER_BUS_NAME, RECORDER_PATH};
use sockeye_recorder::config::{self, Config};
use sockeye_recorder::recording::Recording;
use sockeye_recorder::service::{self, HistoryService};
use sockeye_recorder::{admin, capture, cli};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli::Mode::Record { config }) => match record(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("sockeye-recorder: {error:#}");
                ExitCode::FAILURE
            }
        },
        Ok(cli::Mode::Service(change)) => admin::run(change),
        Ok(cli::Mode::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(cli::Mode::Version) => {
            println!("sockeye-recorder {}", sockeye_protocol::VERSION);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sockeye-recorder: {error}\n\n{}", cli::USAGE);
            ExitCode::from(2)
        }
    }
}

/// Opens the history, gives up every capability capture does not need, then captures and
/// serves until SIGTERM or SIGINT, and flushes.
fn record(config_path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let state = config::state_directory();
    let recording = Recording::open(&state, config.clone(), service::now())
        .with_context(|| format!("cannot open the history in {}", state.display()))?;
    // Root only (CAP_PERFMON), so before the drop; without it, connections that end before
    // their first lookup are not attributed.
    let _ = sockeye_engine::attribution::preopen_connect_log();
    privilege::drop_to_capture_set()?;
    let recording = Arc::new(Mutex::new(recording));
    // Off (nothing listens) unless the config has a [metrics] table. Started after the
    // capability drop: serving needs none.
    let metrics = sockeye_metrics::Exporter::start(config.metrics.as_ref())
        .context("cannot start the metrics exporter")?
        .map(Arc::new);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve(recording, config, metrics))
}

async fn serve(
    recording: service::Shared,
    config: Config,
    metrics: Option<Arc<sockeye_metrics::Exporter>>,
) -> anyhow::Result<()> {
    let _connection = zbus::connection::Builder::system()?
        .name(RECORDER_BUS_NAME)?
        .serve_at(
            RECORDER_PATH,
            HistoryService {
                recording: recording.clone(),
            },
        )?
        .build()
        .await
        .context("cannot serve on the system bus")?;
    eprintln!(
        "sockeye-recorder: recording; flushing every {} s",
        config.flush_seconds
    );
    let capture = tokio::spawn(capture::run(
        recording.clone(),
        Duration::from_millis(u64::from(config.interval_ms)),
        metrics,
    ));
    let flusher = tokio::spawn(flush_every(
        recording.clone(),
        Duration::from_secs(u64::from(config.flush_seconds)),
    ));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    capture.abort();
    flusher.abort();
    let shared = recording.clone();
    tokio::task::spawn_blocking(move || service::lock(&shared).close(service::now()))
        .await?
        .context("the last flush failed")?;
    eprintln!("sockeye-recorder: stopped, history written");
    Ok(())
}

/// Writes the pending rows every `period`; a failed write is logged and retried next time.
async fn flush_every(recording: service::Shared, period: Duration) {
    let mut timer = tokio::time::interval(period);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    timer.tick().await;
    loop {
        timer.tick().await;
        let shared = recording.clone();
        let result =
            tokio::task::spawn_blocking(move || service::lock(&shared).flush(service::now())).await;
        if let Ok(Err(error)) = result {
            eprintln!(
                "sockeye-recorder: cannot write the history (kept in memory, retrying): {error}"
            );
        }
    }
}

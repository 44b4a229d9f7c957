//! What a scraper gets: the format it asks for, 404 and 405 for anything else, over TCP
//! and over a unix socket.

use crate::http_client::{scrape, tcp, unix};
use crate::{config, started, varied_snapshot};
use sockeye_metrics::{Exporter, Format, MetricsError};

/// Prometheus 2's scrape `Accept` header.
pub const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[test]
fn a_scraper_gets_the_format_it_asks_for() {
    let (exporter, address) = started();
    let reply = scrape(address, Some(PROMETHEUS_ACCEPT));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert_eq!(reply.body, exporter.exposition(Format::OpenMetrics));
    assert!(reply.body.ends_with("# EOF\n"));
    assert!(reply.body.contains(
        "sockeye_app_network_bytes_total{app=\"org.mozilla.firefox\",user=\"1003\",direction=\"received\"} 231000\n"
    ));

    for accept in [None, Some("text/plain"), Some("*/*")] {
        let reply = scrape(address, accept);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "{accept:?}"
        );
        assert_eq!(reply.body, exporter.exposition(Format::Prometheus));
    }
}

#[test]
fn only_get_metrics_is_served() {
    let (_exporter, address) = started();
    for target in [
        "/",
        "/metrics/",
        "/metric",
        "/api/v1/query",
        "/../metrics",
        "*",
    ] {
        let reply = tcp(address, "GET", target, &[]);
        assert_eq!(reply.status, 404, "{target}: {reply:?}");
        assert!(!reply.body.contains("sockeye_"), "{target}");
    }
    for method in ["POST", "PUT", "DELETE", "HEAD", "OPTIONS"] {
        let reply = tcp(address, method, "/metrics", &[]);
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET"));
    }
    let reply = tcp(address, "GET", "/metrics?debug=1", &[]);
    assert_eq!(reply.status, 200);
}

#[test]
fn a_unix_socket_is_served_replaced_when_stale_and_removed_afterwards() {
    let dir = tempfile::Builder::new()
        .prefix("mx-unix")
        .tempdir()
        .unwrap();
    let path = dir.path().join("metrics.sock");
    // A socket file left by a recorder that was killed: nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let listen = format!("unix:{}", path.display());
    let exporter = Exporter::start(Some(&config(&listen)))
        .expect("the stale socket is replaced")
        .expect("on");
    exporter.observe(&varied_snapshot());
    assert_eq!(exporter.address().to_string(), listen);

    let reply = unix(&path, "GET", "/metrics", &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, exporter.exposition(Format::Prometheus));
    assert_eq!(unix(&path, "GET", "/", &[]).status, 404);

    let second = Exporter::start(Some(&config(&listen)));
    assert!(
        matches!(second, Err(MetricsError::SocketInUse(_))),
        "a live socket is not taken over"
    );
    drop(exporter);
    assert!(
        !path.exists(),
        "the socket file is removed when the exporter stops"
    );

    std::fs::write(&path, "not a socket").unwrap();
    let error = Exporter::start(Some(&config(&listen)))
        .err()
        .expect("refused");
    assert!(matches!(error, MetricsError::NotASocket(_)));
    assert!(error.to_string().contains("not a socket"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}

#[test]
fn a_port_in_use_is_an_error_that_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let error = Exporter::start(Some(&config(&address)))
        .err()
        .expect("the port is taken");
    let message = error.to_string();
    assert!(message.contains(&address), "{message}");
    assert!(message.contains("cannot listen for metrics"), "{message}");
}

#[test]
fn stopping_the_exporter_closes_its_port() {
    let (exporter, address) = started();
    assert_eq!(scrape(address, None).status, 200);
    drop(exporter);
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "nothing listens after the exporter stopped"
    );
}

#[test]
fn a_unix_socket_in_a_missing_directory_is_an_error_that_names_it() {
    let listen = "unix:/nonexistent-mx-dir/metrics.sock";
    let error = Exporter::start(Some(&config(listen)))
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(message.contains(listen), "{message}");
    assert!(message.contains("No such file or directory"), "{message}");
}

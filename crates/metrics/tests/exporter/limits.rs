//! Clients that are slow, idle, greedy or oversized: none of them blocks a scrape.

use crate::http_client::{parse, scrape};
use crate::started;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a healthy scrape may take, however many bad clients are connected.
const SCRAPE_BUDGET: Duration = Duration::from_secs(2);

/// Reads until the server closes the connection; `Err` if it is still open at `deadline`.
fn wait_for_close(stream: &mut TcpStream, deadline: Duration) -> Result<Vec<u8>, String> {
    let start = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline
            .checked_sub(start.elapsed())
            .ok_or("still open at the deadline")?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(received),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[test]
fn connections_that_stall_mid_request_do_not_block_a_scrape() {
    let (_exporter, address) = started();
    // Twice as many stalled clients as the server serves at once.
    let mut stalled: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = TcpStream::connect(address).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    let reply = scrape(address, None);
    assert_eq!(reply.status, 200);
    assert!(
        start.elapsed() < SCRAPE_BUDGET,
        "the scrape took {:?}",
        start.elapsed()
    );
    // The oldest stalled clients made room: they were closed without an answer.
    let closed = wait_for_close(&mut stalled[0], SCRAPE_BUDGET).expect("closed");
    assert!(closed.is_empty(), "no answer to a request never finished");
}

#[test]
fn an_idle_connection_is_closed_after_the_head_timeout() {
    let (_exporter, address) = started();
    let mut idle = TcpStream::connect(address).unwrap();
    let start = Instant::now();
    wait_for_close(&mut idle, Duration::from_secs(15)).expect("closed by the server");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "closed after {waited:?}, the head timeout is 5 s"
    );
}

#[test]
fn an_oversized_request_head_is_refused_and_bounded() {
    let (_exporter, address) = started();
    let mut greedy = TcpStream::connect(address).unwrap();
    greedy
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // 1 MiB of header in 64 KiB writes; the server stops reading after 8 KiB.
    let line = format!("X-Pad: {}\r\n", "a".repeat(64 * 1024));
    for _ in 0..16 {
        // The server may close while we write (a reset): that is a refusal too.
        if greedy.write_all(line.as_bytes()).is_err() {
            break;
        }
    }
    let answer = wait_for_close(&mut greedy, Duration::from_secs(5)).expect("closed");
    // Either "431 Request Header Fields Too Large" or a bare close: never the metrics.
    if !answer.is_empty() {
        let reply = parse(&answer);
        assert_eq!(reply.status, 431, "{reply:?}");
    }
    assert_eq!(scrape(address, None).status, 200, "still serving");
}

#[test]
fn many_scrapers_at_once_are_all_answered() {
    let (_exporter, address) = started();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..25)
                    .filter(|_| scrape(address, None).status == 200)
                    .count()
            })
        })
        .collect();
    let answered: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(answered, 200);
}

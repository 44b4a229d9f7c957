//! `Stats1` on a private session bus (a `dbus-daemon` of the test's own): `GetStats`
//! answers what was published, builds its reply once per publish, and refuses a caller
//! asking too often while another is still served.

use super::caller_limit::BURST;
use super::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `dbus-daemon --session` of this test; killed on drop.
struct Bus {
    daemon: Child,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().expect("bus stdout"))
            .read_line(&mut line)
            .expect("bus address");
        Bus {
            daemon,
            address: line.trim().to_owned(),
        }
    }

    fn connect(&self) -> gio::DBusConnection {
        gio::DBusConnection::for_address_sync(
            &self.address,
            gio::DBusConnectionFlags::AUTHENTICATION_CLIENT
                | gio::DBusConnectionFlags::MESSAGE_BUS_CONNECTION,
            None,
            gio::Cancellable::NONE,
        )
        .expect("connect to the test bus")
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

type Stats = HashMap<u32, (u64, u64)>;

/// What one call brought: the table, or the D-Bus error's name.
type Answer = Result<Stats, String>;

/// Calls `GetStats` on `name` `calls` times in a row from a connection of its own, on
/// another thread, while this thread's `context` serves the export.
fn call(bus: &Bus, context: &glib::MainContext, name: &str, calls: usize) -> Vec<Answer> {
    let caller = bus.connect();
    let name = name.to_owned();
    let thread = std::thread::spawn(move || {
        (0..calls)
            .map(|_| {
                caller
                    .call_sync(
                        Some(&name),
                        STATS_PATH,
                        STATS_INTERFACE,
                        "GetStats",
                        None,
                        Some(glib::VariantTy::new("(a{u(tt)})").unwrap()),
                        gio::DBusCallFlags::NONE,
                        5000,
                        gio::Cancellable::NONE,
                    )
                    .map(|reply| reply.get::<(Stats,)>().unwrap().0)
                    .map_err(|error| {
                        gio::DBusError::remote_error(&error)
                            .map(|name| name.to_string())
                            .unwrap_or_else(|| error.to_string())
                    })
            })
            .collect::<Vec<_>>()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "calls unanswered");
        if !context.iteration(false) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    thread.join().unwrap()
}

/// Runs `test` with the export registered on `bus`, served by a main context of its own.
fn with_export(test: impl FnOnce(&Bus, &glib::MainContext, &StatsExport, &str)) {
    let bus = Bus::start();
    let context = glib::MainContext::new();
    context
        .with_thread_default(|| {
            let connection = bus.connect();
            let name = connection.unique_name().expect("a unique name").to_string();
            let export = StatsExport::register(connection).expect("register Stats1");
            test(&bus, &context, &export, &name);
        })
        .unwrap();
}

#[test]
fn get_stats_answers_the_published_table_and_builds_it_once_per_publish() {
    with_export(|bus, context, export, name| {
        // A table of 10,000 processes: what a busy machine publishes.
        let first: Stats = (0..10_000).map(|pid| (pid, (pid.into(), 2))).collect();
        export.publish(true, first.clone());
        assert_eq!(export.replies_built(), 0, "nothing built before a call");
        let answers = call(bus, context, name, 5);
        assert!(
            answers.iter().all(|a| a.as_ref() == Ok(&first)),
            "{answers:?}"
        );
        assert_eq!(export.replies_built(), 1, "five calls, one reply built");

        let second: Stats = HashMap::from([(10, (5, 6))]);
        export.publish(true, second.clone());
        assert_eq!(call(bus, context, name, 1), [Ok(second)]);
        assert_eq!(export.replies_built(), 2);

        export.publish(false, HashMap::new());
        assert_eq!(call(bus, context, name, 1), [Ok(HashMap::new())]);
    });
}

#[test]
fn a_caller_asking_too_often_is_refused_and_another_is_still_answered() {
    with_export(|bus, context, export, name| {
        let table: Stats = HashMap::from([(10, (1, 2))]);
        export.publish(true, table.clone());
        const CALLS: usize = 200;
        let started = Instant::now();
        let answers = call(bus, context, name, CALLS);
        let elapsed = started.elapsed().as_secs_f64();
        let answered = answers.iter().filter(|a| a.is_ok()).count();
        // The burst, plus what refilled while the calls ran.
        let allowance = BURST + CALLS_PER_SECOND * elapsed;
        assert!(answered >= BURST as usize, "{answered} answered");
        assert!(
            answered as f64 <= allowance + 1.0,
            "{answered} answered in {elapsed:.2} s"
        );
        assert!(
            answered < CALLS,
            "{CALLS} calls in {elapsed:.2} s, none refused"
        );
        for answer in &answers {
            match answer {
                Ok(stats) => assert_eq!(*stats, table),
                Err(error) => assert_eq!(error, "org.freedesktop.DBus.Error.LimitsExceeded"),
            }
        }
        assert_eq!(export.replies_built(), 1);

        let other = call(bus, context, name, 1);
        assert_eq!(other, [Ok(table)], "another caller is answered");
    });
}

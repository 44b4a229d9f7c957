//! The reader pool on a made-up `/proc`: a command line that is a FIFO whose writer never
//! writes stands for a read that hangs; writing to it and closing it releases the read.

use super::*;
use std::fs::{self, File};
use std::io::Write;
use std::sync::atomic::AtomicUsize;

/// These tests run one at a time, so that each pool may start every thread it wants.
static THREAD_COUNTING: Mutex<()> = Mutex::new(());

/// A made-up `/proc` directory.
struct FakeProc {
    root: tempfile::TempDir,
}

impl FakeProc {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn dir(&self, pid: Pid) -> PathBuf {
        let dir = self.root.path().join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A process `pid` started at `start` (clock ticks) with the command line `args`.
    fn process(&self, pid: Pid, start: u64, args: &[u8]) {
        self.set_start(pid, start);
        fs::write(self.dir(pid).join("cmdline"), args).unwrap();
    }

    fn set_start(&self, pid: Pid, start: u64) {
        let stat = format!(
            "{pid} (x) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000 50 0"
        );
        fs::write(self.dir(pid).join("stat"), stat).unwrap();
    }

    /// A process whose command line read hangs until the returned end is written and
    /// dropped (it holds the FIFO's only writer).
    fn hanging(&self, pid: Pid, start: u64) -> File {
        self.set_start(pid, start);
        let fifo = self.dir(pid).join("cmdline");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Opening a FIFO for reading and writing does not wait for a partner.
        File::options().read(true).write(true).open(&fifo).unwrap()
    }
}

fn request(pid: Pid, start: u64) -> Request {
    Request {
        pid,
        start_time: Some(start),
        uid: 0,
    }
}

/// A request for a process of `uid`.
fn of_user(uid: u32, pid: Pid, start: u64) -> Request {
    Request {
        uid,
        ..request(pid, start)
    }
}

fn read(cmdline: &str) -> Late {
    Late::Read(LateDetails {
        cmdline: cmdline.into(),
        flatpak_app_id: None,
    })
}

/// Polls `pool` until `want` outcomes have come (10 s at most), collecting them with the
/// time each was seen.
fn collect(pool: &mut LateReaders, want: usize) -> Vec<(Outcome, Instant)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        let now = Instant::now();
        seen.extend(pool.poll(now).into_iter().map(|o| (o, now)));
        std::thread::sleep(Duration::from_millis(5));
    }
    seen
}

#[test]
fn a_hanging_read_is_unavailable_after_its_deadline_and_other_pids_are_still_read() {
    let _one_at_a_time = lock(&THREAD_COUNTING);
    let proc = FakeProc::new();
    let mut pool = LateReaders::new(proc.root.path());
    let mut writer = proc.hanging(10, 100);
    proc.process(11, 110, b"/usr/bin/fine\0--flag\0");
    let asked = Instant::now();
    assert_eq!(pool.request(request(10, 100)), None);
    assert_eq!(pool.request(request(11, 110)), None);
    let seen = collect(&mut pool, 2);
    let outcomes: Vec<&Outcome> = seen.iter().map(|(o, _)| o).collect();
    assert!(outcomes.contains(&&Outcome {
        pid: 11,
        start_time: Some(110),
        late: read("/usr/bin/fine --flag"),
    }));
    let (hung, at) = seen
        .iter()
        .find(|(o, _)| o.pid == 10)
        .expect("the hanging read is reported");
    assert_eq!(hung.late, Late::Unavailable);
    assert!(
        at.duration_since(asked) >= DEADLINE,
        "not before its deadline"
    );
    assert_eq!(pool.stuck(), 1);
    // Released, the read still ends and its details still arrive, once.
    writer.write_all(b"late\0comer\0").unwrap();
    drop(writer);
    let late = collect(&mut pool, 1);
    assert_eq!(
        late.iter().map(|(o, _)| o.late.clone()).collect::<Vec<_>>(),
        vec![read("late comer")]
    );
    assert_eq!(pool.stuck(), 0, "the worker came back");
}

#[test]
fn stuck_workers_are_capped_and_then_every_request_is_answered_unavailable() {
    let _one_at_a_time = lock(&THREAD_COUNTING);
    let proc = FakeProc::new();
    let mut pool = LateReaders::new(proc.root.path());
    let hanging = 2 * MAX_THREADS as Pid;
    let writers: Vec<File> = (1..=hanging).map(|pid| proc.hanging(pid, 7)).collect();
    // Each of another user, so the cap per user does not stop them first.
    let mut answers: Vec<Outcome> = (1..=hanging)
        .filter_map(|pid| pool.request(of_user(pid, pid, 7)))
        .collect();
    answers.extend(
        collect(&mut pool, hanging as usize - answers.len())
            .into_iter()
            .map(|(o, _)| o),
    );
    // Each asked pid is answered once, every one Unavailable: MAX_THREADS got stuck, the
    // rest were never read.
    let mut pids: Vec<Pid> = answers.iter().map(|o| o.pid).collect();
    pids.sort_unstable();
    assert_eq!(pids, (1..=hanging).collect::<Vec<_>>());
    assert!(answers.iter().all(|o| o.late == Late::Unavailable));
    assert_eq!(pool.workers.len(), MAX_THREADS, "no thread beyond the cap");
    assert_eq!(pool.stuck(), MAX_THREADS);
    // With every worker stuck, a readable process is answered at once.
    proc.process(100, 1, b"fine\0");
    assert_eq!(
        pool.request(request(100, 1)),
        Some(Outcome {
            pid: 100,
            start_time: Some(1),
            late: Late::Unavailable,
        })
    );
    // Released, the workers serve again.
    drop(writers);
    let released = collect(&mut pool, MAX_THREADS);
    assert_eq!(released.len(), MAX_THREADS, "each stuck read ends");
    assert!(
        released.iter().all(|(o, _)| o.late == read("")),
        "{released:?}"
    );
    assert_eq!(pool.stuck(), 0);
    assert_eq!(pool.request(request(100, 1)), None);
    let again = collect(&mut pool, 1);
    assert_eq!(
        again.first().map(|(o, _)| o.late.clone()),
        Some(read("fine"))
    );
    assert_eq!(pool.workers.len(), MAX_THREADS);
}

#[test]
fn details_of_a_reused_pid_are_not_credited_to_the_process_asked_for() {
    let _one_at_a_time = lock(&THREAD_COUNTING);
    let proc = FakeProc::new();
    let mut pool = LateReaders::new(proc.root.path());
    // Already another process when asked.
    proc.process(20, 300, b"newcomer\0");
    assert_eq!(pool.request(request(20, 200)), None);
    // Reused while its command line was being read.
    let mut writer = proc.hanging(21, 400);
    assert_eq!(pool.request(request(21, 400)), None);
    let busy_deadline = Instant::now() + Duration::from_secs(10);
    while !pool
        .workers
        .iter()
        .any(|w| lock(&w.busy).is_some_and(|(r, _)| r.pid == 21))
    {
        assert!(Instant::now() < busy_deadline, "pid 21 is never read");
        std::thread::sleep(Duration::from_millis(5));
    }
    proc.set_start(21, 500);
    writer.write_all(b"someone\0else\0").unwrap();
    drop(writer);
    let mut seen: Vec<Outcome> = collect(&mut pool, 2).into_iter().map(|(o, _)| o).collect();
    seen.sort_by_key(|o| o.pid);
    assert_eq!(
        seen,
        vec![
            Outcome {
                pid: 20,
                start_time: Some(200),
                late: Late::Gone,
            },
            Outcome {
                pid: 21,
                start_time: Some(400),
                late: Late::Gone,
            },
        ]
    );
}

#[test]
fn one_user_s_hanging_processes_hold_two_workers_at_most_and_others_are_still_read() {
    let _one_at_a_time = lock(&THREAD_COUNTING);
    let proc = FakeProc::new();
    let mut pool = LateReaders::new(proc.root.path());
    let writers: Vec<File> = (1..=3).map(|pid| proc.hanging(pid, 7)).collect();
    for pid in 1..=2 {
        assert_eq!(pool.request(of_user(1000, pid, 7)), None);
    }
    let answers = collect(&mut pool, 2);
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers.iter().all(|(o, _)| o.late == Late::Unavailable));
    assert_eq!(pool.stuck(), MAX_STUCK_PER_UID);
    assert_eq!(
        pool.request(of_user(1000, 3, 7)).map(|o| o.late),
        Some(Late::Unavailable),
        "a third hanging process of that user is not tried"
    );
    // That user's next process is not tried; another user's is read.
    proc.process(4, 7, b"same\0user\0");
    proc.process(5, 7, b"other\0user\0");
    assert_eq!(
        pool.request(of_user(1000, 4, 7)).map(|o| o.late),
        Some(Late::Unavailable)
    );
    assert_eq!(pool.request(of_user(1001, 5, 7)), None);
    let other = collect(&mut pool, 1);
    assert_eq!(
        other
            .iter()
            .map(|(o, _)| (o.pid, o.late.clone()))
            .collect::<Vec<_>>(),
        vec![(5, read("other user"))]
    );
    assert!(pool.workers.len() <= MAX_STUCK_PER_UID + LIVE_WORKERS);
    drop(writers);
    assert_eq!(
        collect(&mut pool, MAX_STUCK_PER_UID).len(),
        MAX_STUCK_PER_UID
    );
    assert_eq!(pool.request(of_user(1000, 4, 7)), None, "served again");
}

#[test]
fn pools_together_keep_to_their_shared_thread_budget() {
    let _one_at_a_time = lock(&THREAD_COUNTING);
    static ALIVE: AtomicUsize = AtomicUsize::new(0);
    let budget = ThreadBudget {
        alive: &ALIVE,
        cap: 3,
    };
    let proc = FakeProc::new();
    // Two pools (two capture starts), every read hanging: the first takes the budget.
    let mut first = LateReaders::with_budget(proc.root.path(), budget);
    let mut second = LateReaders::with_budget(proc.root.path(), budget);
    let writers: Vec<File> = (1..=4).map(|pid| proc.hanging(pid, 1)).collect();
    for pid in 1..=3 {
        assert_eq!(first.request(of_user(pid, pid, 1)), None);
    }
    assert_eq!(collect(&mut first, 3).len(), 3, "three reads hang");
    assert_eq!(first.workers.len(), 3);
    assert_eq!(ALIVE.load(Ordering::SeqCst), 3);
    assert_eq!(
        second.request(of_user(4, 4, 1)).map(|o| o.late),
        Some(Late::Unavailable),
        "no thread left for the second pool"
    );
    assert!(second.workers.is_empty());
    // Released and dropped, every thread ends and its count with it.
    drop(writers);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ALIVE.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ALIVE.load(Ordering::SeqCst), 0);
    proc.process(5, 1, b"fine\0");
    assert_eq!(second.request(of_user(5, 5, 1)), None, "the budget is back");
    let read_now = collect(&mut second, 1);
    assert_eq!(
        read_now.first().map(|(o, _)| o.late.clone()),
        Some(read("fine"))
    );
}

//! A FUSE file system that never answers a read: one file, `args`, whose page a victim
//! maps and reads so that its thread hangs, holding its mmap lock, until the connection is
//! aborted; and, when asked, that never answers the lookup of any other name either (a
//! process whose root it is then hangs whoever looks up `/proc/PID/root/<name>`).
//! Written against the kernel's protocol (`linux/fuse.h`) directly: mount(2) with
//! `fd=N`, then INIT, LOOKUP, GETATTR and OPEN are answered and READ is held. No libfuse,
//! no fusermount. The helper's D-Bus tests include this file by path.

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// `FUSE_KERNEL_VERSION` and the minor version answered (7.31: the 64-byte `fuse_init_out`).
const MAJOR: u32 = 7;
const MINOR: u32 = 31;
/// Opcodes (`enum fuse_opcode`).
const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const OPEN: u32 = 14;
const READ: u32 = 15;
const INIT: u32 = 26;
const INTERRUPT: u32 = 36;
const BATCH_FORGET: u32 = 42;
/// Node ids: the root directory (`FUSE_ROOT_ID`) and the one file.
const ROOT: u64 = 1;
const FILE: u64 = 2;
/// Size of the file, in bytes: one page.
pub const FILE_SIZE: u64 = 4096;
/// Size of `fuse_in_header`, in bytes.
const IN_HEADER: usize = 40;
/// How long the server waits for a request before checking whether to stop.
const POLL: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 20_000_000,
};

/// A mounted FUSE file system whose file reads never complete. Dropping it closes the
/// device, which aborts the connection (every held read returns with an error), and
/// detaches the mount.
pub struct StalledFuse {
    dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    /// READ requests (and, with `hold_lookups`, LOOKUPs) received and left unanswered.
    pub reads_held: Arc<AtomicU32>,
    server: Option<JoinHandle<()>>,
}

impl StalledFuse {
    /// Mounts the file system on a new directory, loading the `fuse` module when
    /// `/dev/fuse` is missing. Panics with the reason when FUSE cannot be had. With
    /// `hold_lookups`, the lookup of any name but `args` is never answered.
    pub fn mount(hold_lookups: bool) -> StalledFuse {
        if !Path::new("/dev/fuse").exists() {
            let _ = std::process::Command::new("modprobe").arg("fuse").status();
        }
        let device = rustix::fs::open("/dev/fuse", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .unwrap_or_else(|e| {
                panic!("no /dev/fuse ({e}), even after `modprobe fuse`: this scenario needs FUSE")
            });
        let dir = tempfile::tempdir().expect("mount point");
        // The victim runs as nobody and must reach the mount point.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod mount point");
        let options = CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            std::os::fd::AsRawFd::as_raw_fd(&device)
        ))
        .expect("mount options");
        let stop = Arc::new(AtomicBool::new(false));
        let reads_held = Arc::new(AtomicU32::new(0));
        // Mounted first, served after: INIT waits in the device's queue (mount(2) does not
        // wait for its answer, as libfuse's mount-then-loop relies on), while a device read
        // or poll before the mount fails (EPERM, POLLERR), which ended a server started
        // first, closed the device and failed the mount with EINVAL now and then.
        rustix::mount::mount(
            "sockeye-test",
            dir.path(),
            "fuse.sockeye-test",
            MountFlags::NOSUID | MountFlags::NODEV,
            options.as_c_str(),
        )
        .unwrap_or_else(|e| panic!("mount FUSE on {}: {e}", dir.path().display()));
        let server = {
            let (stop, reads_held) = (Arc::clone(&stop), Arc::clone(&reads_held));
            std::thread::spawn(move || serve(device, hold_lookups, &stop, &reads_held))
        };
        StalledFuse {
            dir,
            stop,
            reads_held,
            server: Some(server),
        }
    }

    /// The one file, readable by everyone; its reads never complete.
    pub fn file(&self) -> PathBuf {
        self.dir.path().join("args")
    }
}

impl Drop for StalledFuse {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        let _ = rustix::mount::unmount(self.dir.path(), UnmountFlags::DETACH);
    }
}

/// Answers requests until `stop`; closing `device` on return aborts the connection.
fn serve(device: OwnedFd, hold_lookups: bool, stop: &AtomicBool, reads_held: &AtomicU32) {
    let mut buffer = vec![0u8; 256 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(&device, PollFlags::IN)];
        if rustix::event::poll(&mut fds, Some(&POLL)).unwrap_or(0) == 0 {
            continue;
        }
        let n = match rustix::io::read(&device, &mut buffer) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
            // ENODEV: unmounted.
            Err(_) => return,
        };
        let Some(request) = buffer.get(..n) else {
            continue;
        };
        if request.len() < IN_HEADER {
            continue;
        }
        let opcode = u32_at(request, 4);
        let unique = u64_at(request, 8);
        let node = u64_at(request, 16);
        let body = &request[IN_HEADER..];
        let reply = match opcode {
            INIT => Some(Ok(init_out(u32_at(body, 8)))),
            LOOKUP if node == ROOT && body.starts_with(b"args\0") => Some(Ok(entry_out())),
            LOOKUP if !hold_lookups => Some(Err(libc::ENOENT)),
            GETATTR if node == ROOT || node == FILE => Some(Ok(attr_out(node))),
            OPEN if node == FILE => Some(Ok(vec![0; 16])),
            LOOKUP | READ => {
                reads_held.fetch_add(1, Ordering::SeqCst);
                None
            }
            FORGET | BATCH_FORGET | INTERRUPT => None,
            _ => Some(Err(libc::ENOSYS)),
        };
        if let Some(reply) = reply {
            let (error, body) = match reply {
                Ok(body) => (0, body),
                Err(errno) => (-errno, Vec::new()),
            };
            let mut out = Vec::with_capacity(16 + body.len());
            out.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
            out.extend_from_slice(&error.to_ne_bytes());
            out.extend_from_slice(&unique.to_ne_bytes());
            out.extend_from_slice(&body);
            let _ = rustix::io::write(&device, &out);
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// `struct fuse_init_out` (64 bytes): no optional features, 4 KiB writes.
fn init_out(max_readahead: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for word in [MAJOR, MINOR, max_readahead, 0] {
        out.extend_from_slice(&word.to_ne_bytes());
    }
    out.extend_from_slice(&16u16.to_ne_bytes()); // max_background
    out.extend_from_slice(&12u16.to_ne_bytes()); // congestion_threshold
    out.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
    out.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
    out.resize(64, 0);
    out
}

/// `struct fuse_attr` (88 bytes) of the root directory or the file.
fn attr(node: u64) -> Vec<u8> {
    let (mode, size, nlink) = if node == ROOT {
        (libc::S_IFDIR | 0o755, 0, 2)
    } else {
        (libc::S_IFREG | 0o444, FILE_SIZE, 1)
    };
    let mut out = Vec::with_capacity(88);
    out.extend_from_slice(&node.to_ne_bytes()); // ino
    out.extend_from_slice(&size.to_ne_bytes());
    out.extend_from_slice(&size.div_ceil(512).to_ne_bytes()); // blocks
    out.resize(out.len() + 3 * 8 + 3 * 4, 0); // times
    for word in [mode, nlink, 0, 0, 0, 4096, 0] {
        // mode, nlink, uid, gid, rdev, blksize, flags
        out.extend_from_slice(&word.to_ne_bytes());
    }
    out
}

/// `struct fuse_entry_out`: the file, cached for an hour.
fn entry_out() -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    for word in [FILE, 0, 3600, 3600] {
        // nodeid, generation, entry_valid, attr_valid (seconds)
        out.extend_from_slice(&word.to_ne_bytes());
    }
    out.resize(out.len() + 8, 0); // the two nanosecond fields
    out.extend_from_slice(&attr(FILE));
    out
}

/// `struct fuse_attr_out`: attributes cached for an hour.
fn attr_out(node: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(104);
    out.extend_from_slice(&3600u64.to_ne_bytes());
    out.resize(16, 0);
    out.extend_from_slice(&attr(node));
    out
}

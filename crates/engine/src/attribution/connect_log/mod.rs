//! Who opened, or listened for, each TCP connection, from the kernel's
//! `sock:inet_sock_set_state` tracepoint read through perf ring buffers (no eBPF): the one
//! answer for a connection that is over before its first packet is looked up.
//!
//! A loopback connection of a few kilobytes lives for about a hundred microseconds; by the
//! time the capture thread looks up its SYN, the client socket may already be in
//! TIME_WAIT, which has no inode, so neither sock_diag nor `/proc/PID/fd` can name its
//! process. The tracepoint fires in `connect()` itself (CLOSE → SYN_SENT, in the
//! connecting process: its pid is right, but the source port is not chosen yet) and
//! again when the handshake ends (SYN_SENT → ESTABLISHED or CLOSE, with both ports, in
//! whatever context the SYN-ACK arrives). Both carry the kernel socket's address, which
//! joins them: socket → pid from the first, four-tuple → socket from the second.
//!
//! The same tracepoint fires in `listen()` (CLOSE → LISTEN, in the listening process, its
//! address and port bound) and when the listener closes: the last answer for the server
//! end of a connection whose server closed its listener and exited before the first
//! packet was looked up (a one-shot server, or a capture thread a few milliseconds
//! behind). It is used only when no socket and no live listener are found, for a listener
//! still open or closed in the last [`LISTENER_GRACE`], in a namespace that may own the
//! address.
//!
//! A kernel-side filter keeps just these events of the six or so a connection goes
//! through (TCP only for the listener's: SCTP and MPTCP report their own listens there).
//! Reading the tracepoint needs `CAP_PERFMON` (or root) and tracefs to find its id; the
//! helper opens it before dropping capabilities and keeps the descriptors (see
//! [`preopen`]). Without it (a container, an old kernel, no tracefs) attribution works as
//! before, minus these connections.
//!
//! Everything in the ring is parsed as untrusted: bounded records, bounded maps.

use crate::attribution::kernel::bounded_read::read_text;
use crate::attribution::processes::process_info::parse_comm;
use crate::owner::Pid;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{fence, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where tracefs may be mounted.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const EVENT: &str = "events/sock/inet_sock_set_state";
/// `TCP_SYN_SENT` in `include/net/tcp_states.h`.
const SYN_SENT: i32 = 2;
/// `TCP_LISTEN`.
const LISTEN: i32 = 10;
const FILTER: &[u8] =
    b"newstate == 2 || oldstate == 2 || ((newstate == 10 || oldstate == 10) && protocol == 6)\0";
/// `IPPROTO_TCP`.
const TCP: u16 = 6;
/// How long a closed listener still names the server of its port: longer than
/// accounting's retry schedule (~0.4 s), short enough that a later process reusing the
/// port, or the listener's pid, is not taken for it.
const LISTENER_GRACE: Duration = Duration::from_secs(2);
/// Data pages per CPU ring (a power of two): 256 KiB, some 2,500 events between drains.
const RING_PAGES: usize = 64;
/// Most sockets and connections remembered per generation (two generations are kept).
const GENERATION: usize = 32_768;
/// Most processes whose name is remembered.
const MAX_NAMES: usize = 8_192;

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_SAMPLE_TID: u64 = 1 << 1;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_DISABLE: libc::c_ulong = 0x2401;
const PERF_EVENT_IOC_SET_FILTER: libc::c_ulong = 0x4008_2406;
/// `perf_event_attr` up to `config1` (`PERF_ATTR_SIZE_VER0`), enough for a tracepoint.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}
/// `disabled` bit of `perf_event_attr.flags`.
const FLAG_DISABLED: u64 = 1;
/// Offsets in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
const DATA_OFFSET: usize = 1040;
const DATA_SIZE: usize = 1048;

/// Where the tracepoint's fields are in its raw record (from the tracefs `format` file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    skaddr: usize,
    oldstate: usize,
    newstate: usize,
    sport: usize,
    dport: usize,
    family: usize,
    protocol: usize,
    saddr: usize,
    daddr: usize,
    saddr_v6: usize,
    daddr_v6: usize,
}

impl Layout {
    /// Reads the offsets from a tracefs `format` text; `None` when a field is missing or
    /// has an unexpected size.
    fn parse(format: &str) -> Option<Layout> {
        let field = |name: &str, size: usize| -> Option<usize> {
            format.lines().find_map(|line| {
                let line = line.trim();
                let decl = line.strip_prefix("field:")?.split(';').next()?;
                let declared = decl.rsplit([' ', '*']).next()?;
                let declared = declared.split('[').next()?;
                if declared != name {
                    return None;
                }
                let number = |key: &str| -> Option<usize> {
                    line.split(';')
                        .find_map(|part| part.trim().strip_prefix(key))?
                        .trim()
                        .parse()
                        .ok()
                };
                (number("size:")? == size).then(|| number("offset:"))?
            })
        };
        Some(Layout {
            skaddr: field("skaddr", 8)?,
            oldstate: field("oldstate", 4)?,
            newstate: field("newstate", 4)?,
            sport: field("sport", 2)?,
            dport: field("dport", 2)?,
            family: field("family", 2)?,
            protocol: field("protocol", 2)?,
            saddr: field("saddr", 4)?,
            daddr: field("daddr", 4)?,
            saddr_v6: field("saddr_v6", 16)?,
            daddr_v6: field("daddr_v6", 16)?,
        })
    }
}

/// One state change, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    pid: Pid,
    socket: u64,
    protocol: u16,
    oldstate: i32,
    newstate: i32,
    local: SocketAddr,
    remote: SocketAddr,
}

/// Decodes a sample's raw tracepoint record; `None` for anything short or foreign.
fn decode(layout: &Layout, pid: Pid, raw: &[u8]) -> Option<Change> {
    let bytes = |at: usize, n: usize| raw.get(at..at.checked_add(n)?);
    let u16_at =
        |at: usize| -> Option<u16> { Some(u16::from_ne_bytes(bytes(at, 2)?.try_into().ok()?)) };
    let i32_at =
        |at: usize| -> Option<i32> { Some(i32::from_ne_bytes(bytes(at, 4)?.try_into().ok()?)) };
    let socket = u64::from_ne_bytes(bytes(layout.skaddr, 8)?.try_into().ok()?);
    let family = i32::from(u16_at(layout.family)?);
    let (src, dst) = if family == libc::AF_INET {
        let v4 = |at| -> Option<IpAddr> {
            let b: [u8; 4] = bytes(at, 4)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        };
        (v4(layout.saddr)?, v4(layout.daddr)?)
    } else if family == libc::AF_INET6 {
        let v6 = |at| -> Option<IpAddr> {
            let b: [u8; 16] = bytes(at, 16)?.try_into().ok()?;
            Some(Ipv6Addr::from(b).to_canonical())
        };
        (v6(layout.saddr_v6)?, v6(layout.daddr_v6)?)
    } else {
        return None;
    };
    Some(Change {
        pid,
        socket,
        protocol: u16_at(layout.protocol)?,
        oldstate: i32_at(layout.oldstate)?,
        newstate: i32_at(layout.newstate)?,
        // The tracepoint stores ports in host order.
        local: SocketAddr::new(src, u16_at(layout.sport)?),
        remote: SocketAddr::new(dst, u16_at(layout.dport)?),
    })
}

/// Two generations of a map: lookups see both, inserts go to the newer, and the older is
/// dropped when the newer is full. Bounded at twice [`GENERATION`] entries.
#[derive(Debug)]
struct Generations<K, V> {
    new: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K, V> Default for Generations<K, V> {
    fn default() -> Self {
        Self {
            new: HashMap::new(),
            old: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Copy> Generations<K, V> {
    fn insert(&mut self, key: K, value: V) {
        if self.new.len() >= GENERATION {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(key, value);
    }

    fn get(&self, key: &K) -> Option<V> {
        self.new.get(key).or_else(|| self.old.get(key)).copied()
    }
}

/// One CPU's perf ring buffer, mapped read-write (we move its tail).
struct Ring {
    fd: OwnedFd,
    base: *mut u8,
    mapped: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping is owned by this value alone and only touched through `&mut self`.
unsafe impl Send for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`mapped` are the mapping made in `Ring::open`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.mapped) };
    }
}

impl Ring {
    fn open(id: u64, cpu: i32) -> io::Result<Ring> {
        let attr = PerfEventAttr {
            kind: PERF_TYPE_TRACEPOINT,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: id,
            sample_period: 1,
            sample_type: PERF_SAMPLE_TID | PERF_SAMPLE_RAW,
            flags: FLAG_DISABLED,
            ..PerfEventAttr::default()
        };
        // SAFETY: perf_event_open(attr, pid -1 = every process, cpu, group -1, flags);
        // `attr` is valid for the size it states.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                -1,
                cpu,
                -1,
                libc::c_ulong::from(8u8), // PERF_FLAG_FD_CLOEXEC
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        // SAFETY: the syscall returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Without the kernel filter every state change comes through: filtered below too.
        // SAFETY: SET_FILTER reads a NUL-terminated string.
        unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_SET_FILTER, FILTER.as_ptr()) };
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let mapped = page * (1 + RING_PAGES);
        // SAFETY: maps the event's ring buffer: the length perf expects (1 + 2^n pages).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = Ring {
            fd,
            base: base.cast(),
            mapped,
            data_offset: page,
            data_size: page * RING_PAGES,
        };
        // Kernels since 4.1 state where the data is; older ones use the page after.
        let (offset, size) = (ring.word(DATA_OFFSET), ring.word(DATA_SIZE));
        if offset != 0 && size != 0 {
            let (offset, size) = (offset as usize, size as usize);
            if offset.checked_add(size).is_some_and(|end| end <= mapped) && size.is_power_of_two() {
                ring.data_offset = offset;
                ring.data_size = size;
            }
        }
        Ok(ring)
    }

    /// A u64 of the control page, read volatile (the kernel writes it).
    fn word(&self, at: usize) -> u64 {
        // SAFETY: `at` is one of the control page's u64 fields, inside the mapping.
        unsafe { std::ptr::read_volatile(self.base.add(at).cast::<u64>()) }
    }

    fn set_tail(&mut self, tail: u64) {
        fence(Ordering::Release);
        // SAFETY: data_tail is a u64 of the control page that user space owns.
        unsafe { std::ptr::write_volatile(self.base.add(DATA_TAIL).cast::<u64>(), tail) };
    }

    fn ioctl(&self, request: libc::c_ulong) {
        // SAFETY: ENABLE/DISABLE take no argument.
        unsafe { libc::ioctl(self.fd.as_raw_fd(), request, 0) };
    }

    /// Copies `out.len()` bytes of the data area from ring position `at` (wrapping).
    fn copy(&self, at: u64, out: &mut [u8]) {
        let size = self.data_size;
        for (i, byte) in out.iter_mut().enumerate() {
            let pos = (at as usize).wrapping_add(i) & (size - 1);
            // SAFETY: `pos < data_size`, inside the data area of the mapping.
            *byte = unsafe { std::ptr::read_volatile(self.base.add(self.data_offset + pos)) };
        }
    }

    /// Hands every complete record to `each` (type, body after the header) and frees it.
    fn drain(&mut self, scratch: &mut Vec<u8>, mut each: impl FnMut(u32, &[u8])) {
        let head = self.word(DATA_HEAD);
        fence(Ordering::Acquire);
        let mut tail = self.word(DATA_TAIL);
        let size = self.data_size as u64;
        // A tail the kernel is not ahead of (or far ahead of) is resynchronised.
        if head.wrapping_sub(tail) > size {
            self.set_tail(head);
            return;
        }
        while tail < head {
            let mut header = [0u8; 8];
            self.copy(tail, &mut header);
            let kind = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
            let len = u64::from(u16::from_ne_bytes([header[6], header[7]]));
            if len < 8 || tail + len > head {
                tail = head; // corrupt or torn: skip what is there
                break;
            }
            scratch.clear();
            scratch.resize((len - 8) as usize, 0);
            self.copy(tail + 8, scratch);
            each(kind, scratch);
            tail += len;
        }
        self.set_tail(tail);
    }
}

/// The connect tracepoint on every CPU, and what it told so far.
pub(crate) struct ConnectLog {
    rings: Vec<Ring>,
    layout: Layout,
    /// Kernel socket address → pid of the process that called `connect()` on it.
    connector: Generations<u64, Pid>,
    /// (local, remote) of a client connection → its kernel socket address.
    socket_of: Generations<(SocketAddr, SocketAddr), u64>,
    /// Listening address (the wildcard for any) → the listener last opened on it.
    listener: Generations<SocketAddr, Listener>,
    /// Names of connecting and listening processes, read when their event was seen (they
    /// may be gone by the time their traffic is looked up).
    names: HashMap<Pid, String>,
    scratch: Vec<u8>,
    /// Events the kernel dropped because a ring was full (diagnostics).
    pub(crate) lost: u64,
}

/// A TCP listener seen in `listen()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listener {
    pub pid: Pid,
    /// The listener's network namespace (inode), read at once; `None` when the process
    /// was already gone. The tracepoint itself does not say.
    pub namespace: Option<u64>,
    socket: u64,
    /// When it closed, if it has.
    closed: Option<Instant>,
}

impl std::fmt::Debug for ConnectLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectLog")
            .field("cpus", &self.rings.len())
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

/// The tracepoint's `id` and `format` texts under a tracefs mounted at `root`.
fn event_files(root: &Path) -> Option<(String, String)> {
    let dir = root.join(EVENT);
    let id = std::fs::read_to_string(dir.join("id")).ok()?;
    let format = std::fs::read_to_string(dir.join("format")).ok()?;
    Some((id, format))
}

/// The tracepoint's files when no tracefs is mounted (a container or a minimal system;
/// systemd mounts it at boot on desktops): read on a short-lived thread that gets a mount
/// namespace of its own (`unshare(CLONE_NEWNS)` is per thread), makes every mount in it
/// private so nothing propagates to the host, and mounts tracefs there. The host's mounts
/// never change and the namespace goes away with the thread. Needs CAP_SYS_ADMIN, which
/// the helper still has when it preopens the log.
fn event_files_through_private_tracefs() -> io::Result<(String, String)> {
    let no_tracefs = |why: io::Error| {
        io::Error::new(
            why.kind(),
            format!("no tracefs with sock:inet_sock_set_state, and none could be mounted: {why}"),
        )
    };
    let read = || -> io::Result<(String, String)> {
        let check = |status: libc::c_int| {
            if status == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: plain system calls on NUL-terminated constants; they change only this
        // thread's mount namespace, which unshare gave it alone.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"tracefs".as_ptr(),
                // TRACEFS[0], where systemd would have mounted it.
                c"/sys/kernel/tracing".as_ptr(),
                c"tracefs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ))?;
        }
        event_files(Path::new(TRACEFS[0])).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    };
    std::thread::scope(|scope| scope.spawn(read).join())
        .unwrap_or_else(|_| Err(io::Error::other("the tracefs reader panicked")))
        .map_err(no_tracefs)
}

/// The log opened by [`preopen`] and not in use by a [`super::SystemOwners`].
static PREOPENED: Mutex<Option<ConnectLog>> = Mutex::new(None);

/// Opens the connect tracepoint now, while the process still has the privilege to, for
/// every later [`super::SystemOwners`] of this process (the helper calls this before
/// dropping capabilities). Tells why it could not be opened.
pub fn preopen() -> io::Result<()> {
    let log = ConnectLog::open()?;
    if let Ok(mut slot) = PREOPENED.lock() {
        *slot = Some(log);
    }
    Ok(())
}

impl ConnectLog {
    /// The preopened log, else a new one (needs CAP_PERFMON and tracefs); enabled, empty.
    pub(crate) fn acquire() -> Option<ConnectLog> {
        let preopened = PREOPENED.lock().ok().and_then(|mut slot| slot.take());
        let mut log = preopened.or_else(|| ConnectLog::open().ok())?;
        for ring in &mut log.rings {
            let head = ring.word(DATA_HEAD);
            ring.set_tail(head);
            ring.ioctl(PERF_EVENT_IOC_ENABLE);
        }
        Some(log)
    }

    /// Disables the events and keeps them for the next [`Self::acquire`].
    pub(crate) fn release(self) {
        for ring in &self.rings {
            ring.ioctl(PERF_EVENT_IOC_DISABLE);
        }
        if let Ok(mut slot) = PREOPENED.lock() {
            *slot = Some(self);
        }
    }

    fn open() -> io::Result<ConnectLog> {
        let (id, format) = match TRACEFS.iter().find_map(|root| event_files(Path::new(root))) {
            Some(files) => files,
            None => event_files_through_private_tracefs()?,
        };
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        let layout = Layout::parse(&format).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "unexpected tracepoint format")
        })?;
        let cpus = possible_cpus();
        let mut rings = Vec::new();
        let mut last_error = None;
        for cpu in 0..cpus {
            match Ring::open(id, cpu) {
                Ok(ring) => rings.push(ring),
                Err(e) => last_error = Some(e),
            }
        }
        if rings.is_empty() {
            return Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound)));
        }
        Ok(ConnectLog {
            rings,
            layout,
            connector: Generations::default(),
            socket_of: Generations::default(),
            listener: Generations::default(),
            names: HashMap::new(),
            scratch: Vec::with_capacity(256),
            lost: 0,
        })
    }

    /// Reads every event the kernel has written since the last call.
    pub(crate) fn drain(&mut self, proc_root: &Path) {
        let layout = self.layout;
        let mut changes = Vec::new();
        let mut lost = 0;
        for ring in &mut self.rings {
            ring.drain(&mut self.scratch, |kind, body| match kind {
                PERF_RECORD_SAMPLE => {
                    // u32 pid, u32 tid (PERF_SAMPLE_TID), u32 size, raw bytes.
                    let word = |at: usize| -> Option<u32> {
                        Some(u32::from_ne_bytes(body.get(at..at + 4)?.try_into().ok()?))
                    };
                    let (Some(pid), Some(size)) = (word(0), word(8)) else {
                        return;
                    };
                    let raw = body.get(12..).unwrap_or_default();
                    let raw = raw.get(..size as usize).unwrap_or(raw);
                    if let Some(change) = decode(&layout, pid, raw) {
                        changes.push(change);
                    }
                }
                PERF_RECORD_LOST => {
                    // u64 id, u64 lost.
                    if let Some(n) = body.get(8..16).and_then(|b| b.try_into().ok()) {
                        lost += u64::from_ne_bytes(n);
                    }
                }
                _ => {}
            });
        }
        self.lost = self.lost.saturating_add(lost);
        for change in changes {
            self.note(change, proc_root);
        }
    }

    fn note(&mut self, change: Change, proc_root: &Path) {
        if change.newstate == SYN_SENT {
            // In connect(): the pid is the caller's.
            self.connector.insert(change.socket, change.pid);
            self.note_name(change.pid, proc_root);
        } else if change.newstate == LISTEN && change.protocol == TCP {
            // In listen(): the pid is the caller's, the port bound (0 only for a socket
            // listening unbound, whose port is chosen after the event: not kept).
            if change.local.port() != 0 {
                let listener = Listener {
                    pid: change.pid,
                    namespace: crate::attribution::namespaces::namespace::namespace_of(
                        proc_root, change.pid,
                    ),
                    socket: change.socket,
                    closed: None,
                };
                self.listener.insert(canonical(change.local), listener);
                self.note_name(change.pid, proc_root);
            }
        } else if change.oldstate == LISTEN && change.protocol == TCP {
            // Closed (or its listen() failed: the state is set before the port is
            // checked). Kept for a grace period, for the connections it served.
            let key = canonical(change.local);
            if let Some(mut listener) = self.listener.get(&key) {
                if listener.socket == change.socket && listener.closed.is_none() {
                    listener.closed = Some(Instant::now());
                    self.listener.insert(key, listener);
                }
            }
        } else if change.oldstate == SYN_SENT && change.local.port() != 0 {
            let key = (canonical(change.local), canonical(change.remote));
            self.socket_of.insert(key, change.socket);
        }
    }

    /// Remembers the name of `pid` while it runs (it may be gone by the time its traffic
    /// is looked up).
    fn note_name(&mut self, pid: Pid, proc_root: &Path) {
        if self.names.contains_key(&pid) {
            return;
        }
        if self.names.len() >= MAX_NAMES {
            self.names.clear();
        }
        // Read and cleaned as every other process name (`process_info`): this one stands
        // in for the name once the process is gone.
        let comm = read_text(&proc_root.join(pid.to_string()).join("comm"), 256)
            .map(|text| parse_comm(&text))
            .unwrap_or_default();
        self.names.insert(pid, comm);
    }

    /// The listener last opened on `local` (exactly, else on its port at the wildcard
    /// address) that is still open or closed within [`LISTENER_GRACE`], for the server end
    /// of a TCP connection whose sockets are gone.
    pub(crate) fn listener(&mut self, local: SocketAddr, proc_root: &Path) -> Option<Listener> {
        self.drain(proc_root);
        let recent = |l: &Listener| l.closed.is_none_or(|at| at.elapsed() < LISTENER_GRACE);
        let local = canonical(local);
        // An IPv6 wildcard listener also takes IPv4 connections (unless IPV6_V6ONLY).
        [
            local,
            SocketAddr::new(super::unspecified(local.ip()), local.port()),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), local.port()),
        ]
        .iter()
        .find_map(|addr| self.listener.get(addr).filter(recent))
    }

    /// The process that opened the TCP connection from `local` to `remote`, if its
    /// handshake was seen.
    pub(crate) fn connector(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        proc_root: &Path,
    ) -> Option<Pid> {
        self.drain(proc_root);
        let socket = self.socket_of.get(&(canonical(local), canonical(remote)))?;
        self.connector.get(&socket)
    }

    /// The name `pid` had when it connected.
    pub(crate) fn name(&self, pid: Pid) -> Option<&str> {
        self.names
            .get(&pid)
            .map(String::as_str)
            .filter(|n| !n.is_empty())
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Number of CPU ids to open events on: the highest possible CPU + 1.
fn possible_cpus() -> i32 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let highest = text
        .trim()
        .split(',')
        .filter_map(|range| range.rsplit('-').next()?.trim().parse::<i32>().ok())
        .max();
    match highest {
        Some(n) => (n + 1).min(4096),
        // SAFETY: sysconf has no preconditions.
        None => i32::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) })
            .unwrap_or(1)
            .clamp(1, 4096),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: &str = "name: inet_sock_set_state
ID: 2287
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
";

    fn layout() -> Layout {
        Layout::parse(FORMAT).expect("layout")
    }

    /// A log with no rings, fed through `note`.
    fn empty_log() -> ConnectLog {
        ConnectLog {
            rings: Vec::new(),
            layout: layout(),
            connector: Generations::default(),
            socket_of: Generations::default(),
            listener: Generations::default(),
            names: HashMap::new(),
            scratch: Vec::new(),
            lost: 0,
        }
    }

    #[test]
    fn a_private_tracefs_gives_the_tracepoint_and_leaves_the_host_mounts_alone() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting tracefs needs root (CI runs this as root)");
            return;
        }
        let before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let (id, format) = event_files_through_private_tracefs().expect("private tracefs");
        assert!(id.trim().parse::<u64>().is_ok(), "id {id:?}");
        assert!(Layout::parse(&format).is_some(), "format {format}");
        let after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert_eq!(before, after, "the host's mounts changed");
    }

    fn record(family: u16, old: i32, new: i32, sport: u16, dport: u16) -> Vec<u8> {
        let mut raw = vec![0u8; 72];
        raw[8..16].copy_from_slice(&0xffff_8880_1234_5678u64.to_ne_bytes());
        raw[16..20].copy_from_slice(&old.to_ne_bytes());
        raw[20..24].copy_from_slice(&new.to_ne_bytes());
        raw[24..26].copy_from_slice(&sport.to_ne_bytes());
        raw[26..28].copy_from_slice(&dport.to_ne_bytes());
        raw[28..30].copy_from_slice(&family.to_ne_bytes());
        raw[30..32].copy_from_slice(&TCP.to_ne_bytes());
        raw[32..36].copy_from_slice(&[127, 0, 0, 1]);
        raw[36..40].copy_from_slice(&[127, 0, 0, 2]);
        raw[40..56].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        raw[56..72].copy_from_slice(&"::ffff:10.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
        raw
    }

    #[test]
    fn the_format_file_gives_every_offset() {
        let l = layout();
        assert_eq!((l.skaddr, l.oldstate, l.newstate), (8, 16, 20));
        assert_eq!((l.sport, l.dport, l.family), (24, 26, 28));
        assert_eq!((l.saddr, l.daddr, l.saddr_v6, l.daddr_v6), (32, 36, 40, 56));
    }

    #[test]
    fn a_format_missing_a_field_or_with_another_size_is_refused() {
        assert_eq!(Layout::parse(&FORMAT.replace("skaddr", "sk")), None);
        assert_eq!(
            Layout::parse(&FORMAT.replace("offset:24;\tsize:2", "offset:24;\tsize:4")),
            None
        );
        assert_eq!(Layout::parse(""), None);
    }

    #[test]
    fn ipv4_and_ipv6_records_decode_with_host_order_ports() {
        let v4 = decode(&layout(), 42, &record(2, 2, 1, 40000, 80)).expect("v4");
        assert_eq!(v4.pid, 42);
        assert_eq!(v4.socket, 0xffff_8880_1234_5678);
        assert_eq!((v4.oldstate, v4.newstate), (2, 1));
        assert_eq!(v4.local, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(v4.remote, "127.0.0.2:80".parse().unwrap());
        let v6 = decode(&layout(), 7, &record(10, 7, 2, 0, 443)).expect("v6");
        assert_eq!(v6.local, "[::1]:0".parse().unwrap());
        // A v4-mapped peer is the IPv4 address the capture sees.
        assert_eq!(v6.remote, "10.0.0.1:443".parse().unwrap());
    }

    #[test]
    fn short_or_foreign_records_are_skipped() {
        let l = layout();
        // IPv4 needs the record up to its addresses (40 bytes), IPv6 all of it.
        let v4 = record(2, 2, 1, 1, 2);
        for len in 0..40 {
            assert_eq!(decode(&l, 1, &v4[..len]), None, "{len} bytes");
        }
        let v6 = record(10, 2, 1, 1, 2);
        for len in 0..v6.len() {
            assert_eq!(decode(&l, 1, &v6[..len]), None, "{len} bytes");
        }
        assert_eq!(decode(&l, 1, &record(1, 2, 1, 1, 2)), None, "AF_UNIX");
    }

    #[test]
    fn the_two_events_of_a_handshake_name_the_connecting_process() {
        let mut log = empty_log();
        let proc_root = Path::new("/nonexistent");
        let connect = decode(&log.layout, 4242, &record(2, 7, 2, 0, 80)).unwrap();
        // The handshake ends in softirq: whatever pid was running.
        let established = decode(&log.layout, 1, &record(2, 2, 1, 40000, 80)).unwrap();
        log.note(connect, proc_root);
        log.note(established, proc_root);
        let local = "127.0.0.1:40000".parse().unwrap();
        let remote = "127.0.0.2:80".parse().unwrap();
        assert_eq!(log.connector(local, remote, proc_root), Some(4242));
        assert_eq!(
            log.connector(remote, local, proc_root),
            None,
            "the server end"
        );
    }

    #[test]
    fn a_listen_names_the_server_of_its_port_for_a_while_after_it_closed() {
        let mut log = empty_log();
        let proc_root = Path::new("/nonexistent");
        let note = |log: &mut ConnectLog, pid, raw: &[u8]| {
            let change = decode(&log.layout, pid, raw).unwrap();
            log.note(change, proc_root);
        };
        let pid_at = |log: &mut ConnectLog, at: &str| {
            log.listener(at.parse().unwrap(), proc_root).map(|l| l.pid)
        };
        // listen() on 127.0.0.1:8080 by pid 77, then on the IPv4 wildcard of 9090 by 78.
        note(&mut log, 77, &record(2, 7, 10, 8080, 0));
        let mut wildcard = record(2, 7, 10, 9090, 0);
        wildcard[32..36].copy_from_slice(&[0, 0, 0, 0]);
        note(&mut log, 78, &wildcard);
        // An unbound socket's listen() has port 0: its port is not known, nothing kept.
        note(&mut log, 79, &record(2, 7, 10, 0, 0));
        // SCTP reports its listens on the same tracepoint: not TCP's.
        let mut sctp = record(2, 7, 10, 7070, 0);
        sctp[30..32].copy_from_slice(&132u16.to_ne_bytes());
        note(&mut log, 81, &sctp);
        assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), Some(77));
        assert_eq!(pid_at(&mut log, "10.1.2.3:9090"), Some(78));
        assert_eq!(pid_at(&mut log, "127.0.0.1:8081"), None);
        assert_eq!(pid_at(&mut log, "127.0.0.1:0"), None);
        assert_eq!(pid_at(&mut log, "127.0.0.1:7070"), None);
        // Its process is gone (no /proc here): the namespace is not known.
        let listener = log.listener("127.0.0.1:8080".parse().unwrap(), proc_root);
        assert_eq!(listener.and_then(|l| l.namespace), None);
        // Closed (LISTEN -> CLOSE): still the answer during the grace period, not after.
        note(&mut log, 1, &record(2, 10, 7, 8080, 0));
        assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), Some(77));
        let key: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let mut closed = log.listener.get(&key).unwrap();
        closed.closed = Instant::now().checked_sub(LISTENER_GRACE * 2);
        log.listener.insert(key, closed);
        assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), None);
        // A later listen() on the same address wins.
        note(&mut log, 80, &record(2, 7, 10, 8080, 0));
        assert_eq!(pid_at(&mut log, "127.0.0.1:8080"), Some(80));
    }

    #[test]
    fn generations_stay_bounded_and_keep_the_latest() {
        let mut map = Generations::default();
        for i in 0..(3 * GENERATION as u64) {
            map.insert(i, i);
        }
        assert!(map.new.len() + map.old.len() <= 2 * GENERATION);
        let last = 3 * GENERATION as u64 - 1;
        assert_eq!(map.get(&last), Some(last));
        assert_eq!(map.get(&0), None);
    }
}

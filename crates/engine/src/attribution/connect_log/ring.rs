//! One CPU's perf ring buffer for the tracepoint: the event opened through
//! `perf_event_open` (the ABI from perf-event-open-sys, right on every architecture),
//! mapped with rustix, and drained record by record. Torn or corrupt records are skipped.

use perf_event_open_sys::bindings::{
    perf_event_attr, perf_event_mmap_page, PERF_FLAG_FD_CLOEXEC, PERF_SAMPLE_RAW, PERF_SAMPLE_TID,
    PERF_SAMPLE_TIME, PERF_TYPE_TRACEPOINT,
};
use perf_event_open_sys::ioctls;
use std::io;
use std::mem::offset_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};

/// Data pages per CPU ring (a power of two): 256 KiB, some 2,500 events between drains.
const RING_PAGES: usize = 64;
/// Most CPU ids an event is opened on.
const MAX_CPUS: i32 = 4096;
/// Where the ring's head, tail and data area are stated in its control page.
const DATA_HEAD: usize = offset_of!(perf_event_mmap_page, data_head);
const DATA_TAIL: usize = offset_of!(perf_event_mmap_page, data_tail);
const DATA_OFFSET: usize = offset_of!(perf_event_mmap_page, data_offset);
const DATA_SIZE: usize = offset_of!(perf_event_mmap_page, data_size);

/// What a ring carries beyond its tracepoint's samples (pid, tid, raw record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::attribution) struct Extras {
    /// Each sample, after its pid and tid, has the kernel's time (u64 ns,
    /// `PERF_SAMPLE_TIME`), and every other record ends with pid, tid and time
    /// (`sample_id_all`): records of several CPUs' rings can be put in order.
    pub time: bool,
    /// A `PERF_RECORD_COMM` for every `exec` (and `prctl(PR_SET_NAME)`) and a
    /// `PERF_RECORD_FORK` for every new task on that CPU: the name a process had, told
    /// while it runs, for when it is gone before `/proc` is read.
    pub names: bool,
    /// Each sample wakes a poller of the ring (`wakeup_events` 1): for events rare enough
    /// to be acted on at once. Otherwise the kernel wakes one only when the ring is half
    /// full, and the ring is read when its reader comes by.
    pub wake_each: bool,
}

/// One CPU's perf ring buffer, mapped read-write (we move its tail).
pub(in crate::attribution) struct Ring {
    fd: OwnedFd,
    base: *mut u8,
    mapped: usize,
    data_offset: usize,
    data_size: usize,
}

// SAFETY: the mapping is owned by this value alone and only touched through `&mut self`
// (reads through `&self` are volatile reads of memory the kernel writes anyway).
unsafe impl Send for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`mapped` are the mapping made in `Ring::open`, unmapped once,
        // and no reference into it outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.base.cast(), self.mapped) };
    }
}

impl Ring {
    /// Opens tracepoint `id` on `cpu` for every process, disabled, with the kernel-side
    /// `filter` (a NUL-terminated expression), and maps its ring.
    pub(in crate::attribution) fn open(
        id: u64,
        cpu: i32,
        filter: &std::ffi::CStr,
    ) -> io::Result<Ring> {
        Ring::open_with(id, cpu, filter, Extras::default())
    }

    /// Like [`Ring::open`], with the `extras` asked for.
    pub(in crate::attribution) fn open_with(
        id: u64,
        cpu: i32,
        filter: &std::ffi::CStr,
        extras: Extras,
    ) -> io::Result<Ring> {
        let mut sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_RAW;
        if extras.time {
            sample_type |= PERF_SAMPLE_TIME;
        }
        let mut attr = perf_event_attr {
            type_: PERF_TYPE_TRACEPOINT,
            size: std::mem::size_of::<perf_event_attr>() as u32,
            config: id,
            sample_type: u64::from(sample_type),
            ..perf_event_attr::default()
        };
        attr.__bindgen_anon_1.sample_period = 1;
        attr.set_disabled(1);
        if extras.time {
            attr.set_sample_id_all(1);
        }
        if extras.wake_each {
            attr.__bindgen_anon_2.wakeup_events = 1;
        }
        if extras.names {
            attr.set_comm(1);
            attr.set_comm_exec(1);
            attr.set_task(1);
        }
        // SAFETY: `attr` is a fully initialised perf_event_attr whose `size` is its own;
        // pid -1 with a cpu asks for every process on that CPU, which needs CAP_PERFMON.
        let fd = unsafe {
            perf_event_open_sys::perf_event_open(
                &mut attr,
                -1,
                cpu,
                -1,
                PERF_FLAG_FD_CLOEXEC.into(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: perf_event_open returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Without the kernel filter every state change comes through: filtered in the
        // log too, so a refused filter only costs wakeups.
        // SAFETY: SET_FILTER reads the NUL-terminated string, which outlives the call.
        unsafe { ioctls::SET_FILTER(fd.as_raw_fd(), filter.as_ptr().cast_mut()) };
        let page = rustix::param::page_size();
        let mapped = page * (1 + RING_PAGES);
        // SAFETY: maps the event's ring buffer with the length perf expects (one control
        // page and 2^n data pages); a new mapping aliases no Rust memory.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                mapped,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &fd,
                0,
            )
        }?;
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

    /// The event's descriptor, readable (poll) when a sample woke it.
    pub(in crate::attribution) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Turns the event on (`true`) or off; the ring keeps its mapping either way.
    pub(in crate::attribution) fn enable(&self, on: bool) {
        let fd = self.fd.as_raw_fd();
        // SAFETY: ENABLE and DISABLE take no argument and touch only this event.
        unsafe {
            if on {
                ioctls::ENABLE(fd, 0)
            } else {
                ioctls::DISABLE(fd, 0)
            }
        };
    }

    /// Drops whatever the ring holds (a log taken up again starts empty).
    pub(in crate::attribution) fn skip_all(&mut self) {
        let head = self.word(DATA_HEAD);
        self.set_tail(head);
    }

    /// A u64 of the control page, read volatile (the kernel writes it).
    fn word(&self, at: usize) -> u64 {
        // SAFETY: `at` is one of the control page's aligned u64 fields, inside the
        // mapping, which lives as long as `self`.
        unsafe { std::ptr::read_volatile(self.base.add(at).cast::<u64>()) }
    }

    fn set_tail(&mut self, tail: u64) {
        fence(Ordering::Release);
        // SAFETY: data_tail is an aligned u64 of the control page that user space owns.
        unsafe { std::ptr::write_volatile(self.base.add(DATA_TAIL).cast::<u64>(), tail) };
    }

    /// Copies `out.len()` bytes of the data area from ring position `at` (wrapping).
    fn copy(&self, at: u64, out: &mut [u8]) {
        let size = self.data_size;
        for (i, byte) in out.iter_mut().enumerate() {
            let pos = (at as usize).wrapping_add(i) & (size - 1);
            // SAFETY: `pos < data_size` and the data area lies inside the mapping.
            *byte = unsafe { std::ptr::read_volatile(self.base.add(self.data_offset + pos)) };
        }
    }

    /// Hands every complete record to `each` (type, body after the header) and frees it.
    pub(in crate::attribution) fn drain(
        &mut self,
        scratch: &mut Vec<u8>,
        mut each: impl FnMut(u32, &[u8]),
    ) {
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

/// Number of CPU ids to open events on: the highest possible CPU + 1 (an offline CPU may
/// come online), else the CPUs this process may run on.
pub(in crate::attribution) fn possible_cpus() -> i32 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    let highest = text
        .trim()
        .split(',')
        .filter_map(|range| range.rsplit('-').next()?.trim().parse::<i32>().ok())
        .max();
    match highest {
        Some(n) => (n + 1).clamp(1, MAX_CPUS),
        None => std::thread::available_parallelism()
            .map_or(1, |n| i32::try_from(n.get()).unwrap_or(MAX_CPUS))
            .clamp(1, MAX_CPUS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_one_cpu_is_possible() {
        assert!((1..=MAX_CPUS).contains(&possible_cpus()));
    }
}

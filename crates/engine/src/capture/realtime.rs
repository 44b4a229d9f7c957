//! Real-time scheduling of the capture thread while it keeps up. A short connection's
//! socket must be looked up within a fraction of a millisecond of its first packet; on a
//! busy machine a normal thread, even at nice -10, waits milliseconds for a CPU (nice
//! counts only inside its autogroup, that is its session, and every other session gets an
//! equal share). The lowest real-time priority runs it as soon as a packet arrives.
//!
//! Real time is for latency, not for throughput: while the thread stays busy (a flood
//! keeps every batch full) it goes back to normal scheduling, so it can never starve the
//! machine, and returns to real time once it has caught up. Without the privilege
//! (CAP_SYS_NICE or an `RLIMIT_RTPRIO` of at least 1) it stays as it is.
//!
//! rustix has neither `sched_setscheduler` nor `sched_setattr`: both stay libc calls here.

/// `SCHED_FIFO` priority asked for: the lowest, below any real-time system service.
const PRIORITY: libc::c_int = 1;
/// Consecutive full batches after which the thread leaves real time.
const BUSY_LIMIT: u32 = 4;

/// The capture thread's scheduling state.
pub struct RealTime {
    /// Real time could be entered once: it may be entered again.
    allowed: bool,
    active: bool,
    busy_streak: u32,
    /// The normal scheduling to go back to (the nice value and slice set before).
    normal: libc::sched_attr,
}

impl RealTime {
    /// Enters real time if allowed; `normal` is the thread's scheduling to use while busy.
    pub fn enter(normal: libc::sched_attr) -> Self {
        let allowed = set_fifo();
        Self {
            allowed,
            active: allowed,
            busy_streak: 0,
            normal,
        }
    }

    /// Follows the thread's load: `busy` tells that a handle still had packets after a
    /// full batch.
    pub fn follow(&mut self, busy: bool) {
        if !self.allowed {
            return;
        }
        if busy {
            self.busy_streak = self.busy_streak.saturating_add(1);
            if self.active && self.busy_streak >= BUSY_LIMIT {
                self.active = !set_attr(&self.normal);
            }
        } else {
            self.busy_streak = 0;
            if !self.active {
                self.active = set_fifo();
            }
        }
    }
}

/// `SCHED_FIFO` at [`PRIORITY`] for the calling thread; whether it worked.
fn set_fifo() -> bool {
    let param = libc::sched_param {
        sched_priority: PRIORITY,
    };
    // SAFETY: pid 0 is the calling thread; the kernel only reads `param`, a live, initialized
    // sched_param, during the call.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
}

/// Applies `attr` to the calling thread; whether it worked.
pub fn set_attr(attr: &libc::sched_attr) -> bool {
    // SAFETY: sched_setattr(pid 0 = this thread, a valid sched_attr of the size it states,
    // flags 0) reads the struct and changes only this thread's scheduling.
    unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            attr as *const libc::sched_attr,
            0,
        ) == 0
    }
}

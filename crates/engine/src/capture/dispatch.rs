//! Reading a pcap handle's ring in place with `pcap_dispatch`. The pcap crate offers only
//! `pcap_next_ex`, which on Linux copies every frame out of the kernel ring into a buffer
//! of its own before returning it (the frame goes back to the kernel first): a `memmove`
//! and a round trip through libpcap per packet, a sixth of the capture thread's time on
//! MTU-sized TCP through a veth (profile in build-aux/bench). `pcap_dispatch` hands each
//! frame to a callback while it is still in the ring.

use super::source::{BatchEnd, Frame};
use pcap::{Active, Capture};
use std::os::raw::{c_int, c_uchar, c_void};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// libpcap's `struct pcap_pkthdr`.
#[repr(C)]
struct PacketHeader {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

type Handler = unsafe extern "C" fn(*mut c_uchar, *const PacketHeader, *const c_uchar);

#[link(name = "pcap")]
extern "C" {
    fn pcap_dispatch(
        handle: *mut c_void,
        count: c_int,
        handler: Handler,
        user: *mut c_uchar,
    ) -> c_int;
}

/// What [`on_frame`] is given: the caller's closure.
type Each<'a, 'b> = &'a mut dyn FnMut(Frame<'_>);

/// Hands up to `max` frames waiting in `capture`'s ring to `each`. The handle must be
/// non-blocking. A panic in `each` aborts the process (it cannot unwind through libpcap).
pub fn dispatch(
    capture: &mut Capture<Active>,
    max: usize,
    mut each: &mut dyn FnMut(Frame<'_>),
) -> (usize, BatchEnd) {
    let count = c_int::try_from(max.max(1)).unwrap_or(c_int::MAX);
    let user: *mut Each<'_, '_> = &mut each;
    // SAFETY: `capture.as_ptr()` is the live pcap_t that `capture` owns, borrowed
    // exclusively for the call; `on_frame` has libpcap's `pcap_handler` signature; `user`
    // points at `each`, which outlives the call, and libpcap hands it only to `on_frame`,
    // on this thread, before pcap_dispatch returns (the contract `on_frame` relies on).
    let result = unsafe {
        pcap_dispatch(
            capture.as_ptr().cast::<c_void>(),
            count,
            on_frame,
            user.cast::<c_uchar>(),
        )
    };
    match usize::try_from(result) {
        Ok(read) if read >= max => (read, BatchEnd::Full),
        Ok(read) => (read, BatchEnd::Drained),
        // -2: pcap_breakloop, never called here; nothing more for now.
        Err(_) if result == -2 => (0, BatchEnd::Drained),
        Err(_) => (0, BatchEnd::Failed),
    }
}

/// libpcap's callback: one frame, still in the ring.
///
/// # Safety
/// `user` is the `*mut Each` that [`dispatch`] passed; `header` and `data` are libpcap's,
/// valid until this returns, `data` holding `header.caplen` bytes.
unsafe extern "C" fn on_frame(user: *mut c_uchar, header: *const PacketHeader, data: *const u8) {
    // SAFETY: by this function's contract `user` is the `*mut Each` that `dispatch` made
    // from its live `each`, not otherwise used while libpcap runs this callback, and
    // `header` is libpcap's non-null header, valid until this returns.
    let (each, header) = unsafe { (&mut *user.cast::<Each<'_, '_>>(), &*header) };
    let data = if data.is_null() {
        &[][..]
    } else {
        // SAFETY: `data` is non-null (checked above) and, by this function's contract,
        // points at `header.caplen` readable bytes in the ring that stay unchanged until
        // this returns; the slice does not outlive the call (`each` cannot keep it).
        unsafe { std::slice::from_raw_parts(data, header.caplen as usize) }
    };
    each(Frame {
        data,
        wire_len: header.len,
        captured: timestamp(&header.ts),
    });
}

/// A pcap timestamp (microseconds, the default precision) as a time.
fn timestamp(ts: &libc::timeval) -> Option<SystemTime> {
    let seconds = u64::try_from(ts.tv_sec).ok()?;
    let micros = u64::try_from(ts.tv_usec).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds) + Duration::from_micros(micros))
}

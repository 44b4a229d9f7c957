//! Least privilege: right after start-up, before any other thread exists, the helper keeps
//! only the capabilities capture and attribution need and sets no_new_privs.
//!
//! The set kept ([`KEPT`]) was found by starting the helper with one capability fewer
//! each time and watching what broke (`crates/helper/tests/helper/reach.rs` keeps these
//! experiments as tests):
//!
//! - `CAP_NET_RAW` — `AF_PACKET` sockets, i.e. every pcap handle. Without it `Start`
//!   fails with `PermissionDenied`.
//! - `CAP_SYS_PTRACE` — `readlink(/proc/PID/fd/N)` needs ptrace-read access to the owner:
//!   another user's process, or a root process whose capabilities exceed ours (any normal
//!   root daemon). Without it no socket outside the helper itself is attributed. The same
//!   access opens other processes' `/proc/PID/net/*` and `/proc/PID/ns/net`, which is how
//!   sockets in other network namespaces are read.
//! - `CAP_DAC_READ_SEARCH` — listing `/proc/PID/fd` of another user (mode 0500, owned by
//!   that user; the helper stays uid 0 but without `CAP_DAC_OVERRIDE`). Without it other
//!   users' processes are not attributed; root's still are.
//!
//! Not kept, on purpose: `CAP_SYS_ADMIN` (the engine would `setns` into other network
//! namespaces for sock_diag; it falls back to `/proc/PID/net` of a process inside them),
//! `CAP_NET_ADMIN` (pcap's ring buffer and non-promiscuous capture do not need it),
//! `CAP_DAC_OVERRIDE` (the helper writes nothing).
//!
//! Everything else goes from the effective, permitted and inheritable sets, the ambient set
//! is cleared, the bounding set is emptied of everything but [`KEPT`], and the securebits
//! are locked so that neither an `execve` nor a uid change can bring a capability back.
//!
//! Opened before the drop and kept as descriptors, not as a capability: the engine's
//! connect tracepoint (perf ring buffers on `sock:inet_sock_set_state`, which need
//! `CAP_PERFMON` or root to open and nothing to read), so connections over before their
//! first lookup are still credited ([`drop_to_capture_set`] opens it first).
//!
//! Capabilities are per thread: [`drop_to_capture_set`] must run in `main` before the
//! tokio runtime or the engine's capture thread starts (new threads copy the creator's sets).

use std::io;

/// Capability numbers from `<linux/capability.h>`.
pub mod cap {
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const SETPCAP: u32 = 8;
    pub const NET_RAW: u32 = 13;
    pub const SYS_PTRACE: u32 = 19;
}

/// The capabilities the helper keeps after start-up; see the module documentation.
pub const KEPT: &[u32] = &[cap::NET_RAW, cap::SYS_PTRACE, cap::DAC_READ_SEARCH];

/// Bit mask of [`KEPT`], as shown in `/proc/PID/status` (`CapEff`, `CapPrm`, `CapBnd`).
pub fn kept_mask() -> u64 {
    KEPT.iter().fold(0, |mask, cap| mask | (1u64 << cap))
}

/// Why dropping privileges failed; the helper refuses to serve when it does.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("cannot read the capability sets: {0}")]
    Read(#[source] io::Error),
    #[error("cannot lock the securebits: {0}")]
    Securebits(#[source] io::Error),
    #[error("cannot clear the ambient capabilities: {0}")]
    Ambient(#[source] io::Error),
    #[error("cannot drop capability {cap} from the bounding set: {source}")]
    Bounding {
        cap: u32,
        #[source]
        source: io::Error,
    },
    #[error("cannot set the capability sets: {0}")]
    Set(#[source] io::Error),
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(#[source] io::Error),
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's (effective, permitted, inheritable) sets as 64-bit masks.
fn current_sets() -> Result<(u64, u64, u64), PrivilegeError> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) requires for version 3.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(PrivilegeError::Read(io::Error::last_os_error()));
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

fn set_sets(effective: u64, permitted: u64, inheritable: u64) -> Result<(), PrivilegeError> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |mask: u64| (mask as u32, (mask >> 32) as u32);
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: header and a two-element data array, as capset(2) requires for version 3.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(PrivilegeError::Set(io::Error::last_os_error()));
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(option, arg2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Highest capability number this kernel knows, or 63 (the most a 64-bit set can hold)
/// when `/proc/sys` cannot tell: the bounding-set loop then stops at the first number the
/// kernel rejects.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(63)
        .min(63)
}

// Securebits from <linux/securebits.h>.
const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;

/// Keeps only [`KEPT`] (those of them the process has) and sets no_new_privs.
///
/// Run as an unprivileged user (a development build), the helper has no capability to
/// drop and no `CAP_SETPCAP` for the bounding set: then only no_new_privs is set and the
/// engine reports `PermissionDenied` when capture starts.
pub fn drop_to_capture_set() -> Result<(), PrivilegeError> {
    // Without it (no tracefs, a container, an old kernel) attribution still works, minus
    // client connections that end before their first lookup.
    let _ = sockeye_engine::attribution::preopen_connect_log();
    let (_, permitted, _) = current_sets()?;
    let keep = kept_mask() & permitted;
    let can_setpcap = permitted & (1 << cap::SETPCAP) != 0;
    if can_setpcap {
        // Make sure CAP_SETPCAP is effective for the bounding-set and securebits changes.
        set_sets(permitted, permitted, 0)?;
        prctl(
            libc::PR_SET_SECUREBITS,
            SECBIT_NOROOT
                | SECBIT_NOROOT_LOCKED
                | SECBIT_NO_SETUID_FIXUP
                | SECBIT_NO_SETUID_FIXUP_LOCKED
                | SECBIT_KEEP_CAPS_LOCKED
                | SECBIT_NO_CAP_AMBIENT_RAISE
                | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
        )
        .map_err(PrivilegeError::Securebits)?;
    }
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    )
    .map_err(PrivilegeError::Ambient)?;
    if can_setpcap {
        for cap in 0..=last_cap() {
            if KEPT.contains(&cap) {
                continue;
            }
            match prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap)) {
                Ok(()) => {}
                // A number past the kernel's last capability: nothing above it exists.
                Err(source) if source.raw_os_error() == Some(libc::EINVAL) && cap > 0 => break,
                Err(source) => return Err(PrivilegeError::Bounding { cap, source }),
            }
        }
    }
    set_sets(keep, keep, 0)?;
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(PrivilegeError::NoNewPrivs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_mask_matches_the_documented_capabilities() {
        // CAP_DAC_READ_SEARCH (2), CAP_NET_RAW (13), CAP_SYS_PTRACE (19).
        assert_eq!(kept_mask(), 0x0000_0000_0008_2004);
    }
}

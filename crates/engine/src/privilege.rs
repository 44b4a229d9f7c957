//! Least privilege for a process that captures: right after start-up, before any other
//! thread exists, `sockeye-helper` and `sockeye-recorder` keep only the capabilities
//! capture and attribution need and set no_new_privs. Here, beside the engine that needs
//! them, so both keep exactly the same set (the recorder's unit's
//! `CapabilityBoundingSet=` names the same three; it needs no `CAP_DAC_OVERRIDE` for its
//! database either: its state directory belongs to root, which it stays). Below, "the
//! helper" stands for either.
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
//! first lookup are still credited (`main`'s `lock_down` opens it first).
//!
//! After the drop the helper is still uid 0 with the three capabilities above; the
//! `sandbox` module takes away what they would still allow and capture never needs
//! (writing files, ptrace, running programs, mounting, …) and lists what is left.
//!
//! Capabilities are per thread: [`drop_to_capture_set`] must run in `main` before the
//! tokio runtime or the engine's capture thread starts (new threads copy the creator's sets).

use std::io;

use rustix::thread::{CapabilitiesSecureBits, CapabilitySet, CapabilitySets};

/// The capabilities the helper keeps after start-up; see the module documentation. Its
/// bits are the mask `/proc/PID/status` shows (`CapEff`, `CapPrm`, `CapBnd`).
pub const KEPT: CapabilitySet = CapabilitySet::NET_RAW
    .union(CapabilitySet::SYS_PTRACE)
    .union(CapabilitySet::DAC_READ_SEARCH);

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

/// Sets the calling thread's effective and permitted sets and empties its inheritable set.
fn set_sets(effective: CapabilitySet, permitted: CapabilitySet) -> Result<(), PrivilegeError> {
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective,
            permitted,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(|errno| PrivilegeError::Set(errno.into()))
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

/// Securebits locked once the helper has `CAP_SETPCAP`: no root privilege on `execve`, no
/// capability fix-up on a uid change, no ambient raise, and none of it can be undone.
/// `KEEP_CAPS` itself stays off (and locked so).
const LOCKED_SECUREBITS: CapabilitiesSecureBits = CapabilitiesSecureBits::NO_ROOT
    .union(CapabilitiesSecureBits::NO_ROOT_LOCKED)
    .union(CapabilitiesSecureBits::NO_SETUID_FIXUP)
    .union(CapabilitiesSecureBits::NO_SETUID_FIXUP_LOCKED)
    .union(CapabilitiesSecureBits::KEEP_CAPS_LOCKED)
    .union(CapabilitiesSecureBits::NO_CAP_AMBIENT_RAISE)
    .union(CapabilitiesSecureBits::NO_CAP_AMBIENT_RAISE_LOCKED);

/// Keeps only [`KEPT`] (those of them the process has) and sets no_new_privs. Whatever
/// needs more (the connect log, the sandbox's mount namespace) must be set up before.
///
/// Run as an unprivileged user (a development build), the helper has no capability to
/// drop and no `CAP_SETPCAP` for the bounding set: then only no_new_privs is set and the
/// engine reports `PermissionDenied` when capture starts.
pub fn drop_to_capture_set() -> Result<(), PrivilegeError> {
    let permitted = rustix::thread::capabilities(None)
        .map_err(|errno| PrivilegeError::Read(errno.into()))?
        .permitted;
    let keep = KEPT & permitted;
    let can_setpcap = permitted.contains(CapabilitySet::SETPCAP);
    if can_setpcap {
        // Make sure CAP_SETPCAP is effective for the bounding-set and securebits changes.
        set_sets(permitted, permitted)?;
        rustix::thread::set_capabilities_secure_bits(LOCKED_SECUREBITS)
            .map_err(|errno| PrivilegeError::Securebits(errno.into()))?;
    }
    rustix::thread::clear_ambient_capability_set()
        .map_err(|errno| PrivilegeError::Ambient(errno.into()))?;
    if can_setpcap {
        for cap in 0..=last_cap() {
            let capability = CapabilitySet::from_bits_retain(1 << cap);
            if KEPT.contains(capability) {
                continue;
            }
            match rustix::thread::remove_capability_from_bounding_set(capability) {
                Ok(()) => {}
                // A number past the kernel's last capability: nothing above it exists.
                Err(rustix::io::Errno::INVAL) if cap > 0 => break,
                Err(errno) => {
                    return Err(PrivilegeError::Bounding {
                        cap,
                        source: errno.into(),
                    })
                }
            }
        }
    }
    set_sets(keep, keep)?;
    rustix::thread::set_no_new_privs(true)
        .map_err(|errno| PrivilegeError::NoNewPrivs(errno.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_mask_matches_the_documented_capabilities() {
        // CAP_DAC_READ_SEARCH (2), CAP_NET_RAW (13), CAP_SYS_PTRACE (19).
        assert_eq!(KEPT.bits(), 0x0000_0000_0008_2004);
    }
}

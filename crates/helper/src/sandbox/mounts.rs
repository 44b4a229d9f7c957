//! The filesystem half of the sandbox: the helper gets a mount namespace of its own in
//! which every mount is read-only, `nodev` and `nosuid`. A root process without
//! `CAP_DAC_OVERRIDE` can still write every root-owned file; on a read-only mount it gets
//! `EROFS` for any write, creation, removal, rename or truncation — in `/etc`, `/proc/sys`,
//! `/sys` and cgroupfs alike — and `nodev` refuses to open device nodes at all (a read-only
//! mount alone would still let root open `/dev/sda` for writing).
//!
//! Why not Landlock: a Landlock domain also denies ptrace-mode access checks on every
//! process outside it, whatever rights the rule set handles. `readlink(/proc/PID/fd/N)` is
//! such a check, so a Landlocked helper attributes nothing: measured, 0 of 41,680 bytes of
//! a known UDP burst on `lo` (`tests/helper/sandbox.rs`), with `EACCES` on every readlink.
//!
//! The namespace is a slave of the host's: where the host's mounts are shared (systemd
//! makes `/` shared on every desktop; iproute2 makes `/run/netns` shared), later mounts and
//! unmounts reach it — `ip netns add` after start-up still shows in `/run/netns`, and a USB
//! stick unmounted on the host is not kept busy by the helper. Mounts that arrive that way
//! are writable; the seccomp filter denies `mount` itself, so the helper cannot make one.
//! Where the host's mounts are private (no systemd; this test machine's `/`), a filesystem
//! unmounted on the host stays mounted in the helper's namespace until it exits (measured
//! with a tmpfs: still in `/proc/HELPER/mountinfo` after the host's `umount`). Needs
//! `CAP_SYS_ADMIN`, so it runs before the capability drop, and Linux 5.12 (`mount_setattr`).

use std::io;

use rustix::mount::{mount_change, MountPropagationFlags};
use rustix::thread::UnshareFlags;

/// What [`read_only_view`] achieved, for the log and the test probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every mount the helper sees is read-only, `nodev` and `nosuid`.
    ReadOnly,
    /// The helper keeps the host's mounts as they are.
    Unavailable { why: String },
}

impl Outcome {
    #[cfg(feature = "sandbox-probe")]
    /// A short word for the probe's report: `read-only` or `unavailable`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::ReadOnly => "read-only",
            Outcome::Unavailable { .. } => "unavailable",
        }
    }
}

/// Why the view could not be set up although the kernel offered it.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("cannot make the helper's mounts slaves of the host's: {0}")]
    Propagation(#[source] io::Error),
    #[error("cannot make the helper's mounts read-only: {0}")]
    ReadOnly(#[source] io::Error),
}

/// `struct mount_attr` of `mount_setattr(2)` (`linux/mount.h`), size version 0.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV` (`linux/mount.h`).
const LOCKED_ATTRIBUTES: u64 = 0x1 | 0x2 | 0x4;

/// Sets [`LOCKED_ATTRIBUTES`] on `/` and every mount below it, in one atomic call.
fn set_attributes_recursively() -> io::Result<()> {
    let attributes = MountAttr {
        attr_set: LOCKED_ATTRIBUTES,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `"/"` is a NUL-terminated string literal and `attributes` a `struct
    // mount_attr` (size passed with it); both outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attributes as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the process into a mount namespace of its own whose mounts are all read-only.
/// Call it while the process has one thread (`unshare(CLONE_NEWNS)` also unshares the
/// filesystem context, which fails once threads share it) and still has `CAP_SYS_ADMIN`.
///
/// `Unavailable` without `CAP_SYS_ADMIN` (an unprivileged development run), without
/// `mount_setattr` (Linux before 5.12), or in a chroot whose root is not a mount point.
pub fn read_only_view() -> Result<Outcome, MountError> {
    // SAFETY: only the mount namespace (and with it the filesystem context) is unshared,
    // not the descriptor table; the caller has checked that no other thread exists.
    match unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) } {
        Ok(()) => {}
        Err(rustix::io::Errno::PERM) => {
            return Ok(Outcome::Unavailable {
                why: "no CAP_SYS_ADMIN to make a mount namespace".into(),
            })
        }
        Err(errno) => {
            return Ok(Outcome::Unavailable {
                why: format!("cannot make a mount namespace: {}", io::Error::from(errno)),
            })
        }
    }
    // Slave: the host's later mounts (a new /run/netns entry) still arrive, ours never leave.
    match mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    ) {
        Ok(()) => {}
        // A root directory that is no mount's root: the helper was started in a chroot
        // (a bind mount there first would propagate to the host before the change).
        Err(rustix::io::Errno::INVAL) => {
            return Ok(Outcome::Unavailable {
                why: "the root directory is not a mount point (a chroot?)".into(),
            })
        }
        Err(errno) => return Err(MountError::Propagation(errno.into())),
    }
    match set_attributes_recursively() {
        Ok(()) => Ok(Outcome::ReadOnly),
        Err(error) if error.raw_os_error() == Some(libc::ENOSYS) => Ok(Outcome::Unavailable {
            why: "the kernel has no mount_setattr (Linux 5.12)".into(),
        }),
        Err(error) => Err(MountError::ReadOnly(error)),
    }
}

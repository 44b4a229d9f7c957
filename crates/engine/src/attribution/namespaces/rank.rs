//! How far a network namespace's word about its addresses is taken: the host's first, then
//! namespaces whose user namespace root owns, last those any user could have made.
//!
//! Any user with unprivileged user namespaces can make a network namespace (`unshare -rn`)
//! and give it as many addresses as they like; what such a namespace says must never cost
//! the host or root's containers their place. Who made a namespace is the owner of its user
//! namespace, which the kernel tells through two `nsfs` ioctls on the namespace's file
//! (`NS_GET_USERNS`, then `NS_GET_OWNER_UID`); neither needs a capability.

use rustix::ioctl::{ioctl, opcode, Getter, Ioctl, IoctlOutput, Opcode};
use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// A namespace's standing, best first (the order of the variants is the ranking).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rank {
    /// The namespace this process runs in, the one pcap captures in.
    Host,
    /// Its user namespace belongs to root (the initial one, or one root made).
    RootOwned,
    /// Its user namespace belongs to another user, or its owner could not be read.
    UserOwned,
}

impl Rank {
    /// The rank of the network namespace at `ns_path` (`/proc/PID/ns/net` or a name in
    /// `/run/netns`); [`Rank::UserOwned`] when its owner cannot be read.
    pub(crate) fn of(ns_path: &Path) -> Rank {
        match owner_uid(ns_path) {
            Ok(0) => Rank::RootOwned,
            _ => Rank::UserOwned,
        }
    }
}

/// `NSIO`, the ioctl type of `nsfs` (`linux/nsfs.h`).
const NSIO: u8 = 0xb7;
/// `NS_GET_USERNS`: a new descriptor of the user namespace owning the namespace.
const NS_GET_USERNS: Opcode = opcode::none(NSIO, 0x1);
/// `NS_GET_OWNER_UID`: the uid that created a user namespace, written to a `uid_t`.
const NS_GET_OWNER_UID: Opcode = opcode::none(NSIO, 0x4);

/// `NS_GET_USERNS`, whose result is the new descriptor (rustix has no pattern for an
/// ioctl that returns one).
struct GetUserns;

// SAFETY: NS_GET_USERNS takes no argument and returns a new file descriptor (or fails,
// which `ioctl` turns into an error before `output_from_ptr` runs), as nsfs documents.
unsafe impl Ioctl for GetUserns {
    type Output = OwnedFd;
    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        NS_GET_USERNS
    }

    fn as_ptr(&mut self) -> *mut c_void {
        std::ptr::null_mut()
    }

    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<OwnedFd> {
        // SAFETY: a successful NS_GET_USERNS returns a descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(out) })
    }
}

/// The uid (in this process's user namespace) that owns the user namespace of the
/// namespace at `ns_path`.
pub(crate) fn owner_uid(ns_path: &Path) -> io::Result<u32> {
    let ns = File::open(ns_path)?;
    // SAFETY: GetUserns matches NS_GET_USERNS on an nsfs file (see its impl); on another
    // kind of file the kernel refuses the unknown request (ENOTTY) and nothing is written.
    let userns = unsafe { ioctl(&ns, GetUserns) }?;
    // SAFETY: NS_GET_OWNER_UID writes one uid_t (u32 on Linux) through its argument.
    let getter = unsafe { Getter::<NS_GET_OWNER_UID, libc::uid_t>::new() };
    // SAFETY: as above: the getter's output has the size and type the kernel writes.
    Ok(unsafe { ioctl(&userns, getter) }?)
}

/// The command prefix that runs what follows as `nobody`, as an unprivileged attacker would
/// (the ranking and address-flood tests).
#[cfg(test)]
pub(super) const AS_NOBODY: [&str; 7] = [
    "setpriv",
    "--reuid",
    "65534",
    "--regid",
    "65534",
    "--clear-groups",
    "--",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    #[test]
    fn this_process_s_namespace_is_owned_by_the_user_that_made_its_user_namespace() {
        // The initial user namespace belongs to root; in a container the tests may run in
        // one a user made: either way the owner is a uid, and the rank follows it.
        let path = Path::new("/proc/self/ns/net");
        let uid = owner_uid(path).unwrap();
        let expected = if uid == 0 {
            Rank::RootOwned
        } else {
            Rank::UserOwned
        };
        assert_eq!(Rank::of(path), expected);
    }

    /// A `sleep` in a user and network namespace of its own, made by `prefix`; killed on
    /// drop. Returns it once it is in its new namespace, `None` when `unshare` failed.
    struct Unshared(std::process::Child);

    impl Unshared {
        fn start(prefix: &[&str]) -> Option<Unshared> {
            let own = std::fs::read_link("/proc/self/ns/net").unwrap();
            let child = std::process::Command::new(prefix[0])
                .args(&prefix[1..])
                .args(["unshare", "-rn", "sleep", "30"])
                .spawn()
                .unwrap();
            let mut unshared = Unshared(child);
            let link = PathBuf::from(format!("/proc/{}/ns/net", unshared.0.id()));
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::read_link(&link).ok().is_none_or(|l| l == own) {
                if unshared.0.try_wait().ok().flatten().is_some() {
                    return None;
                }
                assert!(Instant::now() < deadline, "no new namespace within 5 s");
                std::thread::sleep(Duration::from_millis(5));
            }
            Some(unshared)
        }

        fn ns_path(&self) -> PathBuf {
            PathBuf::from(format!("/proc/{}/ns/net", self.0.id()))
        }
    }

    impl Drop for Unshared {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn a_namespace_a_user_made_ranks_last_and_one_root_made_does_not() {
        if !crate::testing::root_or_skip("making a user's namespace needs root") {
            return;
        }
        let by_root = Unshared::start(&["env"]).expect("root makes a user namespace");
        assert_eq!(owner_uid(&by_root.ns_path()).unwrap(), 0);
        assert_eq!(Rank::of(&by_root.ns_path()), Rank::RootOwned);
        let Some(by_nobody) = Unshared::start(&AS_NOBODY) else {
            println!("unprivileged user namespaces are refused here: only root's checked");
            return;
        };
        assert_eq!(owner_uid(&by_nobody.ns_path()).unwrap(), 65534);
        assert_eq!(Rank::of(&by_nobody.ns_path()), Rank::UserOwned);
    }

    #[test]
    fn a_file_that_is_no_namespace_has_no_owner_and_ranks_last() {
        assert!(owner_uid(Path::new("/proc/self/stat")).is_err());
        assert_eq!(Rank::of(Path::new("/nonexistent/ns/net")), Rank::UserOwned);
        assert!(Rank::Host < Rank::RootOwned && Rank::RootOwned < Rank::UserOwned);
    }
}

//! Finding the tracepoint's files (`id` and `format`) in tracefs: under a tracefs the
//! system mounted (systemd mounts it at `/sys/kernel/tracing` on every desktop), else in
//! a tracefs mounted *detached* for the moment of reading (`fsopen` + `fsmount`, Linux
//! 5.2+): a mount that is attached nowhere, so no mount namespace, mount point or
//! propagation is touched, and it works the same whether or not the host has its own
//! tracefs mounted (mounting a second tracefs on the host's mount point fails with EBUSY).
//! Needs CAP_SYS_ADMIN, which the helper still has when it preopens the log.

use rustix::fs::{Mode, OFlags};
use rustix::mount::{fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags, MountAttrFlags};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The tracepoint's directory under a tracefs root.
const EVENT: &str = "events/sock/inet_sock_set_state";
/// Most bytes read of the `id` or `format` file (the format is about 1.5 KiB).
const MAX_FILE: u64 = 64 * 1024;

/// The tracepoint's `id` and `format` texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::attribution) struct EventFiles {
    pub id: String,
    pub format: String,
}

/// The tracepoint's files from the first of `roots` that holds them, else from a detached
/// tracefs; the error says why neither worked.
pub(super) fn event_files(roots: &[PathBuf]) -> io::Result<EventFiles> {
    event_files_of(roots, EVENT)
}

/// The same for any tracepoint, `event` being its directory under a tracefs root
/// (`events/SYSTEM/NAME`).
pub(in crate::attribution) fn event_files_of(
    roots: &[PathBuf],
    event: &str,
) -> io::Result<EventFiles> {
    match roots.iter().find_map(|root| mounted(root, event)) {
        Some(files) => Ok(files),
        None => detached(event).map_err(|why| {
            io::Error::new(
                why.kind(),
                format!(
                    "no tracefs with {event} mounted, and none could be mounted detached: \
                     {why}"
                ),
            )
        }),
    }
}

/// Where field `name` is in a tracepoint's raw record, from its tracefs `format` text
/// (`field:__u8 saddr[4];\toffset:28;\tsize:4;\tsigned:0;`): `None` when the field is
/// missing or its size is not `size` bytes (a kernel whose record differs is not read).
pub(in crate::attribution) fn field_offset(format: &str, name: &str, size: usize) -> Option<usize> {
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
}

/// The files under a tracefs mounted at `root`, if it is one with the tracepoint.
fn mounted(root: &Path, event: &str) -> Option<EventFiles> {
    let dir = root.join(event);
    let read = |name: &str| -> Option<String> {
        let mut text = String::new();
        std::fs::File::open(dir.join(name))
            .ok()?
            .take(MAX_FILE)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    };
    Some(EventFiles {
        id: read("id")?,
        format: read("format")?,
    })
}

/// The files under a tracefs mounted for this call alone and attached nowhere: it goes
/// away when its descriptor closes.
pub(super) fn detached(event: &str) -> io::Result<EventFiles> {
    let context = fsopen("tracefs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_create(&context)?;
    let attributes = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    let mount = fsmount(&context, FsMountFlags::FSMOUNT_CLOEXEC, attributes)?;
    let read = |name: &str| -> io::Result<String> {
        let path = format!("{event}/{name}");
        let fd: OwnedFd = rustix::fs::openat(
            mount.as_fd(),
            path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let mut text = String::new();
        std::fs::File::from(fd)
            .take(MAX_FILE)
            .read_to_string(&mut text)?;
        Ok(text)
    };
    Ok(EventFiles {
        id: read("id")?,
        format: read("format")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::connect_log::record::Layout;
    use rustix::mount::{
        mount, mount_change, unmount, MountFlags, MountPropagationFlags, UnmountFlags,
    };
    use rustix::thread::UnshareFlags;

    /// Where systemd mounts tracefs.
    const SYSTEM_TRACEFS: &str = "/sys/kernel/tracing";

    fn tracefs_mounted_at(mountinfo: &str, at: &str) -> bool {
        mountinfo.lines().any(|line| {
            let mut fields = line.split(' ');
            fields.nth(4) == Some(at)
                && line
                    .split(" - ")
                    .nth(1)
                    .is_some_and(|t| t.starts_with("tracefs "))
        })
    }

    fn assert_usable(files: &EventFiles) {
        assert!(files.id.trim().parse::<u64>().is_ok(), "id {:?}", files.id);
        assert!(
            Layout::parse(&files.format).is_some(),
            "format {}",
            files.format
        );
    }

    /// Runs `check` once as the host is, and once with the other state of the system
    /// tracefs (mounted if it was not, unmounted if it was), the latter on a thread with
    /// a private mount namespace so the host's mounts never change.
    #[test]
    fn the_tracepoint_is_found_with_and_without_a_system_tracefs_and_no_host_mount_changes() {
        if !crate::testing::root_or_skip("mounting tracefs needs root") {
            return;
        }
        let before = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let host_has_it = tracefs_mounted_at(&before, SYSTEM_TRACEFS);
        let roots = [PathBuf::from(SYSTEM_TRACEFS)];

        // As the host is.
        let detached_files = detached(EVENT).expect("a detached tracefs");
        assert_usable(&detached_files);
        let found = event_files(&roots).expect("the tracepoint");
        assert_eq!(
            found, detached_files,
            "one tracefs, whichever way it is reached"
        );

        // The other state, in a mount namespace of this thread's own.
        let other = std::thread::spawn(move || -> io::Result<(bool, EventFiles, EventFiles)> {
            // SAFETY: only the mount namespace is unshared (no descriptor table), on a
            // thread of this test's own that shares nothing mount-related with others.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }?;
            mount_change(
                "/",
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            )?;
            if host_has_it {
                unmount(SYSTEM_TRACEFS, UnmountFlags::DETACH)?;
            } else {
                let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
                mount("tracefs", SYSTEM_TRACEFS, "tracefs", flags, None)?;
            }
            let info = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
            let now_mounted = tracefs_mounted_at(&info, SYSTEM_TRACEFS);
            Ok((
                now_mounted,
                detached(EVENT)?,
                event_files(&[PathBuf::from(SYSTEM_TRACEFS)])?,
            ))
        });
        let (now_mounted, detached_there, found_there) = other
            .join()
            .expect("thread")
            .expect("the other tracefs state");
        assert_ne!(
            now_mounted, host_has_it,
            "the thread's namespace has the other state"
        );
        assert_usable(&detached_there);
        assert_eq!(found_there, detached_files);

        let after = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert_eq!(before, after, "the host's mounts changed");
    }

    #[test]
    fn a_root_without_the_tracepoint_is_passed_over() {
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(mounted(empty.path(), EVENT), None);
    }
}

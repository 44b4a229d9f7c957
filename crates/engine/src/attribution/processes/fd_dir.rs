//! Reading a `/proc/PID/fd` directory cheaply: one `opendir`, then `readlinkat` relative to
//! it (no path built and walked per descriptor), since scanning descriptors is the cost
//! of finding a socket's process.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

/// An open `/proc/PID/fd` directory.
pub(crate) struct FdDir {
    dir: NonNull<libc::DIR>,
}

impl FdDir {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: c_path is a valid NUL-terminated string for the duration of the call.
        let dir = unsafe { libc::opendir(c_path.as_ptr()) };
        NonNull::new(dir)
            .map(|dir| Self { dir })
            .ok_or_else(io::Error::last_os_error)
    }

    /// The descriptor numbers listed, at most `max`.
    pub(crate) fn fds(&mut self, max: usize) -> Vec<u32> {
        let mut out = Vec::new();
        while out.len() < max {
            // SAFETY: self.dir is an open DIR*; the entry is valid until the next readdir.
            let entry = unsafe { libc::readdir64(self.dir.as_ptr()) };
            if entry.is_null() {
                break;
            }
            // SAFETY: d_name of a live dirent64 is NUL-terminated.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            if let Some(fd) = std::str::from_utf8(name.to_bytes())
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
            {
                out.push(fd);
            }
        }
        out
    }

    /// The socket inode descriptor `fd` points at, if it is a socket.
    pub(crate) fn socket_inode(&self, fd: u32) -> Option<u64> {
        let name = CString::new(fd.to_string()).ok()?;
        let mut buf = [0u8; 64];
        // SAFETY: dirfd of an open DIR*; buf is writable for its length; name is valid.
        let len = unsafe {
            libc::readlinkat(
                libc::dirfd(self.dir.as_ptr()),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let len = usize::try_from(len).ok()?;
        let target = std::str::from_utf8(buf.get(..len)?).ok()?;
        crate::attribution::processes::holders::parse_socket_link(target)
    }
}

impl Drop for FdDir {
    fn drop(&mut self) {
        // SAFETY: the DIR* is open and closed exactly once here.
        unsafe { libc::closedir(self.dir.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn this_process_s_sockets_are_listed_with_their_inodes() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut dir = FdDir::open(Path::new("/proc/self/fd")).unwrap();
        let fds = dir.fds(usize::MAX);
        let fd = socket.as_raw_fd() as u32;
        assert!(fds.contains(&fd));
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let want =
            crate::attribution::processes::holders::parse_socket_link(link.to_str().unwrap());
        assert_eq!(dir.socket_inode(fd), want);
        assert_eq!(dir.socket_inode(0).filter(|_| false), None);
        assert!(FdDir::open(Path::new("/nonexistent/fd")).is_err());
    }
}

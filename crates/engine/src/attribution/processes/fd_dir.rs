//! Reading a `/proc/PID/fd` directory cheaply: one `opendir`, then `readlinkat` relative to
//! it (no path built and walked per descriptor), since scanning descriptors is the cost
//! of finding a socket's process.

use rustix::fs::{Dir, Mode, OFlags};
use rustix::path::DecInt;
use std::io;
use std::path::Path;

/// An open `/proc/PID/fd` directory.
pub(crate) struct FdDir {
    dir: Dir,
}

impl FdDir {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        // As opendir(3) opens it.
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())?;
        Ok(Self { dir: Dir::new(fd)? })
    }

    /// The descriptor numbers listed, at most `max`.
    pub(crate) fn fds(&mut self, max: usize) -> Vec<u32> {
        let mut out = Vec::new();
        while out.len() < max {
            // A read error ends the listing, as readdir(3) returning NULL did.
            let Some(Ok(entry)) = self.dir.read() else {
                break;
            };
            if let Some(fd) = std::str::from_utf8(entry.file_name().to_bytes())
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
        let mut buf = [0u8; 64];
        let dir = self.dir.fd().ok()?;
        let len = rustix::fs::readlinkat_raw(dir, DecInt::new(fd), &mut buf[..]).ok()?;
        let target = std::str::from_utf8(buf.get(..len)?).ok()?;
        crate::attribution::processes::holders::parse_socket_link(target)
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

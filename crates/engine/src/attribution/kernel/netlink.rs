//! A minimal netlink client over a raw libc socket: send one request, walk its replies.
//!
//! Hand-rolled because the engine needs only two requests (sock_diag lookups and dumps,
//! RTM_GETADDR) and every reply is untrusted input: each message is bounds-checked before
//! its body is handed on, and every request is bounded in time and in message count.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Netlink protocol numbers (`linux/netlink.h`).
pub(crate) const NETLINK_ROUTE: i32 = 0;
/// Route multicast groups announcing address changes (`linux/rtnetlink.h`).
pub(crate) const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub(crate) const RTMGRP_IPV6_IFADDR: u32 = 0x100;
pub(crate) const NETLINK_SOCK_DIAG: i32 = 4;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 0x2;
const NLMSG_DONE: u16 = 0x3;
const NLMSG_HDRLEN: usize = 16;

/// How long one `recv` may block before the request is abandoned.
const RECV_TIMEOUT: Duration = Duration::from_millis(250);
/// Upper bound for a whole request, replies included.
const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Upper bound on the reply messages one request may produce (a socket table of this many
/// sockets is already absurd; a hostile or looping kernel reply stops here).
const MAX_MESSAGES: usize = 2_000_000;
/// Most notifications read by one [`NetlinkSocket::drain`].
const MAX_DRAIN: usize = 256;
/// Receive buffer size, in bytes; the kernel fills at most about 32 KiB per dump chunk.
const RECV_BUFFER: usize = 64 * 1024;

/// One netlink socket bound to the network namespace it was created in.
pub(crate) struct NetlinkSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

/// A netlink message header and body, borrowed from a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    pub body: &'a [u8],
}

impl NetlinkSocket {
    /// Opens a netlink socket of `protocol` in the calling thread's network namespace.
    pub(crate) fn open(protocol: i32) -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: RECV_TIMEOUT.as_micros() as libc::suseconds_t,
        };
        // SAFETY: the option value points at a live timeval of the given size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Opens a non-blocking netlink socket of `protocol` subscribed to the multicast
    /// `groups` (a bit mask, e.g. `RTMGRP_IPV4_IFADDR`), in the calling thread's network
    /// namespace; [`Self::drain`] then tells whether anything was announced.
    pub(crate) fn subscribe(protocol: i32, groups: u32) -> io::Result<Self> {
        let socket = Self::open(protocol)?;
        // SAFETY: sockaddr_nl is plain data; all-zero is valid before the fields are set.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        // SAFETY: `addr` is live and its size is given; fcntl on our own descriptor.
        let rc = unsafe {
            libc::bind(
                socket.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        let flags = unsafe { libc::fcntl(socket.fd.as_raw_fd(), libc::F_GETFL) };
        // SAFETY: as above.
        if flags < 0
            || unsafe {
                libc::fcntl(
                    socket.fd.as_raw_fd(),
                    libc::F_SETFL,
                    flags | libc::O_NONBLOCK,
                )
            } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    /// Reads every pending notification of a subscribed socket without blocking; true when
    /// there was any (or some were lost to a full buffer, which means the same: re-read).
    pub(crate) fn drain(&mut self) -> bool {
        let mut any = false;
        for _ in 0..MAX_DRAIN {
            match self.recv_datagram(libc::MSG_DONTWAIT) {
                Ok(Some(got)) if got > 0 => any = true,
                // Sent by another process, not announced by the kernel: ignored.
                Ok(Some(_) | None) => {}
                Err(err) => {
                    match err.raw_os_error() {
                        Some(libc::EINTR) => continue,
                        Some(libc::ENOBUFS) => any = true,
                        _ => {}
                    }
                    break;
                }
            }
        }
        any
    }

    /// Sends `payload` as one `kind` request (a dump when `dump`) and calls `on_reply` with
    /// the body of each reply of that request. A dump ends at `NLMSG_DONE`; a plain request
    /// after its first reply. A netlink error reply becomes `Err` with its errno.
    pub(crate) fn request(
        &mut self,
        kind: u16,
        dump: bool,
        payload: &[u8],
        mut on_reply: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST
        };
        let mut msg = Vec::with_capacity(NLMSG_HDRLEN + payload.len());
        msg.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        self.send(&msg)?;

        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut seen = 0usize;
        loop {
            if Instant::now() > deadline {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
            let len = self.recv()?;
            for message in messages(&self.buf[..len]) {
                let message = message?;
                if message.seq != seq {
                    continue; // a late reply to an earlier, abandoned request
                }
                seen += 1;
                if seen > MAX_MESSAGES {
                    return Err(io::Error::other("netlink reply too long"));
                }
                match message.kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => return error_reply(message.body),
                    _ => {
                        on_reply(message.body);
                        if !dump {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value (the kernel, pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` and `addr` are live for the call and their lengths are given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one datagram into the buffer and returns its length, or 0 for a datagram
    /// that did not come from the kernel (the caller's deadline still applies).
    fn recv(&mut self) -> io::Result<usize> {
        loop {
            match self.recv_datagram(0) {
                Ok(got) => return Ok(got.unwrap_or(0)),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// One `recvfrom` into the buffer: `Ok(Some(len))` for a datagram from the kernel,
    /// `Ok(None)` for one from another process. Any local process may send to our port
    /// id, and a forged sock_diag reply with the next (predictable) sequence number would
    /// otherwise be taken for the kernel's: only port id 0 is trusted.
    fn recv_datagram(&mut self, flags: libc::c_int) -> io::Result<Option<usize>> {
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value to be overwritten.
        let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: the buffer and `from` are live and their lengths are given.
        let got = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                flags,
                (&mut from as *mut libc::sockaddr_nl).cast(),
                &mut from_len,
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        if from.nl_family != libc::AF_NETLINK as libc::sa_family_t || from.nl_pid != 0 {
            return Ok(None);
        }
        Ok(Some(got as usize))
    }
}

/// Turns an `NLMSG_ERROR` body into `Ok` (an acknowledgement) or the errno it carries.
fn error_reply(body: &[u8]) -> io::Result<()> {
    let code = body
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
        .ok_or_else(|| io::Error::other("truncated netlink error"))?;
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code.saturating_neg()))
    }
}

/// Splits a receive buffer into netlink messages; a length that does not fit the buffer
/// ends the walk with an error instead of reading past it.
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = io::Result<Message<'_>>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return Some(Err(io::Error::other("malformed netlink message length")));
        }
        let message = Message {
            kind: u16::from_ne_bytes([rest[4], rest[5]]),
            seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
            body: &rest[NLMSG_HDRLEN..len],
        };
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or(&[]);
        Some(Ok(message))
    })
}

/// Walks netlink attributes (`struct rtattr`/`nlattr`: u16 length, u16 type, payload),
/// yielding `(type, payload)`; stops at the first attribute that does not fit.
pub(crate) fn attributes(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            rest = &[];
            return None;
        }
        let payload = &rest[4..len];
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn messages_are_split_on_their_aligned_lengths() {
        let mut buf = message(20, 7, &[1, 2, 3]);
        buf.extend(message(NLMSG_DONE, 7, &[0; 4]));
        let got: Vec<_> = messages(&buf)
            .map(|m| m.map(|m| (m.kind, m.seq, m.body.len())))
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(got, vec![(20, 7, 3), (NLMSG_DONE, 7, 4)]);
    }

    #[test]
    fn a_length_past_the_buffer_is_an_error_not_a_read_past_it() {
        let mut buf = message(20, 1, &[0; 8]);
        buf[0] = 200;
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
        buf[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(messages(&buf).next().unwrap().is_err());
    }

    #[test]
    fn short_buffers_yield_nothing() {
        assert_eq!(messages(&[1, 2, 3]).count(), 0);
        assert_eq!(attributes(&[8, 0]).count(), 0);
    }

    #[test]
    fn attributes_stop_at_one_that_does_not_fit() {
        let buf = [8u8, 0, 1, 0, 9, 9, 9, 9, 200, 0, 2, 0, 0, 0];
        let got: Vec<_> = attributes(&buf).collect();
        assert_eq!(got, vec![(1, &[9u8, 9, 9, 9][..])]);
    }

    /// The port id the kernel gave `socket`.
    fn port_id(socket: &NetlinkSocket) -> u32 {
        // SAFETY: as in `subscribe`.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `addr` and `len` are live and describe a sockaddr_nl.
        let rc = unsafe {
            libc::getsockname(
                socket.fd.as_raw_fd(),
                (&mut addr as *mut libc::sockaddr_nl).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        addr.nl_pid
    }

    #[test]
    fn a_datagram_from_another_process_is_not_taken_for_the_kernel() {
        // No multicast group: a real announcement (another test adding an address) must
        // not make `drain` report one.
        let mut listener = NetlinkSocket::subscribe(NETLINK_ROUTE, 0).unwrap();
        let forger = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
        // SAFETY: as in `send`.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        to.nl_pid = port_id(&listener);
        let forged = message(NLMSG_DONE, 1, &[0; 4]);
        let forge = || {
            // SAFETY: `forged` and `to` are live and their lengths are given.
            let sent = unsafe {
                libc::sendto(
                    forger.fd.as_raw_fd(),
                    forged.as_ptr().cast(),
                    forged.len(),
                    0,
                    (&to as *const libc::sockaddr_nl).cast(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            assert_eq!(
                sent,
                forged.len() as isize,
                "{}",
                io::Error::last_os_error()
            );
        };
        forge();
        assert_eq!(listener.recv_datagram(libc::MSG_DONTWAIT).unwrap(), None);
        forge();
        assert!(!listener.drain(), "nothing was announced by the kernel");
    }

    #[test]
    fn error_replies_carry_their_errno() {
        assert!(error_reply(&0i32.to_ne_bytes()).is_ok());
        let err = error_reply(&(-libc::ENOENT).to_ne_bytes()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        assert!(error_reply(&[1]).is_err());
    }
}

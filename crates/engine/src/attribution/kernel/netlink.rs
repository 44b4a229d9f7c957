//! A minimal netlink client over a raw socket: send one request, walk its replies.
//!
//! Hand-rolled because the engine needs only three requests (sock_diag lookups and dumps,
//! RTM_GETADDR, RTM_GETLINK) and every reply is untrusted input: each message is bounds-checked before
//! its body is handed on, and every request is bounded in time and in message count.

use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    recvfrom, sendto, AddressFamily, Protocol, RecvFlags, SendFlags, SocketFlags, SocketType,
};
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Netlink protocols (`linux/netlink.h`); `NETLINK_ROUTE` is protocol 0, which rustix
/// spells `None`.
pub(crate) const NETLINK_ROUTE: Option<Protocol> = None;
pub(crate) const NETLINK_SOCK_DIAG: Option<Protocol> = Some(netlink::SOCK_DIAG);
/// Route multicast groups announcing link and address changes (`linux/rtnetlink.h`).
pub(crate) const RTMGRP_LINK: u32 = 0x1;
pub(crate) const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub(crate) const RTMGRP_IPV6_IFADDR: u32 = 0x100;

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
    pub(crate) fn open(protocol: Option<Protocol>) -> io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            protocol,
        )?;
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(RECV_TIMEOUT),
        )?;
        Ok(Self {
            fd,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Opens a non-blocking netlink socket of `protocol` subscribed to the multicast
    /// `groups` (a bit mask, e.g. `RTMGRP_IPV4_IFADDR`), in the calling thread's network
    /// namespace; [`Self::drain`] then tells whether anything was announced.
    pub(crate) fn subscribe(protocol: Option<Protocol>, groups: u32) -> io::Result<Self> {
        let socket = Self::open(protocol)?;
        rustix::net::bind(&socket.fd, &SocketAddrNetlink::new(0, groups))?;
        let flags = fcntl_getfl(&socket.fd)?;
        fcntl_setfl(&socket.fd, flags | OFlags::NONBLOCK)?;
        Ok(socket)
    }

    /// Reads every pending notification of a subscribed socket without blocking; true when
    /// there was any (or some were lost to a full buffer, which means the same: re-read).
    pub(crate) fn drain(&mut self) -> bool {
        let mut any = false;
        for _ in 0..MAX_DRAIN {
            match self.recv_datagram(RecvFlags::DONTWAIT) {
                Ok(Some(got)) if got > 0 => any = true,
                // Sent by another process, not announced by the kernel: ignored.
                Ok(Some(_) | None) => {}
                Err(Errno::INTR) => continue,
                Err(err) => {
                    if err == Errno::NOBUFS {
                        any = true;
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
        // To the kernel: port id 0, no groups.
        sendto(
            &self.fd,
            msg,
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;
        Ok(())
    }

    /// Receives one datagram into the buffer and returns its length, or 0 for a datagram
    /// that did not come from the kernel (the caller's deadline still applies).
    fn recv(&mut self) -> io::Result<usize> {
        loop {
            match self.recv_datagram(RecvFlags::empty()) {
                Ok(got) => return Ok(got.unwrap_or(0)),
                Err(Errno::INTR) => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// One `recvfrom` into the buffer: `Ok(Some(len))` for a datagram from the kernel,
    /// `Ok(None)` for one from another process. Any local process may send to our port
    /// id, and a forged sock_diag reply with the next (predictable) sequence number would
    /// otherwise be taken for the kernel's: only port id 0 is trusted.
    fn recv_datagram(&mut self, flags: RecvFlags) -> Result<Option<usize>, Errno> {
        let (got, _, from) = recvfrom(&self.fd, &mut self.buf[..], flags)?;
        let from_kernel = from
            .and_then(|from| SocketAddrNetlink::try_from(from).ok())
            .is_some_and(|from| from.pid() == 0);
        Ok(from_kernel.then_some(got))
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
        let addr = rustix::net::getsockname(&socket.fd).unwrap();
        SocketAddrNetlink::try_from(addr).unwrap().pid()
    }

    #[test]
    fn a_datagram_from_another_process_is_not_taken_for_the_kernel() {
        // No multicast group: a real announcement (another test adding an address) must
        // not make `drain` report one.
        let mut listener = NetlinkSocket::subscribe(NETLINK_ROUTE, 0).unwrap();
        let forger = NetlinkSocket::open(NETLINK_ROUTE).unwrap();
        let to = SocketAddrNetlink::new(port_id(&listener), 0);
        let forged = message(NLMSG_DONE, 1, &[0; 4]);
        let forge = || {
            let sent = sendto(&forger.fd, &forged, SendFlags::empty(), &to).unwrap();
            assert_eq!(sent, forged.len());
        };
        forge();
        assert_eq!(listener.recv_datagram(RecvFlags::DONTWAIT).unwrap(), None);
        forge();
        assert!(!listener.drain(), "nothing was announced by the kernel");
    }

    #[test]
    fn error_replies_carry_their_errno() {
        assert!(error_reply(&0i32.to_ne_bytes()).is_ok());
        let enoent = Errno::NOENT.raw_os_error();
        let err = error_reply(&(-enoent).to_ne_bytes()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(enoent));
        assert!(error_reply(&[1]).is_err());
    }
}

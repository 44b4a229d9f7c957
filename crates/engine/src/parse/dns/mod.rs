//! DNS responses: which addresses a name resolved to, read from the answer section of one
//! message (a UDP payload, or one TCP message after its 2-byte length: [`tcp_messages`]).
//!
//! ```text
//! header ─► first question (the name the asker typed) ─► answers, at most 64:
//!             CNAME chain from the question name (at most 8 hops) ─► A / AAAA of its end
//! ```
//!
//! Why: a connection's remote address is named by the answer its own process received
//! (issue 16). The decoder only reads; it never trusts a count or a length in the message:
//! at most [`MAX_ANSWERS`] records are looked at whatever the header claims, names obey
//! RFC 1035's limits and point only backwards (`name.rs`), a record cut short ends the
//! decoding with what was already read kept (`truncated`), and a malformed record is skipped
//! when its length allows. Nothing is allocated but the address list, whose capacity a
//! reused [`DnsResponse`] keeps.
//!
//! Cost (`perf_parse`, `dns_response/*`, one core's CPU time): a typical answer (a CNAME
//! and four addresses, 131 bytes) decodes in about 350 ns; the message that asks for the
//! most work (64 CNAMEs owned by a 253-byte name, walked in full at each of 9 hops) in about
//! 56 µs. A flood of such messages must therefore be met by a budget where decoding is
//! called (responses decoded per interval), not here.
//!
//! Which name: each address is mapped to the *question* name — what the user typed or the
//! program asked for (`github.com`), not the end of the CNAME chain (`lb-140-82-121-4-iad…`)
//! that only the operator chose. The chain's end is kept too, in [`DnsResponse::canonical`].
//!
//! Not read: the authority and additional sections (their records were not asked for, so
//! they cannot name what the asker connects to), classes other than IN, and mDNS answers,
//! which carry no question (`NoQuestion`).

mod name;
pub mod payload;
#[cfg(test)]
mod tests;

pub use name::DnsName;
pub use payload::DnsPayload;

use name::{name_equals, read_name, skip_name};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most answer records looked at in one message, whatever its header claims (up to 65,535):
/// bounds the work per packet. Real answers hold a handful (a CDN's chain and a few
/// addresses).
pub const MAX_ANSWERS: usize = 64;
/// Most CNAME hops followed from the question name; a longer chain, or a loop, resolves to
/// no address. Real chains (CDNs) take two or three.
pub const MAX_CHAIN: usize = 8;
/// Most questions skipped to reach the answers (servers send one).
const MAX_QUESTIONS: u16 = 4;
/// Size of the fixed header, in bytes.
const HEADER_LEN: usize = 12;
/// Size of a record's type, class, TTL and data length, in bytes.
const RECORD_FIXED_LEN: usize = 10;

const TYPE_A: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// Why a message gave no answer at all (a record that is merely malformed is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("DNS message shorter than its 12-byte header")]
    TooShort,
    #[error("DNS message is a query, not a response")]
    NotAResponse,
    #[error("DNS message is not a standard query's response (opcode)")]
    NotAQuery,
    #[error("DNS response carries no question")]
    NoQuestion,
    #[error("DNS response carries too many questions")]
    TooManyQuestions,
    #[error("DNS message ends inside its question")]
    Truncated,
    #[error("DNS name longer than 255 bytes")]
    NameTooLong,
    #[error("DNS label of a reserved type or with a byte that is not printable ASCII")]
    BadLabel,
    #[error("DNS compression pointer that does not point backwards, or too many of them")]
    BadPointer,
}

/// One address the question name resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedAddress {
    pub addr: IpAddr,
    /// How long the answer may be used, in seconds: the least TTL of the address record and
    /// of every CNAME on the way to it (RFC 2181 §8: a TTL with its top bit set counts as 0).
    pub ttl: u32,
}

/// What one response says: the name asked, where its CNAME chain ends, and its addresses.
#[derive(Debug, Clone)]
pub struct DnsResponse {
    /// Transaction id, to pair the response with its query if ever needed.
    pub id: u16,
    /// Response code (0: no error; 3: the name does not exist). Non-zero: no addresses.
    pub rcode: u8,
    /// The first question's name: what the asker looked up.
    pub question: DnsName,
    /// The end of the CNAME chain from `question` (`question` itself when there is none):
    /// the name that owns the addresses.
    pub canonical: DnsName,
    /// Addresses of `canonical`, in message order; at most [`MAX_ANSWERS`].
    pub addresses: Vec<ResolvedAddress>,
    /// The message was cut: its TC bit was set, or a record ran past its end. What came
    /// before is kept.
    pub truncated: bool,
}

impl Default for DnsResponse {
    fn default() -> Self {
        Self {
            id: 0,
            rcode: 0,
            question: DnsName::root(),
            canonical: DnsName::root(),
            addresses: Vec::new(),
            truncated: false,
        }
    }
}

/// Where one answer record sits in the message, without its names decoded. Offsets fit in
/// 16 bits as a DNS message does (`decode_into` reads no further), which keeps the 64 of
/// them in 768 bytes of stack.
#[derive(Debug, Clone, Copy, Default)]
struct RawRecord {
    owner: u16,
    rtype: u16,
    ttl: u32,
    data: u16,
    data_len: u16,
}

impl RawRecord {
    fn owner(&self) -> usize {
        usize::from(self.owner)
    }

    fn data_range(&self) -> std::ops::Range<usize> {
        let start = usize::from(self.data);
        start..start + usize::from(self.data_len)
    }
}

/// Longest DNS message, in bytes: its TCP length prefix is 16 bits, and a UDP payload is
/// smaller still.
const MAX_MESSAGE: usize = u16::MAX as usize;

impl DnsResponse {
    /// Decodes one DNS message (see [`DnsResponse::decode_into`]).
    pub fn decode(message: &[u8]) -> Result<Self, DnsError> {
        let mut response = Self::default();
        response.decode_into(message)?;
        Ok(response)
    }

    /// Decodes one DNS message into `self`, reusing its address list. Never panics; on an
    /// error `self` holds no addresses.
    pub fn decode_into(&mut self, message: &[u8]) -> Result<(), DnsError> {
        self.addresses.clear();
        self.truncated = false;
        self.question = DnsName::root();
        self.canonical = DnsName::root();
        let message = &message[..message.len().min(MAX_MESSAGE)];
        let header = message.get(..HEADER_LEN).ok_or(DnsError::TooShort)?;
        let field = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
        let flags = field(2);
        if flags & 0x8000 == 0 {
            return Err(DnsError::NotAResponse);
        }
        if (flags >> 11) & 0xf != 0 {
            return Err(DnsError::NotAQuery);
        }
        self.id = field(0);
        self.rcode = (flags & 0xf) as u8;
        self.truncated = flags & 0x0200 != 0;
        let (questions, answers) = (field(4), field(6));
        if questions == 0 {
            return Err(DnsError::NoQuestion);
        }
        if questions > MAX_QUESTIONS {
            return Err(DnsError::TooManyQuestions);
        }
        let mut at = read_name(message, HEADER_LEN, &mut self.question)?;
        at = skip_question_fields(message, at)?;
        for _ in 1..questions {
            at = skip_question_fields(message, skip_name(message, at)?)?;
        }
        if self.rcode != 0 {
            self.canonical = self.question;
            return Ok(());
        }
        let mut records = [RawRecord::default(); MAX_ANSWERS];
        let count = self.read_records(message, at, answers, &mut records);
        self.resolve(message, &records[..count]);
        Ok(())
    }

    /// The (address, question name, TTL in seconds) mappings the response teaches.
    pub fn mappings(&self) -> impl Iterator<Item = (IpAddr, &DnsName, u32)> + '_ {
        self.addresses
            .iter()
            .map(|a| (a.addr, &self.question, a.ttl))
    }

    /// Locates up to [`MAX_ANSWERS`] answer records of class IN and type A, AAAA or CNAME
    /// from `at`; returns how many were stored. Stops, marking the message truncated, at a
    /// record that runs past the end or whose owner name cannot be walked (its end is
    /// unknown). Owner names are only skipped here; `resolve` compares them in place.
    fn read_records(
        &mut self,
        message: &[u8],
        mut at: usize,
        claimed: u16,
        records: &mut [RawRecord; MAX_ANSWERS],
    ) -> usize {
        let mut stored = 0;
        for _ in 0..usize::from(claimed).min(MAX_ANSWERS) {
            let owner = at;
            let Ok(after_owner) = skip_name(message, owner) else {
                self.truncated = true;
                break;
            };
            let Some(fixed) = message.get(after_owner..after_owner + RECORD_FIXED_LEN) else {
                self.truncated = true;
                break;
            };
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            // The top bit of the class is mDNS's cache-flush flag.
            let class = u16::from_be_bytes([fixed[2], fixed[3]]) & 0x7fff;
            let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
            let data_len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let data = after_owner + RECORD_FIXED_LEN;
            if data + data_len > message.len() {
                self.truncated = true;
                break;
            }
            at = data + data_len;
            let wanted = class == CLASS_IN && matches!(rtype, TYPE_A | TYPE_AAAA | TYPE_CNAME);
            // Every offset is below `MAX_MESSAGE`, the length `message` was cut to.
            if let (true, Ok(owner), Ok(data), Ok(data_len)) = (
                wanted,
                u16::try_from(owner),
                u16::try_from(data),
                u16::try_from(data_len),
            ) {
                records[stored] = RawRecord {
                    owner,
                    rtype,
                    ttl: if ttl > i32::MAX as u32 { 0 } else { ttl },
                    data,
                    data_len,
                };
                stored += 1;
            }
        }
        stored
    }

    /// Follows the CNAME chain from the question, then keeps the addresses of its end.
    fn resolve(&mut self, message: &[u8], records: &[RawRecord]) {
        let owned_by =
            |record: &RawRecord, name: &DnsName| name_equals(message, record.owner(), name);
        self.canonical = self.question;
        let mut chain_ttl = u32::MAX;
        let mut target = DnsName::root();
        for hop in 0..=MAX_CHAIN {
            let next = records.iter().find(|r| {
                r.rtype == TYPE_CNAME
                    && owned_by(r, &self.canonical)
                    // A CNAME whose target cannot be read is skipped like any bad record.
                    && read_name(message, r.data_range().start, &mut target)
                        .is_ok_and(|end| end <= r.data_range().end)
            });
            let Some(cname) = next else { break };
            if hop == MAX_CHAIN {
                // A loop, or a chain longer than any real one: no address is trusted.
                return;
            }
            chain_ttl = chain_ttl.min(cname.ttl);
            self.canonical = target;
        }
        for record in records {
            let Some(data) = message.get(record.data_range()) else {
                continue;
            };
            let addr = match (record.rtype, data.len()) {
                (TYPE_A, 4) => IpAddr::V4(Ipv4Addr::from([data[0], data[1], data[2], data[3]])),
                (TYPE_AAAA, 16) => match <[u8; 16]>::try_from(data) {
                    Ok(octets) => IpAddr::V6(Ipv6Addr::from(octets)),
                    Err(_) => continue,
                },
                // CNAMEs, and address records of the wrong length.
                _ => continue,
            };
            if owned_by(record, &self.canonical) {
                self.addresses.push(ResolvedAddress {
                    addr,
                    ttl: record.ttl.min(chain_ttl),
                });
            }
        }
    }
}

/// Skips a question's type and class (4 bytes).
fn skip_question_fields(message: &[u8], at: usize) -> Result<usize, DnsError> {
    if at + 4 > message.len() {
        return Err(DnsError::Truncated);
    }
    Ok(at + 4)
}

/// The DNS messages of a TCP stream's bytes, each after its 2-byte length (RFC 1035
/// §4.2.2). The last message may be cut short (a segment ends inside it, or the capture's
/// snap length did): it is yielded with the bytes present, and decoding it keeps what
/// parsed. `stream` must start at a length prefix, as a response's first segment does.
pub fn tcp_messages(stream: &[u8]) -> TcpMessages<'_> {
    TcpMessages { rest: stream }
}

/// Iterator returned by [`tcp_messages`].
#[derive(Debug, Clone)]
pub struct TcpMessages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpMessages<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (prefix, body) = self.rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*prefix)).min(body.len());
        let (message, rest) = body.split_at(len);
        self.rest = rest;
        Some(message)
    }
}

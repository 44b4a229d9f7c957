//! Domain names inside a DNS message: labels, compression pointers and their limits, read
//! into a fixed-size, lower-cased text buffer so decoding a name never allocates.

use super::DnsError;

/// Longest name on the wire, in bytes, length octets and the final zero included
/// (RFC 1035 §2.3.4); its dotted text form is at most 253 characters.
pub const MAX_NAME_WIRE: usize = 255;
/// Most compression pointers followed in one name. Pointers must already point strictly
/// before the segment they end, so a loop is impossible; this only caps the work a hostile
/// chain of one-label segments could cost.
const MAX_JUMPS: usize = 32;
/// Longest dotted text form, in bytes.
const MAX_TEXT: usize = MAX_NAME_WIRE - 2;

/// A domain name as text: lower-cased ASCII, labels joined by dots, no final dot; the root
/// is the empty string. Held inline (254 bytes) so decoding allocates nothing.
#[derive(Clone, Copy)]
pub struct DnsName {
    len: u8,
    text: [u8; MAX_TEXT],
}

impl DnsName {
    /// The root name (empty text).
    pub const fn root() -> Self {
        Self {
            len: 0,
            text: [0; MAX_TEXT],
        }
    }

    /// A name from its dotted text (a final dot allowed), under the limits and rules of
    /// `read_name`: for callers that build answers themselves (tests, fakes).
    pub fn from_text(text: &str) -> Result<Self, DnsError> {
        let mut name = Self::root();
        let mut wire_len = 1;
        for label in text.strip_suffix('.').unwrap_or(text).split('.') {
            let bytes = label.as_bytes();
            if bytes.is_empty() && text.len() > 1 {
                return Err(DnsError::BadLabel);
            }
            if bytes.len() > 63 || !bytes.iter().all(u8::is_ascii_graphic) {
                return Err(DnsError::BadLabel);
            }
            wire_len += 1 + bytes.len();
            if wire_len > MAX_NAME_WIRE {
                return Err(DnsError::NameTooLong);
            }
            if !bytes.is_empty() {
                name.push_label(bytes)?;
            }
        }
        Ok(name)
    }

    /// The dotted, lower-cased text.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored (see `read_name`), so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }

    /// Appends one label (already checked for length and bytes).
    fn push_label(&mut self, label: &[u8]) -> Result<(), DnsError> {
        let at = usize::from(self.len);
        let dot = usize::from(at > 0);
        let end = at + dot + label.len();
        if end > MAX_TEXT {
            return Err(DnsError::NameTooLong);
        }
        if dot == 1 {
            self.text[at] = b'.';
        }
        for (slot, byte) in self.text[at + dot..end].iter_mut().zip(label) {
            *slot = byte.to_ascii_lowercase();
        }
        // `end` ≤ 253, checked above.
        self.len = end as u8;
        Ok(())
    }
}

impl PartialEq for DnsName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for DnsName {}

impl std::fmt::Debug for DnsName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for DnsName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the name at `start` of `message` into `out` and returns the offset just after the
/// name where it starts (after its first pointer, if any), where the record goes on.
///
/// Rejected: a label over 63 bytes, a name over 255 bytes on the wire, a label byte that is
/// not printable ASCII or is a dot (these names are shown to people), the reserved label
/// types 0x40 and 0x80, a pointer that does not point strictly before the segment it ends
/// (which rules out loops and forward references), more than 32 pointers, and a name that
/// runs past the end of the message.
pub fn read_name(message: &[u8], start: usize, out: &mut DnsName) -> Result<usize, DnsError> {
    *out = DnsName::root();
    walk(message, start, |label| {
        if label.iter().any(|&b| !b.is_ascii_graphic() || b == b'.') {
            return Err(DnsError::BadLabel);
        }
        out.push_label(label)
    })
}

/// Whether the name at `start` is `expected`, ASCII case aside, compared in place (no copy;
/// the first differing label ends the walk). A name [`read_name`] rejects equals nothing.
pub fn name_equals(message: &[u8], start: usize, expected: &DnsName) -> bool {
    let text = expected.as_bytes();
    let mut at = 0;
    let walked = walk(message, start, |label| {
        let end = at + label.len();
        let same = text
            .get(at..end)
            .is_some_and(|want| label.eq_ignore_ascii_case(want) && !label.contains(&b'.'));
        match (same, text.get(end)) {
            (true, None) => at = end,
            (true, Some(b'.')) => at = end + 1,
            _ => return Err(DnsError::BadLabel),
        }
        Ok(())
    });
    // `at` stops one past a dot when the name ends before `expected` does.
    walked.is_ok() && at == text.len()
}

/// The offset just after the name at `start`, where its record goes on, without decoding
/// it: only the labels in place are walked (their lengths and types, the 255-byte limit),
/// and a pointer, which ends them, must point backwards; where it points is read, and
/// checked, by whoever reads the name itself.
pub fn skip_name(message: &[u8], start: usize) -> Result<usize, DnsError> {
    let mut at = start;
    loop {
        let &len = message.get(at).ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            0x00 if at + 1 + usize::from(len) - start > MAX_NAME_WIRE => {
                return Err(DnsError::NameTooLong)
            }
            0x00 if len == 0 => return Ok(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xc0 => {
                let &low = message.get(at + 1).ok_or(DnsError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                return if target < start {
                    Ok(at + 2)
                } else {
                    Err(DnsError::BadPointer)
                };
            }
            _ => return Err(DnsError::BadLabel),
        }
    }
}

/// Walks the labels of the name at `start`, following pointers, handing each label to
/// `on_label`; returns the offset after the name in place. See [`read_name`] for the rules.
fn walk(
    message: &[u8],
    start: usize,
    mut on_label: impl FnMut(&[u8]) -> Result<(), DnsError>,
) -> Result<usize, DnsError> {
    let mut at = start;
    // Start of the segment being read: a pointer must point strictly before it.
    let mut segment = start;
    let mut resume = None;
    let mut wire_len = 0usize;
    let mut jumps = 0usize;
    loop {
        let &len = message.get(at).ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            // A label: its length fits in six bits, so it is at most 63 bytes by construction.
            0x00 => {
                let len = usize::from(len);
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE {
                    return Err(DnsError::NameTooLong);
                }
                if len == 0 {
                    return Ok(resume.unwrap_or(at + 1));
                }
                let label = message
                    .get(at + 1..at + 1 + len)
                    .ok_or(DnsError::Truncated)?;
                on_label(label)?;
                at += 1 + len;
            }
            0xc0 => {
                let &low = message.get(at + 1).ok_or(DnsError::Truncated)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                jumps += 1;
                if target >= segment || jumps > MAX_JUMPS {
                    return Err(DnsError::BadPointer);
                }
                resume.get_or_insert(at + 2);
                segment = target;
                at = target;
            }
            // 0x40 (extended label types, RFC 6891 retired them) and 0x80 are reserved.
            _ => return Err(DnsError::BadLabel),
        }
    }
}

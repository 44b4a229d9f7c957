//! What is recorded: who used the network ([`UsageKey`]), how much ([`Counters`]), and
//! when ([`Slot`]: the hour, and the local day it belongs to).

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A user's processes of one app and executable.
    Process = 0,
    /// One network interface (every packet it carried).
    Interface = 1,
    /// Traffic no socket matched, by protocol (`tcp`, `udp`, `icmp`, `other`, `tunnel`).
    Unattributed = 2,
}

impl Kind {
    /// The number stored in the database.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Kind> {
        match code {
            0 => Some(Kind::Process),
            1 => Some(Kind::Interface),
            2 => Some(Kind::Unattributed),
            _ => None,
        }
    }
}

/// Who a row counts: for processes the app key (app id when known, else the executable's
/// path), the executable and the user; for interfaces and unattributed traffic the name,
/// with an empty executable and uid 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    pub kind: Kind,
    pub app: String,
    pub executable: String,
    pub uid: u32,
}

impl UsageKey {
    pub fn process(app: &str, executable: &str, uid: u32) -> UsageKey {
        UsageKey {
            kind: Kind::Process,
            app: app.to_owned(),
            executable: executable.to_owned(),
            uid,
        }
    }

    pub fn interface(name: &str) -> UsageKey {
        UsageKey {
            kind: Kind::Interface,
            app: name.to_owned(),
            executable: String::new(),
            uid: 0,
        }
    }

    pub fn unattributed(protocol: &str) -> UsageKey {
        UsageKey {
            kind: Kind::Unattributed,
            app: protocol.to_owned(),
            executable: String::new(),
            uid: 0,
        }
    }
}

/// Bytes and packets each way. Additions saturate: a counter never wraps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub sent_packets: u64,
    pub received_packets: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.sent_bytes = self.sent_bytes.saturating_add(other.sent_bytes);
        self.received_bytes = self.received_bytes.saturating_add(other.received_bytes);
        self.sent_packets = self.sent_packets.saturating_add(other.sent_packets);
        self.received_packets = self.received_packets.saturating_add(other.received_packets);
    }

    /// What `self` (a later cumulative total) adds to `earlier`; a counter that went down
    /// (the engine forgot and restarted it) adds nothing rather than a negative amount.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            sent_bytes: self.sent_bytes.saturating_sub(earlier.sent_bytes),
            received_bytes: self.received_bytes.saturating_sub(earlier.received_bytes),
            sent_packets: self.sent_packets.saturating_sub(earlier.sent_packets),
            received_packets: self
                .received_packets
                .saturating_sub(earlier.received_packets),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }

    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.sent_bytes.saturating_add(self.received_bytes)
    }
}

/// Seconds in an hour and in a day.
pub const HOUR_S: u64 = 3600;
pub const DAY_S: u64 = 86_400;

/// When a row's traffic happened: its local day (start of the day, seconds since the
/// epoch) and, unless the row was merged into its day, its hour (start of the hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub day: u64,
    pub hour: Option<u64>,
}

impl Slot {
    /// The slot of the hour holding `time` (seconds since the epoch).
    pub fn of_time(time: u64) -> Slot {
        let hour = time - time % HOUR_S;
        Slot {
            day: crate::localtime::local_midnight(hour),
            hour: Some(hour),
        }
    }
}

/// One row as a query sees it: a bucket, the key with its latest display name, the sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEntry {
    pub bucket_start: u64,
    pub key: UsageKey,
    pub display_name: String,
    pub counters: Counters,
}

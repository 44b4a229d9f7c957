//! Reverse DNS (PTR) lookups for remote addresses the helper saw no DNS answer for: which
//! addresses are worth asking about, a bounded LRU cache of the answers, and the limits on
//! asking (lookups started per second, lookups in flight). The lookups themselves go
//! through an [`AddressResolver`] (gio's resolver in the app, a fake in tests).
//!
//! Which addresses are never looked up: loopback, link-local, unspecified, multicast and
//! broadcast addresses (no DNS server names them usefully), and the documentation ranges
//! (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), which never appear on
//! a real network. Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) *are*
//! looked up: the local network's DNS server (a router, dnsmasq, systemd-resolved with
//! mDNS) often names its machines ("printer.lan"), resolvers are asked by RFC 6303 to
//! answer those queries themselves rather than forward them, and the query tells the DNS
//! server no more than it sees of the local network already.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// Looks up the name of an address (a PTR query); `None` when there is none or the lookup
/// failed.
pub trait AddressResolver {
    fn lookup(&self, address: IpAddr) -> Pin<Box<dyn Future<Output = Option<String>>>>;
}

/// How much the lookups may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupLimits {
    /// Answers kept (names and "no name" alike); the least recently used goes first.
    pub cached: usize,
    /// Lookups started in any one second.
    pub per_second: usize,
    /// Lookups waiting for their answer at once.
    pub in_flight: usize,
    /// Addresses waiting for their turn; the oldest requests are dropped beyond it (they
    /// are asked for again while still shown).
    pub queued: usize,
}

impl Default for LookupLimits {
    fn default() -> Self {
        Self {
            cached: 4096,
            per_second: 5,
            in_flight: 4,
            queued: 256,
        }
    }
}

/// Whether a lookup of `address` may tell anything (see the module's comment).
pub fn worth_looking_up(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(a) => {
            let [o1, o2, o3, _] = a.octets();
            let documentation =
                matches!((o1, o2, o3), (192, 0, 2) | (198, 51, 100) | (203, 0, 113));
            !(a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || documentation)
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return worth_looking_up(IpAddr::V4(v4));
            }
            let segments = a.segments();
            let link_local = segments[0] & 0xffc0 == 0xfe80;
            let documentation = segments[0] == 0x2001 && segments[1] == 0x0db8;
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || link_local
                || documentation)
        }
    }
}

/// What the cache knows of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Named(String),
    /// The lookup found no name (or failed): not asked again while cached.
    Nameless,
}

/// The cache and the limits; no I/O of its own: [`ReverseNames::due`] says which lookups
/// to start now, [`ReverseNames::finished`] takes their answers.
#[derive(Debug)]
pub struct ReverseNames {
    limits: LookupLimits,
    /// Address → (answer, last use).
    answers: HashMap<IpAddr, (Answer, u64)>,
    /// Last use → address: the least recently used first.
    by_use: BTreeMap<u64, IpAddr>,
    clock: u64,
    /// Addresses asked for and not yet started, oldest first.
    queue: VecDeque<IpAddr>,
    /// Addresses queued or in flight.
    pending: HashSet<IpAddr>,
    in_flight: usize,
    /// When the lookups of the last second started.
    started: VecDeque<Instant>,
}

impl Default for ReverseNames {
    fn default() -> Self {
        Self::new(LookupLimits::default())
    }
}

impl ReverseNames {
    pub fn new(limits: LookupLimits) -> Self {
        Self {
            limits,
            answers: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            queue: VecDeque::new(),
            pending: HashSet::new(),
            in_flight: 0,
            started: VecDeque::new(),
        }
    }

    /// The name found for `address`, if one was; an address not asked about yet (and worth
    /// it) is queued for a lookup.
    pub fn name(&mut self, address: IpAddr) -> Option<&str> {
        if !self.answers.contains_key(&address) {
            self.request(address);
            return None;
        }
        self.touch(address);
        match self.answers.get(&address) {
            Some((Answer::Named(name), _)) => Some(name),
            _ => None,
        }
    }

    /// Queues a lookup of `address` unless it is cached, already waiting, or not worth it.
    fn request(&mut self, address: IpAddr) {
        if !worth_looking_up(address) || self.pending.contains(&address) {
            return;
        }
        if self.queue.len() >= self.limits.queued {
            if let Some(dropped) = self.queue.pop_front() {
                self.pending.remove(&dropped);
            }
        }
        self.queue.push_back(address);
        self.pending.insert(address);
    }

    /// The lookups to start at `now`, within the limits; each must be answered through
    /// [`Self::finished`].
    pub fn due(&mut self, now: Instant) -> Vec<IpAddr> {
        while self
            .started
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
        {
            self.started.pop_front();
        }
        let mut due = Vec::new();
        while self.in_flight < self.limits.in_flight && self.started.len() < self.limits.per_second
        {
            let Some(address) = self.queue.pop_front() else {
                break;
            };
            self.in_flight += 1;
            self.started.push_back(now);
            due.push(address);
        }
        due
    }

    /// Takes the answer of a lookup [`Self::due`] started.
    pub fn finished(&mut self, address: IpAddr, name: Option<String>) {
        if self.pending.remove(&address) {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let answer = match name {
            Some(name) if !name.trim().is_empty() => Answer::Named(name),
            _ => Answer::Nameless,
        };
        self.clock += 1;
        if let Some((_, used)) = self.answers.insert(address, (answer, self.clock)) {
            self.by_use.remove(&used);
        }
        self.by_use.insert(self.clock, address);
        while self.answers.len() > self.limits.cached {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.answers.remove(&oldest);
        }
    }

    fn touch(&mut self, address: IpAddr) {
        self.clock += 1;
        if let Some((_, used)) = self.answers.get_mut(&address) {
            self.by_use.remove(used);
            *used = self.clock;
            self.by_use.insert(self.clock, address);
        }
    }

    /// Answers cached.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Lookups started and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Forgets the queue (lookups turned off); lookups in flight still land.
    pub fn cancel_queued(&mut self) {
        for address in self.queue.drain(..) {
            self.pending.remove(&address);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::cell::RefCell;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::rc::Rc;

    /// Answers from a table, counting the lookups it is asked for.
    #[derive(Default, Clone)]
    struct FakeResolver {
        names: HashMap<IpAddr, String>,
        asked: Rc<RefCell<Vec<IpAddr>>>,
    }

    impl AddressResolver for FakeResolver {
        fn lookup(&self, address: IpAddr) -> Pin<Box<dyn Future<Output = Option<String>>>> {
            self.asked.borrow_mut().push(address);
            let name = self.names.get(&address).cloned();
            Box::pin(async move { name })
        }
    }

    /// Starts what is due at `now` through `resolver` and feeds the answers back.
    fn run(names: &mut ReverseNames, resolver: &FakeResolver, now: Instant) -> usize {
        let due = names.due(now);
        let n = due.len();
        for address in due {
            let answer = gtk::glib::MainContext::new().block_on(resolver.lookup(address));
            names.finished(address, answer);
        }
        n
    }

    fn public(n: u32) -> IpAddr {
        // 11.0.0.0/8 and up: ordinary public addresses, never contacted by these tests.
        IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + n))
    }

    #[test]
    fn a_name_found_once_is_served_from_the_cache() {
        let address = public(1);
        let resolver = FakeResolver {
            names: HashMap::from([(address, "host.example.net".to_owned())]),
            ..Default::default()
        };
        let mut names = ReverseNames::default();
        assert_eq!(names.name(address), None, "not known yet: queued");
        assert_eq!(names.name(address), None, "queued once");
        let now = Instant::now();
        assert_eq!(run(&mut names, &resolver, now), 1);
        assert_eq!(names.name(address), Some("host.example.net"));
        assert_eq!(names.name(public(2)), None);
        run(&mut names, &resolver, now + Duration::from_secs(1));
        assert_eq!(names.name(public(2)), None, "no name: cached as such");
        assert_eq!(run(&mut names, &resolver, now + Duration::from_secs(2)), 0);
        assert_eq!(resolver.asked.borrow().len(), 2, "each address asked once");
    }

    #[test]
    fn the_cache_keeps_the_most_recently_used_answers_within_its_bound() {
        let limits = LookupLimits {
            cached: 100,
            per_second: 1000,
            in_flight: 1000,
            queued: 1000,
        };
        let mut names = ReverseNames::new(limits);
        let resolver = FakeResolver::default();
        let mut now = Instant::now();
        for n in 0..1000 {
            names.name(public(n));
            run(&mut names, &resolver, now);
            now += Duration::from_millis(10);
            // The first address stays in use.
            names.name(public(0));
        }
        run(&mut names, &resolver, now);
        assert_eq!(names.len(), 100, "bounded");
        names.name(public(0));
        assert_eq!(
            names.due(now + Duration::from_secs(5)),
            Vec::<IpAddr>::new(),
            "still cached: not asked again"
        );
        names.name(public(1));
        assert_eq!(
            names.due(now + Duration::from_secs(5)),
            [public(1)],
            "evicted long ago: asked again"
        );
    }

    #[test]
    fn lookups_start_at_most_five_a_second_and_four_at_once() {
        let mut names = ReverseNames::default();
        for n in 0..20 {
            names.name(public(n));
        }
        let t0 = Instant::now();
        let first = names.due(t0);
        assert_eq!(first.len(), 4, "in flight at most");
        assert!(names.due(t0).is_empty(), "none until one answers");
        names.finished(first[0], None);
        assert_eq!(names.due(t0 + Duration::from_millis(100)).len(), 1);
        names.finished(first[1], None);
        assert!(
            names.due(t0 + Duration::from_millis(200)).is_empty(),
            "five started this second"
        );
        assert_eq!(
            names.due(t0 + Duration::from_millis(1000)).len(),
            1,
            "the first four's second is over"
        );
        assert_eq!(names.in_flight(), 4);
    }

    #[test]
    fn the_queue_is_bounded_and_drops_its_oldest_requests() {
        let mut names = ReverseNames::new(LookupLimits {
            queued: 3,
            ..LookupLimits::default()
        });
        for n in 0..5 {
            names.name(public(n));
        }
        assert_eq!(names.due(Instant::now()), [public(2), public(3), public(4)]);
    }

    #[test]
    fn local_and_documentation_addresses_are_never_looked_up() {
        let never: [IpAddr; 9] = [
            Ipv4Addr::LOCALHOST.into(),
            Ipv4Addr::new(127, 0, 0, 53).into(),
            Ipv4Addr::new(169, 254, 1, 1).into(),
            Ipv4Addr::new(192, 0, 2, 7).into(),
            Ipv4Addr::new(224, 0, 0, 251).into(),
            Ipv6Addr::LOCALHOST.into(),
            "fe80::1".parse().unwrap(),
            "2001:db8::5".parse().unwrap(),
            "::ffff:127.0.0.1".parse().unwrap(),
        ];
        let mut names = ReverseNames::default();
        for address in never {
            assert!(!worth_looking_up(address), "{address}");
            names.name(address);
        }
        assert!(names.due(Instant::now()).is_empty());
        for address in ["10.1.2.3", "192.168.1.10", "fd00::1", "2a00:1450::1"] {
            assert!(worth_looking_up(address.parse().unwrap()), "{address}");
        }
    }

    #[test]
    fn turning_lookups_off_drops_the_queue() {
        let mut names = ReverseNames::default();
        names.name(public(1));
        names.cancel_queued();
        assert!(names.due(Instant::now()).is_empty());
        names.name(public(1));
        assert_eq!(
            names.due(Instant::now()),
            [public(1)],
            "asked for again later: queued again"
        );
    }
}

//! The name cache with time passed in: who gets which name, when names expire, and how the
//! bounds evict.

use super::*;
use crate::parse::dns::{DnsName, ResolvedAddress};

const NS: NamespaceId = 4_026_531_840;
const OTHER_NS: NamespaceId = 4_026_532_999;

fn answer(name: &str, ttl: u32, addrs: &[&str]) -> DnsResponse {
    let question = DnsName::from_text(name).unwrap();
    DnsResponse {
        question,
        canonical: question,
        addresses: addrs
            .iter()
            .map(|a| ResolvedAddress {
                addr: a.parse().unwrap(),
                ttl,
            })
            .collect(),
        ..DnsResponse::default()
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn name(
    cache: &mut NameCache,
    ns: NamespaceId,
    asker: Option<u32>,
    addr: &str,
    now: Instant,
) -> Option<String> {
    cache
        .name_for(ns, asker, ip(addr), now)
        .map(|n| n.to_string())
}

#[test]
fn every_address_of_an_answer_is_named_by_its_question_in_its_namespace_only() {
    let mut cache = NameCache::default();
    let t0 = Instant::now();
    let github = answer("github.com", 60, &["140.82.121.4", "2001:db8::4"]);
    cache.record(NS, Some(42), &github, t0);
    for addr in ["140.82.121.4", "2001:db8::4"] {
        assert_eq!(
            name(&mut cache, NS, None, addr, t0).as_deref(),
            Some("github.com")
        );
        assert_eq!(
            name(&mut cache, NS, Some(7), addr, t0).as_deref(),
            Some("github.com")
        );
    }
    assert_eq!(name(&mut cache, OTHER_NS, None, "140.82.121.4", t0), None);
    assert_eq!(name(&mut cache, NS, None, "192.0.2.1", t0), None);
    assert_eq!(cache.len(), (2, 2));
}

#[test]
fn an_asker_keeps_its_own_name_while_others_get_the_latest() {
    let mut cache = NameCache::default();
    let t0 = Instant::now();
    // Two names of one CDN address: Firefox asked for one, curl later for the other.
    cache.record(
        NS,
        Some(100),
        &answer("www.example.org", 300, &["192.0.2.80"]),
        t0,
    );
    cache.record(
        NS,
        Some(200),
        &answer("cdn.example.net", 300, &["192.0.2.80"]),
        t0,
    );
    let at = |c: &mut NameCache, asker| name(c, NS, asker, "192.0.2.80", t0);
    assert_eq!(
        at(&mut cache, Some(100)).as_deref(),
        Some("www.example.org")
    );
    assert_eq!(
        at(&mut cache, Some(200)).as_deref(),
        Some("cdn.example.net")
    );
    assert_eq!(
        at(&mut cache, Some(300)).as_deref(),
        Some("cdn.example.net")
    );
    assert_eq!(at(&mut cache, None).as_deref(), Some("cdn.example.net"));
    // An answer whose asker is unknown feeds only the per-address table.
    cache.record(NS, None, &answer("third.example", 300, &["192.0.2.80"]), t0);
    assert_eq!(
        at(&mut cache, Some(100)).as_deref(),
        Some("www.example.org")
    );
    assert_eq!(at(&mut cache, None).as_deref(), Some("third.example"));
    cache.forget_askers(|pid| pid == 100);
    assert_eq!(at(&mut cache, Some(100)).as_deref(), Some("third.example"));
}

#[test]
fn a_name_lasts_its_ttl_within_the_floor_and_the_ceiling_and_a_new_answer_replaces_it() {
    let mut cache = NameCache::default();
    let t0 = Instant::now();
    let s = Duration::from_secs;
    cache.record(NS, Some(1), &answer("short.test", 0, &["192.0.2.1"]), t0);
    cache.record(NS, Some(1), &answer("mid.test", 300, &["192.0.2.2"]), t0);
    cache.record(
        NS,
        Some(1),
        &answer("long.test", i32::MAX as u32, &["192.0.2.3"]),
        t0,
    );
    for (addr, kept) in [
        ("192.0.2.1", MIN_KEEP),
        ("192.0.2.2", s(300)),
        ("192.0.2.3", MAX_KEEP),
    ] {
        let before = t0 + kept - Duration::from_millis(1);
        assert!(
            name(&mut cache, NS, Some(1), addr, before).is_some(),
            "{addr}"
        );
        assert_eq!(
            name(&mut cache, NS, Some(1), addr, t0 + kept),
            None,
            "{addr}"
        );
        assert_eq!(name(&mut cache, NS, None, addr, t0 + kept), None, "{addr}");
    }
    assert!(
        cache.is_empty(),
        "expired entries met by lookups are dropped"
    );
    cache.record(NS, Some(1), &answer("old.test", 20, &["192.0.2.9"]), t0);
    cache.record(
        NS,
        Some(1),
        &answer("new.test", 20, &["192.0.2.9"]),
        t0 + s(30),
    );
    assert_eq!(
        name(&mut cache, NS, Some(1), "192.0.2.9", t0 + s(40)).as_deref(),
        Some("new.test")
    );
}

#[test]
fn expired_names_are_swept_without_lookups() {
    let mut cache = NameCache::default();
    let t0 = Instant::now();
    cache.record(NS, Some(1), &answer("a.test", 60, &["192.0.2.1"]), t0);
    cache.record(NS, Some(1), &answer("b.test", 600, &["192.0.2.2"]), t0);
    cache.forget_expired(t0 + Duration::from_secs(61));
    assert_eq!(cache.len(), (1, 1));
}

#[test]
fn an_ipv4_mapped_address_has_the_name_of_its_ipv4_address() {
    let mut cache = NameCache::default();
    let t0 = Instant::now();
    cache.record(NS, Some(5), &answer("v4.test", 60, &["192.0.2.7"]), t0);
    assert_eq!(
        name(&mut cache, NS, Some(5), "::ffff:192.0.2.7", t0).as_deref(),
        Some("v4.test")
    );
}

#[test]
fn a_full_table_evicts_the_least_recently_used_name() {
    let mut cache = NameCache::with_capacity(3, 2);
    let t0 = Instant::now();
    for (i, addr) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .enumerate()
    {
        cache.record(
            NS,
            Some(i as u32),
            &answer(&format!("n{i}.test"), 60, &[addr]),
            t0,
        );
    }
    assert_eq!(cache.len(), (3, 2), "the asker table holds its own bound");
    assert!(name(&mut cache, NS, None, "192.0.2.1", t0).is_some()); // used: now the newest
    cache.record(NS, None, &answer("n3.test", 60, &["192.0.2.4"]), t0);
    assert!(name(&mut cache, NS, None, "192.0.2.1", t0).is_some());
    assert_eq!(
        name(&mut cache, NS, None, "192.0.2.2", t0),
        None,
        "least recently used"
    );
    assert!(name(&mut cache, NS, None, "192.0.2.3", t0).is_some());
    assert!(name(&mut cache, NS, None, "192.0.2.4", t0).is_some());
    assert_eq!(
        name(&mut cache, NS, Some(0), "192.0.2.1", t0).as_deref(),
        Some("n0.test"),
        "from the address table"
    );
    assert_eq!(cache.len(), (3, 2));
}

#[test]
fn ten_thousand_distinct_names_and_many_more_keep_the_entry_bounds() {
    let mut cache = NameCache::default();
    let t0 = Instant::now();
    let record = |cache: &mut NameCache, i: u32| {
        let addr = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
        cache.record(
            NS,
            Some(i % 50),
            &answer(&format!("host-{i}.example"), 300, &[&addr]),
            t0,
        );
    };
    for i in 0..10_000 {
        record(&mut cache, i);
    }
    assert_eq!(cache.len(), (10_000, 10_000));
    assert_eq!(
        name(&mut cache, NS, Some(17), "10.0.0.17", t0).as_deref(),
        Some("host-17.example")
    );
    for i in 10_000..100_000 {
        record(&mut cache, i);
    }
    assert_eq!(cache.len(), (MAX_ADDRESSES, MAX_ASKER_ADDRESSES));
    let newest = std::net::Ipv4Addr::from(0x0a00_0000 + 99_999u32).to_string();
    assert!(name(&mut cache, NS, None, &newest, t0).is_some());
    assert_eq!(
        name(&mut cache, NS, None, "10.0.0.1", t0),
        None,
        "the oldest went first"
    );
}

#[test]
fn an_answer_without_addresses_or_to_the_root_name_records_nothing() {
    let mut cache = NameCache::default();
    cache.record(NS, Some(1), &answer("nx.test", 60, &[]), Instant::now());
    cache.record(NS, Some(1), &answer("", 60, &["192.0.2.1"]), Instant::now());
    assert!(cache.is_empty());
}

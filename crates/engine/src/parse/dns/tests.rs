//! The DNS response decoder on byte fixtures: what real servers send (compression, CNAME
//! chains), what hostile ones could (loops, forward pointers, lengths past the end, 65,535
//! answers, over-long labels and names), and random or mutated bytes.

use super::*;

/// A response as dig shows it for `www.github.com`, compressed as servers write it:
/// `www.github.com. 3600 CNAME github.com.` then `github.com. 60 A 140.82.121.4`.
static WWW_GITHUB_COM: [u8; 62] = [
    0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // header
    3, b'w', b'w', b'w', 6, b'g', b'i', b't', b'h', b'u', b'b', 3, b'c', b'o', b'm', 0, // @12
    0x00, 0x01, 0x00, 0x01, // A, IN
    0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x02, 0xc0, 0x10, // @32
    0xc0, 0x10, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 140, 82, 121, 4,
];

/// Record data for the test encoder.
enum Data<'a> {
    A([u8; 4]),
    Aaaa([u8; 16]),
    Cname(&'a str),
    Raw(u16, &'a [u8]),
}

/// Uncompressed wire form of a dotted name.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// Test-only encoder: a response (flags 0x8180) to `question` type A, with `answers`
/// (owner, TTL, data) written without compression; `claimed` answers in the header.
fn response_claiming(claimed: u16, question: &str, answers: &[(&str, u32, Data)]) -> Vec<u8> {
    let mut m = vec![0xab, 0xcd, 0x81, 0x80, 0, 1];
    m.extend_from_slice(&claimed.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend(wire_name(question));
    m.extend_from_slice(&[0, 1, 0, 1]);
    for (owner, ttl, data) in answers {
        m.extend(wire_name(owner));
        let (rtype, bytes) = match data {
            Data::A(a) => (TYPE_A, a.to_vec()),
            Data::Aaaa(a) => (TYPE_AAAA, a.to_vec()),
            Data::Cname(target) => (TYPE_CNAME, wire_name(target)),
            Data::Raw(t, b) => (*t, b.to_vec()),
        };
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        m.extend(bytes);
    }
    m
}

fn response(question: &str, answers: &[(&str, u32, Data)]) -> Vec<u8> {
    response_claiming(answers.len() as u16, question, answers)
}

fn v4(a: [u8; 4], ttl: u32) -> ResolvedAddress {
    ResolvedAddress {
        addr: IpAddr::from(a),
        ttl,
    }
}

const V6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
];

#[test]
fn an_a_record_maps_its_address_to_the_lower_cased_question_name() {
    let m = response(
        "Example.COM",
        &[("example.com", 300, Data::A([192, 0, 2, 1]))],
    );
    let r = DnsResponse::decode(&m).unwrap();
    assert_eq!((r.id, r.rcode, r.truncated), (0xabcd, 0, false));
    assert_eq!(r.question.as_str(), "example.com");
    assert_eq!(r.canonical.as_str(), "example.com");
    assert_eq!(r.addresses, [v4([192, 0, 2, 1], 300)]);
    let mappings: Vec<_> = r.mappings().map(|(a, n, t)| (a, n.as_str(), t)).collect();
    assert_eq!(
        mappings,
        [(IpAddr::from([192, 0, 2, 1]), "example.com", 300)]
    );
}

#[test]
fn an_aaaa_record_gives_an_ipv6_address() {
    let m = response("v6.example", &[("v6.example", 7, Data::Aaaa(V6))]);
    let r = DnsResponse::decode(&m).unwrap();
    assert_eq!(r.addresses[0].addr, IpAddr::from(V6));
    assert_eq!(r.addresses[0].ttl, 7);
}

#[test]
fn a_compressed_cname_answer_names_the_address_after_the_question_with_the_least_ttl() {
    let r = DnsResponse::decode(&WWW_GITHUB_COM).unwrap();
    assert_eq!(r.question.as_str(), "www.github.com");
    assert_eq!(r.canonical.as_str(), "github.com");
    assert_eq!(r.addresses, [v4([140, 82, 121, 4], 60)]);
    assert_eq!(r.id, 0x1234);
}

#[test]
fn a_cname_chain_is_followed_in_any_order_and_its_ttl_is_the_least_on_the_way() {
    let m = response(
        "app.example",
        &[
            ("edge.cdn.test", 20, Data::A([198, 51, 100, 7])),
            ("lb.example", 30, Data::Cname("edge.cdn.test")),
            ("app.example", 600, Data::Cname("lb.example")),
            ("edge.cdn.test", 20, Data::Aaaa(V6)),
        ],
    );
    let r = DnsResponse::decode(&m).unwrap();
    assert_eq!(r.question.as_str(), "app.example");
    assert_eq!(r.canonical.as_str(), "edge.cdn.test");
    let got: Vec<_> = r.mappings().map(|(a, n, t)| (a, n.as_str(), t)).collect();
    assert_eq!(
        got,
        [
            (IpAddr::from([198, 51, 100, 7]), "app.example", 20),
            (IpAddr::from(V6), "app.example", 20)
        ]
    );
    let short = response(
        "app.example",
        &[
            ("app.example", 5, Data::Cname("edge.cdn.test")),
            ("edge.cdn.test", 300, Data::A([198, 51, 100, 7])),
        ],
    );
    assert_eq!(DnsResponse::decode(&short).unwrap().addresses[0].ttl, 5);
}

#[test]
fn records_of_names_outside_the_chain_name_nothing() {
    // An answer smuggling an address for another name, and an A record at the question
    // while the question is a CNAME (the chain's end owns the addresses).
    let m = response(
        "bank.example",
        &[
            ("evil.example", 60, Data::A([203, 0, 113, 66])),
            ("bank.example", 60, Data::Cname("www.bank.example")),
            ("bank.example", 60, Data::A([203, 0, 113, 67])),
            ("www.bank.example", 60, Data::A([192, 0, 2, 80])),
        ],
    );
    let r = DnsResponse::decode(&m).unwrap();
    assert_eq!(r.addresses, [v4([192, 0, 2, 80], 60)]);
}

#[test]
fn a_cname_loop_or_an_over_long_chain_resolves_to_no_address() {
    let looped = response(
        "a.test",
        &[
            ("a.test", 60, Data::Cname("b.test")),
            ("b.test", 60, Data::Cname("a.test")),
            ("a.test", 60, Data::A([192, 0, 2, 1])),
        ],
    );
    let r = DnsResponse::decode(&looped).unwrap();
    assert!(r.addresses.is_empty());
    let names: Vec<String> = (0..=MAX_CHAIN + 1).map(|i| format!("n{i}.test")).collect();
    let mut answers: Vec<(&str, u32, Data)> = names
        .windows(2)
        .map(|w| (w[0].as_str(), 60, Data::Cname(w[1].as_str())))
        .collect();
    answers.push((names[MAX_CHAIN + 1].as_str(), 60, Data::A([192, 0, 2, 2])));
    let r = DnsResponse::decode(&response("n0.test", &answers)).unwrap();
    assert!(
        r.addresses.is_empty(),
        "{} hops is one too many",
        MAX_CHAIN + 1
    );
    answers.remove(0);
    let r = DnsResponse::decode(&response("n1.test", &answers)).unwrap();
    assert_eq!(
        r.addresses,
        [v4([192, 0, 2, 2], 60)],
        "{MAX_CHAIN} hops are followed"
    );
}

#[test]
fn a_pointer_to_itself_or_forward_is_rejected() {
    let mut to_itself = WWW_GITHUB_COM;
    to_itself[12..14].copy_from_slice(&[0xc0, 0x0c]);
    assert_eq!(
        DnsResponse::decode(&to_itself).unwrap_err(),
        DnsError::BadPointer
    );
    // The CNAME's owner pointing at the A record's owner, after it: the record is unreadable,
    // so decoding stops there, keeping the question.
    let mut forward = WWW_GITHUB_COM;
    forward[32..34].copy_from_slice(&[0xc0, 46]);
    let r = DnsResponse::decode(&forward).unwrap();
    assert!(r.truncated && r.addresses.is_empty());
    assert_eq!(r.question.as_str(), "www.github.com");
}

#[test]
fn pointers_that_bounce_between_segments_cannot_loop() {
    // Question: "a" then a pointer to 12 (its own start): not before its segment.
    let mut m = vec![0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(DnsResponse::decode(&m).unwrap_err(), DnsError::BadPointer);
    // Answer owner at 26 → 21 ("b"), whose pointer → 17 ("x"), whose pointer → 21 again:
    // not before the segment at 17, so the bounce ends there.
    let mut m = vec![0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    m.extend_from_slice(&[0, 0, 1, 0, 1]); // question: the root name, @12
    m.extend_from_slice(&[1, b'x', 0xc0, 21]); // @17
    m.extend_from_slice(&[1, b'b', 0xc0, 17, 0]); // @21
    let owner = m.len();
    m.extend_from_slice(&[0xc0, 21, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9]);
    let mut scratch = DnsName::root();
    assert_eq!(
        name::read_name(&m, owner, &mut scratch),
        Err(DnsError::BadPointer)
    );
    assert!(DnsResponse::decode(&m).unwrap().truncated);
}

#[test]
fn a_record_longer_than_the_message_stops_decoding_and_keeps_what_came_before() {
    let mut m = response(
        "x.test",
        &[
            ("x.test", 60, Data::A([192, 0, 2, 1])),
            ("x.test", 60, Data::A([192, 0, 2, 2])),
        ],
    );
    let len = m.len();
    m[len - 6..len - 4].copy_from_slice(&100u16.to_be_bytes()); // second record's length
    let r = DnsResponse::decode(&m).unwrap();
    assert!(r.truncated);
    assert_eq!(r.addresses, [v4([192, 0, 2, 1], 60)]);
}

#[test]
fn a_malformed_record_is_skipped_and_the_next_one_read() {
    let m = response(
        "x.test",
        &[
            ("x.test", 60, Data::Raw(TYPE_A, &[1, 2, 3])),
            ("x.test", 60, Data::Raw(TYPE_AAAA, &[0; 4])),
            ("x.test", 60, Data::Raw(TYPE_CNAME, &[0xc0, 0xff])),
            ("x.test", 60, Data::Raw(16, b"\x05hello")), // TXT
            ("x.test", 0x8000_0000, Data::A([192, 0, 2, 3])),
        ],
    );
    let r = DnsResponse::decode(&m).unwrap();
    assert!(!r.truncated);
    assert_eq!(
        r.addresses,
        [v4([192, 0, 2, 3], 0)],
        "top-bit TTL counts as 0"
    );
}

#[test]
fn a_header_claiming_65535_answers_costs_at_most_64_records() {
    let owners: Vec<(&str, u32, Data)> = (0..100u8)
        .map(|i| ("many.test", 60, Data::A([10, 0, 0, i])))
        .collect();
    let r = DnsResponse::decode(&response_claiming(u16::MAX, "many.test", &owners)).unwrap();
    assert_eq!(r.addresses.len(), MAX_ANSWERS);
    assert_eq!(r.addresses[63].addr, IpAddr::from([10, 0, 0, 63]));
    let two = response_claiming(u16::MAX, "many.test", &owners[..2]);
    let r = DnsResponse::decode(&two).unwrap();
    assert_eq!((r.addresses.len(), r.truncated), (2, true));
}

#[test]
fn labels_over_63_bytes_and_names_over_255_are_rejected_and_the_limits_accepted() {
    let label = |n: usize| "a".repeat(n);
    let longest_label = format!("{}.test", label(63));
    let m = response(
        &longest_label,
        &[(&longest_label, 1, Data::A([192, 0, 2, 1]))],
    );
    assert_eq!(DnsResponse::decode(&m).unwrap().addresses.len(), 1);
    let mut m = response(&longest_label, &[]);
    m[12] = 64; // a 64-byte label: its length byte has the reserved type 0x40
    m.insert(13, b'a');
    assert_eq!(DnsResponse::decode(&m).unwrap_err(), DnsError::BadLabel);
    // 3 × (1 + 63) + (1 + 61) + 1 = 255 bytes on the wire: the longest name.
    let longest = format!("{0}.{0}.{0}.{1}", label(63), label(61));
    let m = response(&longest, &[(&longest, 1, Data::A([192, 0, 2, 1]))]);
    let r = DnsResponse::decode(&m).unwrap();
    assert_eq!((r.question.as_str().len(), r.addresses.len()), (253, 1));
    let too_long = format!("{0}.{0}.{0}.{1}", label(63), label(62));
    let m = response(&too_long, &[]);
    assert_eq!(DnsResponse::decode(&m).unwrap_err(), DnsError::NameTooLong);
}

#[test]
fn labels_with_dots_spaces_or_control_bytes_are_rejected() {
    for bad in [b'.', b' ', b'\n', 0x7f, 0xc3] {
        let mut m = response("ab.test", &[]);
        m[14] = bad;
        assert_eq!(
            DnsResponse::decode(&m).unwrap_err(),
            DnsError::BadLabel,
            "{bad}"
        );
    }
}

#[test]
fn a_truncated_response_keeps_the_answers_before_the_cut() {
    let mut m = response(
        "big.test",
        &[
            ("big.test", 60, Data::A([192, 0, 2, 1])),
            ("big.test", 60, Data::A([192, 0, 2, 2])),
        ],
    );
    m[2] |= 0x02; // TC
    m.truncate(m.len() - 3);
    let r = DnsResponse::decode(&m).unwrap();
    assert!(r.truncated);
    assert_eq!(r.addresses, [v4([192, 0, 2, 1], 60)]);
    m.truncate(20); // inside the question
    assert_eq!(DnsResponse::decode(&m).unwrap_err(), DnsError::Truncated);
}

#[test]
fn queries_other_opcodes_and_questionless_messages_are_not_answers() {
    let mut query = response("q.test", &[]);
    query[2] = 0x01;
    assert_eq!(
        DnsResponse::decode(&query).unwrap_err(),
        DnsError::NotAResponse
    );
    let mut notify = response("q.test", &[]);
    notify[2] = 0x80 | (4 << 3);
    assert_eq!(
        DnsResponse::decode(&notify).unwrap_err(),
        DnsError::NotAQuery
    );
    let mut mdns = response("q.test", &[]);
    mdns[5] = 0;
    assert_eq!(
        DnsResponse::decode(&mdns).unwrap_err(),
        DnsError::NoQuestion
    );
    assert_eq!(
        DnsResponse::decode(&[0x81; 11]).unwrap_err(),
        DnsError::TooShort
    );
}

#[test]
fn a_name_error_gives_the_question_and_no_address() {
    let mut m = response("nx.test", &[("nx.test", 60, Data::A([192, 0, 2, 1]))]);
    m[3] = 0x83; // NXDOMAIN
    let r = DnsResponse::decode(&m).unwrap();
    assert_eq!((r.rcode, r.question.as_str()), (3, "nx.test"));
    assert!(r.addresses.is_empty());
}

#[test]
fn decoding_into_a_reused_response_replaces_everything() {
    let mut r = DnsResponse::decode(&WWW_GITHUB_COM).unwrap();
    let m = response("other.test", &[("other.test", 9, Data::A([192, 0, 2, 4]))]);
    r.decode_into(&m).unwrap();
    assert_eq!(r.question.as_str(), "other.test");
    assert_eq!(r.canonical.as_str(), "other.test");
    assert_eq!(r.addresses, [v4([192, 0, 2, 4], 9)]);
    assert!(r.decode_into(&[0; 4]).is_err());
    assert!(r.addresses.is_empty());
}

#[test]
fn tcp_framing_splits_messages_and_yields_a_cut_last_one_for_partial_decoding() {
    let second = response("two.test", &[("two.test", 60, Data::A([192, 0, 2, 2]))]);
    let mut stream = Vec::new();
    for message in [&WWW_GITHUB_COM[..], &second] {
        stream.extend_from_slice(&(message.len() as u16).to_be_bytes());
        stream.extend_from_slice(message);
    }
    let messages: Vec<&[u8]> = tcp_messages(&stream).collect();
    assert_eq!(messages, [&WWW_GITHUB_COM[..], &second[..]]);
    let cut = &stream[..stream.len() - 2];
    let last = tcp_messages(cut).nth(1).unwrap();
    let r = DnsResponse::decode(last).unwrap();
    assert!(r.truncated && r.addresses.is_empty());
    assert_eq!(r.question.as_str(), "two.test");
    assert_eq!(tcp_messages(&[0]).count(), 0);
    assert_eq!(
        tcp_messages(&[0, 0, 0, 0]).count(),
        2,
        "empty messages, each 2 bytes"
    );
}

/// Random bytes, and real responses with bytes overwritten and cut: never a panic, and never
/// more than the bounds allow.
#[test]
fn random_and_mutated_messages_never_panic_and_stay_bounded() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let chain = response(
        "app.example",
        &[
            ("app.example", 600, Data::Cname("lb.example")),
            ("lb.example", 30, Data::A([198, 51, 100, 7])),
            ("lb.example", 30, Data::Aaaa(V6)),
        ],
    );
    let samples: [&[u8]; 2] = [&WWW_GITHUB_COM, &chain];
    let mut reused = DnsResponse::default();
    for round in 0..50_000usize {
        let mut bytes: Vec<u8> = if round % 3 == 0 {
            let mut b: Vec<u8> = (0..next() % 300).map(|_| next() as u8).collect();
            if b.len() > 3 {
                b[2] |= 0x80; // a response, so the decoder goes past the header
                b[3] &= 0xf0;
            }
            b
        } else {
            samples[round % samples.len()].to_vec()
        };
        for _ in 0..next() % 6 {
            if !bytes.is_empty() {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
        }
        if next() % 4 == 0 {
            bytes.truncate((next() as usize) % (bytes.len() + 1));
        }
        if let Ok(r) = DnsResponse::decode(&bytes) {
            assert!(r.addresses.len() <= MAX_ANSWERS);
            assert!(r.question.as_str().len() <= 253);
            // The in-place comparison agrees with the decoder.
            assert!(name::name_equals(&bytes, HEADER_LEN, &r.question));
            assert!(r.mappings().all(|(_, n, _)| n == &r.question));
            assert!(r.addresses.iter().all(|a| a.ttl <= i32::MAX as u32));
        }
        let _ = reused.decode_into(&bytes);
        for message in tcp_messages(&bytes).take(8) {
            let _ = DnsResponse::decode(message);
        }
    }
}

#[test]
fn names_from_text_follow_the_wire_rules() {
    assert_eq!(
        DnsName::from_text("WWW.Example.org.").unwrap().as_str(),
        "www.example.org"
    );
    assert_eq!(DnsName::from_text("").unwrap().as_str(), "");
    assert_eq!(DnsName::from_text(".").unwrap().as_str(), "");
    let too_long = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "a".repeat(62));
    assert_eq!(DnsName::from_text(&too_long), Err(DnsError::NameTooLong));
    for bad in ["a..b", ".a", "a b", &"a".repeat(64)] {
        assert_eq!(DnsName::from_text(bad), Err(DnsError::BadLabel), "{bad}");
    }
}

#[test]
fn names_compare_in_place_label_by_label_ignoring_case() {
    let expected = DnsName::from_text("a.b").unwrap();
    let m = [
        3, b'a', b'.', b'b', 0, // @0: one label holding a dot
        1, b'A', 1, b'B', 0, // @5
        1, b'a', 0, // @10
        1, b'a', 1, b'b', 1, b'c', 0, // @13
        1, b'a', 0xc0, 7, // @20: "a" then "B" by pointer
    ];
    assert!(!name::name_equals(&m, 0, &expected));
    assert!(name::name_equals(&m, 5, &expected));
    assert!(!name::name_equals(&m, 10, &expected));
    assert!(!name::name_equals(&m, 13, &expected));
    assert!(name::name_equals(&m, 20, &expected));
    assert!(name::name_equals(&[0], 0, &DnsName::root()));
    assert_eq!(name::skip_name(&m, 20), Ok(24));
    assert_eq!(name::skip_name(&m, 5), Ok(10));
    assert_eq!(
        name::skip_name(&[1, b'a', 0xc0, 0], 0),
        Err(DnsError::BadPointer)
    );
}

/// The most work a message can ask for: a question of the longest name and 64 CNAMEs owned
/// by it (each by a pointer, so each compare walks all 253 bytes), the first 63 with an
/// unreadable target, the last pointing back at the question: every one of the 9 allowed
/// hops compares all 64 owners in full before the loop is found.
fn most_work_message() -> Vec<u8> {
    let question = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(61));
    let mut m = response_claiming(MAX_ANSWERS as u16, &question, &[]);
    for i in 0..MAX_ANSWERS {
        let target: [u8; 2] = if i + 1 < MAX_ANSWERS {
            [0xc0, 0xff]
        } else {
            [0xc0, 12]
        };
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2]);
        m.extend_from_slice(&target);
    }
    m
}

#[test]
fn a_message_built_for_the_most_work_is_decoded_in_bounded_time() {
    let m = most_work_message();
    let started = std::time::Instant::now();
    let r = DnsResponse::decode(&m).unwrap();
    let took = started.elapsed();
    assert!(r.addresses.is_empty() && !r.truncated);
    // About 30 us optimized; the bound only catches work that grows with what is claimed.
    assert!(took < std::time::Duration::from_millis(20), "{took:?}");
}

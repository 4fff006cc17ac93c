//! The pre-encoded table decodes back (through perouter-bgp) to exactly the generated routes,
//! and the sink's bitmap counts each route once whatever the order and repetitions.

use bytes::Bytes;
use ipnet::IpNet;
use perouter_bench::procstat::{stat_cpu_ticks, status_field};
use perouter_bench::sink::{end_of_rib, Bitmap, Sink};
use perouter_bench::table::{self, Family, TableSpec};
use perouter_bgp::wire::{AttributeValue, Message, WireContext, HEADER_LEN};
use perouter_evpn::EvpnRoute;

fn spec(family: Family, routes: usize, sets: usize, prefix_len: u8) -> TableSpec {
    TableSpec {
        family,
        routes,
        sets,
        prefix_len,
        asn: 64512,
        next_hop: "192.168.11.2".parse().unwrap(),
    }
}

/// Every route of every UPDATE, decoded by perouter-bgp, with the MED of its UPDATE.
fn decode_all(enc: &table::Encoded) -> Vec<(IpNet, u32)> {
    let ctx = WireContext::four_octet();
    let mut out = Vec::new();
    for m in &enc.messages {
        assert!(m.len() <= 4096, "standard message size");
        let (msg, used) = Message::parse(m, &ctx).expect("parses");
        assert_eq!(used, m.len());
        let Message::Update(u) = msg else {
            panic!("not an UPDATE")
        };
        assert!(u.attribute_errors.is_empty() && !u.treat_as_withdraw);
        let med = u
            .attributes
            .iter()
            .find_map(|a| match a.value {
                AttributeValue::MultiExitDisc(v) => Some(v),
                _ => None,
            })
            .expect("MED");
        for block in u.announced() {
            for n in block.iter() {
                out.push((n.prefix, med));
            }
            for r in block.evpn_routes() {
                let EvpnRoute::IpPrefix(p) = r.route else {
                    panic!("not type-5")
                };
                out.push((p.prefix(), med));
            }
        }
    }
    out
}

#[test]
fn ipv4_table_decodes_to_the_generated_prefixes() {
    let s = spec(Family::Ipv4, 10_000, 1, 24);
    let enc = table::encode(&s, &WireContext::four_octet()).unwrap();
    let got = decode_all(&enc);
    assert_eq!(got.len(), 10_000);
    for (i, (p, med)) in got.iter().enumerate() {
        assert_eq!(*p, IpNet::V4(s.prefix(i)));
        assert_eq!(*med, 0);
    }
    assert_eq!(s.prefix(1).to_string(), "16.0.1.0/24");
    // About 1000 /24s fit in 4096 bytes.
    assert!(enc.messages.len() <= 11, "{} UPDATEs", enc.messages.len());
    assert_eq!(enc.message_of.len(), 10_000);
}

#[test]
fn host_routes_and_many_sets() {
    let s = spec(Family::Ipv4, 2_600, 1_000, 32);
    let enc = table::encode(&s, &WireContext::four_octet()).unwrap();
    let got = decode_all(&enc);
    assert_eq!(got.len(), 2_600);
    let mut meds: Vec<u32> = got.iter().map(|g| g.1).collect();
    meds.dedup();
    assert_eq!(
        meds.len(),
        1_000,
        "one MED per attribute set, sets contiguous"
    );
    assert_eq!(
        enc.messages.len(),
        1_000,
        "one UPDATE per set when the set fits"
    );
    for (i, (p, med)) in got.iter().enumerate() {
        assert_eq!(*p, IpNet::V4(s.prefix(i)));
        assert_eq!(*med as usize, s.set_of(i));
        // message_of points at the UPDATE carrying the route.
        assert_eq!(enc.message_of[i] as usize, s.set_of(i));
    }
}

#[test]
fn evpn_table_decodes_to_type5_routes_with_rt_and_router_mac() {
    let s = spec(Family::Evpn, 5_000, 2, 24);
    let enc = table::encode(&s, &WireContext::four_octet()).unwrap();
    let got = decode_all(&enc);
    assert_eq!(got.len(), 5_000);
    for (i, (p, _)) in got.iter().enumerate() {
        assert_eq!(*p, IpNet::V4(s.prefix(i)));
    }
    let (msg, _) = Message::parse(&enc.messages[0], &WireContext::four_octet()).unwrap();
    let Message::Update(u) = msg else { panic!() };
    let ext = u
        .attributes
        .iter()
        .find_map(|a| match &a.value {
            AttributeValue::ExtendedCommunities(c) => Some(c.clone()),
            _ => None,
        })
        .expect("extended communities");
    // RT 64512:100, encapsulation VXLAN (8), router MAC.
    assert_eq!(ext[0].0, [0x00, 0x02, 0xfc, 0x00, 0, 0, 0, 100]);
    assert_eq!(ext[1].0, [0x03, 0x0c, 0, 0, 0, 0, 0, 8]);
    assert_eq!(ext[2].0[..2], [0x06, 0x03]);
    // About 110 type-5 routes per 4 KiB UPDATE.
    assert!(
        (45..=60).contains(&enc.messages.len()),
        "{}",
        enc.messages.len()
    );
}

#[test]
fn bitmap_counts_first_times_only() {
    let mut b = Bitmap::new(130);
    assert!(b.set(0) && b.set(64) && b.set(129));
    assert!(!b.set(64), "second time");
    assert!(!b.set(130), "out of range");
    assert_eq!(b.count(), 3);
    assert!(b.get(129) && !b.get(128) && !b.get(1000));
    for i in 0..130 {
        b.set(i);
    }
    assert!(b.full() && b.count() == 130);
}

fn body(m: &Bytes) -> &[u8] {
    &m[HEADER_LEN..]
}

#[test]
fn sink_counts_each_route_once_in_any_order() {
    for family in [Family::Ipv4, Family::Evpn] {
        let s = spec(family, 3_000, 7, 24);
        let enc = table::encode(&s, &WireContext::four_octet()).unwrap();
        let mut sink = Sink::new(&s);
        // Reversed, and everything twice: BGP keeps no order and may repeat.
        for (t, m) in enc.messages.iter().rev().enumerate() {
            let r = sink.on_update(body(m), t as u64 + 1).unwrap();
            assert_eq!(r.repeated, 0);
            assert!(r.new > 0);
        }
        assert!(sink.complete(), "{family:?}");
        let last = enc.messages.len() as u64;
        assert_eq!(sink.last_new_ns, last);
        for m in &enc.messages {
            let r = sink.on_update(body(m), 10_000).unwrap();
            assert_eq!(r.new, 0);
        }
        assert_eq!(sink.count(), 3_000);
        assert_eq!(sink.repeated, 3_000);
        assert_eq!(
            sink.last_new_ns, last,
            "repeats do not move the last-new time"
        );
        // The first route was in the last UPDATE fed (the first encoded).
        assert_eq!(sink.first_seen_ns[0], last);
    }
}

#[test]
fn sink_ignores_foreign_prefixes_and_sees_end_of_rib() {
    let s = spec(Family::Ipv4, 100, 1, 24);
    let other = spec(Family::Ipv4, 200, 1, 32);
    let enc = table::encode(&other, &WireContext::four_octet()).unwrap();
    let mut sink = Sink::new(&s);
    let r = sink.on_update(body(&enc.messages[0]), 1).unwrap();
    assert_eq!((r.new, r.foreign), (0, 200), "/32s are not the /24 table's");
    let ctx = WireContext::four_octet();
    for f in [Family::Ipv4, Family::Evpn] {
        let eor = table::end_of_rib(f, &ctx).unwrap();
        assert_eq!(sink.on_update(body(&eor), 2).unwrap().end_of_rib, Some(f));
        assert_eq!(end_of_rib(body(&eor)), Some(f));
    }
    assert_eq!(end_of_rib(body(&enc.messages[0])), None);
    assert!(sink.on_update(&[0, 5, 1], 3).is_err(), "truncated");
}

#[test]
fn proc_fields() {
    let status = "Name:\tbgpd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
    assert_eq!(status_field(status, "VmHWM"), Some(20480 * 1024));
    assert_eq!(status_field(status, "VmRSS"), Some(10240 * 1024));
    assert_eq!(status_field(status, "VmSwap"), None);
    let stat = "42 (tokio (rt) x) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 8 0 100 0";
    assert_eq!(stat_cpu_ticks(stat), Some(22));
}

/// The PE job: the table goes out as EVPN type-5 routes and comes back as the IPv4 unicast
/// routes the DUT imported from them; a sink built for the EVPN table counts each one.
#[test]
fn evpn_table_is_counted_from_ipv4_unicast_updates() {
    let evpn = spec(Family::Evpn, 5_000, 1, 24);
    let ipv4 = spec(Family::Ipv4, 5_000, 1, 24);
    let enc = table::encode(&ipv4, &WireContext::four_octet()).unwrap();
    let mut sink = Sink::new(&evpn);
    for (i, m) in enc.messages.iter().enumerate() {
        let s = sink.on_update(&m[HEADER_LEN..], i as u64 + 1).unwrap();
        assert_eq!(s.foreign, 0);
    }
    assert!(sink.complete());
    assert_eq!(sink.count(), 5_000);
    // The IPv4 End-of-RIB the DUT's host session sends is recognised as such.
    let eor = table::end_of_rib(Family::Ipv4, &WireContext::four_octet()).unwrap();
    assert_eq!(end_of_rib(&eor[HEADER_LEN..]), Some(Family::Ipv4));
}

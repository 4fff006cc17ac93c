//! "A bad peer hurts no one else" (issue 3, item 7).
//!
//! A real speaker listens on loopback with two passive neighbours: a well
//! behaved peer (127.0.0.2) that announces two prefixes and keeps its session
//! alive, and a scripted bad peer (127.0.0.3) that, one connection after the
//! other, sends malformed messages of every RFC 7606 / RFC 4271 §6 class,
//! built here byte by byte. Each must get its treatment:
//!
//! - treat-as-withdraw (RFC 7606 §2): the session stays up, the UPDATE's
//!   routes reach the consumer as withdrawn;
//! - attribute discard: the session stays up, the route is delivered without
//!   the attribute;
//! - session reset: the peer receives the NOTIFICATION RFC 4271 §6 / RFC 7606
//!   prescribes (code and subcode checked) and the connection is closed;
//! - truncated messages and garbage after OPEN likewise.
//!
//! Throughout, the good peer's session stays Established (no flap, no
//! NOTIFICATION, no withdrawal of its routes) and nothing panics (a panic
//! hook records any panic of any task).

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use perouter_bgp::fsm::{DownReason, State};
use perouter_bgp::speaker::{PeerId, SpeakerEvent};
use perouter_bgp::wire::ErrorAction;

static PANICKED: AtomicBool = AtomicBool::new(false);

const GOOD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const BAD: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const GOOD_AS: u32 = 65002;
const BAD_AS: u32 = 65003;

/// One session-reset case: the bytes sent after Established and the
/// NOTIFICATION (code, subcode) expected back.
struct ResetCase {
    name: &'static str,
    /// Sent after OPEN only (OpenConfirm) instead of after Established.
    before_keepalive: bool,
    bytes: Vec<u8>,
    expect: (u8, u8),
}

fn reset_cases() -> Vec<ResetCase> {
    let good_attrs = base_attrs(BAD_AS, BAD);
    let mut cases = vec![
        ResetCase {
            name: "header length below 19",
            before_keepalive: false,
            bytes: {
                let mut m = keepalive();
                m[17] = 18;
                m
            },
            expect: (1, 2),
        },
        ResetCase {
            name: "KEEPALIVE with a body",
            before_keepalive: false,
            bytes: message(4, &[0]),
            expect: (1, 2),
        },
        ResetCase {
            name: "UPDATE above 4096 bytes without extended messages",
            before_keepalive: false,
            bytes: update(&[], &good_attrs, &[24, 10, 3, 9].repeat(1100)),
            expect: (1, 2),
        },
        ResetCase {
            name: "header announcing 5000 bytes, body never sent: refused at once",
            before_keepalive: false,
            bytes: {
                let mut m = keepalive();
                m[16..19].copy_from_slice(&[0x13, 0x88, 2]);
                m
            },
            expect: (1, 2),
        },
        ResetCase {
            name: "UPDATE shorter than its minimum (RFC 4271 §6.1)",
            before_keepalive: false,
            bytes: message(2, &[0, 0]),
            expect: (1, 2),
        },
        ResetCase {
            name: "unknown message type",
            before_keepalive: false,
            bytes: message(9, &[1, 2, 3]),
            expect: (1, 3),
        },
        ResetCase {
            name: "garbage after OPEN (bad marker) in Established",
            before_keepalive: false,
            bytes: b"GET / HTTP/1.1\r\nHost: perouter\r\n\r\n".to_vec(),
            expect: (1, 1),
        },
        ResetCase {
            name: "garbage right after OPEN (OpenConfirm)",
            before_keepalive: true,
            bytes: vec![0u8; 40],
            expect: (1, 1),
        },
        ResetCase {
            name: "UPDATE in OpenConfirm (RFC 4271 §8.2.2)",
            before_keepalive: true,
            bytes: update(&[], &good_attrs, &v4([10, 3, 8, 0], 24)),
            expect: (5, 2),
        },
        ResetCase {
            name: "second OPEN in Established",
            before_keepalive: false,
            bytes: open_bytes(BAD_AS, 9, BAD),
            expect: (5, 3),
        },
        ResetCase {
            name: "withdrawn routes length overruns the message",
            before_keepalive: false,
            bytes: message(2, &[0, 200, 0, 0]),
            expect: (3, 1),
        },
        ResetCase {
            name: "total path attribute length overruns the message",
            before_keepalive: false,
            bytes: message(2, &[0, 0, 0, 50, 0x40, 1, 1, 0]),
            expect: (3, 1),
        },
        ResetCase {
            name: "NLRI prefix length 33 (RFC 7606 §5.3)",
            before_keepalive: false,
            bytes: update(&[], &good_attrs, &[33, 10, 0, 0, 0, 0]),
            expect: (3, 10),
        },
        ResetCase {
            name: "NLRI truncated (prefix needs more octets than remain)",
            before_keepalive: false,
            bytes: update(&[], &good_attrs, &[24, 10, 3]),
            expect: (3, 10),
        },
        ResetCase {
            name: "withdrawn prefix length 40",
            before_keepalive: false,
            bytes: update(&[40, 10, 0, 0, 0, 0], &[], &[]),
            expect: (3, 1),
        },
        ResetCase {
            name: "unrecognized well-known attribute",
            before_keepalive: false,
            bytes: update(
                &[],
                &[good_attrs.clone(), attr(0x40, 99, &[1, 2])].concat(),
                &v4([10, 3, 9, 0], 24),
            ),
            expect: (3, 2),
        },
        ResetCase {
            name: "MP_REACH_NLRI too short for AFI/SAFI (RFC 7606 §7.11)",
            before_keepalive: false,
            bytes: update(
                &[],
                &[origin_igp(), as_path(BAD_AS), attr(0x80, 14, &[0, 2])].concat(),
                &[],
            ),
            expect: (3, 9),
        },
        ResetCase {
            name: "MP_REACH_NLRI IPv6 prefix length 200",
            before_keepalive: false,
            bytes: {
                let mut v = vec![0, 2, 1, 16];
                v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
                v.push(0);
                v.extend_from_slice(&[200, 0x20, 0x01]);
                update(
                    &[],
                    &[origin_igp(), as_path(BAD_AS), attr(0x80, 14, &v)].concat(),
                    &[],
                )
            },
            expect: (3, 9),
        },
        ResetCase {
            name: "MP_REACH_NLRI length overruns the attributes",
            before_keepalive: false,
            bytes: {
                let mut a = [origin_igp(), as_path(BAD_AS)].concat();
                a.extend_from_slice(&[0x80, 14, 60, 0, 2, 1]);
                update(&[], &a, &[])
            },
            expect: (3, 9),
        },
        ResetCase {
            name: "MP_UNREACH_NLRI twice (RFC 7606 §3.g)",
            before_keepalive: false,
            bytes: update(
                &[],
                &[attr(0x80, 15, &[0, 2, 1]), attr(0x80, 15, &[0, 2, 1])].concat(),
                &[],
            ),
            expect: (3, 1),
        },
        ResetCase {
            name: "BoRR ROUTE-REFRESH with a bad length (RFC 7313 §5)",
            before_keepalive: false,
            bytes: message(5, &[0, 1, 1, 1, 9]),
            expect: (7, 1),
        },
    ];
    // A truncated header followed by a close is covered separately.
    cases.retain(|c| !c.bytes.is_empty());
    cases
}

/// Proves the session is still up: a valid UPDATE with `marker` is processed (its route
/// reaches the speaker's events) and no NOTIFICATION comes back. Messages of a connection are
/// handled in order, so this also proves that everything sent before was handled without a
/// reset, which a quiet interval cannot.
async fn assert_alive(p: &mut RawPeer, log: &SharedLog, peer: PeerId, marker: [u8; 4], what: &str) {
    p.send(&update(&[], &base_attrs(BAD_AS, BAD), &v4(marker, 32)))
        .await;
    let want = (true, format!("{}/32", Ipv4Addr::from(marker)));
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if route_log(&log.lock().unwrap().events, peer).contains(&want) {
                return Ok(());
            }
            match p.read(Duration::from_millis(20)).await {
                Reply::Silence | Reply::Keepalive | Reply::Update => {}
                other => return Err(other),
            }
        }
    })
    .await;
    match r {
        Ok(Ok(())) => {}
        Ok(Err(reply)) => panic!("{what}: the session reset ({reply:?})"),
        Err(_) => panic!("{what}: the marker UPDATE was never processed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_peer_never_disturbs_another_peer_or_the_process() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        default_hook(info);
    }));

    let (sp, log) = start_speaker(vec![neighbor(GOOD, GOOD_AS), neighbor(BAD, BAD_AS)]).await;
    let addr = sp.listening[0];

    // ---- the good peer: up, two routes, then keepalives every second.
    let mut good = RawPeer::connect(GOOD, addr).await.expect("good connects");
    assert!(
        good.establish(GOOD_AS, 9, GOOD).await,
        "good peer Established"
    );
    let good_routes = [v4([192, 0, 2, 0], 24), v4([198, 51, 100, 0], 24)].concat();
    good.send(&update(&[], &base_attrs(GOOD_AS, GOOD), &good_routes))
        .await;
    wait_for(&log, "good peer's routes", |ev| {
        peer_by_remote(ev, GOOD).is_some_and(|p| route_log(ev, p).len() == 2)
    })
    .await;
    let good_id = peer_by_remote(&log.lock().unwrap().events, GOOD).unwrap();
    // Keepalives every second; anything but KEEPALIVE from the speaker
    // (a NOTIFICATION, a close, an UPDATE) counts as a disturbance.
    let disturbances = Arc::new(AtomicU64::new(0));
    let good_alive = Arc::new(AtomicBool::new(true));
    let good_task = {
        let (n, alive) = (disturbances.clone(), good_alive.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while alive.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = tick.tick() => good.send(&keepalive()).await,
                    r = good.read(Duration::from_secs(3600)) => {
                        if r != Reply::Keepalive {
                            eprintln!("good peer disturbed: {r:?}");
                            n.fetch_add(1, Ordering::SeqCst);
                            return good;
                        }
                    }
                }
            }
            good
        })
    };

    // ---- the bad peer, class by class.
    let mut bad_id = None;
    let mut ups = 0usize;
    let bad_connect = || async move {
        // The previous connection may still be winding down at the speaker;
        // a refused connection is retried.
        for _ in 0..50 {
            if let Ok(p) = RawPeer::connect(BAD, addr).await {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bad peer cannot connect");
    };

    // 1. Treat-as-withdraw (RFC 7606 §2): a route, then the same route with
    //    an invalid ORIGIN (§7.1), an AS_PATH with a bad segment type (§7.2)
    //    and with no NEXT_HOP (§3.d). Each withdraws, the session stays.
    let mut p = bad_connect().await;
    assert!(p.establish(BAD_AS, 0, BAD).await, "bad peer Established");
    ups += 1;
    let route = v4([10, 3, 0, 0], 24);
    let taw_updates = [
        [attr(0x40, 1, &[7]), as_path(BAD_AS), next_hop(BAD)].concat(),
        [
            origin_igp(),
            attr(0x40, 2, &[9, 1, 0, 0, 0xfe, 0x4b]),
            next_hop(BAD),
        ]
        .concat(),
        [origin_igp(), as_path(BAD_AS)].concat(),
        [origin_igp(), as_path(BAD_AS), attr(0x40, 3, &[10, 0, 0])].concat(),
    ];
    for (i, bad_attrs) in taw_updates.iter().enumerate() {
        p.send(&update(&[], &base_attrs(BAD_AS, BAD), &route)).await;
        p.send(&update(&[], bad_attrs, &route)).await;
        wait_for(&log, "treat-as-withdraw delivered", |ev| {
            peer_by_remote(ev, BAD).is_some_and(|b| route_log(ev, b).len() == 2 * (i + 1))
        })
        .await;
        let ev = log.lock().unwrap().events.clone();
        let b = peer_by_remote(&ev, BAD).unwrap();
        bad_id = Some(b);
        let rl = route_log(&ev, b);
        assert_eq!(
            rl[2 * i..],
            [(true, "10.3.0.0/24".into()), (false, "10.3.0.0/24".into())],
            "case {i}: announce then treat-as-withdraw"
        );
        let last = ev
            .iter()
            .rev()
            .find_map(|e| match e {
                SpeakerEvent::Updates { peer, updates } if *peer == b => updates.last().cloned(),
                _ => None,
            })
            .unwrap();
        assert!(last.treat_as_withdraw, "case {i}: {last:?}");
        assert!(last
            .attribute_errors
            .iter()
            .any(|e| e.action == ErrorAction::TreatAsWithdraw));
    }
    assert_alive(
        &mut p,
        &log,
        bad_id.unwrap(),
        [10, 201, 0, 1],
        "after treat-as-withdraw",
    )
    .await;

    // 2. Attribute discard: a malformed ATOMIC_AGGREGATE (§7.6) and
    //    AGGREGATOR (§7.7), and LOCAL_PREF from an eBGP peer (§7.5).
    let discard_attrs = [
        base_attrs(BAD_AS, BAD),
        attr(0x40, 6, &[1]),
        attr(0xc0, 7, &[0, 0, 0xfe]),
        attr(0x40, 5, &[0, 0, 0, 100]),
    ]
    .concat();
    p.send(&update(&[], &discard_attrs, &v4([10, 3, 1, 0], 24)))
        .await;
    let b = bad_id.unwrap();
    wait_for(&log, "attribute discard delivered", |ev| {
        route_log(ev, b).contains(&(true, "10.3.1.0/24".into()))
    })
    .await;
    {
        let ev = log.lock().unwrap().events.clone();
        let u = ev
            .iter()
            .rev()
            .find_map(|e| match e {
                SpeakerEvent::Updates { peer, updates } if *peer == b => updates.last().cloned(),
                _ => None,
            })
            .unwrap();
        assert!(!u.treat_as_withdraw);
        let discarded: Vec<u8> = u
            .attribute_errors
            .iter()
            .filter(|e| e.action == ErrorAction::AttributeDiscard)
            .map(|e| e.type_code)
            .collect();
        assert_eq!(discarded, vec![6, 7, 5], "{:?}", u.attribute_errors);
        assert!(u.attributes.get(6).is_none() && u.attributes.get(7).is_none());
        assert!(u.attributes.get(5).is_none());
    }
    assert_alive(&mut p, &log, b, [10, 201, 0, 2], "after attribute discard").await;
    drop(p);
    wait_for(&log, "bad peer down after close", |ev| {
        count_down(ev, b) == 1
    })
    .await;

    // 3. Session reset: each case on its own connection.
    for case in reset_cases() {
        let mut p = bad_connect().await;
        let downs_before = count_down(&log.lock().unwrap().events, b);
        if case.before_keepalive {
            p.send(&open_bytes(BAD_AS, 0, BAD)).await;
            assert_eq!(
                p.read(Duration::from_secs(5)).await,
                Reply::Open,
                "{}",
                case.name
            );
        } else {
            assert!(
                p.establish(BAD_AS, 0, BAD).await,
                "{}: Established",
                case.name
            );
            ups += 1;
            wait_for(&log, "bad peer up", |ev| count_up(ev, b) == ups).await;
        }
        p.send(&case.bytes).await;
        let r = p.read_significant(Duration::from_secs(5)).await;
        assert_eq!(
            r,
            Reply::Notification {
                code: case.expect.0,
                subcode: case.expect.1
            },
            "{}",
            case.name
        );
        p.expect_closed().await;
        if !case.before_keepalive {
            wait_for(&log, "bad peer down", |ev| {
                count_down(ev, b) == downs_before + 1
            })
            .await;
            let ev = log.lock().unwrap().events.clone();
            let reason = ev
                .iter()
                .rev()
                .find_map(|e| match e {
                    SpeakerEvent::PeerDown {
                        peer,
                        reason,
                        graceful,
                    } if *peer == b => {
                        assert!(!graceful, "{}: a NOTIFICATION ends GR", case.name);
                        Some(reason.clone())
                    }
                    _ => None,
                })
                .unwrap();
            match reason {
                DownReason::NotificationSent(n) => {
                    assert_eq!((n.code, n.subcode), case.expect, "{}", case.name)
                }
                other => panic!("{}: unexpected down reason {other:?}", case.name),
            }
        }
    }

    // 4. Truncated messages: half a header, and a header announcing more
    //    than is ever sent, then the peer goes away. No NOTIFICATION can be
    //    sent for a message never completed; the session just closes.
    for bytes in [vec![0xffu8; 10], {
        let mut m = update(&[], &base_attrs(BAD_AS, BAD), &v4([10, 3, 2, 0], 24));
        m.truncate(30);
        m
    }] {
        let mut p = bad_connect().await;
        assert!(p.establish(BAD_AS, 0, BAD).await);
        ups += 1;
        wait_for(&log, "bad peer up", |ev| count_up(ev, b) == ups).await;
        let downs = count_down(&log.lock().unwrap().events, b);
        p.send(&bytes).await;
        drop(p);
        wait_for(&log, "bad peer down after truncation", |ev| {
            count_down(ev, b) == downs + 1
        })
        .await;
        assert!(!route_log(&log.lock().unwrap().events, b).contains(&(true, "10.3.2.0/24".into())));
    }

    // 5. Mutations of a valid UPDATE: every single-byte corruption (byte i
    //    inverted, header length and type included) is either accepted or
    //    answered with a Message Header / UPDATE error NOTIFICATION; never a
    //    hang, a panic or another kind of error. Each mutation is followed by a
    //    valid marker UPDATE with a prefix of its own: the speaker handles a
    //    connection's messages in order, so the marker's route reaching the
    //    speaker's events proves the session survived THIS mutation (not just
    //    that nothing was heard for a while), and a NOTIFICATION that arrives
    //    instead belongs to this mutation (the marker was never processed).
    let valid = update(&[], &base_attrs(BAD_AS, BAD), &v4([10, 3, 3, 0], 24));
    let mut p = bad_connect().await;
    assert!(p.establish(BAD_AS, 0, BAD).await);
    let mut mutations_reset = 0;
    let mut mutations_accepted = 0;
    for i in 16..valid.len() {
        let mut m = valid.clone();
        m[i] ^= 0xff;
        let marker_octets = [10, 200, (i >> 8) as u8, i as u8];
        let marker = format!("{}/32", Ipv4Addr::from(marker_octets));
        p.send(&m).await;
        // A mutated length can make the speaker wait for more bytes than were sent: markers
        // keep coming (each completes a further part of such a frame) until one is processed
        // or the oversized frame is complete and refused.
        let marker_update = update(&[], &base_attrs(BAD_AS, BAD), &v4(marker_octets, 32));
        let outcome = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                p.send(&marker_update).await;
                for _ in 0..3 {
                    if route_log(&log.lock().unwrap().events, b).contains(&(true, marker.clone())) {
                        return None;
                    }
                    match p.read(Duration::from_millis(20)).await {
                        Reply::Silence | Reply::Keepalive | Reply::Update => {}
                        other => return Some(other),
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!("byte {i}: the speaker neither processed a marker nor reset (hang)")
        });
        match outcome {
            None => mutations_accepted += 1,
            Some(Reply::Notification { code, .. }) => {
                assert!(matches!(code, 1 | 3), "byte {i}: code {code}");
                p.expect_closed().await;
                assert!(
                    !route_log(&log.lock().unwrap().events, b).contains(&(true, marker.clone())),
                    "byte {i}: the marker after a resetting mutation was processed"
                );
                p = bad_connect().await;
                assert!(
                    p.establish(BAD_AS, 0, BAD).await,
                    "byte {i}: re-established"
                );
                mutations_reset += 1;
            }
            Some(other) => panic!("byte {i}: unexpected reply {other:?}"),
        }
    }
    drop(p);
    assert!(
        mutations_reset > 0 && mutations_accepted > 0,
        "some corruptions must reset the session and some be accepted: \
         {mutations_reset} reset, {mutations_accepted} accepted"
    );

    // ---- the good peer never noticed.
    good_alive.store(false, Ordering::SeqCst);
    let _good = good_task.await.expect("good peer task");
    assert_eq!(
        disturbances.load(Ordering::SeqCst),
        0,
        "good peer was disturbed"
    );
    let ev = log.lock().unwrap().events.clone();
    assert_eq!(count_up(&ev, good_id), 1, "good peer flapped");
    assert_eq!(count_down(&ev, good_id), 0, "good peer went down");
    assert_eq!(
        route_log(&ev, good_id),
        vec![
            (true, "192.0.2.0/24".to_string()),
            (true, "198.51.100.0/24".to_string())
        ],
        "good peer's routes changed"
    );
    assert!(ev.iter().all(|e| peer_of(e) == good_id || peer_of(e) == b));
    let status = sp.status().await;
    let g = status
        .iter()
        .find(|s| s.peer == good_id)
        .expect("good status");
    assert_eq!(g.session.state, State::Established);
    assert_eq!(g.session.counters.flaps, 0);
    let bs = status.iter().find(|s| s.peer == b).expect("bad status");
    assert!(bs.session.counters.flaps >= 20, "{:?}", bs.session.counters);
    assert!(bs.session.counters.updates_treated_as_withdraw >= 4);
    assert!(!PANICKED.load(Ordering::SeqCst), "a task panicked");
    sp.shutdown(None).await;
}

//! RFC 4724 helper timers run by the real session driver, against a scripted
//! GR-capable peer on loopback: the speaker's events must be
//! `PeerDown{graceful: true}` when the TCP session is lost, then either
//! `StaleExpired` when the peer does not come back within its restart time,
//! `EndOfRib` (and no purge) when it comes back and finishes its table, or
//! `StaleExpired` when it comes back but its End-of-RIB does not arrive
//! before the stale timer.
//!
//! Every test runs on tokio's paused clock: the driver reads its time from
//! tokio, so the timers fire at exact virtual instants and "nothing happens
//! afterwards" is watched for minutes of virtual time, well past every timer a
//! wrong implementation could have left running, without a wall-clock wait.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::time::Instant;

use common::*;
use perouter_bgp::fsm::DownReason;
use perouter_bgp::speaker::{PeerId, SpeakerEvent};
use perouter_bgp::wire::{AfiSafi, Capability, GracefulRestart};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
const PEER_AS: u32 = 65004;

fn gr_open(restart_time: u16, restarting: bool, forwarding: bool) -> Vec<u8> {
    let f = if forwarding { 0x80 } else { 0 };
    open_bytes_with(
        PEER_AS,
        9,
        PEER,
        vec![Capability::GracefulRestart(GracefulRestart {
            restart_flags: if restarting { 0x80 } else { 0 },
            restart_time,
            families: vec![(AfiSafi::IPV4_UNICAST, f), (AfiSafi::IPV6_UNICAST, f)],
        })],
    )
}

/// The events of the one peer, as short labels.
fn labels(log: &SharedLog) -> Vec<String> {
    log.lock()
        .unwrap()
        .events
        .iter()
        .filter_map(|e| match e {
            SpeakerEvent::PeerUp { .. } => Some("up".to_string()),
            SpeakerEvent::PeerDown {
                graceful, reason, ..
            } => Some(format!(
                "down graceful={graceful} closed={}",
                matches!(reason, DownReason::ConnectionClosed)
            )),
            SpeakerEvent::Updates { .. } => Some("updates".to_string()),
            SpeakerEvent::EndOfRib { family, .. } => Some(format!("eor {family:?}")),
            SpeakerEvent::StaleExpired { family, .. } => Some(format!("stale-expired {family:?}")),
            SpeakerEvent::RouteRefresh { .. } => None,
        })
        .collect()
}

async fn wait_labels(log: &SharedLog, n: usize) -> Vec<String> {
    wait_for(log, &format!("{n} events"), |ev| ev.len() >= n).await;
    labels(log)
}

/// Brings the GR peer up with one route, then drops the TCP connection.
async fn up_then_lost(addr: std::net::SocketAddr, log: &SharedLog, restart_time: u16) {
    let mut p = RawPeer::connect(PEER, addr).await.expect("connect");
    assert!(p.establish_with(gr_open(restart_time, false, true)).await);
    p.send(&update(
        &[],
        &base_attrs(PEER_AS, PEER),
        &v4([10, 4, 0, 0], 24),
    ))
    .await;
    wait_for(log, "route", |ev| {
        ev.iter().any(|e| matches!(e, SpeakerEvent::Updates { .. }))
    })
    .await;
    // The peer's process dies: no NOTIFICATION, the socket just closes.
    drop(p);
}

/// Keeps `p`'s session alive (a KEEPALIVE every 3 s, hold time 9 s) for `span`
/// of (virtual) time, then gives the peer back.
async fn keep_alive_for(mut p: RawPeer, span: Duration) -> RawPeer {
    let end = Instant::now() + span;
    while Instant::now() < end {
        p.send(&keepalive()).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    p
}

/// The window, in virtual time, in which a timer of `t` must have fired: not
/// before it, and no later than the log's 10 ms polling step allows.
fn fired_on_time(waited: Duration, t: Duration, what: &str) {
    assert!(
        waited >= t && waited <= t + Duration::from_millis(20),
        "{what}: fired after {waited:?}, expected {t:?}"
    );
}

fn gr_neighbor(stale_time: u16) -> perouter_bgp::config::NeighborConfig {
    let mut n = neighbor(PEER, PEER_AS);
    n.peer.graceful_restart.stale_time = stale_time;
    n
}

fn peer_id(log: &SharedLog) -> PeerId {
    log.lock()
        .unwrap()
        .events
        .iter()
        .find_map(|e| match e {
            SpeakerEvent::PeerUp { peer, .. } => Some(*peer),
            _ => None,
        })
        .expect("peer came up")
}

#[tokio::test(start_paused = true)]
async fn restart_timer_purges_a_peer_that_does_not_come_back() {
    let (sp, log) = start_speaker(vec![gr_neighbor(60)]).await;
    up_then_lost(sp.listening[0], &log, 2).await;
    let lost = Instant::now();
    let l = wait_labels(&log, 5).await;
    let waited = lost.elapsed();
    assert_eq!(
        l,
        [
            "up",
            "updates",
            "down graceful=true closed=true",
            "stale-expired AfiSafi { afi: Ipv4, safi: Unicast }",
            "stale-expired AfiSafi { afi: Ipv6, safi: Unicast }"
        ]
    );
    fired_on_time(
        waited,
        Duration::from_secs(2),
        "purge at the peer's restart time",
    );
    let _ = peer_id(&log);
    sp.shutdown(None).await;
}

#[tokio::test(start_paused = true)]
async fn end_of_rib_after_the_restart_ends_the_stale_state() {
    // Restart time 2 s, stale time 2 s: if either timer were left running
    // a purge would show up within the 10 minutes we watch afterwards.
    let (sp, log) = start_speaker(vec![gr_neighbor(2)]).await;
    let addr = sp.listening[0];
    up_then_lost(addr, &log, 2).await;
    wait_labels(&log, 3).await;
    // Back within the restart time, forwarding state preserved, R bit set.
    let mut p = loop {
        // The speaker may still be closing the old connection.
        let mut p = RawPeer::connect(PEER, addr).await.expect("connect");
        if p.establish_with(gr_open(2, true, true)).await {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    p.send(&update(
        &[],
        &base_attrs(PEER_AS, PEER),
        &v4([10, 4, 0, 0], 24),
    ))
    .await;
    p.send(&update(&[], &[], &[])).await; // IPv4 End-of-RIB
                                          // IPv6 End-of-RIB: an UPDATE with only an empty MP_UNREACH_NLRI.
    p.send(&update(&[], &attr(0x80, 15, &[0, 2, 1]), &[])).await;
    wait_labels(&log, 7).await;
    let _p = keep_alive_for(p, Duration::from_secs(600)).await;
    assert_eq!(
        labels(&log),
        [
            "up",
            "updates",
            "down graceful=true closed=true",
            "up",
            "updates",
            "eor AfiSafi { afi: Ipv4, safi: Unicast }",
            "eor AfiSafi { afi: Ipv6, safi: Unicast }"
        ],
        "no purge once every End-of-RIB arrived, and the session stayed up"
    );
    sp.shutdown(None).await;
}

#[tokio::test(start_paused = true)]
async fn stale_timer_purges_when_end_of_rib_does_not_come() {
    let (sp, log) = start_speaker(vec![gr_neighbor(1)]).await;
    let addr = sp.listening[0];
    up_then_lost(addr, &log, 30).await;
    wait_labels(&log, 3).await;
    let mut p = loop {
        let mut p = RawPeer::connect(PEER, addr).await.expect("connect");
        if p.establish_with(gr_open(30, true, true)).await {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let back = Instant::now();
    // Only the IPv4 End-of-RIB: IPv6 stays stale until the stale timer.
    p.send(&update(&[], &[], &[])).await;
    let l = wait_labels(&log, 6).await;
    let waited = back.elapsed();
    assert_eq!(
        l[3..],
        [
            "up",
            "eor AfiSafi { afi: Ipv4, safi: Unicast }",
            "stale-expired AfiSafi { afi: Ipv6, safi: Unicast }"
        ]
    );
    fired_on_time(waited, Duration::from_secs(1), "stale time (1 s)");
    drop(p);
    sp.shutdown(None).await;
}

#[tokio::test(start_paused = true)]
async fn forwarding_state_lost_purges_on_return() {
    let (sp, log) = start_speaker(vec![gr_neighbor(60)]).await;
    let addr = sp.listening[0];
    up_then_lost(addr, &log, 30).await;
    wait_labels(&log, 3).await;
    let _p = loop {
        let mut p = RawPeer::connect(PEER, addr).await.expect("connect");
        // Back, but the F bit is clear: its forwarding state is gone.
        if p.establish_with(gr_open(30, true, false)).await {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let l = wait_labels(&log, 6).await;
    assert_eq!(
        l[3..],
        [
            "up",
            "stale-expired AfiSafi { afi: Ipv4, safi: Unicast }",
            "stale-expired AfiSafi { afi: Ipv6, safi: Unicast }"
        ]
    );
    sp.shutdown(None).await;
}

#[tokio::test(start_paused = true)]
async fn a_notification_is_not_graceful() {
    let (sp, log) = start_speaker(vec![gr_neighbor(60)]).await;
    let mut p = RawPeer::connect(PEER, sp.listening[0]).await.unwrap();
    assert!(p.establish_with(gr_open(30, false, true)).await);
    // Cease / Administrative Reset.
    p.send(&message(3, &[6, 4])).await;
    let l = wait_labels(&log, 2).await;
    assert_eq!(l, ["up", "down graceful=false closed=false"]);
    // A graceful treatment would purge at the restart time (30 s): watch 10 minutes.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(labels(&log).len(), 2, "nothing stale, nothing to purge");
    sp.shutdown(None).await;
}

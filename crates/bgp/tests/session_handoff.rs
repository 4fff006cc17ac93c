//! Session handoff on real sockets, against a scripted peer on loopback: a
//! speaker freezes its Established session (half a message already read),
//! a second speaker resumes it from the state and the socket, the first
//! releases it, and the peer sees one session throughout: a KEEPALIVE
//! from the new speaker, never a NOTIFICATION or a close; the new speaker's
//! consumer gets PeerUp, the carried Adj-RIB-In, End-of-RIB, then what the
//! peer sends next, and the counters continue. And a frozen session that is
//! thawed continues as if nothing happened.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use perouter_bgp::speaker::{FrozenPeer, SpeakerCommand, SpeakerEvent};
use perouter_bgp::wire::AfiSafi;
use tokio::sync::oneshot;

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 19);
const PEER_AS: u32 = 65019;

async fn freeze(sp: &perouter_bgp::speaker::SpeakerHandle) -> Vec<FrozenPeer> {
    let (tx, rx) = oneshot::channel();
    sp.commands.send(SpeakerCommand::Freeze(tx)).await.unwrap();
    rx.await.unwrap()
}

fn route_update(octet: u8) -> Vec<u8> {
    update(&[], &base_attrs(PEER_AS, PEER), &v4([10, 19, octet, 0], 24))
}

#[tokio::test]
async fn a_session_handed_to_another_speaker_continues_without_a_flap() {
    let (a, log_a) = start_speaker(vec![neighbor(PEER, PEER_AS)]).await;
    let mut p = RawPeer::connect(PEER, a.listening[0]).await.unwrap();
    assert!(p.establish(PEER_AS, 9, PEER).await);
    p.send(&route_update(1)).await;
    wait_for(&log_a, "the route", |ev| {
        ev.iter()
            .next()
            .is_some_and(|e| route_log(ev, peer_of(e)).len() == 1)
    })
    .await;
    // Half a KEEPALIVE: read by the speaker, not a whole message yet.
    let ka = keepalive();
    p.send(&ka[..10]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut frozen = freeze(&a).await;
    assert_eq!(frozen.len(), 1, "the one Established session froze");
    let f = frozen.remove(0);
    assert_eq!(hex::decode(&f.state.unread).unwrap(), &ka[..10]);
    // The consumer's part: the Adj-RIB-In (here straight from what it was given).
    let (ctx, updates) = {
        let log = log_a.lock().unwrap();
        let ctx = log
            .events
            .iter()
            .find_map(|e| match e {
                SpeakerEvent::PeerUp { params, .. } => Some(params.rx.clone()),
                _ => None,
            })
            .unwrap();
        let ups: Vec<_> = log
            .events
            .iter()
            .flat_map(|e| match e {
                SpeakerEvent::Updates { updates, .. } => updates.clone(),
                _ => Vec::new(),
            })
            .collect();
        (ctx, ups)
    };
    let mut state = f.state;
    state.set_adj_rib_in(&updates, &ctx);
    let carried_in = state.counters.messages_in;
    // Through JSON, as between processes.
    let state = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();

    let (b, log_b) = start_speaker(Vec::new()).await;
    b.commands
        .send(SpeakerCommand::Resume(vec![
            perouter_bgp::session::handoff::SessionTransfer { state, fd: f.fd },
        ]))
        .await
        .unwrap();
    b.commands
        .send(SpeakerCommand::AddNeighbor(neighbor(PEER, PEER_AS)))
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel();
    b.commands
        .send(SpeakerCommand::ResumeDone(tx))
        .await
        .unwrap();
    let report = rx.await.unwrap();
    assert_eq!((report.resumed, report.failed, report.unmatched), (1, 0, 0));
    let (tx, rx) = oneshot::channel();
    a.commands.send(SpeakerCommand::Release(tx)).await.unwrap();
    rx.await.unwrap();

    // The peer hears a KEEPALIVE from the new speaker at once.
    assert_eq!(p.read(Duration::from_secs(2)).await, Reply::Keepalive);
    // The rest of the KEEPALIVE, and a new route.
    p.send(&ka[10..]).await;
    p.send(&route_update(2)).await;
    wait_for(&log_b, "the new route", |ev| {
        ev.iter()
            .next()
            .is_some_and(|e| route_log(ev, peer_of(e)).len() == 2)
    })
    .await;
    let labels: Vec<String> = log_b
        .lock()
        .unwrap()
        .events
        .iter()
        .map(|e| match e {
            SpeakerEvent::PeerUp { .. } => "up".into(),
            SpeakerEvent::Updates { .. } => "updates".into(),
            SpeakerEvent::EndOfRib { family, .. } => format!("eor {family}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        labels,
        vec![
            "up".to_string(),
            "updates".into(),
            format!("eor {}", AfiSafi::IPV4_UNICAST),
            format!("eor {}", AfiSafi::IPV6_UNICAST),
            "updates".into(),
        ]
    );
    let peer_b = peer_of(&log_b.lock().unwrap().events[0]);
    assert_eq!(
        route_log(&log_b.lock().unwrap().events, peer_b),
        vec![(true, "10.19.1.0/24".into()), (true, "10.19.2.0/24".into())]
    );
    let st = b.status().await.remove(0).session;
    assert_eq!(st.counters.handoffs, 1);
    assert_eq!(st.counters.established_transitions, 1);
    assert_eq!(st.counters.flaps, 0);
    assert_eq!(st.counters.messages_in.update, carried_in.update + 1);
    assert_eq!(st.counters.messages_in.keepalive, carried_in.keepalive + 1);
    // A's consumer never saw the session go down.
    assert!(!log_a
        .lock()
        .unwrap()
        .events
        .iter()
        .any(|e| matches!(e, SpeakerEvent::PeerDown { .. })));
    // Nothing else reaches the peer but KEEPALIVEs and our table (no close, no NOTIFICATION).
    assert_eq!(
        p.read_significant(Duration::from_millis(1500)).await,
        Reply::Silence
    );
}

#[tokio::test]
async fn a_thawed_session_continues_as_if_nothing_happened() {
    let (a, log) = start_speaker(vec![neighbor(PEER, PEER_AS + 1)]).await;
    let mut p = RawPeer::connect(PEER, a.listening[0]).await.unwrap();
    assert!(p.establish(PEER_AS + 1, 9, PEER).await);
    let u = update(&[], &base_attrs(PEER_AS + 1, PEER), &v4([10, 20, 1, 0], 24));
    // A partial UPDATE is pending at the freeze; the rest comes after the thaw.
    p.send(&u[..7]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let frozen = freeze(&a).await;
    assert_eq!(frozen.len(), 1);
    drop(frozen);
    a.commands.send(SpeakerCommand::Thaw).await.unwrap();
    p.send(&u[7..]).await;
    wait_for(&log, "the route", |ev| {
        ev.iter()
            .next()
            .is_some_and(|e| route_log(ev, peer_of(e)).len() == 1)
    })
    .await;
    assert_eq!(
        p.read_significant(Duration::from_millis(1500)).await,
        Reply::Silence
    );
    let st = a.status().await.remove(0).session;
    assert_eq!(st.counters.handoffs, 0);
    assert_eq!(st.counters.flaps, 0);
}

/// A connection attempt made while the sessions are frozen for a handoff is
/// not refused: it waits in the listening socket's backlog (the frozen
/// speaker stops accepting), and the successor, listening on the same socket
/// handed over with the sessions, answers it once its neighbours are in place.
#[tokio::test]
async fn a_connection_attempt_during_the_handoff_is_answered_by_the_successor() {
    const NEW_PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);
    let (a, _log_a) = start_speaker(vec![neighbor(NEW_PEER, PEER_AS)]).await;
    let port = a.listening[0];
    let frozen = freeze(&a).await;
    assert!(frozen.is_empty(), "no Established session");
    // The peer connects while frozen: the kernel completes the handshake (the
    // socket still listens) and the speaker leaves it there.
    let mut p = RawPeer::connect(NEW_PEER, port).await.expect("not refused");
    p.send(&open_bytes(PEER_AS, 9, NEW_PEER)).await;
    assert_eq!(
        p.read(Duration::from_millis(500)).await,
        Reply::Silence,
        "neither answered nor closed while frozen"
    );
    let (tx, rx) = oneshot::channel();
    a.commands
        .send(SpeakerCommand::ListenerFds(tx))
        .await
        .unwrap();
    let listeners = rx.await.unwrap();
    assert_eq!(listeners.len(), 1);

    // The successor on the same listening socket, its neighbour added.
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { while ev_rx.recv().await.is_some() {} });
    let b = perouter_bgp::speaker::start_with_listeners(
        perouter_bgp::config::SpeakerConfig {
            local_as: 65000,
            router_id: Ipv4Addr::new(127, 0, 0, 2),
            listen: Vec::new(),
            netns: None,
        },
        Vec::new(),
        ev_tx,
        listeners,
    )
    .await
    .unwrap();
    assert_eq!(b.listening, vec![port], "the same socket, not a new bind");
    // Before ResumeDone the successor does not take it either.
    assert_eq!(p.read(Duration::from_millis(300)).await, Reply::Silence);
    b.commands
        .send(SpeakerCommand::AddNeighbor(neighbor(NEW_PEER, PEER_AS)))
        .await
        .unwrap();
    let (tx, rx) = oneshot::channel();
    b.commands
        .send(SpeakerCommand::ResumeDone(tx))
        .await
        .unwrap();
    rx.await.unwrap();
    let (tx, rx) = oneshot::channel();
    a.commands.send(SpeakerCommand::Release(tx)).await.unwrap();
    rx.await.unwrap();
    drop(a);
    // The successor answers the OPEN sent during the handoff.
    assert_eq!(p.read(Duration::from_secs(5)).await, Reply::Open);
    assert_eq!(p.read(Duration::from_secs(5)).await, Reply::Keepalive);
    p.send(&keepalive()).await;
    for _ in 0..100 {
        if b.status()
            .await
            .iter()
            .any(|s| s.session.state == perouter_bgp::fsm::State::Established)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the successor did not establish the session begun during the handoff");
}

/// A connection accepted by a frozen speaker is held, not closed, and is
/// served when the handoff is abandoned (thaw).
#[tokio::test]
async fn a_connection_attempt_during_an_abandoned_handoff_is_answered_after_the_thaw() {
    const NEW_PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 22);
    let (a, _log_a) = start_speaker(vec![neighbor(NEW_PEER, PEER_AS)]).await;
    let _ = freeze(&a).await;
    let mut p = RawPeer::connect(NEW_PEER, a.listening[0])
        .await
        .expect("not refused");
    p.send(&open_bytes(PEER_AS, 9, NEW_PEER)).await;
    assert_eq!(p.read(Duration::from_millis(500)).await, Reply::Silence);
    a.commands.send(SpeakerCommand::Thaw).await.unwrap();
    assert_eq!(p.read(Duration::from_secs(5)).await, Reply::Open);
}

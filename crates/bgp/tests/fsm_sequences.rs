//! Drives the sans-IO FSM through whole sessions, input by input, and checks
//! every output: messages, timers, events (RFC 4271 §8, §6.2, §10; RFC 5492;
//! RFC 6793; RFC 7911; RFC 9003).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use perouter_bgp::config::{AddPathConfig, AsKind, Family, PeerConfig, RemoteAs};
use perouter_bgp::fsm::{DownReason, Event, Fsm, FsmConfig, State, TimerKind, OPEN_HOLD_TIME};
use perouter_bgp::wire::{
    AddPathMode, AfiSafi, Capability, CeaseSubcode, ErrorCode, FsmSubcode, Message, Notification,
    Open, OpenSubcode,
};

const LOCAL_AS: u32 = 65000;
const PEER_AS: u32 = 65001;

fn cfg(peer: PeerConfig) -> FsmConfig {
    FsmConfig {
        local_as: LOCAL_AS,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        peer,
    }
}

fn default_peer() -> PeerConfig {
    PeerConfig::new(RemoteAs::Number(PEER_AS))
}

fn peer_open(asn: u32, hold: u16, caps: Vec<Capability>) -> Open {
    Open::new(asn, hold, Ipv4Addr::new(10, 0, 0, 2), caps)
}

fn std_caps(asn: u32) -> Vec<Capability> {
    vec![
        Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(asn),
    ]
}

fn drain_tx(f: &mut Fsm) -> Vec<Message> {
    std::iter::from_fn(|| f.poll_transmit()).collect()
}

fn drain_ev(f: &mut Fsm) -> Vec<Event> {
    std::iter::from_fn(|| f.poll_event()).collect()
}

/// Brings a machine to Established against `open`, returning it.
fn established(peer: PeerConfig, open: Open, t0: Instant) -> Fsm {
    let mut f = Fsm::new(cfg(peer), 1);
    f.handle_start(t0);
    f.handle_connected(t0);
    f.handle_message(t0, Message::Open(open));
    f.handle_message(t0, Message::Keepalive);
    assert_eq!(f.state(), State::Established);
    drain_tx(&mut f);
    drain_ev(&mut f);
    f
}

fn sent_notification(msgs: &[Message]) -> Notification {
    msgs.iter()
        .find_map(|m| match m {
            Message::Notification(n) => Some(n.clone()),
            _ => None,
        })
        .expect("a NOTIFICATION was sent")
}

#[test]
fn active_session_reaches_established_step_by_step() {
    let t0 = Instant::now();
    let mut f = Fsm::new(cfg(default_peer()), 7);
    assert_eq!(f.state(), State::Idle);
    assert_eq!(f.poll_timeout(), None, "nothing armed before start");

    f.handle_start(t0);
    assert_eq!(f.state(), State::Connect);
    assert_eq!(drain_ev(&mut f), vec![Event::Connect]);
    let retry = f
        .timer(TimerKind::ConnectRetry)
        .expect("connect timer armed");
    assert!(retry > t0 && retry <= t0 + Duration::from_secs(5));

    f.handle_connected(t0);
    assert_eq!(f.state(), State::OpenSent);
    let tx = drain_tx(&mut f);
    let Message::Open(ours) = &tx[0] else {
        panic!("OPEN first, got {tx:?}")
    };
    assert_eq!(ours.asn(), LOCAL_AS);
    assert_eq!(ours.hold_time, 90);
    assert!(ours.families().contains(&AfiSafi::IPV4_UNICAST));
    assert_eq!(
        f.timer(TimerKind::Hold),
        Some(t0 + OPEN_HOLD_TIME),
        "large hold timer in OpenSent"
    );
    assert_eq!(f.timer(TimerKind::ConnectRetry), None);

    let t1 = t0 + Duration::from_secs(1);
    f.handle_message(t1, Message::Open(peer_open(PEER_AS, 30, std_caps(PEER_AS))));
    assert_eq!(f.state(), State::OpenConfirm);
    assert_eq!(drain_tx(&mut f), vec![Message::Keepalive]);
    assert_eq!(
        f.timer(TimerKind::Hold),
        Some(t1 + Duration::from_secs(30)),
        "hold = min(90, 30)"
    );
    let ka = f.timer(TimerKind::Keepalive).expect("keepalive armed");
    assert!(
        ka > t1 && ka <= t1 + Duration::from_secs(10),
        "keepalive = hold/3, jittered"
    );
    assert!(f.rx_context().four_octet_as && f.tx_context().four_octet_as);

    let t2 = t1 + Duration::from_secs(1);
    f.handle_message(t2, Message::Keepalive);
    assert_eq!(f.state(), State::Established);
    let ev = drain_ev(&mut f);
    let [Event::Up(p)] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(p.peer_as, PEER_AS);
    assert_eq!(p.hold_time, 30);
    assert!(!p.ibgp);
    assert_eq!(p.families, vec![AfiSafi::IPV4_UNICAST]);
    assert!(p.route_refresh);
    assert_eq!(
        p.peer_capabilities,
        vec![
            "mp ipv4-unicast".to_string(),
            "route-refresh".into(),
            format!("4-octet-as {PEER_AS}")
        ],
        "the peer's capabilities as received, in order"
    );
    assert_eq!(f.established_at(), Some(t2));
}

#[test]
fn passive_session_waits_in_active() {
    let t0 = Instant::now();
    let mut f = Fsm::new(
        cfg(PeerConfig {
            passive: true,
            ..default_peer()
        }),
        1,
    );
    f.handle_start(t0);
    assert_eq!(f.state(), State::Active);
    assert!(drain_ev(&mut f).is_empty(), "passive never connects");
    // Even when a retry deadline passes.
    f.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(drain_ev(&mut f).is_empty());
    f.handle_connected(t0);
    assert_eq!(f.state(), State::OpenSent);
}

#[test]
fn connect_failure_backs_off_with_growing_delays() {
    let t0 = Instant::now();
    let mut f = Fsm::new(cfg(default_peer()), 3);
    f.handle_start(t0);
    drain_ev(&mut f);
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..5 {
        f.handle_connect_failed(now);
        assert_eq!(f.state(), State::Active);
        let d = f.timer(TimerKind::ConnectRetry).unwrap() - now;
        delays.push(d);
        now += d;
        f.handle_timeout(now);
        assert_eq!(f.state(), State::Connect);
        assert_eq!(drain_ev(&mut f), vec![Event::Connect]);
        now += Duration::from_millis(1);
    }
    // 5 s base doubling to the 120 s cap, each jittered into [0.75, 1.0].
    let bases = [5u64, 10, 20, 40, 80];
    for (d, b) in delays.iter().zip(bases) {
        assert!(
            *d <= Duration::from_secs(b) && *d >= Duration::from_secs(b) * 3 / 4,
            "{d:?} vs {b}"
        );
    }
}

#[test]
fn hold_timer_expiry_sends_notification_and_goes_idle() {
    let t0 = Instant::now();
    let mut f = established(default_peer(), peer_open(PEER_AS, 9, std_caps(PEER_AS)), t0);
    let hold = f.timer(TimerKind::Hold).unwrap();
    assert_eq!(hold, t0 + Duration::from_secs(9));
    // Keepalives keep it alive.
    let t1 = t0 + Duration::from_secs(5);
    f.handle_message(t1, Message::Keepalive);
    assert_eq!(f.timer(TimerKind::Hold), Some(t1 + Duration::from_secs(9)));
    // Our own keepalives go out every hold/3.
    let ka = f.timer(TimerKind::Keepalive).unwrap();
    f.handle_timeout(ka);
    assert_eq!(drain_tx(&mut f), vec![Message::Keepalive]);
    // Then silence.
    let t2 = t1 + Duration::from_secs(9);
    f.handle_timeout(t2);
    assert_eq!(f.state(), State::Idle);
    let n = sent_notification(&drain_tx(&mut f));
    assert_eq!(n.error(), ErrorCode::HoldTimerExpired);
    let ev = drain_ev(&mut f);
    assert!(matches!(
        &ev[0],
        Event::Down {
            reason: DownReason::NotificationSent(_),
            established: true
        }
    ));
    assert!(ev.contains(&Event::Disconnect));
    assert!(
        f.timer(TimerKind::ConnectRetry).is_some(),
        "automatic restart armed"
    );
    assert_eq!(f.timer(TimerKind::Hold), None);
    assert_eq!(f.timer(TimerKind::Keepalive), None);
}

#[test]
fn zero_hold_time_means_no_hold_and_no_keepalive() {
    let t0 = Instant::now();
    let f = established(default_peer(), peer_open(PEER_AS, 0, std_caps(PEER_AS)), t0);
    assert_eq!(f.timer(TimerKind::Hold), None);
    assert_eq!(f.timer(TimerKind::Keepalive), None);
    assert_eq!(f.params().unwrap().hold_time, 0);
}

fn rejected(peer: PeerConfig, open: Open) -> Notification {
    let t0 = Instant::now();
    let mut f = Fsm::new(cfg(peer), 1);
    f.handle_start(t0);
    f.handle_connected(t0);
    drain_tx(&mut f);
    f.handle_message(t0, Message::Open(open));
    assert_eq!(f.state(), State::Idle);
    let ev = drain_ev(&mut f);
    assert!(ev.contains(&Event::Disconnect), "{ev:?}");
    sent_notification(&drain_tx(&mut f))
}

#[test]
fn open_errors_are_answered_with_the_right_notification() {
    let n = rejected(default_peer(), peer_open(65099, 90, std_caps(65099)));
    assert_eq!(n.error(), ErrorCode::Open(OpenSubcode::BadPeerAs));

    let mut o = peer_open(PEER_AS, 90, std_caps(PEER_AS));
    o.bgp_id = Ipv4Addr::UNSPECIFIED;
    assert_eq!(
        rejected(default_peer(), o).error(),
        ErrorCode::Open(OpenSubcode::BadBgpIdentifier)
    );

    // iBGP with our own identifier.
    let mut o = peer_open(LOCAL_AS, 90, std_caps(LOCAL_AS));
    o.bgp_id = Ipv4Addr::new(10, 0, 0, 1);
    let ibgp = PeerConfig::new(RemoteAs::Kind(AsKind::Internal));
    assert_eq!(
        rejected(ibgp, o).error(),
        ErrorCode::Open(OpenSubcode::BadBgpIdentifier)
    );

    for hold in [1, 2] {
        let n = rejected(default_peer(), peer_open(PEER_AS, hold, std_caps(PEER_AS)));
        assert_eq!(
            n.error(),
            ErrorCode::Open(OpenSubcode::UnacceptableHoldTime)
        );
    }

    // EVPN only on our side, IPv6 only on theirs.
    let evpn = PeerConfig {
        families: vec![Family::L2vpnEvpn],
        ..default_peer()
    };
    let o = peer_open(
        PEER_AS,
        90,
        vec![Capability::MultiProtocol(AfiSafi::IPV6_UNICAST)],
    );
    let n = rejected(evpn, o);
    assert_eq!(
        n.error(),
        ErrorCode::Open(OpenSubcode::UnsupportedCapability)
    );
    // RFC 5492 §5: data lists the MP capability we needed (code 1, len 4, AFI 25, SAFI 70).
    assert_eq!(&n.data[..], &[1, 4, 0, 25, 0, 70]);
}

#[test]
fn remote_as_external_and_internal() {
    let t0 = Instant::now();
    let ext = PeerConfig::new(RemoteAs::Kind(AsKind::External));
    let f = established(
        ext.clone(),
        peer_open(4_200_000_001, 90, std_caps(4_200_000_001)),
        t0,
    );
    assert_eq!(f.params().unwrap().peer_as, 4_200_000_001);
    assert_eq!(
        rejected(ext, peer_open(LOCAL_AS, 90, std_caps(LOCAL_AS))).error(),
        ErrorCode::Open(OpenSubcode::BadPeerAs)
    );
    let int = PeerConfig::new(RemoteAs::Kind(AsKind::Internal));
    let f = established(int, peer_open(LOCAL_AS, 90, std_caps(LOCAL_AS)), t0);
    assert!(f.params().unwrap().ibgp);
    assert_eq!(f.tx_context().ibgp, Some(true));
}

#[test]
fn two_octet_only_peer_gets_two_octet_encoding() {
    let t0 = Instant::now();
    let caps = vec![Capability::MultiProtocol(AfiSafi::IPV4_UNICAST)];
    let f = established(default_peer(), peer_open(PEER_AS, 90, caps), t0);
    let p = f.params().unwrap();
    assert!(!p.four_octet_as);
    assert!(!f.tx_context().four_octet_as && !f.rx_context().four_octet_as);
    assert_eq!(p.peer_as, PEER_AS);
}

#[test]
fn four_octet_local_as_sends_as_trans() {
    let t0 = Instant::now();
    let mut f = Fsm::new(
        FsmConfig {
            local_as: 4_200_000_000,
            router_id: Ipv4Addr::new(10, 0, 0, 1),
            peer: default_peer(),
        },
        1,
    );
    f.handle_start(t0);
    f.handle_connected(t0);
    let Some(Message::Open(o)) = f.poll_transmit() else {
        panic!()
    };
    assert_eq!(o.my_as, 23456);
    assert_eq!(o.four_octet_as(), Some(4_200_000_000));
}

#[test]
fn capabilities_negotiate_per_family_and_direction() {
    let t0 = Instant::now();
    let peer = PeerConfig {
        families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn],
        add_path: vec![
            AddPathConfig {
                family: Family::Ipv4Unicast,
                receive: true,
                send: true,
            },
            AddPathConfig {
                family: Family::Ipv6Unicast,
                receive: true,
                send: false,
            },
        ],
        ..default_peer()
    };
    let caps = vec![
        Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
        Capability::MultiProtocol(AfiSafi::L2VPN_EVPN),
        Capability::FourOctetAs(PEER_AS),
        Capability::ExtendedMessage,
        Capability::EnhancedRouteRefresh,
        Capability::RouteRefresh,
        Capability::AddPath(vec![
            (AfiSafi::IPV4_UNICAST, AddPathMode::Send),
            (AfiSafi::IPV6_UNICAST, AddPathMode::Send),
        ]),
    ];
    let f = established(peer, peer_open(PEER_AS, 90, caps), t0);
    let p = f.params().unwrap();
    assert_eq!(
        p.families,
        vec![AfiSafi::IPV4_UNICAST, AfiSafi::L2VPN_EVPN],
        "intersection"
    );
    assert!(p.extended_message && p.enhanced_route_refresh);
    assert_eq!(
        p.add_path_receive,
        vec![AfiSafi::IPV4_UNICAST],
        "peer sends, we receive; IPv6 is not a negotiated family"
    );
    assert!(p.add_path_send.is_empty(), "peer did not offer to receive");
    assert!(f.rx_context().add_path(AfiSafi::IPV4_UNICAST));
    assert!(!f.tx_context().add_path(AfiSafi::IPV4_UNICAST));
}

#[test]
fn graceful_restart_capability_is_negotiated() {
    let t0 = Instant::now();
    let caps = {
        let mut c = std_caps(PEER_AS);
        c.push(Capability::GracefulRestart(
            perouter_bgp::wire::GracefulRestart {
                restart_flags: 0x80,
                restart_time: 120,
                families: vec![(AfiSafi::IPV4_UNICAST, 0x80)],
            },
        ));
        c
    };
    let f = established(default_peer(), peer_open(PEER_AS, 90, caps), t0);
    let gr = f
        .params()
        .unwrap()
        .graceful_restart
        .clone()
        .expect("GR negotiated");
    assert_eq!(gr.restart_time, 120);
    assert!(gr.restarting);
    assert_eq!(gr.families, vec![(AfiSafi::IPV4_UNICAST, true)]);
    // Without GR on the peer's side there is nothing to help with.
    let f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    assert!(f.params().unwrap().graceful_restart.is_none());
}

#[test]
fn admin_shutdown_carries_the_rfc9003_message_and_stays_down() {
    let t0 = Instant::now();
    let mut f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    f.handle_stop(t0, Some("maintenance: perouter upgrade"));
    let n = sent_notification(&drain_tx(&mut f));
    assert_eq!(
        n.error(),
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(
        n.shutdown_communication(),
        Some("maintenance: perouter upgrade")
    );
    assert_eq!(f.state(), State::Idle);
    assert_eq!(f.poll_timeout(), None, "no restart after an admin stop");
    // An incoming connection is refused while stopped.
    drain_ev(&mut f);
    f.handle_connected(t0);
    assert_eq!(drain_ev(&mut f), vec![Event::Disconnect]);
    assert_eq!(f.state(), State::Idle);
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    let t0 = Instant::now();
    let mut f = Fsm::new(cfg(default_peer()), 1);
    f.handle_start(t0);
    f.handle_connected(t0);
    drain_tx(&mut f);
    f.handle_message(t0, Message::Keepalive);
    let n = sent_notification(&drain_tx(&mut f));
    assert_eq!(
        n.error(),
        ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInOpenSent)
    );

    let mut f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    f.handle_message(t0, Message::Open(peer_open(PEER_AS, 90, std_caps(PEER_AS))));
    let n = sent_notification(&drain_tx(&mut f));
    assert_eq!(
        n.error(),
        ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInEstablished)
    );
}

#[test]
fn updates_are_refused_before_established() {
    let t0 = Instant::now();
    let mut f = Fsm::new(cfg(default_peer()), 1);
    assert!(f.send_updates(t0, Vec::new()).is_err());
    f.handle_start(t0);
    f.handle_connected(t0);
    assert!(f.send_updates(t0, Vec::new()).is_err());
}

#[test]
fn peer_notification_ends_the_session() {
    let t0 = Instant::now();
    let mut f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    let n = Notification::cease_with_communication(CeaseSubcode::AdministrativeReset, "bye");
    f.handle_message(t0, Message::Notification(n.clone()));
    assert_eq!(f.state(), State::Idle);
    assert!(
        drain_tx(&mut f).is_empty(),
        "never answer a NOTIFICATION with one"
    );
    let ev = drain_ev(&mut f);
    assert_eq!(
        ev[0],
        Event::Down {
            reason: DownReason::NotificationReceived(n),
            established: true
        }
    );
}

#[test]
fn tcp_close_in_established_reports_down_and_restarts() {
    let t0 = Instant::now();
    let mut f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    f.handle_closed(t0);
    assert_eq!(f.state(), State::Idle);
    let ev = drain_ev(&mut f);
    assert_eq!(
        ev[0],
        Event::Down {
            reason: DownReason::ConnectionClosed,
            established: true
        }
    );
    let retry = f.timer(TimerKind::ConnectRetry).unwrap();
    f.handle_timeout(retry);
    assert_eq!(f.state(), State::Connect);
    assert_eq!(drain_ev(&mut f), vec![Event::Connect]);
}

/// The GR capability of the OPEN the machine sends on its next connection.
fn next_open_gr(f: &mut Fsm, t: Instant) -> perouter_bgp::wire::GracefulRestart {
    f.handle_connected(t);
    let tx = drain_tx(f);
    let Some(Message::Open(open)) = tx.first() else {
        panic!("OPEN expected, got {tx:?}")
    };
    open.graceful_restart().expect("GR advertised").clone()
}

#[test]
fn restarting_speaker_sets_the_r_bit_until_re_established() {
    // RFC 4724 §4.1: after our own restart the R bit is set (and the F bit
    // when forwarding was preserved), and only until the session is back.
    let t0 = Instant::now();
    let mut peer = default_peer();
    peer.families = vec![Family::Ipv4Unicast, Family::L2vpnEvpn];
    peer.graceful_restart.restarting = true;
    peer.graceful_restart.forwarding_preserved = true;
    peer.graceful_restart.restart_time = 90;
    let mut f = Fsm::new(cfg(peer), 3);
    f.handle_start(t0);
    drain_ev(&mut f);
    let gr = next_open_gr(&mut f, t0);
    assert!(
        gr.restart_state(),
        "R bit on the first OPEN after a restart"
    );
    assert_eq!(gr.restart_time, 90);
    assert_eq!(
        gr.families,
        vec![(AfiSafi::IPV4_UNICAST, 0x80), (AfiSafi::L2VPN_EVPN, 0x80)],
        "F bit per family"
    );
    let caps = {
        let mut c = std_caps(PEER_AS);
        c.push(Capability::MultiProtocol(AfiSafi::L2VPN_EVPN));
        c.push(Capability::GracefulRestart(
            perouter_bgp::wire::GracefulRestart {
                restart_flags: 0,
                restart_time: 120,
                families: vec![(AfiSafi::IPV4_UNICAST, 0)],
            },
        ));
        c
    };
    f.handle_message(t0, Message::Open(peer_open(PEER_AS, 90, caps)));
    assert!(
        f.params().unwrap().local_restarting,
        "the RIB learns it must defer best-path"
    );
    f.handle_message(t0, Message::Keepalive);
    assert_eq!(f.state(), State::Established);
    // The session drops; the next OPEN no longer claims a restart.
    f.handle_closed(t0);
    drain_ev(&mut f);
    drain_tx(&mut f);
    let gr = next_open_gr(&mut f, t0 + Duration::from_secs(10));
    assert!(!gr.restart_state(), "R bit only until re-established");
    assert_eq!(gr.families[0], (AfiSafi::IPV4_UNICAST, 0x80));
}

#[test]
fn a_connection_lost_before_established_keeps_the_r_bit() {
    let t0 = Instant::now();
    let mut peer = default_peer();
    peer.graceful_restart.restarting = true;
    let mut f = Fsm::new(cfg(peer), 3);
    f.handle_start(t0);
    assert!(next_open_gr(&mut f, t0).restart_state());
    f.handle_closed(t0);
    drain_ev(&mut f);
    assert!(next_open_gr(&mut f, t0).restart_state());
    // GR disabled: no capability at all, whatever `restarting` says.
    let mut peer = default_peer();
    peer.graceful_restart.enabled = false;
    peer.graceful_restart.restarting = true;
    let mut f = Fsm::new(cfg(peer), 3);
    f.handle_start(t0);
    f.handle_connected(t0);
    let tx = drain_tx(&mut f);
    let Some(Message::Open(open)) = tx.first() else {
        panic!()
    };
    assert!(open.graceful_restart().is_none());
}

#[test]
fn send_hold_timer_runs_only_while_the_send_queue_is_stalled() {
    // RFC 9687: default max(8 min, 2 × hold time).
    let t0 = Instant::now();
    let f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    assert_eq!(f.send_hold_time(), Some(Duration::from_secs(480)));
    let long = PeerConfig {
        hold_time: 300,
        ..default_peer()
    };
    let f = established(long, peer_open(PEER_AS, 300, std_caps(PEER_AS)), t0);
    assert_eq!(f.send_hold_time(), Some(Duration::from_secs(600)));
    let off = PeerConfig {
        send_hold_time: Some(0),
        ..default_peer()
    };
    let mut f = established(off, peer_open(PEER_AS, 90, std_caps(PEER_AS)), t0);
    f.handle_send_backlog(Some(t0));
    assert_eq!(f.timer(TimerKind::SendHold), None, "0 turns it off");

    let peer = PeerConfig {
        send_hold_time: Some(30),
        ..default_peer()
    };
    let mut f = established(peer, peer_open(PEER_AS, 90, std_caps(PEER_AS)), t0);
    assert_eq!(f.timer(TimerKind::SendHold), None, "nothing pending");
    // Bytes pending since t0: the timer runs from then.
    f.handle_send_backlog(Some(t0));
    assert_eq!(
        f.timer(TimerKind::SendHold),
        Some(t0 + Duration::from_secs(30))
    );
    // Progress at t1 restarts it; draining stops it.
    let t1 = t0 + Duration::from_secs(20);
    f.handle_send_backlog(Some(t1));
    assert_eq!(
        f.timer(TimerKind::SendHold),
        Some(t1 + Duration::from_secs(30))
    );
    f.handle_send_backlog(None);
    assert_eq!(f.timer(TimerKind::SendHold), None);
    // Stalled again, the peer still sending KEEPALIVEs (it writes, it does
    // not read): the SendHoldTimer expires all the same.
    let t2 = t1 + Duration::from_secs(40);
    f.handle_send_backlog(Some(t2));
    let t3 = t2 + Duration::from_secs(29);
    f.handle_message(t3, Message::Keepalive);
    f.handle_timeout(t3);
    assert_eq!(f.state(), State::Established);
    f.handle_timeout(t2 + Duration::from_secs(30));
    assert_eq!(f.state(), State::Idle);
    let n = sent_notification(&drain_tx(&mut f));
    assert_eq!(n.error(), ErrorCode::SendHoldTimerExpired);
    assert!(drain_ev(&mut f).contains(&Event::Disconnect));
    assert_eq!(f.timer(TimerKind::SendHold), None);
}

#[test]
fn max_prefix_cease_holds_the_session_down_for_the_restart_interval() {
    let t0 = Instant::now();
    let mut f = established(
        default_peer(),
        peer_open(PEER_AS, 90, std_caps(PEER_AS)),
        t0,
    );
    let n = Notification::new(
        ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached),
        Vec::new(),
    );
    f.handle_cease_hold_down(t0, n, Duration::from_secs(60));
    assert_eq!(f.state(), State::Idle);
    assert_eq!(
        sent_notification(&drain_tx(&mut f)).error(),
        ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached)
    );
    drain_ev(&mut f);
    // Nothing before 60 s: no connect, and a connection is refused.
    assert_eq!(
        f.timer(TimerKind::ConnectRetry),
        Some(t0 + Duration::from_secs(60))
    );
    let t1 = t0 + Duration::from_secs(10);
    assert!(!f.accepts_connections(t1));
    f.handle_connected(t1);
    assert_eq!(f.state(), State::Idle);
    assert_eq!(drain_ev(&mut f), vec![Event::Disconnect]);
    assert!(drain_tx(&mut f).is_empty(), "no OPEN during the hold-down");
    // Then it connects again.
    let t2 = t0 + Duration::from_secs(60);
    assert!(f.accepts_connections(t2));
    f.handle_timeout(t2);
    assert_eq!(f.state(), State::Connect);
    assert_eq!(drain_ev(&mut f), vec![Event::Connect]);
}

#[test]
fn the_route_reflector_client_flag_reaches_the_session_parameters() {
    // The RIB applies RFC 4456 §8 to a session from what the FSM hands over: the flag must
    // come from the neighbour's configuration.
    let t0 = Instant::now();
    let ibgp = |client: bool| {
        let mut p = PeerConfig::new(RemoteAs::Kind(AsKind::Internal));
        p.route_reflector_client = client;
        let f = established(p, peer_open(LOCAL_AS, 90, std_caps(LOCAL_AS)), t0);
        let params = f.params().unwrap().clone();
        (params.ibgp, params.route_reflector_client)
    };
    assert_eq!(ibgp(true), (true, true));
    assert_eq!(ibgp(false), (true, false));
}

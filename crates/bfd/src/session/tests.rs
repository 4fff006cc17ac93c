//! Tests of the session against RFC 5880: the state table of §6.8.6 (every
//! received state in every local state), detection expiry, timer
//! negotiation, Poll/Final and the passive role. Time is driven by hand.

use super::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);
const LOCAL: u32 = 0x1111;
const REMOTE: u32 = 0x2222;

fn fast() -> Config {
    Config {
        desired_min_tx: 100 * MS,
        required_min_rx: 100 * MS,
        detect_mult: 3,
        passive: false,
        admin_down: false,
    }
}

/// A packet from the remote in `state`, knowing our discriminator unless Down/AdminDown.
fn from_remote(state: State) -> ControlPacket {
    ControlPacket {
        diag: Diagnostic::None,
        state,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: REMOTE,
        your_discriminator: if matches!(state, State::Init | State::Up) {
            LOCAL
        } else {
            0
        },
        desired_min_tx_us: 100_000,
        required_min_rx_us: 100_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

/// A session brought into `state` at `t0`, its events drained.
fn in_state(t0: Instant, state: State) -> Session {
    let mut s = Session::new(t0, fast(), LOCAL, 7);
    match state {
        State::Down => {}
        State::AdminDown => s.set_config(
            t0,
            Config {
                admin_down: true,
                ..fast()
            },
        ),
        State::Init => s.handle_packet(t0, &from_remote(State::Down)).unwrap(),
        State::Up => s.handle_packet(t0, &from_remote(State::Init)).unwrap(),
    }
    assert_eq!(s.state(), state);
    while s.poll_event().is_some() {}
    s
}

const ALL: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];

/// RFC 5880 §6.8.6 / §6.2: (local, received) -> (new local, diag when it changed).
fn expected(local: State, received: State) -> (State, Option<Diagnostic>) {
    use State::*;
    let nsd = Some(Diagnostic::NeighborSignaledSessionDown);
    match (local, received) {
        (AdminDown, _) => (AdminDown, None),
        (Down, AdminDown) => (Down, None),
        (Down, Down) => (Init, None),
        (Down, Init) => (Up, None),
        (Down, Up) => (Down, None),
        (Init, AdminDown) => (Down, nsd),
        (Init, Down) => (Init, None),
        (Init, Init) | (Init, Up) => (Up, None),
        (Up, AdminDown) | (Up, Down) => (Down, nsd),
        (Up, Init) | (Up, Up) => (Up, None),
    }
}

#[test]
fn state_table_every_received_state_in_every_local_state() {
    let t0 = Instant::now();
    for local in ALL {
        for received in ALL {
            let mut s = in_state(t0, local);
            s.handle_packet(t0 + MS, &from_remote(received)).unwrap();
            let (want, diag) = expected(local, received);
            assert_eq!(s.state(), want, "{local:?} receiving {received:?}");
            let ev = s.poll_event();
            if want == local {
                assert_eq!(ev, None, "{local:?} receiving {received:?}");
            } else {
                let ev = ev.expect("a state change event");
                assert_eq!((ev.from, ev.to), (local, want));
                assert_eq!(ev.remote_state, received);
                if let Some(d) = diag {
                    assert_eq!(ev.diag, d);
                }
                if want == State::Up {
                    assert_eq!(ev.diag, Diagnostic::None);
                }
            }
            // The remote discriminator is learnt in every state (§6.8.6).
            assert_eq!(s.remote_discriminator(), REMOTE);
        }
    }
}

#[test]
fn detection_expiry_in_every_state() {
    let t0 = Instant::now();
    for local in ALL {
        let mut s = in_state(t0, local);
        // Hear the remote once (a packet that changes nothing in this state).
        let keep = match local {
            State::Down => State::AdminDown,
            State::Init => State::Down,
            _ => State::Up,
        };
        s.handle_packet(t0, &from_remote(keep)).unwrap();
        assert_eq!(s.state(), local);
        // Detection time: remote mult 3 × max(our rx 100 ms, remote tx 100 ms).
        // While not Up our rx is 100 ms still (only TX has the 1 s floor).
        let detect = s.detection_time().unwrap();
        assert_eq!(detect, 300 * MS);
        s.handle_timeout(t0 + detect - MS);
        assert_eq!(s.state(), local, "{local:?} before the detection time");
        s.handle_timeout(t0 + detect);
        let want = match local {
            State::Init | State::Up => State::Down,
            other => other,
        };
        assert_eq!(s.state(), want, "{local:?} at the detection time");
        if want != local {
            let ev = s.poll_event().unwrap();
            assert_eq!(ev.diag, Diagnostic::ControlDetectionTimeExpired);
        }
        if local != State::AdminDown {
            assert_eq!(s.remote_discriminator(), 0, "RemoteDiscr reset (§6.8.1)");
        }
    }
}

#[test]
fn admin_down_and_back() {
    let t0 = Instant::now();
    for local in [State::Down, State::Init, State::Up] {
        let mut s = in_state(t0, local);
        let cfg = Config {
            admin_down: true,
            ..fast()
        };
        s.set_config(t0, cfg);
        assert_eq!(s.state(), State::AdminDown);
        let ev = s.poll_event().unwrap();
        assert_eq!(ev.diag, Diagnostic::AdministrativelyDown);
        let p = s.poll_transmit(t0).unwrap();
        assert_eq!(
            (p.state, p.diag),
            (State::AdminDown, Diagnostic::AdministrativelyDown)
        );
        // No detection in AdminDown.
        assert_eq!(s.detect_deadline(), None);
        s.set_config(t0 + MS, fast());
        assert_eq!(s.state(), State::Down);
    }
}

#[test]
fn refused_packets_change_nothing() {
    let t0 = Instant::now();
    let mut s = in_state(t0, State::Down);
    let mut p = from_remote(State::Init);
    p.auth = Some(crate::packet::Auth {
        auth_type: 2,
        data: vec![0; 22],
    });
    assert_eq!(s.handle_packet(t0, &p), Err(Discard::AuthNotConfigured));
    let mut p = from_remote(State::Init);
    p.demand = true;
    assert_eq!(s.handle_packet(t0, &p), Err(Discard::DemandUnsupported));
    let mut p = from_remote(State::Init);
    p.your_discriminator = 99;
    assert_eq!(
        s.handle_packet(t0, &p),
        Err(Discard::DiscriminatorMismatch {
            ours: LOCAL,
            got: 99
        })
    );
    assert_eq!(s.state(), State::Down);
    assert_eq!(s.remote_discriminator(), 0);
    assert_eq!(s.status(t0).counters.discarded, 3);
    assert_eq!(s.status(t0).counters.packets_in, 0);
}

#[test]
fn slow_tx_while_not_up_then_poll_on_up() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, fast(), LOCAL, 1);
    let p = s.poll_transmit(t0).unwrap();
    assert_eq!(p.desired_min_tx_us, 1_000_000, "1 s while not Up (§6.8.3)");
    assert_eq!(p.required_min_rx_us, 100_000);
    assert_eq!(
        (p.state, p.your_discriminator, p.poll),
        (State::Down, 0, false)
    );
    // Next packet not before 75 % of 1 s.
    assert!(s.poll_transmit(t0 + 749 * MS).is_none());
    s.handle_packet(t0 + 10 * MS, &from_remote(State::Init))
        .unwrap();
    assert_eq!(s.state(), State::Up);
    // Going Up changes the advertised TX: a Poll sequence, sent at once.
    let p = s.poll_transmit(t0 + 10 * MS).unwrap();
    assert_eq!(p.state, State::Up);
    assert!(p.poll && !p.final_);
    assert_eq!(p.desired_min_tx_us, 100_000);
    assert_eq!(p.your_discriminator, REMOTE);
    // Sending faster takes effect at once.
    assert_eq!(s.tx_interval(), 100 * MS);
    let mut fin = from_remote(State::Up);
    fin.final_ = true;
    s.handle_packet(t0 + 20 * MS, &fin).unwrap();
    assert!(!s.status(t0).poll_active);
    let p = s.poll_transmit(t0 + 200 * MS).unwrap();
    assert!(!p.poll);
}

#[test]
fn poll_is_answered_with_final_at_once() {
    let t0 = Instant::now();
    let mut s = in_state(t0, State::Up);
    // Drain what is due now.
    while s.poll_transmit(t0).is_some() {}
    let mut p = from_remote(State::Up);
    p.poll = true;
    p.desired_min_tx_us = 50_000;
    s.handle_packet(t0 + MS, &p).unwrap();
    let f = s.poll_transmit(t0 + MS).unwrap();
    assert!(f.final_ && !f.poll);
    // Only one Final.
    assert!(s.poll_transmit(t0 + MS).is_none());
}

#[test]
fn slower_tx_waits_for_final_faster_detection_waits_for_final() {
    let t0 = Instant::now();
    let mut s = in_state(t0, State::Up);
    let mut fin = from_remote(State::Up);
    fin.final_ = true;
    s.handle_packet(t0, &fin).unwrap();
    assert_eq!(s.tx_interval(), 100 * MS);
    // Remote desired tx 100 ms, ours rx 100 ms: detect 300 ms.
    assert_eq!(s.detection_time(), Some(300 * MS));
    // Slower TX (300 ms) and faster RX (50 ms), remote still sends at 100 ms.
    let cfg = Config {
        desired_min_tx: 300 * MS,
        required_min_rx: 50 * MS,
        ..fast()
    };
    s.set_config(t0 + MS, cfg);
    assert_eq!(s.state(), State::Up, "no reset on a timer change");
    let p = s.poll_transmit(t0 + MS).unwrap();
    assert!(p.poll);
    assert_eq!(
        (p.desired_min_tx_us, p.required_min_rx_us),
        (300_000, 50_000)
    );
    // Until the Final: old pacing, old detection.
    assert_eq!(s.tx_interval(), 100 * MS);
    assert_eq!(s.detection_time(), Some(300 * MS));
    s.handle_packet(t0 + 2 * MS, &fin).unwrap();
    assert_eq!(s.tx_interval(), 300 * MS);
    // max(50 ms, remote 100 ms) × 3.
    assert_eq!(s.detection_time(), Some(300 * MS));
    let mut p = from_remote(State::Up);
    p.desired_min_tx_us = 20_000;
    s.handle_packet(t0 + 3 * MS, &p).unwrap();
    assert_eq!(s.detection_time(), Some(150 * MS));
    // Same config again: no new Poll.
    s.set_config(t0 + 4 * MS, cfg);
    assert!(!s.status(t0).poll_active);
}

#[test]
fn tx_interval_honours_remote_min_rx() {
    let t0 = Instant::now();
    let mut s = in_state(t0, State::Up);
    let mut p = from_remote(State::Up);
    p.final_ = true;
    p.required_min_rx_us = 500_000;
    s.handle_packet(t0, &p).unwrap();
    assert_eq!(s.tx_interval(), 500 * MS);
    // The remote wanting no packets at all (Required Min RX 0): none sent.
    p.required_min_rx_us = 0;
    s.handle_packet(t0, &p).unwrap();
    while s.poll_transmit(t0).is_some() {}
    assert!(s.poll_transmit(t0 + Duration::from_secs(10)).is_none());
}

#[test]
fn passive_waits_for_the_peer() {
    let t0 = Instant::now();
    let cfg = Config {
        passive: true,
        ..fast()
    };
    let mut s = Session::new(t0, cfg, LOCAL, 3);
    assert!(s.poll_transmit(t0 + Duration::from_secs(5)).is_none());
    assert_eq!(s.poll_timeout(), None);
    s.handle_packet(t0 + Duration::from_secs(6), &from_remote(State::Down))
        .unwrap();
    let p = s.poll_transmit(t0 + Duration::from_secs(6)).unwrap();
    assert_eq!((p.state, p.your_discriminator), (State::Init, REMOTE));
    // Peer gone: the detection time passes, RemoteDiscr 0, silent again.
    s.handle_timeout(t0 + Duration::from_secs(7));
    assert_eq!(s.state(), State::Down);
    while s.poll_transmit(t0 + Duration::from_secs(7)).is_some() {}
    assert!(s.poll_transmit(t0 + Duration::from_secs(60)).is_none());
}

/// Two sessions joined by a link with 1 ms latency; `drop` decides per packet
/// (from a = true) whether it is lost. Returns the end time.
fn run(
    a: &mut Session,
    b: &mut Session,
    from: Instant,
    until: Instant,
    drop: &mut dyn FnMut(Instant, bool) -> bool,
    gaps: &mut Vec<(bool, Duration, Duration, Duration)>,
) {
    let mut now = from;
    let mut flight: Vec<(Instant, bool, ControlPacket)> = Vec::new();
    // Per side: when the last periodic packet left, its state, and the interval it was paced with.
    let mut last_tx: [Option<(Instant, State, Duration)>; 2] = [None, None];
    loop {
        for (is_a, s) in [(true, &mut *a), (false, &mut *b)] {
            s.handle_timeout(now);
            while let Some(p) = s.poll_transmit(now) {
                if !p.final_ {
                    let i = usize::from(!is_a);
                    let interval = s.tx_interval();
                    if let Some((t, st, prev)) = last_tx[i] {
                        // Out-of-schedule packets (state changes, Poll starts) excluded.
                        if st == State::Up && p.state == State::Up && !p.poll {
                            gaps.push((is_a, now - t, prev.min(interval), prev));
                        }
                    }
                    last_tx[i] = Some((now, p.state, interval));
                }
                if !drop(now, is_a) {
                    let bytes = p.emit();
                    flight.push((now + MS, is_a, ControlPacket::parse(&bytes).unwrap()));
                }
            }
        }
        let next_arrival = flight.iter().map(|f| f.0).min();
        let next = [a.poll_timeout(), b.poll_timeout(), next_arrival]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        if next > until {
            break;
        }
        now = next.max(now);
        let (due, rest): (Vec<_>, Vec<_>) = flight.into_iter().partition(|f| f.0 <= now);
        flight = rest;
        for (_, from_a, p) in due {
            let to = if from_a { &mut *b } else { &mut *a };
            let _ = to.handle_packet(now, &p);
        }
    }
}

#[test]
fn two_sessions_come_up_and_detect_silence() {
    let t0 = Instant::now();
    let mut a = Session::new(t0, fast(), 1, 11);
    let mut b = Session::new(t0, fast(), 2, 22);
    let mut gaps = Vec::new();
    run(
        &mut a,
        &mut b,
        t0,
        t0 + Duration::from_secs(3),
        &mut |_, _| false,
        &mut gaps,
    );
    assert_eq!((a.state(), b.state()), (State::Up, State::Up));
    assert!(!a.status(t0).poll_active && !b.status(t0).poll_active);
    assert!(gaps.len() > 10);
    for (_, gap, lo, hi) in &gaps {
        assert!(
            *gap >= *lo * 3 / 4 && *gap <= *hi,
            "{gap:?} vs {lo:?}..{hi:?}"
        );
    }
    // b goes silent at 3 s: a goes Down within its detection time (300 ms) plus one ms of latency.
    let t1 = t0 + Duration::from_secs(3);
    let mut down_at = None;
    run(
        &mut a,
        &mut b,
        t1,
        t1 + Duration::from_secs(1),
        &mut |now, from_a| !from_a && now >= t1,
        &mut gaps,
    );
    while let Some(ev) = a.poll_event() {
        if ev.to == State::Down {
            assert_eq!(ev.diag, Diagnostic::ControlDetectionTimeExpired);
            down_at = Some(ev);
        }
    }
    assert!(down_at.is_some());
    assert_eq!(
        a.status(t1).last_down_diag,
        Some(Diagnostic::ControlDetectionTimeExpired)
    );
    // b hears a's Down with diag 1 and goes Down "neighbor signaled".
    assert_eq!(b.state(), State::Down);
}

fn any_config() -> impl Strategy<Value = Config> {
    (10u32..2000, 10u32..2000, 1u8..10, any::<bool>()).prop_map(|(tx, rx, mult, passive)| Config {
        desired_min_tx: tx * MS,
        required_min_rx: rx * MS,
        detect_mult: mult,
        passive,
        admin_down: false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any two configurations (at least one active) come Up and settle on
    /// the negotiated intervals of §6.8.3/§6.8.4; packets are paced within
    /// 75–100 % of the interval (75–90 % for mult 1); a live timer change
    /// renegotiates without leaving Up.
    #[test]
    fn negotiation(ca in any_config(), cb in any_config(), cc in any_config(), seed in any::<u64>()) {
        let mut cb = cb;
        if ca.passive { cb.passive = false; }
        let t0 = Instant::now();
        let mut a = Session::new(t0, ca, 1, seed);
        let mut b = Session::new(t0, cb, 2, seed ^ 1);
        let mut gaps = Vec::new();
        let t1 = t0 + Duration::from_secs(30);
        run(&mut a, &mut b, t0, t1, &mut |_, _| false, &mut gaps);
        prop_assert_eq!((a.state(), b.state()), (State::Up, State::Up));
        prop_assert_eq!(a.tx_interval(), ca.desired_min_tx.max(cb.required_min_rx));
        prop_assert_eq!(a.detection_time(), Some(ca.required_min_rx.max(cb.desired_min_tx) * u32::from(cb.detect_mult)));
        prop_assert!(!gaps.is_empty());
        for (is_a, gap, lo, hi) in &gaps {
            let mult = if *is_a { ca.detect_mult } else { cb.detect_mult };
            let hi = if mult == 1 { *hi * 9 / 10 } else { *hi };
            prop_assert!(*gap >= *lo * 3 / 4 && *gap <= hi + Duration::from_micros(1), "{:?} vs {:?}..{:?}", gap, lo, hi);
        }
        // Live change on a: stays Up on both sides, converges to the new values.
        let cc = Config { passive: ca.passive, ..cc };
        a.set_config(t1, cc);
        let mut events = Vec::new();
        while let Some(e) = a.poll_event() { events.push(e); }
        while let Some(e) = b.poll_event() { events.push(e); }
        gaps.clear();
        run(&mut a, &mut b, t1, t1 + Duration::from_secs(30), &mut |_, _| false, &mut gaps);
        while let Some(e) = a.poll_event() { prop_assert!(false, "a changed state: {:?}", e); }
        while let Some(e) = b.poll_event() { prop_assert!(false, "b changed state: {:?}", e); }
        prop_assert!(!a.status(t1).poll_active);
        prop_assert_eq!(a.tx_interval(), cc.desired_min_tx.max(cb.required_min_rx));
        prop_assert_eq!(b.tx_interval(), cb.desired_min_tx.max(cc.required_min_rx));
        prop_assert_eq!(b.detection_time(), Some(cb.required_min_rx.max(cc.desired_min_tx) * u32::from(cc.detect_mult)));
    }

    /// Whatever arrives in whatever order, a session never sends P and F
    /// together, never sends Init/Up without the remote discriminator, and
    /// never panics.
    #[test]
    fn arbitrary_inputs_keep_invariants(
        steps in proptest::collection::vec((0u8..4, 0u8..4, any::<bool>(), any::<bool>(), 1u32..3_000_000, 0u64..2000), 1..60),
    ) {
        let t0 = Instant::now();
        let mut s = Session::new(t0, fast(), LOCAL, 5);
        let mut now = t0;
        for (kind, st, poll, fin, us, dt) in steps {
            now += Duration::from_millis(dt);
            match kind {
                0 => { s.handle_timeout(now); }
                1 => {
                    let mut p = from_remote(ALL[usize::from(st)]);
                    p.poll = poll; p.final_ = fin && !poll;
                    p.desired_min_tx_us = us; p.required_min_rx_us = us;
                    let _ = s.handle_packet(now, &p);
                }
                2 => s.set_config(now, Config { desired_min_tx: Duration::from_micros(us.into()), ..fast() }),
                _ => {}
            }
            while let Some(p) = s.poll_transmit(now) {
                prop_assert!(!(p.poll && p.final_));
                if matches!(p.state, State::Init | State::Up) {
                    prop_assert_ne!(p.your_discriminator, 0);
                }
                prop_assert!(ControlPacket::parse(&p.emit()).is_ok());
                if p.state != State::Up {
                    prop_assert!(p.desired_min_tx_us >= 1_000_000);
                }
            }
        }
    }
}

//! Property test of the session handoff (state export and import): any
//! Established session — whatever was negotiated and whatever happened on it
//! before — handed over with any pending read buffer (the byte stream cut at
//! any point, the bytes after the last whole message carried over) behaves
//! afterwards exactly as the uninterrupted session: the same messages sent,
//! the same events, the same deadlines, for the same subsequent input.
//!
//! The state travels the way it does between processes: through
//! `SessionState` serialized to JSON and read back.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use perouter_bgp::config::{Family, PeerConfig, RemoteAs};
use perouter_bgp::fsm::collision::Initiator;
use perouter_bgp::fsm::{Event, Fsm, FsmConfig, State};
use perouter_bgp::session::counters::CarriedCounters;
use perouter_bgp::session::frames::FrameBuffer;
use perouter_bgp::session::handoff::{ConnFacts, SessionState};
use perouter_bgp::wire::{
    AddPathMode, AfiSafi, Capability, CeaseSubcode, ErrorCode, Message, Nlri, NlriList,
    Notification, Open, RouteRefresh, RouteRefreshSubtype, Update, WireContext,
};
use proptest::prelude::*;

/// What the peer's OPEN offers.
#[derive(Debug, Clone)]
struct PeerOpen {
    asn: u32,
    hold: u16,
    four_octet: bool,
    evpn: bool,
    extended_message: bool,
    add_path: bool,
}

fn peer_open() -> impl Strategy<Value = PeerOpen> {
    (
        prop_oneof![Just(65001u32), Just(65000), Just(4_200_000_001)],
        prop_oneof![Just(0u16), Just(3), Just(9), Just(90), Just(65535)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(asn, hold, four_octet, evpn, extended_message, add_path)| PeerOpen {
                asn,
                hold,
                // A wide ASN needs the capability (RFC 6793).
                four_octet: four_octet || asn > 65535,
                evpn,
                extended_message,
                add_path,
            },
        )
}

/// A step of the session's life.
#[derive(Debug, Clone)]
enum Step {
    /// Time passes (ms); timers fire.
    Advance(u32),
    /// The consumer sends routes (restarts the KEEPALIVE timer).
    Send,
    /// The send queue stalled since now, or drained.
    Backlog(bool),
    /// The reader gets the next `n` bytes of the stream.
    Read(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u32..20_000).prop_map(Step::Advance),
        1 => Just(Step::Send),
        1 => any::<bool>().prop_map(Step::Backlog),
        4 => (0usize..200).prop_map(Step::Read),
    ]
}

/// A message the peer sends after the OPEN exchange.
#[derive(Debug, Clone)]
enum PeerMsg {
    Keepalive,
    Withdraw(u8),
    EndOfRib,
    RouteRefresh,
    Cease,
    Open,
    Garbage,
}

fn peer_msg() -> impl Strategy<Value = PeerMsg> {
    prop_oneof![
        6 => Just(PeerMsg::Keepalive),
        4 => any::<u8>().prop_map(PeerMsg::Withdraw),
        1 => Just(PeerMsg::EndOfRib),
        1 => Just(PeerMsg::RouteRefresh),
        1 => Just(PeerMsg::Cease),
        1 => Just(PeerMsg::Open),
        1 => Just(PeerMsg::Garbage),
    ]
}

fn config(hold: u16) -> FsmConfig {
    let mut peer = PeerConfig::new(RemoteAs::Kind(perouter_bgp::config::AsKind::External));
    peer.hold_time = hold;
    peer.families = vec![Family::Ipv4Unicast, Family::L2vpnEvpn];
    peer.add_path = vec![perouter_bgp::config::AddPathConfig {
        family: Family::Ipv4Unicast,
        receive: true,
        send: false,
    }];
    FsmConfig {
        local_as: 65000,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        peer,
    }
}

fn open_of(p: &PeerOpen) -> Open {
    let mut caps = vec![Capability::MultiProtocol(AfiSafi::IPV4_UNICAST)];
    if p.evpn {
        caps.push(Capability::MultiProtocol(AfiSafi::L2VPN_EVPN));
    }
    if p.four_octet {
        caps.push(Capability::FourOctetAs(p.asn));
    }
    if p.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    if p.add_path {
        caps.push(Capability::AddPath(vec![(
            AfiSafi::IPV4_UNICAST,
            AddPathMode::Send,
        )]));
    }
    let asn = if p.asn > 65535 { 23456 } else { p.asn };
    Open::new(asn, p.hold, Ipv4Addr::new(10, 0, 0, 2), caps)
}

/// The peer's byte stream, encoded with the context it negotiated (what it
/// sends is what we decode with our receive context).
fn stream_of(msgs: &[PeerMsg], ctx: &WireContext, open: &Open) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let msg = match m {
            PeerMsg::Keepalive => Message::Keepalive,
            PeerMsg::Withdraw(n) => {
                let p = [Nlri::new(format!("10.{n}.0.0/16").parse().expect("prefix"))];
                let mut u =
                    Update::pack_withdraw(NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &p), ctx)
                        .expect("withdraw encodes");
                Message::Update(u.remove(0))
            }
            PeerMsg::EndOfRib => Message::Update(Update::end_of_rib(AfiSafi::L2VPN_EVPN)),
            PeerMsg::RouteRefresh => Message::RouteRefresh(RouteRefresh::new(
                AfiSafi::IPV4_UNICAST,
                RouteRefreshSubtype::Normal,
            )),
            PeerMsg::Cease => Message::Notification(Notification::new(
                ErrorCode::Cease(CeaseSubcode::AdministrativeReset),
                Bytes::new(),
            )),
            PeerMsg::Open => Message::Open(open.clone()),
            PeerMsg::Garbage => {
                out.extend_from_slice(&[0u8; 19]);
                continue;
            }
        };
        out.extend_from_slice(&msg.to_bytes(ctx).expect("encodes"));
    }
    out
}

/// What a machine did in one step.
#[derive(Debug, PartialEq)]
struct Output {
    transmits: Vec<Message>,
    events: Vec<Event>,
    deadline: Option<Instant>,
    state: State,
}

fn drain(f: &mut Fsm) -> Output {
    let mut transmits = Vec::new();
    while let Some(m) = f.poll_transmit() {
        transmits.push(m);
    }
    let mut events = Vec::new();
    while let Some(e) = f.poll_event() {
        events.push(e);
    }
    Output {
        transmits,
        events,
        deadline: f.poll_timeout(),
        state: f.state(),
    }
}

/// One session with its reader's buffer.
struct Side {
    fsm: Fsm,
    buf: FrameBuffer,
    dead: bool,
}

impl Side {
    /// Reads `bytes` and handles every whole message, as the session's
    /// reader and decoder do.
    fn read(&mut self, now: Instant, bytes: &[u8]) {
        self.buf.push(bytes);
        while !self.dead {
            match self.buf.next_frame(self.fsm.rx_context().max_message_len()) {
                Ok(Some(f)) => match Message::parse(&f, self.fsm.rx_context()) {
                    Ok((m, _)) => self.fsm.handle_message(now, m),
                    Err(e) => self.fsm.handle_decode_error(now, &e),
                },
                Ok(None) => break,
                Err(e) => {
                    // The reader stops at a bad header.
                    self.fsm.handle_decode_error(now, &e);
                    self.dead = true;
                }
            }
            if self.fsm.state() != State::Established {
                self.dead = true;
            }
        }
    }

    fn apply(&mut self, now: &mut Instant, s: &Step, stream: &[u8], pos: &mut usize) {
        match s {
            Step::Advance(ms) => {
                *now += Duration::from_millis(u64::from(*ms));
                self.fsm.handle_timeout(*now);
            }
            Step::Send => {
                let _ = self.fsm.send_updates(*now, Vec::new());
            }
            Step::Backlog(stalled) => self.fsm.handle_send_backlog(stalled.then_some(*now)),
            Step::Read(n) => {
                let end = (*pos + n).min(stream.len());
                let chunk = stream[*pos..end].to_vec();
                *pos = end;
                self.read(*now, &chunk);
            }
        }
    }
}

fn established(cfg: &FsmConfig, p: &PeerOpen, seed: u64, t0: Instant) -> Option<Fsm> {
    let mut f = Fsm::new(cfg.clone(), seed);
    f.handle_start(t0);
    f.handle_connected(t0);
    f.handle_message(t0, Message::Open(open_of(p)));
    f.handle_message(t0, Message::Keepalive);
    drain(&mut f);
    (f.state() == State::Established).then_some(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_resumed_session_behaves_as_the_uninterrupted_one(
        p in peer_open(),
        our_hold in prop_oneof![Just(0u16), Just(3), Just(90), Just(180)],
        seed in any::<u64>(),
        before in proptest::collection::vec(step(), 0..12),
        msgs in proptest::collection::vec(peer_msg(), 0..12),
        cut in any::<proptest::sample::Index>(),
        after in proptest::collection::vec(step(), 0..24),
    ) {
        let cfg = config(our_hold);
        let t0 = Instant::now();
        let Some(mut a) = established(&cfg, &p, seed, t0) else {
            // The OPEN was refused (e.g. an iBGP AS for an external
            // neighbour): nothing Established to hand over.
            return Ok(());
        };
        let stream = stream_of(&msgs, &a.rx_context().clone(), &open_of(&p));
        let mut now = t0;
        let mut pos = 0;
        let mut side_a = Side { fsm: a, buf: FrameBuffer::default(), dead: false };
        for s in &before {
            side_a.apply(&mut now, s, &stream, &mut pos);
            drain(&mut side_a.fsm);
        }
        // The handoff: the reader has read up to an arbitrary point of what
        // is left; the whole messages in it are handled before the freeze.
        let k = pos + cut.index(stream.len() - pos + 1);
        let pending = stream[pos..k].to_vec();
        pos = k;
        side_a.read(now, &pending);
        drain(&mut side_a.fsm);
        if side_a.fsm.state() != State::Established || side_a.dead {
            return Ok(());
        }
        a = side_a.fsm;
        let exported = a.export(now).expect("Established exports");
        let facts = ConnFacts {
            remote: SocketAddr::from(([10, 0, 0, 2], 179)),
            local: SocketAddr::from(([10, 0, 0, 1], 40000)),
            initiator: Initiator::Local,
            unread: Bytes::copy_from_slice(side_a.buf.unread()),
            max_message_len: a.rx_context().max_message_len(),
        };
        let state = SessionState::new(&exported, &facts, CarriedCounters::default(), t0, now);
        let json = serde_json::to_string(&state).expect("serializes");
        let back: SessionState = serde_json::from_str(&json).expect("reads back");
        prop_assert_eq!(&back, &state);
        let est = back.established().expect("state is valid");
        prop_assert_eq!(&est, &exported);
        let conn = back.conn().expect("conn facts");
        prop_assert_eq!(&conn.unread[..], side_a.buf.unread());
        let mut b = Fsm::resume(cfg.clone(), &est, now).expect("resumes");
        // What only the resumed one does: announce itself and send a KEEPALIVE.
        let first = drain(&mut b);
        prop_assert_eq!(first.transmits, vec![Message::Keepalive]);
        prop_assert_eq!(first.events.len(), 1);
        match (&first.events[0], a.params()) {
            (Event::Up(pb), Some(pa)) => prop_assert_eq!(&**pb, pa),
            other => prop_assert!(false, "expected Up, got {:?}", other),
        }
        prop_assert_eq!(b.rx_context(), a.rx_context());
        prop_assert_eq!(b.tx_context(), a.tx_context());
        prop_assert_eq!(b.poll_timeout(), a.poll_timeout());
        let mut side_a = Side { fsm: a, buf: side_a.buf, dead: false };
        let mut side_b = Side { fsm: b, buf: FrameBuffer::with_unread(&conn.unread), dead: false };
        let (mut now_a, mut now_b) = (now, now);
        let (mut pos_a, mut pos_b) = (pos, pos);
        // Whatever is left of the stream arrives at the end too.
        let mut after = after;
        after.push(Step::Read(stream.len()));
        after.push(Step::Advance(400_000));
        for s in &after {
            side_a.apply(&mut now_a, s, &stream, &mut pos_a);
            side_b.apply(&mut now_b, s, &stream, &mut pos_b);
            let (oa, ob) = (drain(&mut side_a.fsm), drain(&mut side_b.fsm));
            prop_assert_eq!(oa, ob, "diverged after {:?}", s);
            prop_assert_eq!(side_a.buf.unread(), side_b.buf.unread());
        }
    }
}

#[test]
fn a_state_of_another_version_is_refused() {
    let cfg = config(90);
    let p = PeerOpen {
        asn: 65001,
        hold: 90,
        four_octet: true,
        evpn: true,
        extended_message: false,
        add_path: false,
    };
    let t0 = Instant::now();
    let f = established(&cfg, &p, 1, t0).expect("up");
    let facts = ConnFacts {
        remote: SocketAddr::from(([10, 0, 0, 2], 179)),
        local: SocketAddr::from(([10, 0, 0, 1], 40000)),
        initiator: Initiator::Remote,
        unread: Bytes::new(),
        max_message_len: 4096,
    };
    let mut st = SessionState::new(
        &f.export(t0).expect("exports"),
        &facts,
        CarriedCounters::default(),
        t0,
        t0,
    );
    st.version += 1;
    let e = st.established().expect_err("another version");
    assert!(e.to_string().contains("version"), "{e}");
    // An OPEN the configuration no longer accepts is refused, not resumed.
    st.version -= 1;
    let est = st.established().expect("valid");
    let mut other = cfg.clone();
    other.peer.remote_as = RemoteAs::Number(65099);
    assert!(Fsm::resume(other, &est, t0).is_err());
    // Damaged hex is an error, never a panic.
    st.peer_open = "zz".into();
    assert!(st.established().is_err());
}

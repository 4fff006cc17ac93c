//! One BFD session in asynchronous mode (RFC 5880 §6), sans-IO.
//!
//! The session is a pure function of its inputs: received packets
//! ([`Session::handle_packet`]), the passing of time
//! ([`Session::handle_timeout`]) and configuration ([`Session::set_config`]),
//! each given the current time. It says what to send
//! ([`Session::poll_transmit`]), when it next needs to be woken
//! ([`Session::poll_timeout`]) and what changed ([`Session::poll_event`]).
//!
//! What it implements, with the rule's section:
//! * the state machine of §6.2 through the reception procedure of §6.8.6
//!   (AdminDown/Down/Init/Up, diagnostics, discriminators);
//! * detection time = the remote Detect Mult × the larger of our Required Min
//!   RX and the remote's Desired Min TX (§6.8.4);
//! * the transmit interval: the larger of our Desired Min TX and the remote's
//!   Required Min RX, with a Desired Min TX of at least one second while not
//!   Up (§6.8.3), reduced by 0–25 % jitter (10–25 % when Detect Mult is 1,
//!   §6.8.7) from a seeded generator so runs are reproducible;
//! * Poll/Final sequences when timers change on an Up session (§6.5, §6.8.3):
//!   a slower transmit interval or a faster detection time only takes effect
//!   when the Final arrives;
//! * the passive role (§6.1): nothing is sent before a packet from the peer.
//!
//! Packets asking for authentication or Demand mode are refused (see
//! [`Discard`]); the Echo function is not offered (Required Min Echo RX 0).
//!
//! Out of schedule, a packet is sent at once when the state changes and when
//! a Poll sequence starts, so that the peer follows without waiting one
//! interval; Finals are sent at once as §6.8.7 requires.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::packet::{ControlPacket, Diagnostic, State};

/// The Desired Min TX a session advertises at least while not Up (§6.8.3).
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// What a session is asked to do: timers and role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// bfd.DesiredMinTxInterval once Up.
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval (must not be zero: perouter always wants packets).
    pub required_min_rx: Duration,
    /// bfd.DetectMult.
    pub detect_mult: u8,
    /// Passive role: send nothing until the peer is heard (§6.1).
    pub passive: bool,
    /// Hold the session in AdminDown (§6.8.16).
    pub admin_down: bool,
}

impl Default for Config {
    /// FRR's and OpenPERouter's defaults: 300 ms, 300 ms, × 3, active.
    fn default() -> Config {
        Config {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            admin_down: false,
        }
    }
}

/// A change of the session state, with why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateChange {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// Our diagnostic after the change (why we left Up, when we did).
    pub diag: Diagnostic,
    /// The remote's state as last heard. A session going Down because the
    /// remote is AdminDown must not take the client protocol down (RFC 5882 §3.2).
    pub remote_state: State,
    /// The remote's diagnostic as last heard.
    pub remote_diag: Diagnostic,
}

/// Why a valid packet was discarded by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    /// The A bit is set; perouter does not configure authentication (§6.8.6).
    #[error("authentication present but not configured")]
    AuthNotConfigured,
    /// The D bit is set; Demand mode is not supported.
    #[error("demand mode requested, not supported")]
    DemandUnsupported,
    /// Your Discriminator is not ours (§6.8.6).
    #[error("your discriminator {got:#x} is not ours ({ours:#x})")]
    DiscriminatorMismatch {
        /// Ours.
        ours: u32,
        /// Received.
        got: u32,
    },
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Packets accepted.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Packets refused by the session ([`Discard`]).
    pub discarded: u64,
    /// State changes.
    pub state_changes: u64,
    /// Times the session went Up.
    pub up_count: u64,
    /// Times the session left Up.
    pub down_count: u64,
}

/// A snapshot of a session for display (`perouter show bfd peers`).
/// Intervals in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    /// bfd.SessionState.
    pub state: State,
    /// bfd.RemoteSessionState.
    pub remote_state: State,
    /// bfd.LocalDiscr.
    pub local_discriminator: u32,
    /// bfd.RemoteDiscr (0 while unknown).
    pub remote_discriminator: u32,
    /// bfd.LocalDiag.
    pub local_diag: Diagnostic,
    /// The remote's last diagnostic.
    pub remote_diag: Diagnostic,
    /// Our Detect Mult.
    pub detect_mult: u8,
    /// The remote's Detect Mult (0 while unheard).
    pub remote_detect_mult: u8,
    /// Desired Min TX we advertise.
    pub desired_min_tx_us: u32,
    /// Required Min RX we advertise.
    pub required_min_rx_us: u32,
    /// The remote's Desired Min TX.
    pub remote_desired_min_tx_us: u32,
    /// The remote's Required Min RX.
    pub remote_required_min_rx_us: u32,
    /// Negotiated transmit interval (before jitter).
    pub tx_interval_us: u32,
    /// Negotiated receive interval: the remote sends at this pace.
    pub rx_interval_us: u32,
    /// Detection time, when the remote has been heard.
    pub detection_time_us: Option<u32>,
    /// A Poll sequence is under way.
    pub poll_active: bool,
    /// How long the session has been Up.
    pub uptime_ms: Option<u64>,
    /// The diagnostic of the last time it left Up.
    pub last_down_diag: Option<Diagnostic>,
    /// Counters.
    pub counters: Counters,
}

/// One BFD session (RFC 5880 §6.8.1 state variables plus timers).
#[derive(Debug, Clone)]
pub struct Session {
    cfg: Config,
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diagnostic,
    remote_diag: Diagnostic,
    /// bfd.RemoteMinRxInterval (initially 1 µs, §6.8.1).
    remote_min_rx: Duration,
    /// The remote's last Desired Min TX.
    remote_desired_tx: Duration,
    /// The remote's last Detect Mult (0: never heard).
    remote_detect_mult: u8,
    /// Our Desired Min TX used to pace our packets.
    tx_in_use: Duration,
    /// Our Required Min RX used in the detection time.
    rx_in_use: Duration,
    /// What we advertised last (desired tx, required rx, mult): a change starts a Poll.
    advertised: (Duration, Duration, u8),
    poll_active: bool,
    final_pending: bool,
    next_tx: Instant,
    /// When the remote was last heard (None: never, or since the detection time passed).
    last_heard: Option<Instant>,
    rng: u64,
    events: VecDeque<StateChange>,
    counters: Counters,
    up_since: Option<Instant>,
    last_down_diag: Option<Diagnostic>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Session {
    /// A new session in Down (or AdminDown) with our discriminator
    /// `local_discr` (non-zero, unique on the system, §6.8.1) and a seed for
    /// the jitter. An active session sends its first packet at `now`.
    pub fn new(now: Instant, cfg: Config, local_discr: u32, seed: u64) -> Session {
        let mut s = Session {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diagnostic::None,
            remote_diag: Diagnostic::None,
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_detect_mult: 0,
            tx_in_use: SLOW_TX,
            rx_in_use: cfg.required_min_rx,
            advertised: (Duration::ZERO, Duration::ZERO, 0),
            poll_active: false,
            final_pending: false,
            next_tx: now,
            last_heard: None,
            rng: seed,
            events: VecDeque::new(),
            counters: Counters::default(),
            up_since: None,
            last_down_diag: None,
        };
        if cfg.admin_down {
            s.state = State::AdminDown;
            s.local_diag = Diagnostic::AdministrativelyDown;
        }
        s.renegotiate(now);
        s.poll_active = false;
        s
    }

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.LocalDiscr.
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    /// bfd.RemoteDiscr (0 while unknown).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.cfg
    }

    /// The Desired Min TX to advertise now: at least one second while not Up (§6.8.3).
    fn advertised_tx(&self) -> Duration {
        if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW_TX)
        }
    }

    /// The interval between our periodic packets before jitter (§6.8.7).
    pub fn tx_interval(&self) -> Duration {
        self.tx_in_use.max(self.remote_min_rx)
    }

    /// The detection time (§6.8.4), once the remote has been heard.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult > 0).then(|| {
            self.rx_in_use.max(self.remote_desired_tx) * u32::from(self.remote_detect_mult)
        })
    }

    /// Applies timer changes: on an Up session a changed advertisement
    /// starts a Poll sequence and only the safe direction takes effect at
    /// once (§6.8.3); otherwise everything takes effect at once.
    fn renegotiate(&mut self, now: Instant) {
        let adv = (
            self.advertised_tx(),
            self.cfg.required_min_rx,
            self.cfg.detect_mult,
        );
        if adv == self.advertised {
            return;
        }
        self.advertised = adv;
        if self.state == State::Up {
            // Sending faster and detecting slower are safe at once.
            self.tx_in_use = self.tx_in_use.min(adv.0);
            self.rx_in_use = self.rx_in_use.max(adv.1);
            self.poll_active = true;
            self.next_tx = now;
        } else {
            self.commit_timers();
            self.poll_active = false;
        }
    }

    fn commit_timers(&mut self) {
        self.tx_in_use = self.advertised.0;
        self.rx_in_use = self.advertised.1;
    }

    /// When the detection time passes without a packet (none in AdminDown).
    fn detect_deadline(&self) -> Option<Instant> {
        if self.state == State::AdminDown {
            return None;
        }
        Some(self.last_heard? + self.detection_time()?)
    }

    fn jitter(&mut self, interval: Duration) -> Duration {
        // SplitMix64: a tiny reproducible generator; quality is ample for jitter.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // 75–100 %, or 75–90 % when Detect Mult is 1 (§6.8.7), in 0.1 % steps.
        let span = if self.cfg.detect_mult == 1 { 151 } else { 251 };
        let permille = 750 + (z % span) as u32;
        interval * permille / 1000
    }

    fn transition(&mut self, now: Instant, to: State, diag: Option<Diagnostic>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if let Some(d) = diag {
            self.local_diag = d;
        }
        if to == State::Up {
            self.local_diag = Diagnostic::None;
            self.up_since = Some(now);
            self.counters.up_count += 1;
        }
        if from == State::Up {
            self.up_since = None;
            self.last_down_diag = Some(self.local_diag);
            self.counters.down_count += 1;
        }
        self.counters.state_changes += 1;
        self.events.push_back(StateChange {
            from,
            to,
            diag: self.local_diag,
            remote_state: self.remote_state,
            remote_diag: self.remote_diag,
        });
        self.next_tx = now;
        self.renegotiate(now);
    }

    /// Takes a received, parsed packet (§6.8.6 after the checks done by
    /// [`ControlPacket::parse`]). The caller has matched it to this session
    /// (by Your Discriminator, or by addresses when that is 0).
    pub fn handle_packet(&mut self, now: Instant, p: &ControlPacket) -> Result<(), Discard> {
        let refused = if p.auth.is_some() {
            Some(Discard::AuthNotConfigured)
        } else if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            Some(Discard::DiscriminatorMismatch {
                ours: self.local_discr,
                got: p.your_discriminator,
            })
        } else if p.demand {
            Some(Discard::DemandUnsupported)
        } else {
            None
        };
        if let Some(d) = refused {
            self.counters.discarded += 1;
            return Err(d);
        }
        self.counters.packets_in += 1;
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        let old_interval = self.tx_interval();
        self.remote_min_rx = Duration::from_micros(p.required_min_rx_us.into());
        self.remote_desired_tx = Duration::from_micros(p.desired_min_tx_us.into());
        self.remote_detect_mult = p.detect_mult;
        if p.final_ && self.poll_active {
            self.poll_active = false;
            self.commit_timers();
        }
        // The remote asking for packets faster: do not wait out the old interval.
        let interval = self.tx_interval();
        if interval < old_interval && self.next_tx > now + interval {
            self.next_tx = now + self.jitter(interval);
        }
        self.last_heard = Some(now);
        if self.state == State::AdminDown {
            return Ok(());
        }
        let neighbor_down = Some(Diagnostic::NeighborSignaledSessionDown);
        match (self.state, p.state) {
            (State::Down | State::AdminDown, State::AdminDown) => {}
            (_, State::AdminDown) => self.transition(now, State::Down, neighbor_down),
            (State::Down, State::Down) => self.transition(now, State::Init, None),
            (State::Down, State::Init) => self.transition(now, State::Up, None),
            (State::Init, State::Init | State::Up) => self.transition(now, State::Up, None),
            (State::Up, State::Down) => self.transition(now, State::Down, neighbor_down),
            _ => {}
        }
        if p.poll {
            self.final_pending = true;
        }
        Ok(())
    }

    /// Lets time pass: the detection time expiring takes an Init or Up
    /// session Down with diagnostic 1 and forgets the remote discriminator (§6.8.1, §6.8.4).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.detect_deadline() {
            if now >= d {
                self.last_heard = None;
                self.remote_discr = 0;
                self.remote_state = State::Down;
                if matches!(self.state, State::Init | State::Up) {
                    self.transition(
                        now,
                        State::Down,
                        Some(Diagnostic::ControlDetectionTimeExpired),
                    );
                }
            }
        }
    }

    /// Changes timers or role. On an Up session a timer change is negotiated
    /// with a Poll sequence (§6.8.3) and does not take the session down.
    pub fn set_config(&mut self, now: Instant, cfg: Config) {
        let was_passive = self.cfg.passive;
        self.cfg = cfg;
        if cfg.admin_down && self.state != State::AdminDown {
            self.transition(
                now,
                State::AdminDown,
                Some(Diagnostic::AdministrativelyDown),
            );
        } else if !cfg.admin_down && self.state == State::AdminDown {
            self.transition(now, State::Down, None);
        }
        if was_passive && !cfg.passive {
            self.next_tx = self.next_tx.min(now);
        }
        self.renegotiate(now);
    }

    /// Whether periodic packets may be sent: not in the passive role before
    /// the peer is heard, nor when the peer asks for none (§6.8.7).
    fn may_transmit(&self) -> bool {
        (!self.cfg.passive || self.remote_discr != 0) && !self.remote_min_rx.is_zero()
    }

    fn packet(&self, poll: bool, final_: bool) -> ControlPacket {
        ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_us: micros(self.advertised.0),
            required_min_rx_us: micros(self.advertised.1),
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }

    /// The next packet to send at `now`, if any: a pending Final first
    /// (sent at once, §6.8.7), then the periodic packet when it is due
    /// (carrying the Poll bit during a Poll sequence; never both bits).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.final_pending {
            self.final_pending = false;
            self.counters.packets_out += 1;
            return Some(self.packet(false, true));
        }
        if self.may_transmit() && now >= self.next_tx {
            let interval = self.tx_interval();
            self.next_tx = now + self.jitter(interval);
            self.counters.packets_out += 1;
            return Some(self.packet(self.poll_active, false));
        }
        None
    }

    /// When the session next wants [`Session::handle_timeout`] or
    /// [`Session::poll_transmit`] called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = if self.final_pending {
            None // poll_transmit returns it without waiting; the caller drains first
        } else {
            self.may_transmit().then_some(self.next_tx)
        };
        match (tx, self.detect_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next state change, oldest first.
    pub fn poll_event(&mut self) -> Option<StateChange> {
        self.events.pop_front()
    }

    /// A snapshot for display.
    pub fn status(&self, now: Instant) -> SessionStatus {
        SessionStatus {
            state: self.state,
            remote_state: self.remote_state,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            local_diag: self.local_diag,
            remote_diag: self.remote_diag,
            detect_mult: self.cfg.detect_mult,
            remote_detect_mult: self.remote_detect_mult,
            desired_min_tx_us: micros(self.advertised.0),
            required_min_rx_us: micros(self.advertised.1),
            remote_desired_min_tx_us: micros(self.remote_desired_tx),
            remote_required_min_rx_us: micros(self.remote_min_rx),
            tx_interval_us: micros(self.tx_interval()),
            rx_interval_us: micros(self.rx_in_use.max(self.remote_desired_tx)),
            detection_time_us: self.detection_time().map(micros),
            poll_active: self.poll_active,
            uptime_ms: self.up_since.map(|t| {
                u64::try_from(now.saturating_duration_since(t).as_millis()).unwrap_or(u64::MAX)
            }),
            last_down_diag: self.last_down_diag,
            counters: self.counters,
        }
    }
}

#[cfg(test)]
mod tests;

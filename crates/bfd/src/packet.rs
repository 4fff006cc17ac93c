//! The BFD Control packet (RFC 5880 §4.1): parse from bytes, emit to bytes.
//!
//! [`ControlPacket::parse`] applies every check of the reception procedure
//! (§6.8.6) that depends on the packet alone — version, length, detection
//! multiplier, Multipoint bit, discriminators, the shape of the
//! authentication section — and returns a typed [`ParseError`] otherwise. It
//! never panics. Checks that need the session (is authentication in use? is
//! Demand mode acceptable?) are the session's ([`crate::session::Discard`]).

use serde::Serialize;

/// Length of the mandatory section (no authentication).
pub const MANDATORY_LEN: usize = 24;

/// The protocol version this codec speaks (§4.1).
pub const VERSION: u8 = 1;

/// Session state as carried in the `Sta` field (§4.1) and held by a session (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    /// 0: administratively held down.
    AdminDown,
    /// 1: down, or never came up.
    Down,
    /// 2: the remote end is heard, waiting for it to hear us.
    Init,
    /// 3: both ends hear each other.
    Up,
}

impl State {
    fn from_bits(v: u8) -> State {
        match v & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
    fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
    /// The name FRR and the RFC use, lower case (`up`, `down`, `init`, `admin-down`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "admin-down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Diagnostic code (§4.1): why the sender's session last left Up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Diagnostic {
    /// 0: no diagnostic.
    None,
    /// 1: control detection time expired.
    ControlDetectionTimeExpired,
    /// 2: echo function failed.
    EchoFunctionFailed,
    /// 3: neighbor signaled session down.
    NeighborSignaledSessionDown,
    /// 4: forwarding plane reset.
    ForwardingPlaneReset,
    /// 5: path down.
    PathDown,
    /// 6: concatenated path down.
    ConcatenatedPathDown,
    /// 7: administratively down.
    AdministrativelyDown,
    /// 8: reverse concatenated path down.
    ReverseConcatenatedPathDown,
    /// 9–31: reserved, kept so that a packet round-trips.
    Reserved(u8),
}

impl Diagnostic {
    fn from_bits(v: u8) -> Diagnostic {
        match v & 0x1f {
            0 => Diagnostic::None,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            n => Diagnostic::Reserved(n),
        }
    }
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Diagnostic::None => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Reserved(n) => n & 0x1f,
        }
    }
    /// A short human description (the RFC's wording).
    pub fn as_str(self) -> &'static str {
        match self {
            Diagnostic::None => "no diagnostic",
            Diagnostic::ControlDetectionTimeExpired => "control detection time expired",
            Diagnostic::EchoFunctionFailed => "echo function failed",
            Diagnostic::NeighborSignaledSessionDown => "neighbor signaled session down",
            Diagnostic::ForwardingPlaneReset => "forwarding plane reset",
            Diagnostic::PathDown => "path down",
            Diagnostic::ConcatenatedPathDown => "concatenated path down",
            Diagnostic::AdministrativelyDown => "administratively down",
            Diagnostic::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diagnostic::Reserved(_) => "reserved",
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.as_str())
    }
}

/// The optional authentication section (§4.2), kept as parsed: perouter does
/// not configure authentication, so a session refuses packets carrying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Auth Type (1 simple password, 2 keyed MD5, 3 meticulous keyed MD5,
    /// 4 keyed SHA1, 5 meticulous keyed SHA1; others unknown).
    pub auth_type: u8,
    /// Everything after the Auth Type and Auth Len bytes.
    pub data: Vec<u8>,
}

/// One BFD Control packet (§4.1). Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    /// Diagnostic code.
    pub diag: Diagnostic,
    /// The sender's session state.
    pub state: State,
    /// Poll (P): the sender asks for a Final (§6.5).
    pub poll: bool,
    /// Final (F): the answer to a Poll.
    pub final_: bool,
    /// Control Plane Independent (C).
    pub cpi: bool,
    /// Demand (D): the sender wants Demand mode (refused by perouter).
    pub demand: bool,
    /// Detect Mult.
    pub detect_mult: u8,
    /// My Discriminator (never 0 on a valid packet).
    pub my_discriminator: u32,
    /// Your Discriminator (0 while the sender does not know ours).
    pub your_discriminator: u32,
    /// Desired Min TX Interval, µs.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, µs.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, µs (0: no echo wanted).
    pub required_min_echo_rx_us: u32,
    /// The authentication section when the A bit is set.
    pub auth: Option<Auth>,
}

/// Why bytes are not a valid Control packet (RFC 5880 §6.8.6 discard rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer bytes than the mandatory section.
    #[error("packet of {0} bytes is shorter than the 24-byte mandatory section")]
    TooShort(usize),
    /// Version other than 1.
    #[error("version {0} is not 1")]
    BadVersion(u8),
    /// The Length field is below the minimum (24, or 26 with the A bit).
    #[error("length field {0} is below the minimum {1}")]
    LengthTooSmall(u8, u8),
    /// The Length field is more than the bytes received.
    #[error("length field {field} is more than the {available} bytes received")]
    LengthBeyondPayload {
        /// The Length field.
        field: u8,
        /// Bytes received.
        available: usize,
    },
    /// Detect Mult is zero.
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    /// The Multipoint bit is set.
    #[error("multipoint bit is set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero while the state is Init or Up.
    #[error("your discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
    /// The authentication section's length is inconsistent with its type or the packet.
    #[error("authentication section of type {auth_type} has bad length {len}")]
    BadAuthLength {
        /// Auth Type.
        auth_type: u8,
        /// Auth Len.
        len: u8,
    },
}

impl ControlPacket {
    /// Parses one packet (a whole UDP payload). Bytes past the Length field
    /// are ignored (§6.8.6 only refuses a Length beyond the payload).
    pub fn parse(b: &[u8]) -> Result<ControlPacket, ParseError> {
        if b.len() < MANDATORY_LEN {
            return Err(ParseError::TooShort(b.len()));
        }
        let version = b[0] >> 5;
        if version != VERSION {
            return Err(ParseError::BadVersion(version));
        }
        let flags = b[1];
        let auth_present = flags & 0x04 != 0;
        let length = b[3];
        let min = if auth_present { 26 } else { 24 };
        if length < min {
            return Err(ParseError::LengthTooSmall(length, min));
        }
        if usize::from(length) > b.len() {
            return Err(ParseError::LengthBeyondPayload {
                field: length,
                available: b.len(),
            });
        }
        let detect_mult = b[2];
        if detect_mult == 0 {
            return Err(ParseError::ZeroDetectMult);
        }
        if flags & 0x01 != 0 {
            return Err(ParseError::Multipoint);
        }
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let state = State::from_bits(flags >> 6);
        let my_discriminator = word(4);
        if my_discriminator == 0 {
            return Err(ParseError::ZeroMyDiscriminator);
        }
        let your_discriminator = word(8);
        if your_discriminator == 0 && matches!(state, State::Init | State::Up) {
            return Err(ParseError::ZeroYourDiscriminator(state));
        }
        let auth = if auth_present {
            let auth_type = b[24];
            let len = b[25];
            // §4.2: Auth Len counts the type and length bytes; the section is
            // the rest of the packet.
            let fits = usize::from(len) == usize::from(length) - MANDATORY_LEN;
            let shape = match auth_type {
                1 => (4..=19).contains(&len),
                2 | 3 => len == 24,
                4 | 5 => len == 28,
                _ => len >= 2,
            };
            if !fits || !shape {
                return Err(ParseError::BadAuthLength { auth_type, len });
            }
            Some(Auth {
                auth_type,
                data: b[26..usize::from(length)].to_vec(),
            })
        } else {
            None
        };
        Ok(ControlPacket {
            diag: Diagnostic::from_bits(b[0]),
            state,
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx_us: word(12),
            required_min_rx_us: word(16),
            required_min_echo_rx_us: word(20),
            auth,
        })
    }

    /// Encodes the packet (version 1, Length computed). An authentication
    /// section is written as held (perouter itself never sends one).
    pub fn emit(&self) -> Vec<u8> {
        let auth_len = self.auth.as_ref().map_or(0, |a| 2 + a.data.len());
        let mut out = Vec::with_capacity(MANDATORY_LEN + auth_len);
        out.push((VERSION << 5) | self.diag.code());
        let flags = (self.state.bits() << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.auth.is_some()) << 2)
            | (u8::from(self.demand) << 1);
        out.push(flags);
        out.push(self.detect_mult);
        // An oversized auth section saturates; such a packet cannot come from parse().
        out.push(u8::try_from(MANDATORY_LEN + auth_len).unwrap_or(u8::MAX));
        for w in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        if let Some(a) = &self.auth {
            out.push(a.auth_type);
            out.push(u8::try_from(2 + a.data.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&a.data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A packet FRR 8.4's bfdd sent (captured with tshark between two namespaces,
    /// a static `bfd peer`, TTL 255 from source port 49152): state Down, diag 0,
    /// mult 3, my discr 0x1b242bb7, your 0, 1 s desired TX (the §6.8.3 floor while
    /// not Up) / 1 s required RX / 50 ms echo.
    const FRR_DOWN: &str = "20400318 1b242bb7 00000000 000f4240 000f4240 0000c350";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn parses_a_known_packet_and_round_trips() {
        let b = hex(FRR_DOWN);
        let p = ControlPacket::parse(&b).unwrap();
        assert_eq!(p.state, State::Down);
        assert_eq!(p.diag, Diagnostic::None);
        assert_eq!(p.detect_mult, 3);
        assert_eq!(p.my_discriminator, 0x1b242bb7);
        assert_eq!(p.your_discriminator, 0);
        assert_eq!(p.desired_min_tx_us, 1_000_000);
        assert_eq!(p.required_min_rx_us, 1_000_000);
        assert_eq!(p.required_min_echo_rx_us, 50_000);
        assert!(!p.poll && !p.final_ && !p.demand && !p.cpi && p.auth.is_none());
        assert_eq!(p.emit(), b);
    }

    #[test]
    fn each_discard_rule_of_6_8_6() {
        let good = hex(FRR_DOWN);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            ControlPacket::parse(&b)
        };
        assert_eq!(
            ControlPacket::parse(&good[..23]),
            Err(ParseError::TooShort(23))
        );
        assert_eq!(
            with(&|b| b[0] = 0x40 | (b[0] & 0x1f)),
            Err(ParseError::BadVersion(2))
        );
        assert_eq!(
            with(&|b| b[3] = 23),
            Err(ParseError::LengthTooSmall(23, 24))
        );
        assert_eq!(
            with(&|b| b[3] = 25),
            Err(ParseError::LengthBeyondPayload {
                field: 25,
                available: 24
            })
        );
        assert_eq!(with(&|b| b[2] = 0), Err(ParseError::ZeroDetectMult));
        assert_eq!(with(&|b| b[1] |= 1), Err(ParseError::Multipoint));
        assert_eq!(
            with(&|b| b[4..8].fill(0)),
            Err(ParseError::ZeroMyDiscriminator)
        );
        assert_eq!(
            with(&|b| b[1] = 0xc0),
            Err(ParseError::ZeroYourDiscriminator(State::Up))
        );
        assert_eq!(
            with(&|b| b[1] = 0x80),
            Err(ParseError::ZeroYourDiscriminator(State::Init))
        );
        // A bit set with a 24-byte length: the section is missing.
        assert_eq!(
            with(&|b| b[1] |= 4),
            Err(ParseError::LengthTooSmall(24, 26))
        );
        // Trailing bytes beyond Length are ignored.
        assert!(with(&|b| b.extend_from_slice(&[1, 2, 3])).is_ok());
    }

    #[test]
    fn auth_section_shapes() {
        let mut b = hex(FRR_DOWN);
        b[1] |= 4;
        // Keyed MD5: Auth Len 24.
        let mut md5 = b.clone();
        md5[3] = 48;
        md5.extend_from_slice(&[2, 24]);
        md5.extend_from_slice(&[0; 22]);
        let p = ControlPacket::parse(&md5).unwrap();
        assert_eq!(p.auth.as_ref().map(|a| a.auth_type), Some(2));
        assert_eq!(p.emit(), md5);
        // MD5 with the wrong length.
        let mut bad = md5.clone();
        bad[25] = 20;
        assert_eq!(
            ControlPacket::parse(&bad),
            Err(ParseError::BadAuthLength {
                auth_type: 2,
                len: 20
            })
        );
        // Simple password "abcd": type, len, key id, 4 bytes of password = Auth Len 7.
        let mut simple = b.clone();
        simple[3] = 24 + 7;
        simple.extend_from_slice(&[1, 7, 1, b'a', b'b', b'c', b'd']);
        assert!(ControlPacket::parse(&simple).is_ok());
    }

    fn any_packet() -> impl Strategy<Value = ControlPacket> {
        (
            (0u8..32, 0u8..4, any::<[bool; 4]>(), 1u8..=255),
            (
                1u32..,
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
            ),
            proptest::option::of((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40))),
        )
            .prop_filter_map(
                "valid packets only",
                |((diag, st, f, mult), (my, your, tx, rx, echo), auth)| {
                    let p = ControlPacket {
                        diag: Diagnostic::from_bits(diag),
                        state: State::from_bits(st),
                        poll: f[0],
                        final_: f[1],
                        cpi: f[2],
                        demand: f[3],
                        detect_mult: mult,
                        my_discriminator: my,
                        your_discriminator: your,
                        desired_min_tx_us: tx,
                        required_min_rx_us: rx,
                        required_min_echo_rx_us: echo,
                        auth: auth.map(|(t, data)| Auth { auth_type: t, data }),
                    };
                    ControlPacket::parse(&p.emit()).ok().map(|_| p)
                },
            )
    }

    proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = ControlPacket::parse(&b);
        }

        #[test]
        fn emit_parse_round_trip(p in any_packet()) {
            prop_assert_eq!(ControlPacket::parse(&p.emit()), Ok(p));
        }

        #[test]
        fn parse_emit_round_trip(b in proptest::collection::vec(any::<u8>(), 24..60)) {
            // Bytes past the mandatory section without the A bit are ignored,
            // so the re-emitted packet is compared once parsed.
            if let Ok(p) = ControlPacket::parse(&b) {
                let again = p.emit();
                prop_assert_eq!(ControlPacket::parse(&again), Ok(p.clone()));
                if p.auth.is_some() || b[3] == 24 {
                    prop_assert_eq!(again, b[..usize::from(b[3])].to_vec());
                }
            }
        }
    }
}

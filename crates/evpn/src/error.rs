//! Typed errors of the EVPN codec: what was wrong and at which byte.

use thiserror::Error;

/// A malformed EVPN NLRI or EVPN-related attribute value.
///
/// `offset` is relative to the start of the buffer handed to the parser
/// (for [`crate::EvpnNlriIter`], the whole NLRI field), so a caller can add
/// its own base offset to point at the exact byte of a captured message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("at byte {offset}: {kind}")]
pub struct EvpnError {
    /// Byte offset, relative to the buffer given to the parser, of the field that is wrong.
    pub offset: usize,
    /// What was wrong and what was expected.
    pub kind: EvpnErrorKind,
}

impl EvpnError {
    pub(crate) fn new(offset: usize, kind: EvpnErrorKind) -> Self {
        Self { offset, kind }
    }
}

/// What was wrong with an EVPN NLRI or attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvpnErrorKind {
    /// The buffer ended before a field was complete (e.g. the NLRI header, or a
    /// length octet that runs past the end of the buffer).
    #[error("{what} needs {needed} octets but only {available} remain")]
    Truncated {
        /// The field that was being read.
        what: &'static str,
        /// Octets that field needs.
        needed: usize,
        /// Octets left in the buffer.
        available: usize,
    },
    /// The route-type length octet is not a valid length for that route type
    /// (RFC 7432 §7.1–7.4, RFC 9136 §3.1).
    #[error("type-{route_type} length must be {expected}, got {got}")]
    RouteLength {
        /// EVPN route type (1–5).
        route_type: u8,
        /// The valid lengths, as text (e.g. "34 or 58").
        expected: &'static str,
        /// The length octet found.
        got: u8,
    },
    /// The type-2 MAC address length is not 48 bits (RFC 7432 §7.2).
    #[error("type-2 MAC address length must be 48, got {got}")]
    MacLength {
        /// The MAC address length octet found.
        got: u8,
    },
    /// An IP address length field (in bits) is not one the route type allows.
    #[error("type-{route_type} IP address length must be {expected}, got {got}")]
    IpLength {
        /// EVPN route type.
        route_type: u8,
        /// The valid lengths, as text (e.g. "0, 32 or 128").
        expected: &'static str,
        /// The length octet found.
        got: u8,
    },
    /// The type-2 route length does not match its MAC/IP lengths with one or
    /// two labels (RFC 7432 §7.2).
    #[error("type-2 length must be {one_label} (one label) or {two_labels} (two labels) for IP length {ip_bits}, got {got}")]
    MacIpLength {
        /// The IP address length in bits.
        ip_bits: u8,
        /// The route length with only Label1.
        one_label: u8,
        /// The route length with Label1 and Label2.
        two_labels: u8,
        /// The route length found.
        got: u8,
    },
    /// The type-3/type-4 route length does not match the originator's IP length.
    #[error("type-{route_type} length {got} does not match IP address length {ip_bits} (expected {expected})")]
    OriginatorLength {
        /// EVPN route type (3 or 4).
        route_type: u8,
        /// The IP address length in bits.
        ip_bits: u8,
        /// The route length that IP length requires.
        expected: u8,
        /// The route length found.
        got: u8,
    },
    /// The type-5 IP prefix length exceeds the family's maximum (RFC 9136 §3.1,
    /// landscape pitfall 4).
    #[error("type-5 IP prefix length must be at most {max}, got {got}")]
    PrefixLength {
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
        /// The prefix length found.
        got: u8,
    },
    /// A PMSI Tunnel attribute value shorter than its 5 fixed octets (RFC 6514 §5).
    #[error("PMSI tunnel attribute must be at least 5 octets, got {got}")]
    PmsiLength {
        /// The attribute value length.
        got: usize,
    },
    /// An Ingress Replication tunnel identifier that is not an IPv4 or IPv6
    /// address (RFC 6514 §5, RFC 7432 §11.2).
    #[error("ingress replication tunnel identifier must be 4 or 16 octets, got {got}")]
    PmsiTunnelIdLength {
        /// The tunnel identifier length.
        got: usize,
    },
}

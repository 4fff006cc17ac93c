//! The EVPN NLRI codec: parse and emit of one route (RFC 7432 §7, RFC 9136
//! §3.1) and an iterator over the NLRI field of MP_REACH/MP_UNREACH.
//!
//! ```text
//! +-----------------------------------+
//! |    Route Type (1 octet)           |
//! +-----------------------------------+
//! |     Length (1 octet)              |
//! +-----------------------------------+
//! | Route Type specific (variable)    |
//! +-----------------------------------+
//! ```
//!
//! Parsing never panics and never allocates for route types 1–5; every error
//! names the offending field and its byte offset.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{EvpnError, EvpnErrorKind};
use crate::esi::Esi;
use crate::label::{EthernetTag, Label};
use crate::mac::MacAddress;
use crate::rd::RouteDistinguisher;
use crate::route::{
    EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, InclusiveMulticastRoute, IpPrefixRoute,
    MacIpRoute, UnknownRoute,
};

/// Octets of the type-1 value: RD 8, ESI 10, Ethernet tag 4, label 3.
const ETHERNET_AD_LEN: u8 = 25;
/// Octets of the type-2 value without the IP address and without Label2:
/// RD 8, ESI 10, Ethernet tag 4, MAC length 1, MAC 6, IP length 1, Label1 3.
const MAC_IP_BASE_LEN: u8 = 33;
/// Octets of the type-3 value without the IP address: RD 8, tag 4, IP length 1.
const INCLUSIVE_MULTICAST_BASE_LEN: u8 = 13;
/// Octets of the type-4 value without the IP address: RD 8, ESI 10, IP length 1.
const ETHERNET_SEGMENT_BASE_LEN: u8 = 19;
/// Octets of the type-5 value for IPv4 (RFC 9136 §3.1).
const IP_PREFIX_V4_LEN: u8 = 34;
/// Octets of the type-5 value for IPv6 (RFC 9136 §3.1).
const IP_PREFIX_V6_LEN: u8 = 58;

/// Offset of the value within an NLRI (after the type and length octets).
const VALUE_AT: usize = 2;

/// Copies the `N` octets at `AT` out of a fixed-size value. The bounds are
/// checked at compile time, so this cannot panic.
#[inline(always)]
fn field<const AT: usize, const N: usize, const L: usize>(v: &[u8; L]) -> [u8; N] {
    const { assert!(AT + N <= L) };
    let mut out = [0u8; N];
    out.copy_from_slice(&v[AT..AT + N]);
    out
}

#[inline(always)]
fn rd_at<const AT: usize, const L: usize>(v: &[u8; L]) -> RouteDistinguisher {
    RouteDistinguisher::from_bytes(field::<AT, 8, L>(v))
}

#[inline(always)]
fn esi_at<const AT: usize, const L: usize>(v: &[u8; L]) -> Esi {
    Esi(field::<AT, 10, L>(v))
}

#[inline(always)]
fn tag_at<const AT: usize, const L: usize>(v: &[u8; L]) -> EthernetTag {
    EthernetTag(u32::from_be_bytes(field::<AT, 4, L>(v)))
}

#[inline(always)]
fn label_at<const AT: usize, const L: usize>(v: &[u8; L]) -> Label {
    Label(field::<AT, 3, L>(v))
}

/// Views `value` as exactly `L` octets. Callers check the length first, so
/// the error is a defensive fallback that names what went wrong.
#[inline(always)]
fn exact<'a, const L: usize>(
    value: &'a [u8],
    what: &'static str,
) -> Result<&'a [u8; L], EvpnError> {
    value.try_into().map_err(|_| {
        EvpnError::new(
            VALUE_AT,
            EvpnErrorKind::Truncated {
                what,
                needed: L,
                available: value.len(),
            },
        )
    })
}

fn route_length(route_type: u8, expected: &'static str, got: u8) -> EvpnError {
    EvpnError::new(
        1,
        EvpnErrorKind::RouteLength {
            route_type,
            expected,
            got,
        },
    )
}

/// Type 1 (RFC 7432 §7.1): RD 8, ESI 10, Ethernet tag 4, label 3.
#[inline]
fn parse_ethernet_ad(value: &[u8], len: u8) -> Result<EvpnRoute, EvpnError> {
    if len != ETHERNET_AD_LEN {
        return Err(route_length(1, "25", len));
    }
    let v = exact::<25>(value, "type-1 route")?;
    Ok(EvpnRoute::EthernetAd(EthernetAdRoute {
        rd: rd_at::<0, 25>(v),
        esi: esi_at::<8, 25>(v),
        ethernet_tag: tag_at::<18, 25>(v),
        label: label_at::<22, 25>(v),
    }))
}

/// Octets of the type-2 value before the IP address: RD 8, ESI 10, tag 4,
/// MAC length 1, MAC 6, IP length 1.
const MAC_IP_HEAD_LEN: usize = 30;
/// Offset (within the value) of the type-2 MAC address length octet.
const MAC_LEN_AT: usize = 22;
/// Offset (within the value) of the type-2 IP address length octet.
const MAC_IP_IP_LEN_AT: usize = 29;

/// Type 2 (RFC 7432 §7.2): RD, ESI, tag, MAC length (48), MAC, IP length
/// (0/32/128), IP, Label1, and Label2 iff 3 more octets remain.
#[inline]
fn parse_mac_ip(value: &[u8], len: u8) -> Result<EvpnRoute, EvpnError> {
    if len < MAC_IP_BASE_LEN {
        return Err(route_length(2, "33, 36, 37, 40, 49 or 52", len));
    }
    let Some((head, rest)) = value.split_first_chunk::<MAC_IP_HEAD_LEN>() else {
        return Err(route_length(2, "33, 36, 37, 40, 49 or 52", len));
    };
    let mac_bits = head[MAC_LEN_AT];
    if mac_bits != 48 {
        return Err(EvpnError::new(
            VALUE_AT + MAC_LEN_AT,
            EvpnErrorKind::MacLength { got: mac_bits },
        ));
    }
    let ip_bits = head[MAC_IP_IP_LEN_AT];
    let ip_octets: u8 = match ip_bits {
        0 => 0,
        32 => 4,
        128 => 16,
        got => {
            return Err(EvpnError::new(
                VALUE_AT + MAC_IP_IP_LEN_AT,
                EvpnErrorKind::IpLength {
                    route_type: 2,
                    expected: "0, 32 or 128",
                    got,
                },
            ))
        }
    };
    let one_label = MAC_IP_BASE_LEN + ip_octets;
    let two_labels = one_label + 3;
    let length_error = || {
        EvpnError::new(
            1,
            EvpnErrorKind::MacIpLength {
                ip_bits,
                one_label,
                two_labels,
                got: len,
            },
        )
    };
    if len != one_label && len != two_labels {
        return Err(length_error());
    }
    let (ip, labels) = match ip_octets {
        4 => {
            let (a, labels) = rest.split_first_chunk::<4>().ok_or_else(length_error)?;
            (Some(IpAddr::V4(Ipv4Addr::from(*a))), labels)
        }
        16 => {
            let (a, labels) = rest.split_first_chunk::<16>().ok_or_else(length_error)?;
            (Some(IpAddr::V6(Ipv6Addr::from(*a))), labels)
        }
        _ => (None, rest),
    };
    let (label1, label2) = match *labels {
        [a, b, c] => (Label([a, b, c]), None),
        [a, b, c, d, e, f] => (Label([a, b, c]), Some(Label([d, e, f]))),
        _ => return Err(length_error()),
    };
    Ok(EvpnRoute::MacIp(MacIpRoute {
        rd: rd_at::<0, MAC_IP_HEAD_LEN>(head),
        esi: esi_at::<8, MAC_IP_HEAD_LEN>(head),
        ethernet_tag: tag_at::<18, MAC_IP_HEAD_LEN>(head),
        mac: MacAddress(field::<23, 6, MAC_IP_HEAD_LEN>(head)),
        ip,
        label1,
        label2,
    }))
}

/// The originator IP of a type-3 or type-4 route: `rest` is the IP length
/// octet (32 or 128 bits, which must agree with the route length) and the address.
#[inline(always)]
fn originator(
    rest: &[u8],
    at: usize,
    route_type: u8,
    len: u8,
    base_len: u8,
) -> Result<IpAddr, EvpnError> {
    let Some((&ip_bits, addr)) = rest.split_first() else {
        return Err(route_length(
            route_type,
            "long enough for an IP length",
            len,
        ));
    };
    let (expected, ip) = match ip_bits {
        32 => (
            base_len + 4,
            <[u8; 4]>::try_from(addr).ok().map(|a| IpAddr::V4(a.into())),
        ),
        128 => (
            base_len + 16,
            <[u8; 16]>::try_from(addr)
                .ok()
                .map(|a| IpAddr::V6(a.into())),
        ),
        got => {
            return Err(EvpnError::new(
                VALUE_AT + at,
                EvpnErrorKind::IpLength {
                    route_type,
                    expected: "32 or 128",
                    got,
                },
            ))
        }
    };
    match ip {
        Some(ip) if len == expected => Ok(ip),
        _ => Err(EvpnError::new(
            1,
            EvpnErrorKind::OriginatorLength {
                route_type,
                ip_bits,
                expected,
                got: len,
            },
        )),
    }
}

/// Type 3 (RFC 7432 §7.3): RD 8, Ethernet tag 4, IP length 1, originator 4/16.
#[inline]
fn parse_inclusive_multicast(value: &[u8], len: u8) -> Result<EvpnRoute, EvpnError> {
    const HEAD: usize = INCLUSIVE_MULTICAST_BASE_LEN as usize - 1;
    if len != INCLUSIVE_MULTICAST_BASE_LEN + 4 && len != INCLUSIVE_MULTICAST_BASE_LEN + 16 {
        return Err(route_length(3, "17 or 29", len));
    }
    let Some((head, rest)) = value.split_first_chunk::<HEAD>() else {
        return Err(route_length(3, "17 or 29", len));
    };
    let originator = originator(rest, HEAD, 3, len, INCLUSIVE_MULTICAST_BASE_LEN)?;
    Ok(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
        rd: rd_at::<0, HEAD>(head),
        ethernet_tag: tag_at::<8, HEAD>(head),
        originator,
    }))
}

/// Type 4 (RFC 7432 §7.4): RD 8, ESI 10, IP length 1, originator 4/16.
#[inline]
fn parse_ethernet_segment(value: &[u8], len: u8) -> Result<EvpnRoute, EvpnError> {
    const HEAD: usize = ETHERNET_SEGMENT_BASE_LEN as usize - 1;
    if len != ETHERNET_SEGMENT_BASE_LEN + 4 && len != ETHERNET_SEGMENT_BASE_LEN + 16 {
        return Err(route_length(4, "23 or 35", len));
    }
    let Some((head, rest)) = value.split_first_chunk::<HEAD>() else {
        return Err(route_length(4, "23 or 35", len));
    };
    let originator = originator(rest, HEAD, 4, len, ETHERNET_SEGMENT_BASE_LEN)?;
    Ok(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
        rd: rd_at::<0, HEAD>(head),
        esi: esi_at::<8, HEAD>(head),
        originator,
    }))
}

/// Offset (within the value) of the type-5 IP prefix length octet.
const PREFIX_LEN_AT: usize = 22;

fn prefix_length_error(max: u8, got: u8) -> EvpnError {
    EvpnError::new(
        VALUE_AT + PREFIX_LEN_AT,
        EvpnErrorKind::PrefixLength { max, got },
    )
}

/// Type 5 (RFC 9136 §3.1): RD 8, ESI 10, Ethernet tag 4, prefix length 1,
/// prefix 4/16, gateway 4/16, label 3; the family follows from the length
/// (34 or 58) and the prefix length must not exceed 32/128 (pitfall 4).
#[inline]
fn parse_ip_prefix(value: &[u8], len: u8) -> Result<EvpnRoute, EvpnError> {
    match len {
        IP_PREFIX_V4_LEN => {
            let v = exact::<34>(value, "type-5 IPv4 route")?;
            let prefix_len = v[PREFIX_LEN_AT];
            let addr = Ipv4Addr::from(field::<23, 4, 34>(v));
            if prefix_len > 32 {
                return Err(prefix_length_error(32, prefix_len));
            }
            let Ok(net) = Ipv4Net::new(addr, prefix_len) else {
                return Err(prefix_length_error(32, prefix_len));
            };
            Ok(EvpnRoute::IpPrefix(IpPrefixRoute::from_parts(
                rd_at::<0, 34>(v),
                esi_at::<8, 34>(v),
                tag_at::<18, 34>(v),
                IpNet::V4(net),
                IpAddr::V4(Ipv4Addr::from(field::<27, 4, 34>(v))),
                label_at::<31, 34>(v),
            )))
        }
        IP_PREFIX_V6_LEN => {
            let v = exact::<58>(value, "type-5 IPv6 route")?;
            let prefix_len = v[PREFIX_LEN_AT];
            let addr = Ipv6Addr::from(field::<23, 16, 58>(v));
            if prefix_len > 128 {
                return Err(prefix_length_error(128, prefix_len));
            }
            let Ok(net) = Ipv6Net::new(addr, prefix_len) else {
                return Err(prefix_length_error(128, prefix_len));
            };
            Ok(EvpnRoute::IpPrefix(IpPrefixRoute::from_parts(
                rd_at::<0, 58>(v),
                esi_at::<8, 58>(v),
                tag_at::<18, 58>(v),
                IpNet::V6(net),
                IpAddr::V6(Ipv6Addr::from(field::<39, 16, 58>(v))),
                label_at::<55, 58>(v),
            )))
        }
        _ => Err(route_length(5, "34 or 58", len)),
    }
}

/// Splits the 2-octet NLRI header off `buf`: the route type, the length
/// octet and the value it announces (checked to be inside `buf`).
#[inline(always)]
fn split_header(buf: &[u8]) -> Result<(u8, u8, &[u8]), EvpnError> {
    let Some((&[route_type, len], rest)) = buf.split_first_chunk::<2>() else {
        return Err(EvpnError::new(
            0,
            EvpnErrorKind::Truncated {
                what: "EVPN NLRI route type and length",
                needed: 2,
                available: buf.len(),
            },
        ));
    };
    let Some(value) = rest.get(..usize::from(len)) else {
        return Err(EvpnError::new(
            1,
            EvpnErrorKind::Truncated {
                what: "EVPN route value (length octet runs past the buffer)",
                needed: usize::from(len),
                available: rest.len(),
            },
        ));
    };
    Ok((route_type, len, value))
}

/// Decodes the value of one NLRI of type `route_type` and length `len`.
/// Returning the route directly (not wrapped with its length) lets the
/// compiler build it in place.
#[inline(always)]
fn parse_value(route_type: u8, len: u8, value: &[u8]) -> Result<EvpnRoute, EvpnError> {
    match route_type {
        1 => parse_ethernet_ad(value, len),
        2 => parse_mac_ip(value, len),
        3 => parse_inclusive_multicast(value, len),
        4 => parse_ethernet_segment(value, len),
        5 => parse_ip_prefix(value, len),
        _ => UnknownRoute::new(route_type, Bytes::copy_from_slice(value))
            .map(EvpnRoute::Unknown)
            .ok_or_else(|| route_length(route_type, "at most 255", len)),
    }
}

impl EvpnRoute {
    /// Parses one NLRI (route type octet, length octet, value) at the front
    /// of `buf`; returns the route and the number of bytes consumed.
    ///
    /// Error offsets are relative to `buf`. Route types other than 1–5 are
    /// kept raw as [`UnknownRoute`] (the only case that allocates).
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<(EvpnRoute, usize), EvpnError> {
        let (route_type, len, value) = split_header(buf)?;
        let route = parse_value(route_type, len, value)?;
        Ok((route, VALUE_AT + value.len()))
    }

    /// Length of the route-type-specific value (the NLRI length octet).
    fn value_len(&self) -> u8 {
        match self {
            EvpnRoute::EthernetAd(_) => ETHERNET_AD_LEN,
            EvpnRoute::MacIp(r) => {
                let ip = match r.ip {
                    None => 0,
                    Some(IpAddr::V4(_)) => 4,
                    Some(IpAddr::V6(_)) => 16,
                };
                MAC_IP_BASE_LEN + ip + if r.label2.is_some() { 3 } else { 0 }
            }
            EvpnRoute::InclusiveMulticast(r) => {
                INCLUSIVE_MULTICAST_BASE_LEN + ip_octets(r.originator)
            }
            EvpnRoute::EthernetSegment(r) => ETHERNET_SEGMENT_BASE_LEN + ip_octets(r.originator),
            EvpnRoute::IpPrefix(r) => match r.prefix() {
                IpNet::V4(_) => IP_PREFIX_V4_LEN,
                IpNet::V6(_) => IP_PREFIX_V6_LEN,
            },
            // UnknownRoute::new guarantees the value fits in one octet.
            EvpnRoute::Unknown(u) => u8::try_from(u.value().len()).unwrap_or(u8::MAX),
        }
    }

    /// Octets [`EvpnRoute::emit`] writes, including the 2-octet type and length header.
    pub fn encoded_len(&self) -> usize {
        2 + usize::from(self.value_len())
    }

    /// Writes the NLRI (type, length, value) to `out`, byte-identical to what
    /// [`EvpnRoute::parse`] read.
    pub fn emit(&self, out: &mut impl BufMut) {
        out.put_u8(self.route_type());
        out.put_u8(self.value_len());
        match self {
            EvpnRoute::EthernetAd(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u32(r.ethernet_tag.0);
                out.put_slice(&r.label.0);
            }
            EvpnRoute::MacIp(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u32(r.ethernet_tag.0);
                out.put_u8(48);
                out.put_slice(&r.mac.0);
                match r.ip {
                    None => out.put_u8(0),
                    Some(ip) => put_ip_with_len(out, ip),
                }
                out.put_slice(&r.label1.0);
                if let Some(l2) = r.label2 {
                    out.put_slice(&l2.0);
                }
            }
            EvpnRoute::InclusiveMulticast(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_u32(r.ethernet_tag.0);
                put_ip_with_len(out, r.originator);
            }
            EvpnRoute::EthernetSegment(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                put_ip_with_len(out, r.originator);
            }
            EvpnRoute::IpPrefix(r) => {
                out.put_slice(&r.rd.to_bytes());
                out.put_slice(&r.esi.0);
                out.put_u32(r.ethernet_tag.0);
                out.put_u8(r.prefix().prefix_len());
                put_ip(out, r.prefix().addr());
                put_ip(out, r.gateway());
                out.put_slice(&r.label.0);
            }
            EvpnRoute::Unknown(u) => out.put_slice(u.value()),
        }
    }
}

fn ip_octets(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    }
}

fn put_ip(out: &mut impl BufMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => out.put_slice(&a.octets()),
        IpAddr::V6(a) => out.put_slice(&a.octets()),
    }
}

/// An IP length octet in bits followed by the address.
fn put_ip_with_len(out: &mut impl BufMut, ip: IpAddr) {
    out.put_u8(ip_octets(ip) * 8);
    put_ip(out, ip);
}

/// Iterates over the EVPN NLRIs packed in an MP_REACH_NLRI or MP_UNREACH_NLRI
/// field (RFC 4760 §3–4). Yields each route, or the first error (with its
/// offset relative to the whole buffer) and then stops.
#[derive(Debug, Clone)]
pub struct EvpnNlriIter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> EvpnNlriIter<'a> {
    /// An iterator over the NLRIs in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            failed: false,
        }
    }

    /// Offset of the next NLRI to read (after an error: of the NLRI that failed).
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl Iterator for EvpnNlriIter<'_> {
    type Item = Result<EvpnRoute, EvpnError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let start = self.pos;
        let rest = self.buf.get(start..).filter(|r| !r.is_empty())?;
        let (route_type, len, value) = match split_header(rest) {
            Ok(header) => header,
            Err(e) => return Some(Err(self.fail(e, start))),
        };
        self.pos += VALUE_AT + value.len();
        match parse_value(route_type, len, value) {
            Ok(route) => Some(Ok(route)),
            Err(e) => Some(Err(self.fail(e, start))),
        }
    }
}

impl EvpnNlriIter<'_> {
    /// Records a failure at the NLRI starting at `start` and makes the error's
    /// offset absolute.
    #[cold]
    fn fail(&mut self, mut e: EvpnError, start: usize) -> EvpnError {
        self.failed = true;
        self.pos = start;
        e.offset += start;
        e
    }
}

impl std::iter::FusedIterator for EvpnNlriIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// FRR's type-5 203.0.113.0/24 (frr-gobgp frame 16).
    const TYPE5_V4: &str =
        "05220001c00002010001000000000000000000000000000018cb007100000000000003e8";
    /// FRR's MAC+IPv4 route with two labels (frr-gobgp frame 16).
    const TYPE2_IP: &str =
        "02280001c0000201000203443839ffff01000001000000003002000000100220c633644600000a0003e8";
    /// FRR's type-3 route (frr-gobgp frame 16).
    const TYPE3: &str = "03110001c000020100020000000020c6336401";
    /// FRR's type-4 route (frr-gobgp frame 16).
    const TYPE4: &str = "04170001c0000201000303443839ffff0100000120c6336401";
    /// GoBGP's type-1 route (frr-gobgp frame 31).
    const TYPE1: &str = "01190001c0000202000100001122334455667788ffffffff000000";

    fn bytes(h: &str) -> Vec<u8> {
        hex::decode(h).unwrap()
    }

    fn err(buf: &[u8]) -> EvpnError {
        EvpnRoute::parse(buf).expect_err("must fail")
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            err(&[]),
            EvpnError::new(
                0,
                EvpnErrorKind::Truncated {
                    what: "EVPN NLRI route type and length",
                    needed: 2,
                    available: 0
                }
            )
        );
        assert_eq!(err(&[5]).offset, 0);
        let mut b = bytes(TYPE5_V4);
        b.truncate(12);
        let e = err(&b);
        assert_eq!(e.offset, 1);
        assert!(matches!(
            e.kind,
            EvpnErrorKind::Truncated {
                needed: 34,
                available: 10,
                ..
            }
        ));
    }

    #[test]
    fn route_length_errors() {
        for (h, route_type, expected, got) in [
            (TYPE1, 1, "25", 18),
            (TYPE2_IP, 2, "33, 36, 37, 40, 49 or 52", 30),
            (TYPE3, 3, "17 or 29", 10),
            (TYPE4, 4, "23 or 35", 16),
            (TYPE5_V4, 5, "34 or 58", 40),
        ] {
            // Change the length octet and the value together: a bad length, not truncation.
            let mut b = bytes(h);
            b[1] = got;
            b.resize(2 + usize::from(got), 0);
            let e = err(&b);
            assert_eq!(e.offset, 1, "type {route_type}");
            assert_eq!(
                e.kind,
                EvpnErrorKind::RouteLength {
                    route_type,
                    expected,
                    got
                },
                "type {route_type}"
            );
        }
        let mut b = bytes(TYPE5_V4);
        b[1] = 40;
        b.resize(42, 0);
        assert_eq!(
            err(&b).to_string(),
            "at byte 1: type-5 length must be 34 or 58, got 40"
        );
    }

    #[test]
    fn mac_ip_field_errors() {
        let mut b = bytes(TYPE2_IP);
        b[24] = 47; // MAC address length
        assert_eq!(
            err(&b),
            EvpnError::new(24, EvpnErrorKind::MacLength { got: 47 })
        );
        let mut b = bytes(TYPE2_IP);
        b[31] = 24; // IP address length
        assert_eq!(
            err(&b),
            EvpnError::new(
                31,
                EvpnErrorKind::IpLength {
                    route_type: 2,
                    expected: "0, 32 or 128",
                    got: 24
                }
            )
        );
        // IP length 128 in a 40-octet route: needs 49 or 52.
        let mut b = bytes(TYPE2_IP);
        b[31] = 128;
        assert_eq!(
            err(&b),
            EvpnError::new(
                1,
                EvpnErrorKind::MacIpLength {
                    ip_bits: 128,
                    one_label: 49,
                    two_labels: 52,
                    got: 40
                }
            )
        );
        // One trailing octet after Label2.
        let mut b = bytes(TYPE2_IP);
        b[1] += 1;
        b.push(0);
        assert!(matches!(
            err(&b).kind,
            EvpnErrorKind::MacIpLength { got: 41, .. }
        ));
    }

    #[test]
    fn originator_errors() {
        let mut b = bytes(TYPE3);
        b[14] = 64;
        assert_eq!(
            err(&b),
            EvpnError::new(
                14,
                EvpnErrorKind::IpLength {
                    route_type: 3,
                    expected: "32 or 128",
                    got: 64
                }
            )
        );
        let mut b = bytes(TYPE3);
        b[14] = 128;
        assert_eq!(
            err(&b),
            EvpnError::new(
                1,
                EvpnErrorKind::OriginatorLength {
                    route_type: 3,
                    ip_bits: 128,
                    expected: 29,
                    got: 17
                }
            )
        );
        let mut b = bytes(TYPE4);
        b[20] = 0;
        assert_eq!(err(&b).offset, 20);
        let mut b = bytes(TYPE4);
        b[20] = 128;
        assert!(matches!(
            err(&b).kind,
            EvpnErrorKind::OriginatorLength {
                route_type: 4,
                expected: 35,
                got: 23,
                ..
            }
        ));
    }

    #[test]
    fn prefix_length_errors() {
        let mut b = bytes(TYPE5_V4);
        b[24] = 33;
        assert_eq!(
            err(&b),
            EvpnError::new(24, EvpnErrorKind::PrefixLength { max: 32, got: 33 })
        );
        let mut b = bytes("053a0001c0000201000100000000000000000000000000003020010db8f00000000000000000000000000000000000000000000000000000000003e8");
        b[24] = 129;
        assert_eq!(
            err(&b),
            EvpnError::new(24, EvpnErrorKind::PrefixLength { max: 128, got: 129 })
        );
        b[24] = 128;
        assert!(EvpnRoute::parse(&b).is_ok());
    }

    #[test]
    fn unknown_types_are_kept_raw() {
        let b = [7, 3, 1, 2, 3, 0xff];
        let (r, used) = EvpnRoute::parse(&b).unwrap();
        assert_eq!(used, 5);
        let EvpnRoute::Unknown(u) = &r else { panic!() };
        assert_eq!(u.route_type(), 7);
        assert_eq!(&u.value()[..], &[1, 2, 3]);
        assert_eq!(r.to_string(), "[7]:[010203]");
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out, &b[..5]);
        assert_eq!(r.rd(), RouteDistinguisher::default());
        assert_eq!(UnknownRoute::new(5, Bytes::new()), None);
        assert_eq!(UnknownRoute::new(0, Bytes::from(vec![0; 256])), None);
    }

    #[test]
    fn iterator_offsets_are_absolute_and_it_stops_after_an_error() {
        let mut b = bytes(TYPE3);
        let first = b.len();
        let mut bad = bytes(TYPE5_V4);
        bad[24] = 40;
        b.extend_from_slice(&bad);
        b.extend_from_slice(&bytes(TYPE3));
        let mut it = EvpnNlriIter::new(&b);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, first + 24);
        assert_eq!(it.offset(), first);
        assert!(it.next().is_none());
        assert!(it.next().is_none());
        assert_eq!(EvpnNlriIter::new(&[]).count(), 0);
    }

    #[test]
    fn type5_with_host_bits_round_trips() {
        // 203.0.113.1/24: host bits are kept, not masked, so the bytes survive.
        let mut b = bytes(TYPE5_V4);
        b[28] = 1;
        let (r, _) = EvpnRoute::parse(&b).unwrap();
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out, b);
        assert_eq!(r.to_string(), "[5]:[0]:[24]:[203.0.113.1]");
    }
}

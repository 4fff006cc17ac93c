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

/// A bounds-checked reader over one NLRI; positions are relative to the
/// buffer handed to [`EvpnRoute::parse`], so errors carry absolute offsets.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EvpnError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.first_chunk::<N>() {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(EvpnError::new(
                self.pos,
                EvpnErrorKind::Truncated {
                    what,
                    needed: N,
                    available: rest.len(),
                },
            )),
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, EvpnError> {
        self.take::<1>(what).map(|[b]| b)
    }

    fn rd(&mut self) -> Result<RouteDistinguisher, EvpnError> {
        self.take::<8>("route distinguisher")
            .map(RouteDistinguisher::from_bytes)
    }

    fn esi(&mut self) -> Result<Esi, EvpnError> {
        self.take::<10>("ESI").map(Esi)
    }

    fn ethernet_tag(&mut self) -> Result<EthernetTag, EvpnError> {
        self.take::<4>("Ethernet tag")
            .map(|b| EthernetTag(u32::from_be_bytes(b)))
    }

    fn label(&mut self, what: &'static str) -> Result<Label, EvpnError> {
        self.take::<3>(what).map(Label)
    }

    fn ipv4(&mut self, what: &'static str) -> Result<Ipv4Addr, EvpnError> {
        self.take::<4>(what).map(Ipv4Addr::from)
    }

    fn ipv6(&mut self, what: &'static str) -> Result<Ipv6Addr, EvpnError> {
        self.take::<16>(what).map(Ipv6Addr::from)
    }
}

/// The IP address of a type-3 or type-4 route: its length octet (32 or 128
/// bits) must agree with the route length.
fn originator(
    c: &mut Cursor<'_>,
    route_type: u8,
    len: u8,
    base_len: u8,
) -> Result<IpAddr, EvpnError> {
    let at = c.pos;
    let ip_bits = c.u8("IP address length")?;
    let (expected, v4) = match ip_bits {
        32 => (base_len + 4, true),
        128 => (base_len + 16, false),
        got => {
            return Err(EvpnError::new(
                at,
                EvpnErrorKind::IpLength {
                    route_type,
                    expected: "32 or 128",
                    got,
                },
            ))
        }
    };
    if len != expected {
        return Err(EvpnError::new(
            1,
            EvpnErrorKind::OriginatorLength {
                route_type,
                ip_bits,
                expected,
                got: len,
            },
        ));
    }
    if v4 {
        c.ipv4("originator IPv4 address").map(IpAddr::V4)
    } else {
        c.ipv6("originator IPv6 address").map(IpAddr::V6)
    }
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

fn parse_ethernet_ad(c: &mut Cursor<'_>, len: u8) -> Result<EvpnRoute, EvpnError> {
    if len != ETHERNET_AD_LEN {
        return Err(route_length(1, "25", len));
    }
    Ok(EvpnRoute::EthernetAd(EthernetAdRoute {
        rd: c.rd()?,
        esi: c.esi()?,
        ethernet_tag: c.ethernet_tag()?,
        label: c.label("MPLS label")?,
    }))
}

fn parse_mac_ip(c: &mut Cursor<'_>, len: u8) -> Result<EvpnRoute, EvpnError> {
    if len < MAC_IP_BASE_LEN {
        return Err(route_length(2, "33, 36, 37, 40, 49 or 52", len));
    }
    let rd = c.rd()?;
    let esi = c.esi()?;
    let ethernet_tag = c.ethernet_tag()?;
    let at = c.pos;
    let mac_bits = c.u8("MAC address length")?;
    if mac_bits != 48 {
        return Err(EvpnError::new(
            at,
            EvpnErrorKind::MacLength { got: mac_bits },
        ));
    }
    let mac = MacAddress(c.take::<6>("MAC address")?);
    let at = c.pos;
    let ip_bits = c.u8("IP address length")?;
    let ip_octets = match ip_bits {
        0 => 0,
        32 => 4,
        128 => 16,
        got => {
            return Err(EvpnError::new(
                at,
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
    if len != one_label && len != two_labels {
        return Err(EvpnError::new(
            1,
            EvpnErrorKind::MacIpLength {
                ip_bits,
                one_label,
                two_labels,
                got: len,
            },
        ));
    }
    let ip = match ip_octets {
        4 => Some(IpAddr::V4(c.ipv4("IPv4 address")?)),
        16 => Some(IpAddr::V6(c.ipv6("IPv6 address")?)),
        _ => None,
    };
    let label1 = c.label("MPLS label1")?;
    let label2 = if len == two_labels {
        Some(c.label("MPLS label2")?)
    } else {
        None
    };
    Ok(EvpnRoute::MacIp(MacIpRoute {
        rd,
        esi,
        ethernet_tag,
        mac,
        ip,
        label1,
        label2,
    }))
}

fn parse_inclusive_multicast(c: &mut Cursor<'_>, len: u8) -> Result<EvpnRoute, EvpnError> {
    if len != INCLUSIVE_MULTICAST_BASE_LEN + 4 && len != INCLUSIVE_MULTICAST_BASE_LEN + 16 {
        return Err(route_length(3, "17 or 29", len));
    }
    let rd = c.rd()?;
    let ethernet_tag = c.ethernet_tag()?;
    let originator = originator(c, 3, len, INCLUSIVE_MULTICAST_BASE_LEN)?;
    Ok(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
        rd,
        ethernet_tag,
        originator,
    }))
}

fn parse_ethernet_segment(c: &mut Cursor<'_>, len: u8) -> Result<EvpnRoute, EvpnError> {
    if len != ETHERNET_SEGMENT_BASE_LEN + 4 && len != ETHERNET_SEGMENT_BASE_LEN + 16 {
        return Err(route_length(4, "23 or 35", len));
    }
    let rd = c.rd()?;
    let esi = c.esi()?;
    let originator = originator(c, 4, len, ETHERNET_SEGMENT_BASE_LEN)?;
    Ok(EvpnRoute::EthernetSegment(EthernetSegmentRoute {
        rd,
        esi,
        originator,
    }))
}

fn parse_ip_prefix(c: &mut Cursor<'_>, len: u8) -> Result<EvpnRoute, EvpnError> {
    let v4 = match len {
        IP_PREFIX_V4_LEN => true,
        IP_PREFIX_V6_LEN => false,
        _ => return Err(route_length(5, "34 or 58", len)),
    };
    let rd = c.rd()?;
    let esi = c.esi()?;
    let ethernet_tag = c.ethernet_tag()?;
    let at = c.pos;
    let prefix_len = c.u8("IP prefix length")?;
    let max = if v4 { 32 } else { 128 };
    let prefix_error = || {
        EvpnError::new(
            at,
            EvpnErrorKind::PrefixLength {
                max,
                got: prefix_len,
            },
        )
    };
    let (prefix, gateway) = if v4 {
        let addr = c.ipv4("IPv4 prefix")?;
        let net = Ipv4Net::new(addr, prefix_len).map_err(|_| prefix_error())?;
        (IpNet::V4(net), IpAddr::V4(c.ipv4("gateway IPv4 address")?))
    } else {
        let addr = c.ipv6("IPv6 prefix")?;
        let net = Ipv6Net::new(addr, prefix_len).map_err(|_| prefix_error())?;
        (IpNet::V6(net), IpAddr::V6(c.ipv6("gateway IPv6 address")?))
    };
    let label = c.label("MPLS label")?;
    Ok(EvpnRoute::IpPrefix(IpPrefixRoute::from_parts(
        rd,
        esi,
        ethernet_tag,
        prefix,
        gateway,
        label,
    )))
}

impl EvpnRoute {
    /// Parses one NLRI (route type octet, length octet, value) at the front
    /// of `buf`; returns the route and the number of bytes consumed.
    ///
    /// Error offsets are relative to `buf`. Route types other than 1–5 are
    /// kept raw as [`UnknownRoute`] (the only case that allocates).
    pub fn parse(buf: &[u8]) -> Result<(EvpnRoute, usize), EvpnError> {
        let (route_type, len) = match *buf {
            [t, l, ..] => (t, l),
            _ => {
                return Err(EvpnError::new(
                    0,
                    EvpnErrorKind::Truncated {
                        what: "EVPN NLRI route type and length",
                        needed: 2,
                        available: buf.len(),
                    },
                ))
            }
        };
        let end = 2 + usize::from(len);
        let Some(nlri) = buf.get(..end) else {
            return Err(EvpnError::new(
                1,
                EvpnErrorKind::Truncated {
                    what: "EVPN route value (length octet runs past the buffer)",
                    needed: usize::from(len),
                    available: buf.len() - 2,
                },
            ));
        };
        let mut c = Cursor { buf: nlri, pos: 2 };
        let route = match route_type {
            1 => parse_ethernet_ad(&mut c, len)?,
            2 => parse_mac_ip(&mut c, len)?,
            3 => parse_inclusive_multicast(&mut c, len)?,
            4 => parse_ethernet_segment(&mut c, len)?,
            5 => parse_ip_prefix(&mut c, len)?,
            _ => EvpnRoute::Unknown(
                UnknownRoute::new(route_type, Bytes::copy_from_slice(nlri.get(2..).unwrap_or_default()))
                    .ok_or_else(|| route_length(route_type, "at most 255", len))?,
            ),
        };
        Ok((route, end))
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
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        match EvpnRoute::parse(rest) {
            Ok((route, used)) => {
                self.pos += used;
                Some(Ok(route))
            }
            Err(mut e) => {
                self.failed = true;
                e.offset += self.pos;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for EvpnNlriIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// FRR's type-5 203.0.113.0/24 (frr-gobgp frame 16).
    const TYPE5_V4: &str = "05220001c00002010001000000000000000000000000000018cb007100000000000003e8";
    /// FRR's MAC+IPv4 route with two labels (frr-gobgp frame 16).
    const TYPE2_IP: &str = "02280001c0000201000203443839ffff01000001000000003002000000100220c633644600000a0003e8";
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
        assert_eq!(err(&b).to_string(), "at byte 1: type-5 length must be 34 or 58, got 40");
    }

    #[test]
    fn mac_ip_field_errors() {
        let mut b = bytes(TYPE2_IP);
        b[24] = 47; // MAC address length
        assert_eq!(err(&b), EvpnError::new(24, EvpnErrorKind::MacLength { got: 47 }));
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

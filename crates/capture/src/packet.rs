//! From a captured frame to a TCP segment: the link layer (Ethernet with 802.1Q/802.1ad tags,
//! Linux cooked SLL and SLL2, BSD/OpenBSD loopback, raw IP), IPv4 (RFC 791) or IPv6 (RFC 8200,
//! skipping extension headers) and the TCP header (RFC 9293 §3.1).
//!
//! Checksums are not verified: captures taken on the sending host routinely carry checksums
//! left for the NIC to fill in.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::LinkType;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const IPPROTO_TCP: u8 = 6;

/// TCP control bits (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;

    /// True if SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// True if FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// True if RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// True if ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A TCP segment found in a frame; the payload borrows from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (of the SYN when SYN is set).
    pub seq: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// The segment's data.
    pub payload: &'a [u8],
}

/// Which header a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The link-layer header.
    Link,
    /// The IPv4 header.
    Ipv4,
    /// The IPv6 header or an extension header.
    Ipv6,
    /// The TCP header or payload.
    Tcp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Link => "link-layer",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Tcp => "TCP",
        })
    }
}

/// Why a frame did not yield a TCP segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The frame carries something else than IPv4/IPv6 (ARP, LLDP...): not a problem.
    #[error("not IP (ethertype or family {0:#06x})")]
    NotIp(u32),
    /// The IP packet carries another protocol than TCP: not a problem.
    #[error("not TCP (IP protocol {0})")]
    NotTcp(u8),
    /// A link type this reader does not decode.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(LinkType),
    /// An IP fragment; BGP over TCP is never fragmented in practice, so fragments are not
    /// reassembled.
    #[error("IP fragment at frame offset {offset} (not reassembled)")]
    Fragment {
        /// Offset of the IP header in the frame.
        offset: usize,
    },
    /// A header is cut short or inconsistent (including a payload cut by the snap length).
    #[error("malformed {layer} header at frame offset {offset}: {reason}")]
    Malformed {
        /// Which header.
        layer: Layer,
        /// Offset in the frame where that header starts.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

impl PacketError {
    /// True for frames that are simply not TCP (nothing to report).
    pub fn is_benign(&self) -> bool {
        matches!(self, PacketError::NotIp(_) | PacketError::NotTcp(_))
    }
}

fn malformed(layer: Layer, offset: usize, reason: &'static str) -> PacketError {
    PacketError::Malformed {
        layer,
        offset,
        reason,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The network-layer protocol found after the link header.
enum Network {
    Ipv4,
    Ipv6,
}

/// Decodes a frame of the given link type down to its TCP segment.
pub fn decode_tcp(link_type: LinkType, frame: &[u8]) -> Result<TcpSegment<'_>, PacketError> {
    let (network, at) = link_header(link_type, frame)?;
    match network {
        Network::Ipv4 => ipv4(frame, at),
        Network::Ipv6 => ipv6(frame, at),
    }
}

fn by_ethertype(ethertype: u16, at: usize) -> Result<(Network, usize), PacketError> {
    match ethertype {
        ETHERTYPE_IPV4 => Ok((Network::Ipv4, at)),
        ETHERTYPE_IPV6 => Ok((Network::Ipv6, at)),
        other => Err(PacketError::NotIp(u32::from(other))),
    }
}

fn by_version(frame: &[u8], at: usize) -> Result<(Network, usize), PacketError> {
    match frame.get(at).map(|b| b >> 4) {
        Some(4) => Ok((Network::Ipv4, at)),
        Some(6) => Ok((Network::Ipv6, at)),
        Some(v) => Err(PacketError::NotIp(u32::from(v))),
        None => Err(malformed(Layer::Link, at, "empty raw IP frame")),
    }
}

fn by_family(family: u32, at: usize) -> Result<(Network, usize), PacketError> {
    // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD), 28 (FreeBSD),
    // 30 (macOS).
    match family {
        2 => Ok((Network::Ipv4, at)),
        10 | 24 | 28 | 30 => Ok((Network::Ipv6, at)),
        other => Err(PacketError::NotIp(other)),
    }
}

fn link_header(link_type: LinkType, frame: &[u8]) -> Result<(Network, usize), PacketError> {
    match link_type {
        LinkType::ETHERNET => {
            let mut at = 12;
            let mut ethertype = be16(frame, at).ok_or(malformed(
                Layer::Link,
                0,
                "Ethernet header shorter than 14 bytes",
            ))?;
            // Skip any number of VLAN tags (4 bytes each: TCI, then the next ethertype).
            while matches!(
                ethertype,
                ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
            ) {
                at += 4;
                ethertype =
                    be16(frame, at).ok_or(malformed(Layer::Link, at - 4, "VLAN tag cut short"))?;
            }
            by_ethertype(ethertype, at + 2)
        }
        LinkType::LINUX_SLL => {
            let protocol = be16(frame, 14).ok_or(malformed(
                Layer::Link,
                0,
                "SLL header shorter than 16 bytes",
            ))?;
            by_ethertype(protocol, 16)
        }
        LinkType::LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(malformed(
                    Layer::Link,
                    0,
                    "SLL2 header shorter than 20 bytes",
                ));
            }
            let protocol = be16(frame, 0).ok_or(malformed(
                Layer::Link,
                0,
                "SLL2 header shorter than 20 bytes",
            ))?;
            by_ethertype(protocol, 20)
        }
        LinkType::RAW | LinkType::RAW_BSD | LinkType::RAW_OPENBSD => by_version(frame, 0),
        LinkType::IPV4 => Ok((Network::Ipv4, 0)),
        LinkType::IPV6 => Ok((Network::Ipv6, 0)),
        LinkType::NULL => {
            let b: [u8; 4] = frame
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or(malformed(
                    Layer::Link,
                    0,
                    "loopback header shorter than 4 bytes",
                ))?;
            // Host byte order of the capturing machine: the small value is the right one.
            let le = u32::from_le_bytes(b);
            let family = if le < 0x100 {
                le
            } else {
                u32::from_be_bytes(b)
            };
            by_family(family, 4)
        }
        LinkType::LOOP => {
            let family = be32(frame, 0).ok_or(malformed(
                Layer::Link,
                0,
                "loopback header shorter than 4 bytes",
            ))?;
            by_family(family, 4)
        }
        other => Err(PacketError::UnsupportedLinkType(other)),
    }
}

fn ipv4(frame: &[u8], at: usize) -> Result<TcpSegment<'_>, PacketError> {
    let ip = frame.get(at..).unwrap_or(&[]);
    if ip.len() < 20 {
        return Err(malformed(Layer::Ipv4, at, "header shorter than 20 bytes"));
    }
    if ip[0] >> 4 != 4 {
        return Err(malformed(Layer::Ipv4, at, "version is not 4"));
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    if header_len < 20 || header_len > ip.len() {
        return Err(malformed(Layer::Ipv4, at, "bad header length (IHL)"));
    }
    let total = usize::from(be16(ip, 2).unwrap_or(0));
    // A total length of 0 is what captures of TCP segmentation offload show: take the frame.
    let total = if total == 0 { ip.len() } else { total };
    if total < header_len {
        return Err(malformed(
            Layer::Ipv4,
            at,
            "total length shorter than the header",
        ));
    }
    let Some(packet) = ip.get(..total) else {
        return Err(malformed(
            Layer::Ipv4,
            at,
            "packet cut short (snap length?)",
        ));
    };
    let frag = be16(ip, 6).unwrap_or(0);
    if frag & 0x3fff != 0 {
        return Err(PacketError::Fragment { offset: at });
    }
    if ip[9] != IPPROTO_TCP {
        return Err(PacketError::NotTcp(ip[9]));
    }
    let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    tcp(&packet[header_len..], at + header_len, src, dst)
}

fn ipv6(frame: &[u8], at: usize) -> Result<TcpSegment<'_>, PacketError> {
    let ip = frame.get(at..).unwrap_or(&[]);
    if ip.len() < 40 {
        return Err(malformed(Layer::Ipv6, at, "header shorter than 40 bytes"));
    }
    if ip[0] >> 4 != 6 {
        return Err(malformed(Layer::Ipv6, at, "version is not 6"));
    }
    let payload_len = usize::from(be16(ip, 4).unwrap_or(0));
    let addr = |from: usize| -> IpAddr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&ip[from..from + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let (src, dst) = (addr(8), addr(24));
    // A payload length of 0 means a jumbogram or offloaded segment: take the frame.
    let end = if payload_len == 0 {
        ip.len()
    } else {
        40 + payload_len
    };
    let Some(packet) = ip.get(..end) else {
        return Err(malformed(
            Layer::Ipv6,
            at,
            "packet cut short (snap length?)",
        ));
    };
    let mut next = ip[6];
    let mut pos = 40;
    loop {
        match next {
            IPPROTO_TCP => return tcp(&packet[pos..], at + pos, src, dst),
            // Hop-by-hop, routing, destination options: length in 8-octet units, not counting
            // the first 8 octets (RFC 8200 §4.3-4.6).
            0 | 43 | 60 => {
                let (Some(&nh), Some(&len)) = (packet.get(pos), packet.get(pos + 1)) else {
                    return Err(malformed(
                        Layer::Ipv6,
                        at + pos,
                        "extension header cut short",
                    ));
                };
                next = nh;
                pos += (usize::from(len) + 1) * 8;
            }
            // Authentication header: length in 4-octet units minus 2 (RFC 4302 §2.2).
            51 => {
                let (Some(&nh), Some(&len)) = (packet.get(pos), packet.get(pos + 1)) else {
                    return Err(malformed(
                        Layer::Ipv6,
                        at + pos,
                        "authentication header cut short",
                    ));
                };
                next = nh;
                pos += (usize::from(len) + 2) * 4;
            }
            44 => return Err(PacketError::Fragment { offset: at }),
            other => return Err(PacketError::NotTcp(other)),
        }
        if pos > packet.len() {
            return Err(malformed(
                Layer::Ipv6,
                at,
                "extension headers run past the packet",
            ));
        }
    }
}

fn tcp(seg: &[u8], at: usize, src: IpAddr, dst: IpAddr) -> Result<TcpSegment<'_>, PacketError> {
    if seg.len() < 20 {
        return Err(malformed(Layer::Tcp, at, "header shorter than 20 bytes"));
    }
    let header_len = usize::from(seg[12] >> 4) * 4;
    if header_len < 20 || header_len > seg.len() {
        return Err(malformed(Layer::Tcp, at, "bad data offset"));
    }
    Ok(TcpSegment {
        src: SocketAddr::new(src, be16(seg, 0).unwrap_or(0)),
        dst: SocketAddr::new(dst, be16(seg, 2).unwrap_or(0)),
        seq: be32(seg, 4).unwrap_or(0),
        flags: TcpFlags(seg[13]),
        payload: &seg[header_len..],
    })
}

/// Builds frames for tests: a TCP segment wrapped in IPv4/IPv6 and a link-layer header.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    /// A TCP header (20 bytes, or 32 with a timestamp option when `options`) plus payload.
    pub fn tcp(
        src_port: u16,
        dst_port: u16,
        seq: u32,
        flags: u8,
        options: bool,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&src_port.to_be_bytes());
        v.extend_from_slice(&dst_port.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.push(if options { 8 << 4 } else { 5 << 4 });
        v.push(flags);
        v.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        if options {
            v.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        }
        v.extend_from_slice(payload);
        v
    }

    /// An IPv4 packet carrying `l4` with protocol `proto`.
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut v = vec![0x45, 0];
        v.extend_from_slice(&u16::try_from(20 + l4.len()).unwrap().to_be_bytes());
        v.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        v.extend_from_slice(&src.octets());
        v.extend_from_slice(&dst.octets());
        v.extend_from_slice(l4);
        v
    }

    /// An IPv6 packet carrying `l4`, with a hop-by-hop options header in front when `hbh`.
    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, hbh: bool, l4: &[u8]) -> Vec<u8> {
        let ext = if hbh { 8 } else { 0 };
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&u16::try_from(ext + l4.len()).unwrap().to_be_bytes());
        v.push(if hbh { 0 } else { IPPROTO_TCP });
        v.push(64);
        v.extend_from_slice(&src.octets());
        v.extend_from_slice(&dst.octets());
        if hbh {
            v.extend_from_slice(&[IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0]);
        }
        v.extend_from_slice(l4);
        v
    }

    /// Wraps an IP packet in the header of `link` (Ethernet optionally with one VLAN tag).
    pub fn link(link: LinkType, vlan: bool, ip: &[u8]) -> Vec<u8> {
        let ethertype: u16 = if ip[0] >> 4 == 4 {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        };
        let mut v = Vec::new();
        match link {
            LinkType::ETHERNET => {
                v.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
                if vlan {
                    v.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                    v.extend_from_slice(&100u16.to_be_bytes());
                }
                v.extend_from_slice(&ethertype.to_be_bytes());
            }
            LinkType::LINUX_SLL => {
                v.extend_from_slice(&[0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
                v.extend_from_slice(&ethertype.to_be_bytes());
            }
            LinkType::LINUX_SLL2 => {
                v.extend_from_slice(&ethertype.to_be_bytes());
                v.extend_from_slice(&[0, 0, 0, 0, 0, 7, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            }
            LinkType::NULL => {
                let fam: u32 = if ethertype == ETHERTYPE_IPV4 { 2 } else { 30 };
                v.extend_from_slice(&fam.to_le_bytes());
            }
            _ => {}
        }
        v.extend_from_slice(ip);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::build;
    use super::*;

    const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    #[test]
    fn every_link_type_and_ip_version() {
        let l4 = build::tcp(
            53777,
            179,
            1000,
            TcpFlags::ACK | TcpFlags::PSH,
            true,
            b"bgp!",
        );
        let v4 = build::ipv4(A4, B4, 6, &l4);
        let v6 = build::ipv6(A6, B6, false, &l4);
        let v6h = build::ipv6(A6, B6, true, &l4);
        let cases = [
            (LinkType::ETHERNET, false),
            (LinkType::ETHERNET, true),
            (LinkType::LINUX_SLL, false),
            (LinkType::LINUX_SLL2, false),
            (LinkType::RAW, false),
            (LinkType::NULL, false),
        ];
        for (link, vlan) in cases {
            for ip in [&v4, &v6, &v6h] {
                let frame = build::link(link, vlan, ip);
                let seg =
                    decode_tcp(link, &frame).unwrap_or_else(|e| panic!("{link} vlan={vlan}: {e}"));
                assert_eq!(seg.payload, b"bgp!");
                assert_eq!(seg.seq, 1000);
                assert_eq!(seg.src.port(), 53777);
                assert_eq!(seg.dst.port(), 179);
                assert!(seg.flags.ack() && !seg.flags.syn());
                if ip[0] >> 4 == 4 {
                    assert_eq!(seg.src.ip(), IpAddr::V4(A4));
                } else {
                    assert_eq!(seg.dst.ip(), IpAddr::V6(B6));
                }
            }
        }
        assert!(decode_tcp(LinkType::IPV4, &v4).is_ok());
        assert!(decode_tcp(LinkType::IPV6, &v6).is_ok());
    }

    #[test]
    fn ethernet_padding_is_trimmed() {
        let l4 = build::tcp(1, 179, 0, TcpFlags::ACK, false, b"");
        let mut frame = build::link(LinkType::ETHERNET, false, &build::ipv4(A4, B4, 6, &l4));
        frame.extend_from_slice(&[0; 6]); // padding to the 60-byte minimum
        assert_eq!(decode_tcp(LinkType::ETHERNET, &frame).unwrap().payload, b"");
    }

    #[test]
    fn non_tcp_and_broken_frames() {
        let udp = build::link(LinkType::ETHERNET, false, &build::ipv4(A4, B4, 17, &[0; 8]));
        assert_eq!(
            decode_tcp(LinkType::ETHERNET, &udp),
            Err(PacketError::NotTcp(17))
        );
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        assert_eq!(
            decode_tcp(LinkType::ETHERNET, &arp),
            Err(PacketError::NotIp(0x0806))
        );
        assert!(decode_tcp(LinkType::ETHERNET, &arp)
            .unwrap_err()
            .is_benign());

        let l4 = build::tcp(1, 179, 0, TcpFlags::ACK, false, b"abcdef");
        let frame = build::link(LinkType::ETHERNET, false, &build::ipv4(A4, B4, 6, &l4));
        // Cut by a snap length: the IP total length promises more than there is.
        let cut = &frame[..frame.len() - 2];
        assert_eq!(
            decode_tcp(LinkType::ETHERNET, cut),
            Err(PacketError::Malformed {
                layer: Layer::Ipv4,
                offset: 14,
                reason: "packet cut short (snap length?)"
            })
        );
        // A fragment.
        let mut frag = frame.clone();
        frag[14 + 6] = 0x20; // MF
        assert_eq!(
            decode_tcp(LinkType::ETHERNET, &frag),
            Err(PacketError::Fragment { offset: 14 })
        );
        // TCP data offset beyond the segment.
        let mut bad = frame.clone();
        bad[14 + 20 + 12] = 0xf0;
        assert!(matches!(
            decode_tcp(LinkType::ETHERNET, &bad),
            Err(PacketError::Malformed {
                layer: Layer::Tcp,
                offset: 34,
                ..
            })
        ));
        assert_eq!(
            decode_tcp(LinkType(147), &frame),
            Err(PacketError::UnsupportedLinkType(LinkType(147)))
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(link in proptest::sample::select(vec![0u16, 1, 12, 14, 101, 108, 113, 228, 229, 276]),
                        data in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let _ = decode_tcp(LinkType(link), &data);
        }

        #[test]
        fn never_panics_on_mutated_valid_frames(idx in 0usize..80, byte in proptest::num::u8::ANY, cut in 0usize..90) {
            let l4 = build::tcp(1, 179, 5, TcpFlags::ACK, true, b"payload");
            for ip in [build::ipv4(A4, B4, 6, &l4), build::ipv6(A6, B6, true, &l4)] {
                let mut f = build::link(LinkType::ETHERNET, true, &ip);
                if let Some(b) = f.get_mut(idx) { *b = byte; }
                f.truncate(cut.max(1));
                let _ = decode_tcp(LinkType::ETHERNET, &f);
            }
        }
    }
}

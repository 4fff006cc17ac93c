//! From a captured frame to a TCP segment: the link layer (Ethernet with 802.1Q/802.1ad tags,
//! Linux cooked SLL and SLL2, BSD/OpenBSD loopback, raw IP), IPv4 (RFC 791) or IPv6 (RFC 8200,
//! skipping extension headers) and the TCP header (RFC 9293 §3.1).
//!
//! `etherparse` does the slicing, in its lax mode: an IPv4 total length or IPv6 payload length
//! of 0 (what captures of TCP segmentation offload show) takes the rest of the frame, and a
//! length field promising more than the frame holds is reported, not guessed around. What it
//! does not know is written here: the 4-byte BSD/OpenBSD loopback header and the 20-byte Linux
//! SLL2 header, each just an address family or ethertype in front of IP.
//!
//! Checksums are not verified: captures taken on the sending host routinely carry checksums
//! left for the NIC to fill in.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use etherparse::err::{packet::SliceError, Layer as EtherLayer};
use etherparse::{
    EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, LinuxSllProtocolType, LinuxSllSlice,
    TransportSlice,
};

use super::LinkType;
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

impl From<EtherLayer> for Layer {
    fn from(l: EtherLayer) -> Self {
        use EtherLayer::*;
        match l {
            IpHeader | Ipv4Header | Ipv4Packet => Layer::Ipv4,
            IpAuthHeader
            | Ipv6Header
            | Ipv6Packet
            | Ipv6ExtHeader
            | Ipv6HopByHopHeader
            | Ipv6DestOptionsHeader
            | Ipv6RouteHeader
            | Ipv6FragHeader => Layer::Ipv6,
            TcpHeader => Layer::Tcp,
            _ => Layer::Link,
        }
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
        reason: String,
    },
}

impl PacketError {
    /// True for frames that are simply not TCP (nothing to report).
    pub fn is_benign(&self) -> bool {
        matches!(self, PacketError::NotIp(_) | PacketError::NotTcp(_))
    }
}

fn malformed(layer: Layer, offset: usize, reason: impl fmt::Display) -> PacketError {
    PacketError::Malformed {
        layer,
        offset,
        reason: reason.to_string(),
    }
}

/// Where `part` (a sub-slice of `frame`) starts in `frame`.
fn offset_in(frame: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize)
}

/// What follows the link-layer header, and where it starts.
enum Next {
    /// A payload named by an ethertype.
    EtherType(u16),
    /// IPv4 or IPv6, told apart by the version nibble.
    Ip,
}

/// Decodes a frame of the given link type down to its TCP segment.
pub fn decode_tcp(link_type: LinkType, frame: &[u8]) -> Result<TcpSegment<'_>, PacketError> {
    let (packet, base) = match link_type {
        LinkType::ETHERNET => (
            LaxSlicedPacket::from_ethernet(frame).map_err(|e| malformed(Layer::Link, 0, e))?,
            0,
        ),
        LinkType::LINUX_SLL => {
            let sll = LinuxSllSlice::from_slice(frame).map_err(|e| malformed(Layer::Link, 0, e))?;
            match sll.protocol_type() {
                LinuxSllProtocolType::EtherType(t) => {
                    slice_after(Next::EtherType(t.0), frame, sll.header_len())?
                }
                other => return Err(PacketError::NotIp(u32::from(u16::from(other)))),
            }
        }
        // SLL2: protocol (2), reserved (2), interface index (4), ARPHRD (2), packet type (1),
        // address length (1), address (8).
        LinkType::LINUX_SLL2 => match frame.get(..20) {
            Some(h) => slice_after(Next::EtherType(u16::from_be_bytes([h[0], h[1]])), frame, 20)?,
            None => {
                return Err(malformed(
                    Layer::Link,
                    0,
                    "SLL2 header shorter than 20 bytes",
                ))
            }
        },
        LinkType::RAW
        | LinkType::RAW_BSD
        | LinkType::RAW_OPENBSD
        | LinkType::IPV4
        | LinkType::IPV6 => slice_after(Next::Ip, frame, 0)?,
        LinkType::NULL | LinkType::LOOP => {
            let Some(&b) = frame.first_chunk::<4>() else {
                return Err(malformed(
                    Layer::Link,
                    0,
                    "loopback header shorter than 4 bytes",
                ));
            };
            // NULL is in the capturing host's byte order (the small value is the right one),
            // LOOP in network byte order.
            let le = u32::from_le_bytes(b);
            let family = if link_type == LinkType::NULL && le < 0x100 {
                le
            } else {
                u32::from_be_bytes(b)
            };
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD/OpenBSD),
            // 28 (FreeBSD), 30 (macOS).
            if !matches!(family, 2 | 10 | 24 | 28 | 30) {
                return Err(PacketError::NotIp(family));
            }
            slice_after(Next::Ip, frame, 4)?
        }
        other => return Err(PacketError::UnsupportedLinkType(other)),
    };
    tcp_segment(frame, base, &packet)
}

/// Slices what follows a link header of `at` bytes.
fn slice_after(
    next: Next,
    frame: &[u8],
    at: usize,
) -> Result<(LaxSlicedPacket<'_>, usize), PacketError> {
    let rest = frame.get(at..).unwrap_or(&[]);
    let packet = match next {
        Next::EtherType(t) => LaxSlicedPacket::from_ether_type(EtherType(t), rest),
        Next::Ip => LaxSlicedPacket::from_ip(rest).map_err(|e| match e {
            etherparse::err::ip::LaxHeaderSliceError::Content(
                etherparse::err::ip::HeaderError::UnsupportedIpVersion { version_number },
            ) => PacketError::NotIp(u32::from(version_number)),
            etherparse::err::ip::LaxHeaderSliceError::Len(l) => {
                malformed(l.layer.into(), at + l.layer_start_offset, l)
            }
            e => malformed(Layer::Ipv4, at, e),
        })?,
    };
    Ok((packet, at))
}

/// The TCP segment of a sliced packet, or why there is none.
fn tcp_segment<'a>(
    frame: &'a [u8],
    base: usize,
    packet: &LaxSlicedPacket<'a>,
) -> Result<TcpSegment<'a>, PacketError> {
    let ip_start = packet
        .ether_payload()
        .map_or(base, |p| offset_in(frame, p.payload));
    let (src, dst, payload, layer) = match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                ip.payload(),
                Layer::Ipv4,
            )
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                ip.payload(),
                Layer::Ipv6,
            )
        }
        _ => {
            // A cut ARP packet is still not IP.
            if let Some((e, layer)) = packet
                .stop_err
                .as_ref()
                .filter(|(_, l)| *l != EtherLayer::Arp)
            {
                return Err(stop_error(e, *layer, base, ip_start));
            }
            let ether_type = packet.ether_payload().map_or(0, |p| p.ether_type.0);
            return Err(PacketError::NotIp(u32::from(ether_type)));
        }
    };
    if payload.incomplete {
        return Err(malformed(
            layer,
            ip_start,
            "packet cut short (snap length?)",
        ));
    }
    if let Some((e, layer)) = &packet.stop_err {
        return Err(stop_error(
            e,
            *layer,
            base,
            offset_in(frame, payload.payload),
        ));
    }
    if payload.fragmented {
        return Err(PacketError::Fragment { offset: ip_start });
    }
    match &packet.transport {
        Some(TransportSlice::Tcp(tcp)) => Ok(TcpSegment {
            src: SocketAddr::new(src, tcp.source_port()),
            dst: SocketAddr::new(dst, tcp.destination_port()),
            seq: tcp.sequence_number(),
            // Byte 13 of the header holds CWR..FIN.
            flags: TcpFlags(tcp.header_slice()[13]),
            payload: tcp.payload(),
        }),
        _ if payload.ip_number == IpNumber::TCP => Err(malformed(
            Layer::Tcp,
            offset_in(frame, payload.payload),
            "no TCP header",
        )),
        _ => Err(PacketError::NotTcp(payload.ip_number.0)),
    }
}

/// The error `etherparse` stopped at, placed at the layer's offset in the frame (`start` when it
/// does not say).
fn stop_error(e: &SliceError, layer: EtherLayer, base: usize, start: usize) -> PacketError {
    let offset = match e {
        SliceError::Len(l) => base + l.layer_start_offset,
        _ => start,
    };
    malformed(Layer::from(layer), offset, e)
}

/// Builds frames for tests: a TCP segment wrapped in IPv4/IPv6 and a link-layer header.
#[cfg(test)]
pub(crate) mod build {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const ETHERTYPE_IPV4: u16 = EtherType::IPV4.0;
    const ETHERTYPE_IPV6: u16 = EtherType::IPV6.0;
    const ETHERTYPE_VLAN: u16 = EtherType::VLAN_TAGGED_FRAME.0;
    const IPPROTO_TCP: u8 = IpNumber::TCP.0;

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
    use std::net::{Ipv4Addr, Ipv6Addr};

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
    fn zero_ip_length_takes_the_frame() {
        // Captures of TCP segmentation offload leave the IP length at 0.
        let l4 = build::tcp(1, 179, 7, TcpFlags::ACK, false, b"offloaded");
        let mut v4 = build::ipv4(A4, B4, 6, &l4);
        v4[2..4].copy_from_slice(&[0, 0]);
        let mut v6 = build::ipv6(A6, B6, false, &l4);
        v6[4..6].copy_from_slice(&[0, 0]);
        for ip in [v4, v6] {
            let frame = build::link(LinkType::ETHERNET, false, &ip);
            let seg = decode_tcp(LinkType::ETHERNET, &frame).unwrap();
            assert_eq!((seg.seq, seg.payload), (7, &b"offloaded"[..]));
        }
        // A raw frame of another IP version is not IP, and an empty one is malformed.
        assert_eq!(
            decode_tcp(LinkType::RAW, &[0x50; 30]),
            Err(PacketError::NotIp(5))
        );
        assert!(matches!(
            decode_tcp(LinkType::RAW, &[]),
            Err(PacketError::Malformed { offset: 0, .. })
        ));
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
                reason: "packet cut short (snap length?)".into()
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

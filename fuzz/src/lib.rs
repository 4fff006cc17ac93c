//! Shared pieces of the fuzz targets: choosing a codec context from the input's first byte,
//! and wrapping bytes in BGP headers. (The `pcap` target uses `perouter-capture` directly.)

use perouter_bgp::wire::{AddPathFamilies, AfiSafi, WireContext};

/// The codec context selected by `selector`'s bits: bit 0 4-octet AS, bit 1 extended message,
/// bit 2/3/4 ADD-PATH for IPv4 unicast / IPv6 unicast / L2VPN EVPN, bit 5 session type known,
/// bit 6 iBGP. (fuzz/seed.sh prefixes seeds with 0x00 and 0x1d.)
pub fn context(selector: u8) -> WireContext {
    let bit = |n: u8| selector & (1 << n) != 0;
    let mut add_path = AddPathFamilies::none();
    for (n, family) in [
        (2, AfiSafi::IPV4_UNICAST),
        (3, AfiSafi::IPV6_UNICAST),
        (4, AfiSafi::L2VPN_EVPN),
    ] {
        if bit(n) {
            add_path.insert(family);
        }
    }
    WireContext {
        four_octet_as: bit(0),
        extended_message: bit(1),
        add_path,
        ibgp: bit(5).then_some(bit(6)),
    }
}

/// Splits the context selector off the front of a fuzz input.
pub fn split_context(data: &[u8]) -> Option<(WireContext, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((context(first), rest))
}

/// A whole BGP message of `message_type` around `body` (length saturating at 65535: the
/// parser must reject a length that disagrees with the bytes).
pub fn message(message_type: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).unwrap_or(u16::MAX);
    v.extend_from_slice(&len.to_be_bytes());
    v.push(message_type);
    v.extend_from_slice(body);
    v
}

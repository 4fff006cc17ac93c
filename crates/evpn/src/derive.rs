//! Automatic RD and RT derivation for EVPN instances (landscape pitfall 9).
//!
//! Two RT schemes are in use: FRR's default `ASN:VNI` (a 2-octet-AS RT whose
//! administrator is the low 16 bits of the AS, even for a 4-octet AS; vectors
//! README oddity 4), and the standard form of RFC 8365 §5.1.2.1 (what Junos
//! and FRR's `autort rfc8365-compatible` use), which also encodes the kind of
//! service ID in the local administrator.

use std::net::Ipv4Addr;

use crate::rd::RouteDistinguisher;
use crate::route_target::{RouteTarget, RouteTargetMatch};

/// FRR's auto-derived EVPN RT: `As2 { asn: low 16 bits of asn, number: vni }`.
///
/// FRR truncates a 4-octet AS (AS 4200000001 gives `59905:VNI`); because
/// every leaf of an eBGP fabric has its own AS, importers use the `*:VNI`
/// wildcard ([`wildcard_import`]).
pub fn frr_auto_route_target(asn: u32, vni: u32) -> RouteTarget {
    RouteTarget::As2 {
        asn: (asn & 0xffff) as u16,
        number: vni,
    }
}

/// The import rule matching any administrator with this VNI (`*:VNI`).
pub fn wildcard_import(vni: u32) -> RouteTargetMatch {
    RouteTargetMatch::AnyAsn { number: vni }
}

/// The "Type" field of an RFC 8365 §5.1.2.1 auto-derived RT: what the service ID is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AutoRtServiceType {
    /// 0: a 12-bit 802.1Q VLAN ID.
    Vid = 0,
    /// 1: a 24-bit VXLAN VNI.
    Vxlan = 1,
    /// 2: a 24-bit NVGRE VSID.
    Nvgre = 2,
    /// 3: a 24-bit 802.1ah I-SID.
    Isid = 3,
    /// 4: an EVI.
    Evi = 4,
    /// 5: a dual VID (QinQ).
    DualVid = 5,
}

/// The RT of RFC 8365 §5.1.2.1: a 2-octet-AS RT whose global administrator
/// is the AS (the low 16 bits of a 4-octet AS, as FRR does, since this RT
/// format has room for 16 bits only) and whose 4-octet local administrator is
///
/// ```text
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |A| TYPE| D-ID  |            Service ID (24 bits)               |
/// ```
///
/// with A = 0 (auto-derived), the service type, the 4-bit domain ID and the
/// 24-bit service ID (the VNI for [`AutoRtServiceType::Vxlan`]).
/// `None` if `service_id` exceeds 24 bits or `domain_id` exceeds 4 bits.
pub fn rfc8365_route_target(
    asn: u32,
    service_id: u32,
    service_type: AutoRtServiceType,
    domain_id: u8,
) -> Option<RouteTarget> {
    if service_id > 0x00ff_ffff || domain_id > 0x0f {
        return None;
    }
    let first = ((service_type as u8) << 4) | domain_id;
    Some(RouteTarget::As2 {
        asn: (asn & 0xffff) as u16,
        number: (u32::from(first) << 24) | service_id,
    })
}

/// The auto-derived EVPN RD of RFC 7432 §7.9: type 1, `router-id:index`,
/// where the index is unique per EVI on this PE and must stay stable across
/// restarts (FRR numbers its VNIs and VRFs from 1).
pub fn auto_route_distinguisher(router_id: Ipv4Addr, index: u16) -> RouteDistinguisher {
    RouteDistinguisher::Ipv4 {
        addr: router_id,
        number: index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_form_with_a_four_octet_as() {
        // Vectors README oddity 4: AS 4200000001, VNI 10 -> RT:59905:10 (00 02 e901 0000000a).
        let rt = frr_auto_route_target(4_200_000_001, 10);
        assert_eq!(rt.to_string(), "59905:10");
        assert_eq!(
            rt.to_ext_community(),
            [0x00, 0x02, 0xea, 0x01, 0, 0, 0, 0x0a]
        );
        assert_eq!(
            frr_auto_route_target(4_200_000_001, 1000).to_string(),
            "59905:1000"
        );
        assert_eq!(frr_auto_route_target(64512, 100).to_string(), "64512:100");
        assert!(wildcard_import(10).matches(&rt));
        assert!(wildcard_import(10).matches(&frr_auto_route_target(4_200_000_002, 10)));
    }

    #[test]
    fn rfc8365_form() {
        // A=0, type 1 (VXLAN), D-ID 0, VNI 10 -> local admin 0x1000000a.
        let rt = rfc8365_route_target(65001, 10, AutoRtServiceType::Vxlan, 0).unwrap();
        assert_eq!(
            rt,
            RouteTarget::As2 {
                asn: 65001,
                number: 0x1000_000a
            }
        );
        assert_eq!(
            rt.to_ext_community(),
            [0x00, 0x02, 0xfd, 0xe9, 0x10, 0x00, 0x00, 0x0a]
        );
        let rt =
            rfc8365_route_target(4_200_000_001, 0xabcdef, AutoRtServiceType::Nvgre, 5).unwrap();
        assert_eq!(
            rt,
            RouteTarget::As2 {
                asn: 59905,
                number: 0x25ab_cdef
            }
        );
        assert_eq!(
            rfc8365_route_target(1, 0x0100_0000, AutoRtServiceType::Vxlan, 0),
            None
        );
        assert_eq!(
            rfc8365_route_target(1, 1, AutoRtServiceType::Vxlan, 16),
            None
        );
    }

    #[test]
    fn type1_rd() {
        let rd = auto_route_distinguisher(Ipv4Addr::new(192, 0, 2, 1), 2);
        assert_eq!(rd.to_string(), "192.0.2.1:2");
        assert_eq!(
            rd.to_bytes(),
            [0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x02]
        );
    }
}

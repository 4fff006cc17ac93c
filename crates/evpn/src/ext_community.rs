//! Typed views of the extended communities EVPN uses (8-octet communities,
//! RFC 4360). Anything that is not one of these, or that uses reserved bits
//! this crate would not re-emit identically, is left to the caller to keep raw.

use serde::{Deserialize, Serialize};

use crate::label::Label;
use crate::mac::MacAddress;

/// Transitive opaque extended community type (RFC 4360 §3.3).
const TYPE_OPAQUE: u8 = 0x03;
/// EVPN extended community type (RFC 7432 §7).
const TYPE_EVPN: u8 = 0x06;

const SUBTYPE_ENCAPSULATION: u8 = 0x0c;
const SUBTYPE_DEFAULT_GATEWAY: u8 = 0x0d;
const SUBTYPE_MAC_MOBILITY: u8 = 0x00;
const SUBTYPE_ESI_LABEL: u8 = 0x01;
const SUBTYPE_ES_IMPORT: u8 = 0x02;
const SUBTYPE_ROUTER_MAC: u8 = 0x03;
const SUBTYPE_DF_ELECTION: u8 = 0x06;
const SUBTYPE_ND: u8 = 0x08;

/// Tunnel type 8 of the Encapsulation community: VXLAN (RFC 9012 §4.1, RFC 8365 §5.1.3).
pub const TUNNEL_TYPE_VXLAN: u16 = 8;
/// Tunnel type 10 of the Encapsulation community: MPLS (RFC 9012 §4.1).
pub const TUNNEL_TYPE_MPLS: u16 = 10;

/// A typed EVPN-related extended community.
///
/// [`EvpnExtCommunity::from_bytes`] and [`EvpnExtCommunity::to_bytes`] are
/// exact inverses: `from_bytes` returns `None` for anything it could not
/// re-emit byte for byte (reserved bits set), so that the caller keeps such a
/// community raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "name", content = "value", rename_all = "snake_case")]
pub enum EvpnExtCommunity {
    /// Encapsulation (type 0x03, sub-type 0x0c; RFC 9012 §4.1): tells how the
    /// label fields are read; [`TUNNEL_TYPE_VXLAN`] means they carry VNIs.
    Encapsulation {
        /// IANA BGP tunnel type (8 = VXLAN).
        tunnel_type: u16,
    },
    /// EVPN Router's MAC (type 0x06, sub-type 0x03; RFC 9135 §8.1): the inner
    /// destination MAC for symmetric IRB, carried on type-2 and type-5 routes.
    RouterMac(MacAddress),
    /// MAC Mobility (type 0x06, sub-type 0x00; RFC 7432 §7.7).
    MacMobility {
        /// The sticky/static flag: the MAC must not move.
        sticky: bool,
        /// Sequence number ordering MAC moves.
        sequence: u32,
    },
    /// ESI Label (type 0x06, sub-type 0x01; RFC 7432 §7.5), on per-ES A-D routes.
    EsiLabel {
        /// Single-active redundancy mode (else all-active).
        single_active: bool,
        /// The ESI label (for VXLAN: a VNI in all 24 bits).
        label: Label,
    },
    /// ES-Import Route Target (type 0x06, sub-type 0x02; RFC 7432 §7.6), on type-4 routes.
    EsImportRouteTarget(MacAddress),
    /// Default Gateway (type 0x03, sub-type 0x0d; RFC 7432 §7.8): the MAC/IP
    /// route is a gateway's. The value is reserved (zero).
    DefaultGateway,
    /// DF Election (type 0x06, sub-type 0x06; RFC 8584 §2.2), with the DF
    /// preference of preference-based election (draft-ietf-bess-evpn-pref-df) in the last two octets.
    DfElection {
        /// DF election algorithm, 5 bits (0 default, 1 HRW, 2 preference).
        algorithm: u8,
        /// Capabilities bitmap (RFC 8584 §2.2).
        capabilities: u16,
        /// The octet before the preference (reserved, kept as received).
        reserved: u8,
        /// DF preference (draft-ietf-bess-evpn-pref-df) or reserved octets, kept as received.
        preference: u16,
    },
    /// EVPN ARP/ND flags (type 0x06, sub-type 0x08; RFC 9047 §2).
    NdFlags {
        /// The flags octet; see the `ND_FLAG_*` constants.
        flags: u8,
    },
}

/// ND flag R: the IPv6 address belongs to a router (RFC 9047 §2).
pub const ND_FLAG_ROUTER: u8 = 0x01;
/// ND flag O: override (RFC 9047 §2).
pub const ND_FLAG_OVERRIDE: u8 = 0x02;
/// Proxy flag FRR sets for proxy-advertised entries (draft-rbickhart-evpn-ip-mac-proxy-adv).
pub const ND_FLAG_PROXY: u8 = 0x04;
/// ND flag I: immutable ARP/ND binding (RFC 9047 §2).
pub const ND_FLAG_IMMUTABLE: u8 = 0x08;

fn mac_at(b: &[u8; 8]) -> MacAddress {
    MacAddress([b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl EvpnExtCommunity {
    /// Reads one of the typed communities from its 8 octets; `None` if it is
    /// another community or has reserved bits set that would not round-trip.
    pub fn from_bytes(b: &[u8; 8]) -> Option<Self> {
        match (b[0], b[1]) {
            (TYPE_OPAQUE, SUBTYPE_ENCAPSULATION) if b[2..6] == [0; 4] => {
                Some(EvpnExtCommunity::Encapsulation {
                    tunnel_type: u16::from_be_bytes([b[6], b[7]]),
                })
            }
            (TYPE_OPAQUE, SUBTYPE_DEFAULT_GATEWAY) if b[2..] == [0; 6] => {
                Some(EvpnExtCommunity::DefaultGateway)
            }
            (TYPE_EVPN, SUBTYPE_ROUTER_MAC) => Some(EvpnExtCommunity::RouterMac(mac_at(b))),
            (TYPE_EVPN, SUBTYPE_ES_IMPORT) => {
                Some(EvpnExtCommunity::EsImportRouteTarget(mac_at(b)))
            }
            (TYPE_EVPN, SUBTYPE_MAC_MOBILITY) if b[2] & !1 == 0 && b[3] == 0 => {
                Some(EvpnExtCommunity::MacMobility {
                    sticky: b[2] & 1 == 1,
                    sequence: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                })
            }
            (TYPE_EVPN, SUBTYPE_ESI_LABEL) if b[2] & !1 == 0 && b[3..5] == [0; 2] => {
                Some(EvpnExtCommunity::EsiLabel {
                    single_active: b[2] & 1 == 1,
                    label: Label([b[5], b[6], b[7]]),
                })
            }
            (TYPE_EVPN, SUBTYPE_DF_ELECTION) if b[2] & 0xe0 == 0 => {
                Some(EvpnExtCommunity::DfElection {
                    algorithm: b[2],
                    capabilities: u16::from_be_bytes([b[3], b[4]]),
                    reserved: b[5],
                    preference: u16::from_be_bytes([b[6], b[7]]),
                })
            }
            (TYPE_EVPN, SUBTYPE_ND) if b[3..] == [0; 5] => {
                Some(EvpnExtCommunity::NdFlags { flags: b[2] })
            }
            _ => None,
        }
    }

    /// The 8 octets of the community. `DfElection::algorithm` is masked to
    /// its 5 bits (values above 31 are not representable on the wire).
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        match *self {
            EvpnExtCommunity::Encapsulation { tunnel_type } => {
                b[0] = TYPE_OPAQUE;
                b[1] = SUBTYPE_ENCAPSULATION;
                b[6..8].copy_from_slice(&tunnel_type.to_be_bytes());
            }
            EvpnExtCommunity::DefaultGateway => {
                b[0] = TYPE_OPAQUE;
                b[1] = SUBTYPE_DEFAULT_GATEWAY;
            }
            EvpnExtCommunity::RouterMac(mac) => {
                b[0] = TYPE_EVPN;
                b[1] = SUBTYPE_ROUTER_MAC;
                b[2..8].copy_from_slice(&mac.0);
            }
            EvpnExtCommunity::EsImportRouteTarget(mac) => {
                b[0] = TYPE_EVPN;
                b[1] = SUBTYPE_ES_IMPORT;
                b[2..8].copy_from_slice(&mac.0);
            }
            EvpnExtCommunity::MacMobility { sticky, sequence } => {
                b[0] = TYPE_EVPN;
                b[1] = SUBTYPE_MAC_MOBILITY;
                b[2] = u8::from(sticky);
                b[4..8].copy_from_slice(&sequence.to_be_bytes());
            }
            EvpnExtCommunity::EsiLabel {
                single_active,
                label,
            } => {
                b[0] = TYPE_EVPN;
                b[1] = SUBTYPE_ESI_LABEL;
                b[2] = u8::from(single_active);
                b[5..8].copy_from_slice(&label.0);
            }
            EvpnExtCommunity::DfElection {
                algorithm,
                capabilities,
                reserved,
                preference,
            } => {
                b[0] = TYPE_EVPN;
                b[1] = SUBTYPE_DF_ELECTION;
                b[2] = algorithm & 0x1f;
                b[3..5].copy_from_slice(&capabilities.to_be_bytes());
                b[5] = reserved;
                b[6..8].copy_from_slice(&preference.to_be_bytes());
            }
            EvpnExtCommunity::NdFlags { flags } => {
                b[0] = TYPE_EVPN;
                b[1] = SUBTYPE_ND;
                b[2] = flags;
            }
        }
        b
    }

    /// True for an Encapsulation community with tunnel type VXLAN: the
    /// route's label fields then carry VNIs (RFC 8365 §5.1.3).
    pub fn is_vxlan_encapsulation(&self) -> bool {
        matches!(
            self,
            EvpnExtCommunity::Encapsulation {
                tunnel_type: TUNNEL_TYPE_VXLAN
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(b: [u8; 8], want: EvpnExtCommunity) {
        let got = EvpnExtCommunity::from_bytes(&b).expect("typed");
        assert_eq!(got, want);
        assert_eq!(got.to_bytes(), b);
        let json = serde_json::to_string(&got).unwrap();
        assert_eq!(
            serde_json::from_str::<EvpnExtCommunity>(&json).unwrap(),
            got
        );
    }

    #[test]
    fn real_communities_from_the_vectors() {
        // FRR/GoBGP VXLAN encapsulation: 03 0c 00000000 0008.
        round_trip(
            [0x03, 0x0c, 0, 0, 0, 0, 0x00, 0x08],
            EvpnExtCommunity::Encapsulation {
                tunnel_type: TUNNEL_TYPE_VXLAN,
            },
        );
        assert!(
            EvpnExtCommunity::from_bytes(&[0x03, 0x0c, 0, 0, 0, 0, 0x00, 0x08])
                .unwrap()
                .is_vxlan_encapsulation()
        );
        // FRR Router MAC 02:aa:00:00:10:00.
        round_trip(
            [0x06, 0x03, 0x02, 0xaa, 0x00, 0x00, 0x10, 0x00],
            EvpnExtCommunity::RouterMac(MacAddress([0x02, 0xaa, 0x00, 0x00, 0x10, 0x00])),
        );
        // FRR ES-Import RT 44:38:39:ff:ff:01.
        round_trip(
            [0x06, 0x02, 0x44, 0x38, 0x39, 0xff, 0xff, 0x01],
            EvpnExtCommunity::EsImportRouteTarget(MacAddress([0x44, 0x38, 0x39, 0xff, 0xff, 0x01])),
        );
        // FRR DF election: alg 2 (preference), pref 32767 -> 06 06 02 0000 00 7fff.
        round_trip(
            [0x06, 0x06, 0x02, 0x00, 0x00, 0x00, 0x7f, 0xff],
            EvpnExtCommunity::DfElection {
                algorithm: 2,
                capabilities: 0,
                reserved: 0,
                preference: 32767,
            },
        );
        // GoBGP `esi-label 300`: 06 01 00 0000 00012c.
        let esi_label = [0x06, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x2c];
        round_trip(
            esi_label,
            EvpnExtCommunity::EsiLabel {
                single_active: false,
                label: Label::from_vni(300),
            },
        );
        // FRR Default Gateway: 03 0d 000000000000.
        round_trip(
            [0x03, 0x0d, 0, 0, 0, 0, 0, 0],
            EvpnExtCommunity::DefaultGateway,
        );
        // FRR ND router flag: 06 08 01 00 00000000.
        round_trip(
            [0x06, 0x08, 0x01, 0, 0, 0, 0, 0],
            EvpnExtCommunity::NdFlags {
                flags: ND_FLAG_ROUTER,
            },
        );
    }

    #[test]
    fn mac_mobility_and_single_active() {
        round_trip(
            [0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00],
            EvpnExtCommunity::MacMobility {
                sticky: true,
                sequence: 256,
            },
        );
        round_trip(
            [0x06, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff],
            EvpnExtCommunity::MacMobility {
                sticky: false,
                sequence: u32::MAX,
            },
        );
        round_trip(
            [0x06, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x0a],
            EvpnExtCommunity::EsiLabel {
                single_active: true,
                label: Label::from_vni(10),
            },
        );
    }

    #[test]
    fn reserved_bits_are_left_raw() {
        for b in [
            [0x03, 0x0c, 0, 0, 0, 1, 0, 8],     // encapsulation reserved
            [0x03, 0x0d, 0, 0, 0, 0, 0, 1],     // default gateway value
            [0x06, 0x00, 0x02, 0, 0, 0, 0, 1],  // MAC mobility unknown flag
            [0x06, 0x00, 0x00, 1, 0, 0, 0, 1],  // MAC mobility reserved octet
            [0x06, 0x01, 0x80, 0, 0, 0, 0, 1],  // ESI label unknown flag
            [0x06, 0x01, 0x00, 0, 1, 0, 0, 1],  // ESI label reserved
            [0x06, 0x06, 0x22, 0, 0, 0, 0, 0],  // DF election RSV bits
            [0x06, 0x08, 0x01, 1, 0, 0, 0, 0],  // ND reserved
            [0x06, 0x04, 0, 0, 0, 0, 0, 0],     // unknown EVPN sub-type
            [0x00, 0x02, 0xfc, 0, 0, 0, 0, 10], // a route target
        ] {
            assert_eq!(EvpnExtCommunity::from_bytes(&b), None, "{b:02x?}");
        }
    }
}

//! BGP capabilities (RFC 5492) carried in OPEN.
//!
//! Every capability round-trips byte for byte: a capability whose value does
//! not have the form its RFC defines (wrong length, non-zero reserved byte,
//! non-UTF-8 FQDN) is kept as [`Capability::Unknown`] with its raw value, so
//! it is shown and re-emitted exactly but never negotiated.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::cursor::Cursor;
use super::error::EmitError;
use super::family::{Afi, AfiSafi};
use super::hex::serialize_hex;

/// Capability codes (IANA "Capability Codes").
pub mod code {
    /// Multiprotocol extensions (RFC 4760 §8).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Extended next hop encoding (RFC 8950).
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// Extended message (RFC 8654).
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// BGP role (RFC 9234).
    pub const ROLE: u8 = 9;
    /// Graceful restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// 4-octet AS numbers (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
    /// ADD-PATH (RFC 7911).
    pub const ADD_PATH: u8 = 69;
    /// Enhanced route refresh (RFC 7313).
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    /// Long-lived graceful restart (RFC 9494).
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    /// FQDN / hostname (draft-walton-bgp-hostname-capability).
    pub const FQDN: u8 = 73;
    /// Pre-standard Cisco route refresh.
    pub const ROUTE_REFRESH_CISCO: u8 = 128;
}

/// ADD-PATH send/receive mode for one family (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AddPathMode {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
    /// Any other value (the family is then not negotiated, RFC 7911 §4).
    Other(u8),
}

impl AddPathMode {
    /// Decodes the mode byte.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => AddPathMode::Receive,
            2 => AddPathMode::Send,
            3 => AddPathMode::Both,
            other => AddPathMode::Other(other),
        }
    }

    /// Encodes the mode byte.
    pub fn to_u8(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
            AddPathMode::Other(v) => v,
        }
    }

    /// True for send or both.
    pub fn can_send(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }

    /// True for receive or both.
    pub fn can_receive(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
}

/// A BGP role (RFC 9234 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BgpRole {
    /// 0: provider.
    Provider,
    /// 1: route server.
    RouteServer,
    /// 2: route server client.
    RouteServerClient,
    /// 3: customer.
    Customer,
    /// 4: lateral peer.
    Peer,
    /// Any other value.
    Unknown(u8),
}

impl BgpRole {
    /// Decodes the role byte.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => BgpRole::Provider,
            1 => BgpRole::RouteServer,
            2 => BgpRole::RouteServerClient,
            3 => BgpRole::Customer,
            4 => BgpRole::Peer,
            other => BgpRole::Unknown(other),
        }
    }

    /// Encodes the role byte.
    pub fn to_u8(self) -> u8 {
        match self {
            BgpRole::Provider => 0,
            BgpRole::RouteServer => 1,
            BgpRole::RouteServerClient => 2,
            BgpRole::Customer => 3,
            BgpRole::Peer => 4,
            BgpRole::Unknown(v) => v,
        }
    }
}

/// The graceful restart capability value (RFC 4724 §3). Flag bits are kept
/// raw (including reserved ones) so the capability round-trips.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct GracefulRestart {
    /// The 4 high bits of the first 2 bytes, in place (0x80 = Restart State,
    /// 0x40 = Graceful Notification per RFC 8538); low 4 bits unused.
    pub restart_flags: u8,
    /// Restart time in seconds (12 bits, 0..=4095).
    pub restart_time: u16,
    /// Per family: the family and its flags byte (0x80 = forwarding state preserved).
    pub families: Vec<(AfiSafi, u8)>,
}

impl GracefulRestart {
    /// The Restart State (R) bit: the sender has restarted (RFC 4724 §3).
    pub fn restart_state(&self) -> bool {
        self.restart_flags & 0x80 != 0
    }

    /// The Graceful Notification (N) bit (RFC 8538 §2).
    pub fn notification(&self) -> bool {
        self.restart_flags & 0x40 != 0
    }

    /// Whether forwarding state was preserved for `family` (RFC 4724 §3);
    /// `None` if the family is not listed.
    pub fn forwarding_preserved(&self, family: AfiSafi) -> Option<bool> {
        self.families
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, flags)| flags & 0x80 != 0)
    }
}

/// One family of the long-lived graceful restart capability (RFC 9494 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LlgrFamily {
    /// The family.
    pub family: AfiSafi,
    /// Flags (0x80 = forwarding state preserved).
    pub flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// A capability (RFC 5492 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "name", content = "value", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Capability {
    /// 1: multiprotocol extensions for a family (RFC 4760 §8).
    MultiProtocol(AfiSafi),
    /// 2: route refresh (RFC 2918).
    RouteRefresh,
    /// 128: pre-standard Cisco route refresh.
    RouteRefreshCisco,
    /// 70: enhanced route refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// 65: 4-octet AS number (RFC 6793 §3).
    FourOctetAs(u32),
    /// 64: graceful restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// 71: long-lived graceful restart (RFC 9494).
    LongLivedGracefulRestart(Vec<LlgrFamily>),
    /// 69: ADD-PATH (RFC 7911 §4).
    AddPath(Vec<(AfiSafi, AddPathMode)>),
    /// 6: extended message (RFC 8654).
    ExtendedMessage,
    /// 5: extended next hop encoding: (NLRI family, next hop AFI) (RFC 8950 §3).
    ExtendedNextHop(Vec<(AfiSafi, Afi)>),
    /// 73: FQDN / hostname.
    Fqdn {
        /// Host name.
        hostname: String,
        /// Domain name (may be empty).
        domain: String,
    },
    /// 9: BGP role (RFC 9234 §4.1).
    Role(BgpRole),
    /// Any other capability, or a known one whose value is malformed.
    Unknown {
        /// Capability code.
        code: u8,
        /// Raw value.
        #[serde(serialize_with = "serialize_hex")]
        value: Bytes,
    },
}

impl Capability {
    /// A short name for `show` (`route-refresh`, `mp ipv4-unicast`, `capability-N` for unknown
    /// codes), as vtysh lists a neighbour's received capabilities.
    pub fn name(&self) -> String {
        match self {
            Capability::MultiProtocol(f) => format!("mp {f}"),
            Capability::RouteRefresh => "route-refresh".into(),
            Capability::RouteRefreshCisco => "route-refresh-cisco".into(),
            Capability::EnhancedRouteRefresh => "enhanced-route-refresh".into(),
            Capability::FourOctetAs(a) => format!("4-octet-as {a}"),
            Capability::GracefulRestart(g) => format!("graceful-restart {}s", g.restart_time),
            Capability::LongLivedGracefulRestart(_) => "long-lived-graceful-restart".into(),
            Capability::AddPath(v) => format!(
                "add-path {}",
                v.iter()
                    .map(|(f, m)| format!("{f}:{m:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Capability::ExtendedMessage => "extended-message".into(),
            Capability::ExtendedNextHop(v) => format!(
                "extended-nexthop {}",
                v.iter()
                    .map(|(f, a)| format!("{f}/{a:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Capability::Fqdn { hostname, .. } => format!("hostname {hostname}"),
            Capability::Role(r) => format!("role {r:?}").to_lowercase(),
            Capability::Unknown { code, .. } => format!("capability-{code}"),
        }
    }

    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::MultiProtocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::RouteRefreshCisco => code::ROUTE_REFRESH_CISCO,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::LongLivedGracefulRestart(_) => code::LONG_LIVED_GRACEFUL_RESTART,
            Capability::AddPath(_) => code::ADD_PATH,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::Fqdn { .. } => code::FQDN,
            Capability::Role(_) => code::ROLE,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Decodes a capability value. Never fails: a malformed value yields
    /// [`Capability::Unknown`].
    pub fn from_value(code: u8, value: Bytes) -> Capability {
        Self::typed(code, &value).unwrap_or(Capability::Unknown { code, value })
    }

    fn typed(code: u8, value: &Bytes) -> Option<Capability> {
        let mut c = Cursor::new(value.clone(), 0);
        let cap = match code {
            code::MULTIPROTOCOL => {
                let afi = c.u16().ok()?;
                if c.u8().ok()? != 0 {
                    return None;
                }
                let safi = c.u8().ok()?;
                Capability::MultiProtocol(AfiSafi::from_wire(afi, safi))
            }
            code::ROUTE_REFRESH => Capability::RouteRefresh,
            code::ROUTE_REFRESH_CISCO => Capability::RouteRefreshCisco,
            code::ENHANCED_ROUTE_REFRESH => Capability::EnhancedRouteRefresh,
            code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
            code::FOUR_OCTET_AS => Capability::FourOctetAs(c.u32().ok()?),
            code::ROLE => Capability::Role(BgpRole::from_u8(c.u8().ok()?)),
            code::GRACEFUL_RESTART => {
                let head = c.u16().ok()?;
                let mut families = Vec::new();
                while !c.is_empty() {
                    let afi = c.u16().ok()?;
                    let safi = c.u8().ok()?;
                    let flags = c.u8().ok()?;
                    families.push((AfiSafi::from_wire(afi, safi), flags));
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_flags: (head >> 8) as u8 & 0xf0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            code::LONG_LIVED_GRACEFUL_RESTART => {
                let mut families = Vec::new();
                while !c.is_empty() {
                    let afi = c.u16().ok()?;
                    let safi = c.u8().ok()?;
                    let flags = c.u8().ok()?;
                    let stale_time = c.u24().ok()?;
                    families.push(LlgrFamily {
                        family: AfiSafi::from_wire(afi, safi),
                        flags,
                        stale_time,
                    });
                }
                Capability::LongLivedGracefulRestart(families)
            }
            code::ADD_PATH => {
                let mut families = Vec::new();
                while !c.is_empty() {
                    let afi = c.u16().ok()?;
                    let safi = c.u8().ok()?;
                    let mode = AddPathMode::from_u8(c.u8().ok()?);
                    families.push((AfiSafi::from_wire(afi, safi), mode));
                }
                Capability::AddPath(families)
            }
            code::EXTENDED_NEXT_HOP => {
                let mut families = Vec::new();
                while !c.is_empty() {
                    let afi = c.u16().ok()?;
                    let safi = u8::try_from(c.u16().ok()?).ok()?;
                    let nh_afi = Afi::from_u16(c.u16().ok()?);
                    families.push((AfiSafi::from_wire(afi, safi), nh_afi));
                }
                Capability::ExtendedNextHop(families)
            }
            code::FQDN => {
                let hl = c.u8().ok()?;
                let host = c.take(usize::from(hl)).ok()?;
                let dl = c.u8().ok()?;
                let domain = c.take(usize::from(dl)).ok()?;
                Capability::Fqdn {
                    hostname: String::from_utf8(host.to_vec()).ok()?,
                    domain: String::from_utf8(domain.to_vec()).ok()?,
                }
            }
            _ => return None,
        };
        if c.is_empty() {
            Some(cap)
        } else {
            None
        }
    }

    /// Writes the capability TLV (code, length, value).
    pub fn emit(&self, out: &mut BytesMut) -> Result<(), EmitError> {
        out.put_u8(self.code());
        let at = out.len();
        out.put_u8(0);
        match self {
            Capability::MultiProtocol(f) => {
                out.put_u16(f.afi.to_u16());
                out.put_u8(0);
                out.put_u8(f.safi.to_u8());
            }
            Capability::RouteRefresh
            | Capability::RouteRefreshCisco
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => out.put_u32(*asn),
            Capability::Role(r) => out.put_u8(r.to_u8()),
            Capability::GracefulRestart(gr) => {
                out.put_u16((u16::from(gr.restart_flags & 0xf0) << 8) | (gr.restart_time & 0x0fff));
                for (f, flags) in &gr.families {
                    out.put_u16(f.afi.to_u16());
                    out.put_u8(f.safi.to_u8());
                    out.put_u8(*flags);
                }
            }
            Capability::LongLivedGracefulRestart(fams) => {
                for f in fams {
                    out.put_u16(f.family.afi.to_u16());
                    out.put_u8(f.family.safi.to_u8());
                    out.put_u8(f.flags);
                    out.put_slice(&(f.stale_time & 0x00ff_ffff).to_be_bytes()[1..]);
                }
            }
            Capability::AddPath(fams) => {
                for (f, mode) in fams {
                    out.put_u16(f.afi.to_u16());
                    out.put_u8(f.safi.to_u8());
                    out.put_u8(mode.to_u8());
                }
            }
            Capability::ExtendedNextHop(fams) => {
                for (f, nh) in fams {
                    out.put_u16(f.afi.to_u16());
                    out.put_u16(u16::from(f.safi.to_u8()));
                    out.put_u16(nh.to_u16());
                }
            }
            Capability::Fqdn { hostname, domain } => {
                for s in [hostname, domain] {
                    let len = u8::try_from(s.len()).map_err(|_| EmitError::FieldTooLong {
                        field: "FQDN capability name",
                        length: s.len(),
                        max: 255,
                    })?;
                    out.put_u8(len);
                    out.put_slice(s.as_bytes());
                }
            }
            Capability::Unknown { value, .. } => out.put_slice(value),
        }
        let len = out.len() - at - 1;
        out[at] = u8::try_from(len).map_err(|_| EmitError::FieldTooLong {
            field: "capability value",
            length: len,
            max: 255,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(code: u8, value: &[u8]) -> Capability {
        let cap = Capability::from_value(code, Bytes::copy_from_slice(value));
        let mut out = BytesMut::new();
        cap.emit(&mut out).unwrap();
        assert_eq!(out[0], code);
        assert_eq!(usize::from(out[1]), value.len());
        assert_eq!(&out[2..], value, "{cap:?}");
        cap
    }

    #[test]
    fn typed_capabilities_round_trip() {
        assert_eq!(
            round_trip(1, &[0, 25, 0, 70]),
            Capability::MultiProtocol(AfiSafi::L2VPN_EVPN)
        );
        assert_eq!(
            round_trip(65, &[0xfa, 0x56, 0xea, 0x01]),
            Capability::FourOctetAs(4200000001)
        );
        assert_eq!(round_trip(9, &[0]), Capability::Role(BgpRole::Provider));
        assert_eq!(round_trip(2, &[]), Capability::RouteRefresh);
        assert_eq!(round_trip(128, &[]), Capability::RouteRefreshCisco);
        assert_eq!(round_trip(70, &[]), Capability::EnhancedRouteRefresh);
        assert_eq!(round_trip(6, &[]), Capability::ExtendedMessage);
        let gr = round_trip(64, &[0xc0, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0]);
        let Capability::GracefulRestart(gr) = gr else {
            panic!()
        };
        assert!(gr.restart_state() && gr.notification());
        assert_eq!(gr.restart_time, 120);
        assert_eq!(gr.forwarding_preserved(AfiSafi::IPV4_UNICAST), Some(true));
        assert_eq!(gr.forwarding_preserved(AfiSafi::IPV6_UNICAST), Some(false));
        assert_eq!(gr.forwarding_preserved(AfiSafi::L2VPN_EVPN), None);
        // BIRD's GR with no families (README oddity 13).
        assert!(
            matches!(round_trip(64, &[0, 0x78]), Capability::GracefulRestart(g) if g.families.is_empty())
        );
        assert_eq!(
            round_trip(69, &[0, 1, 1, 3, 0, 25, 70, 1]),
            Capability::AddPath(vec![
                (AfiSafi::IPV4_UNICAST, AddPathMode::Both),
                (AfiSafi::L2VPN_EVPN, AddPathMode::Receive)
            ])
        );
        assert_eq!(
            round_trip(5, &[0, 1, 0, 1, 0, 2]),
            Capability::ExtendedNextHop(vec![(AfiSafi::IPV4_UNICAST, Afi::Ipv6)])
        );
        assert_eq!(
            round_trip(71, &[0, 1, 1, 0x80, 0, 0x0e, 0x10]),
            Capability::LongLivedGracefulRestart(vec![LlgrFamily {
                family: AfiSafi::IPV4_UNICAST,
                flags: 0x80,
                stale_time: 3600
            }])
        );
        assert_eq!(
            round_trip(73, b"\x06frr-fg\x0fvectors.example"),
            Capability::Fqdn {
                hostname: "frr-fg".into(),
                domain: "vectors.example".into()
            }
        );
    }

    #[test]
    fn malformed_known_capabilities_stay_raw() {
        for (code, v) in [
            (1u8, &[0u8, 1, 1, 1][..]), // reserved byte non-zero
            (1, &[0, 1, 0]),
            (65, &[0, 0, 1]),
            (2, &[1]),
            (64, &[0, 0x78, 0, 1, 1]),
            (73, &[3, b'a']),
            (73, &[1, 0xff, 0]),
            (5, &[0, 1, 1, 0, 0, 2]), // SAFI > 255
            (9, &[]),
        ] {
            assert!(
                matches!(round_trip(code, v), Capability::Unknown { code: c, .. } if c == code),
                "code {code} value {v:?}"
            );
        }
    }

    #[test]
    fn overlong_value_is_an_emit_error() {
        let cap = Capability::Unknown {
            code: 200,
            value: Bytes::from(vec![0u8; 256]),
        };
        assert!(matches!(
            cap.emit(&mut BytesMut::new()),
            Err(EmitError::FieldTooLong { .. })
        ));
    }
}

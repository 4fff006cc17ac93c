//! The PMSI Tunnel attribute (RFC 6514 §5) as used by EVPN type-3 routes
//! (RFC 7432 §11.2, RFC 8365 §5.1.3).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};
use serde::{Deserialize, Serialize};

use crate::error::{EvpnError, EvpnErrorKind};
use crate::label::Label;

/// Tunnel type 6: Ingress Replication (RFC 6514 §5).
pub const TUNNEL_TYPE_INGRESS_REPLICATION: u8 = 6;

/// The value of a PMSI Tunnel path attribute (attribute type 22, RFC 6514 §5):
///
/// ```text
/// +---------------------------------+
/// |  Flags (1 octet)                |
/// +---------------------------------+
/// |  Tunnel Type (1 octet)          |
/// +---------------------------------+
/// |  MPLS Label (3 octets)          |
/// +---------------------------------+
/// |  Tunnel Identifier (variable)   |
/// +---------------------------------+
/// ```
///
/// For VXLAN the label carries the VNI in all 24 bits (RFC 8365 §5.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PmsiTunnel {
    /// Flags (bit 0x01: leaf information required).
    pub flags: u8,
    /// Tunnel type (6 = ingress replication).
    pub tunnel_type: u8,
    /// MPLS label / VNI.
    pub label: Label,
    /// Tunnel identifier.
    pub tunnel_id: PmsiTunnelId,
}

/// The tunnel identifier of a PMSI Tunnel attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PmsiTunnelId {
    /// Tunnel type 6: the unicast address of the replicating PE (RFC 6514 §5,
    /// RFC 7432 §11.2). Only produced when `tunnel_type` is 6.
    IngressReplication(IpAddr),
    /// Any other tunnel type's identifier, kept raw.
    Other(#[serde(with = "hex_bytes")] Bytes),
}

mod hex_bytes {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

impl PmsiTunnel {
    /// An ingress-replication PMSI for a type-3 route: flags 0, tunnel type 6,
    /// the VNI as label and the local VTEP address (what FRR and GoBGP send).
    pub fn ingress_replication(vtep: IpAddr, label: Label) -> Self {
        Self {
            flags: 0,
            tunnel_type: TUNNEL_TYPE_INGRESS_REPLICATION,
            label,
            tunnel_id: PmsiTunnelId::IngressReplication(vtep),
        }
    }

    /// Parses the attribute value (without the path attribute header). Error
    /// offsets are relative to `value`.
    pub fn parse(value: &[u8]) -> Result<Self, EvpnError> {
        let [flags, tunnel_type, l0, l1, l2, ref id @ ..] = *value else {
            return Err(EvpnError::new(
                0,
                EvpnErrorKind::PmsiLength { got: value.len() },
            ));
        };
        let tunnel_id = if tunnel_type == TUNNEL_TYPE_INGRESS_REPLICATION {
            let ip = if let Ok(a) = <[u8; 4]>::try_from(id) {
                IpAddr::V4(Ipv4Addr::from(a))
            } else if let Ok(a) = <[u8; 16]>::try_from(id) {
                IpAddr::V6(Ipv6Addr::from(a))
            } else {
                return Err(EvpnError::new(
                    5,
                    EvpnErrorKind::PmsiTunnelIdLength { got: id.len() },
                ));
            };
            PmsiTunnelId::IngressReplication(ip)
        } else {
            PmsiTunnelId::Other(Bytes::copy_from_slice(id))
        };
        Ok(Self {
            flags,
            tunnel_type,
            label: Label([l0, l1, l2]),
            tunnel_id,
        })
    }

    /// Writes the attribute value.
    pub fn emit(&self, out: &mut impl BufMut) {
        out.put_u8(self.flags);
        out.put_u8(self.tunnel_type);
        out.put_slice(&self.label.0);
        match &self.tunnel_id {
            PmsiTunnelId::IngressReplication(IpAddr::V4(a)) => out.put_slice(&a.octets()),
            PmsiTunnelId::IngressReplication(IpAddr::V6(a)) => out.put_slice(&a.octets()),
            PmsiTunnelId::Other(b) => out.put_slice(b),
        }
    }

    /// Octets [`PmsiTunnel::emit`] writes.
    pub fn encoded_len(&self) -> usize {
        5 + match &self.tunnel_id {
            PmsiTunnelId::IngressReplication(IpAddr::V4(_)) => 4,
            PmsiTunnelId::IngressReplication(IpAddr::V6(_)) => 16,
            PmsiTunnelId::Other(b) => b.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitted(p: &PmsiTunnel) -> Vec<u8> {
        let mut v = Vec::new();
        p.emit(&mut v);
        assert_eq!(v.len(), p.encoded_len());
        v
    }

    #[test]
    fn real_pmsi_values_from_the_vectors() {
        // FRR: flags 0, type 6, VNI 10, endpoint 198.51.100.1.
        let frr = [0x00, 0x06, 0x00, 0x00, 0x0a, 198, 51, 100, 1];
        let p = PmsiTunnel::parse(&frr).unwrap();
        assert_eq!(
            p,
            PmsiTunnel::ingress_replication("198.51.100.1".parse().unwrap(), Label::from_vni(10))
        );
        assert_eq!(emitted(&p), frr);
        // GoBGP: VNI 100, endpoint 198.51.100.2.
        let gobgp = [0x00, 0x06, 0x00, 0x00, 0x64, 198, 51, 100, 2];
        let p = PmsiTunnel::parse(&gobgp).unwrap();
        assert_eq!(p.label.vni(), 100);
        assert_eq!(emitted(&p), gobgp);
    }

    #[test]
    fn ipv6_and_other_tunnel_types() {
        let mut v6 = vec![0x01, 0x06, 0x00, 0x00, 0x0a];
        v6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        let p = PmsiTunnel::parse(&v6).unwrap();
        assert_eq!(
            p.tunnel_id,
            PmsiTunnelId::IngressReplication("2001:db8::1".parse().unwrap())
        );
        assert_eq!(emitted(&p), v6);
        let other = [0x00, 0x03, 0x00, 0x00, 0x00, 1, 2, 3, 4, 5, 6, 7, 8];
        let p = PmsiTunnel::parse(&other).unwrap();
        assert_eq!(
            p.tunnel_id,
            PmsiTunnelId::Other(Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8]))
        );
        assert_eq!(emitted(&p), other);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PmsiTunnel>(&json).unwrap(), p);
        // No tunnel identifier at all is fine for other types.
        let bare = [0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(emitted(&PmsiTunnel::parse(&bare).unwrap()), bare);
    }

    #[test]
    fn errors() {
        let e = PmsiTunnel::parse(&[0, 6, 0, 0]).unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(e.kind, EvpnErrorKind::PmsiLength { got: 4 });
        let e = PmsiTunnel::parse(&[0, 6, 0, 0, 10, 1, 2, 3]).unwrap_err();
        assert_eq!(e.offset, 5);
        assert_eq!(e.kind, EvpnErrorKind::PmsiTunnelIdLength { got: 3 });
    }
}

//! The 3-octet label field of EVPN routes and the Ethernet Tag ID.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 3-octet EVPN label field (RFC 7432 §7, RFC 8365 §5.1.3), kept exactly
/// as received so that emission is byte-identical.
///
/// With MPLS encapsulation the field holds a 20-bit MPLS label in its high
/// bits, then 3 traffic-class bits and the bottom-of-stack bit
/// ([`Label::mpls_label`], [`Label::bottom_of_stack`]). With a VXLAN
/// encapsulation (Encapsulation extended community, tunnel type 8; RFC 8365
/// §5.1.3) all 24 bits are the VNI ([`Label::vni`]). FRR and GoBGP both write
/// the VNI raw (vectors README oddity 1); which reading applies is decided by
/// the caller from the route's communities, never guessed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Label(pub [u8; 3]);

impl Label {
    /// The largest 24-bit VNI.
    pub const MAX_VNI: u32 = 0x00ff_ffff;
    /// The largest 20-bit MPLS label.
    pub const MAX_MPLS: u32 = 0x000f_ffff;

    /// A label field carrying a VXLAN VNI in all 24 bits (RFC 8365 §5.1.3).
    /// Bits above the low 24 are dropped; use [`Label::try_from_vni`] to reject them.
    pub const fn from_vni(vni: u32) -> Self {
        let b = vni.to_be_bytes();
        Label([b[1], b[2], b[3]])
    }

    /// Like [`Label::from_vni`] but `None` when `vni` does not fit in 24 bits.
    pub const fn try_from_vni(vni: u32) -> Option<Self> {
        if vni > Self::MAX_VNI {
            None
        } else {
            Some(Self::from_vni(vni))
        }
    }

    /// The field read as a 24-bit VNI (RFC 8365 §5.1.3).
    pub const fn vni(&self) -> u32 {
        u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]])
    }

    /// A label field carrying a 20-bit MPLS label (RFC 3032 layout: label,
    /// TC = 0, S bit). Bits above the low 20 of `label` are dropped.
    pub const fn from_mpls(label: u32, bos: bool) -> Self {
        Self::from_vni(((label & Self::MAX_MPLS) << 4) | bos as u32)
    }

    /// The field read as an MPLS label: its high-order 20 bits.
    pub const fn mpls_label(&self) -> u32 {
        self.vni() >> 4
    }

    /// The field read as an MPLS label stack entry: its bottom-of-stack bit.
    pub const fn bottom_of_stack(&self) -> bool {
        self.0[2] & 1 == 1
    }
}

impl fmt::Display for Label {
    /// The raw value as 6 hex digits (the interpretation is the caller's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }
}

/// Serialized form of a label: the raw octets plus both readings, so a human
/// can see what a peer sent whatever its encapsulation.
#[derive(Serialize, Deserialize)]
struct LabelJson {
    raw: String,
    #[serde(default, skip_deserializing)]
    vni: u32,
    #[serde(default, skip_deserializing)]
    mpls_label: u32,
    #[serde(default, skip_deserializing)]
    bottom_of_stack: bool,
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LabelJson {
            raw: self.to_string(),
            vni: self.vni(),
            mpls_label: self.mpls_label(),
            bottom_of_stack: self.bottom_of_stack(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Label {
    /// Reads `{"raw": "0003e8", ...}`; only `raw` is used (the readings are derived).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = LabelJson::deserialize(deserializer)?;
        let mut raw = [0u8; 3];
        hex::decode_to_slice(&json.raw, &mut raw).map_err(|_| {
            serde::de::Error::custom(format!(
                "label raw must be 6 hex digits, got {:?}",
                json.raw
            ))
        })?;
        Ok(Label(raw))
    }
}

/// The 4-octet Ethernet Tag ID (RFC 7432 §7): 0 for VLAN-based service; the
/// value `0xFFFF_FFFF` ([`EthernetTag::MAX`]) marks per-ES Ethernet A-D routes
/// (RFC 7432 §8.2.1). Displayed in decimal, as FRR does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(transparent)]
pub struct EthernetTag(pub u32);

impl EthernetTag {
    /// MAX-ET, used by Ethernet A-D per ES routes (RFC 7432 §8.2.1).
    pub const MAX: EthernetTag = EthernetTag(u32::MAX);
}

impl fmt::Display for EthernetTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_readings_from_the_vectors() {
        // FRR: L2VNI 10 -> 00000a, L3VNI 1000 -> 0003e8; GoBGP 100 -> 000064, 5000 -> 001388.
        for (raw, vni) in [
            ([0x00, 0x00, 0x0a], 10),
            ([0x00, 0x03, 0xe8], 1000),
            ([0x00, 0x00, 0x64], 100),
            ([0x00, 0x13, 0x88], 5000),
        ] {
            assert_eq!(Label(raw).vni(), vni);
            assert_eq!(Label::from_vni(vni), Label(raw));
        }
        // The MPLS reading of GoBGP's 100 / 5000 is what tshark showed: 6 and 312.
        assert_eq!(Label([0x00, 0x00, 0x64]).mpls_label(), 6);
        assert_eq!(Label([0x00, 0x13, 0x88]).mpls_label(), 312);
    }

    #[test]
    fn mpls_layout() {
        let l = Label::from_mpls(16, true);
        assert_eq!(l.0, [0x00, 0x01, 0x01]);
        assert_eq!(l.mpls_label(), 16);
        assert!(l.bottom_of_stack());
        let l = Label::from_mpls(Label::MAX_MPLS, false);
        assert_eq!(l.0, [0xff, 0xff, 0xf0]);
        assert!(!l.bottom_of_stack());
        assert_eq!(l.mpls_label(), Label::MAX_MPLS);
    }

    #[test]
    fn vni_range() {
        assert_eq!(Label::try_from_vni(Label::MAX_VNI), Some(Label([0xff; 3])));
        assert_eq!(Label::try_from_vni(Label::MAX_VNI + 1), None);
        assert_eq!(Label::from_vni(0x0100_0001).vni(), 1);
    }

    #[test]
    fn serde_shows_raw_and_readings() {
        let l = Label([0x00, 0x13, 0x88]);
        let v = serde_json::to_value(l).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"raw": "001388", "vni": 5000, "mpls_label": 312, "bottom_of_stack": false})
        );
        assert_eq!(serde_json::from_value::<Label>(v).unwrap(), l);
        assert!(serde_json::from_str::<Label>(r#"{"raw":"0013"}"#).is_err());
    }
}

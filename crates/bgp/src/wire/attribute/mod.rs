//! Path attributes (RFC 4271 §4.3, §5) and their RFC 7606 error handling.
//!
//! An attribute keeps the flags it was received with ([`AttributeFlags`],
//! emitted exactly), and a typed value ([`AttributeValue`]). A set of
//! attributes ([`PathAttributes`]) keeps the received order (GoBGP and FRR
//! order them differently, and re-emission must be byte-exact) and has typed
//! accessors for the RIB and the FSM, and a builder for origination.
//!
//! Parsing classifies every malformed attribute per RFC 7606 §7 (and RFC 6793
//! §6, RFC 7311, RFC 9234 §5): session reset (returned as a `WireError`),
//! treat-as-withdraw or attribute discard (recorded as [`AttributeError`]s).

mod aggregator;
mod aigp;
mod as_path;
mod community;
mod mp_reach;
mod next_hop;
mod origin;
mod otc;

use std::borrow::Cow;
use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use perouter_evpn::{PmsiTunnel, RouteTarget};
use serde::{Serialize, Serializer};

pub use aggregator::Aggregator;
pub use aigp::{AigpTlv, AIGP_TLV_METRIC};
pub use as_path::{reconstruct_as4, AsPath, AsSegment, AsSegmentKind};
pub use community::{Community, ExtendedCommunity, Ipv6ExtendedCommunity, LargeCommunity};
pub use mp_reach::{MpReach, MpUnreach};
pub use next_hop::NextHop;
pub use origin::Origin;

use super::context::WireContext;
use super::cursor::Cursor;
use super::error::{EmitError, WireError, WireErrorKind};
use super::error_handling::{AttributeError, ErrorAction};
use super::hex::serialize_hex;

/// Path attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    /// ORIGIN (RFC 4271).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (RFC 4271).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (RFC 4271).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (RFC 4271).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (RFC 4271).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (RFC 4271).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (RFC 4271).
    pub const AGGREGATOR: u8 = 7;
    /// COMMUNITIES (RFC 1997).
    pub const COMMUNITIES: u8 = 8;
    /// ORIGINATOR_ID (RFC 4456).
    pub const ORIGINATOR_ID: u8 = 9;
    /// CLUSTER_LIST (RFC 4456).
    pub const CLUSTER_LIST: u8 = 10;
    /// MP_REACH_NLRI (RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// EXTENDED_COMMUNITIES (RFC 4360).
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// AS4_PATH (RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
    /// PMSI_TUNNEL (RFC 6514).
    pub const PMSI_TUNNEL: u8 = 22;
    /// IPv6 Address Specific Extended Community (RFC 5701).
    pub const IPV6_EXTENDED_COMMUNITIES: u8 = 25;
    /// AIGP (RFC 7311).
    pub const AIGP: u8 = 26;
    /// LARGE_COMMUNITY (RFC 8092).
    pub const LARGE_COMMUNITIES: u8 = 32;
    /// OTC, Only to Customer (RFC 9234).
    pub const OTC: u8 = 35;
}

use type_code as tc;

/// The name of an attribute type as the RFCs spell it (`"UNKNOWN"` otherwise).
pub fn attribute_name(code: u8) -> &'static str {
    match code {
        tc::ORIGIN => "ORIGIN",
        tc::AS_PATH => "AS_PATH",
        tc::NEXT_HOP => "NEXT_HOP",
        tc::MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
        tc::LOCAL_PREF => "LOCAL_PREF",
        tc::ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        tc::AGGREGATOR => "AGGREGATOR",
        tc::COMMUNITIES => "COMMUNITIES",
        tc::ORIGINATOR_ID => "ORIGINATOR_ID",
        tc::CLUSTER_LIST => "CLUSTER_LIST",
        tc::MP_REACH_NLRI => "MP_REACH_NLRI",
        tc::MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        tc::EXTENDED_COMMUNITIES => "EXTENDED_COMMUNITIES",
        tc::AS4_PATH => "AS4_PATH",
        tc::AS4_AGGREGATOR => "AS4_AGGREGATOR",
        tc::PMSI_TUNNEL => "PMSI_TUNNEL",
        tc::IPV6_EXTENDED_COMMUNITIES => "IPV6_EXTENDED_COMMUNITIES",
        tc::AIGP => "AIGP",
        tc::LARGE_COMMUNITIES => "LARGE_COMMUNITY",
        tc::OTC => "OTC",
        _ => "UNKNOWN",
    }
}

/// Attribute flags, raw (RFC 4271 §4.3). Emission writes them exactly,
/// except that the extended-length bit is added when a value needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AttributeFlags(pub u8);

impl AttributeFlags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute passed on by a speaker that
    /// did not recognize it.
    pub const PARTIAL: u8 = 0x20;
    /// Extended length: a 2-byte length field.
    pub const EXTENDED_LENGTH: u8 = 0x10;

    /// Well-known (mandatory or discretionary): transitive, not optional.
    pub const WELL_KNOWN: AttributeFlags = AttributeFlags(Self::TRANSITIVE);
    /// Optional non-transitive.
    pub const OPTIONAL_NON_TRANSITIVE: AttributeFlags = AttributeFlags(Self::OPTIONAL);
    /// Optional transitive.
    pub const OPTIONAL_TRANSITIVE: AttributeFlags =
        AttributeFlags(Self::OPTIONAL | Self::TRANSITIVE);

    /// The optional bit.
    pub fn optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }
    /// The transitive bit.
    pub fn transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }
    /// The partial bit.
    pub fn partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }
    /// The extended-length bit.
    pub fn extended_length(self) -> bool {
        self.0 & Self::EXTENDED_LENGTH != 0
    }
}

/// The optional and transitive bits a known attribute type must have
/// (RFC 4271 §5, RFC 4760, RFC 4360, ...); `None` for unknown types.
fn expected_flags(code: u8) -> Option<AttributeFlags> {
    Some(match code {
        tc::ORIGIN | tc::AS_PATH | tc::NEXT_HOP | tc::LOCAL_PREF | tc::ATOMIC_AGGREGATE => {
            AttributeFlags::WELL_KNOWN
        }
        tc::MULTI_EXIT_DISC
        | tc::ORIGINATOR_ID
        | tc::CLUSTER_LIST
        | tc::MP_REACH_NLRI
        | tc::MP_UNREACH_NLRI
        | tc::AIGP => AttributeFlags::OPTIONAL_NON_TRANSITIVE,
        tc::AGGREGATOR
        | tc::COMMUNITIES
        | tc::EXTENDED_COMMUNITIES
        | tc::AS4_PATH
        | tc::AS4_AGGREGATOR
        | tc::PMSI_TUNNEL
        | tc::IPV6_EXTENDED_COMMUNITIES
        | tc::LARGE_COMMUNITIES
        | tc::OTC => AttributeFlags::OPTIONAL_TRANSITIVE,
        _ => return None,
    })
}

/// A typed attribute value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// ORIGIN (1).
    Origin(Origin),
    /// AS_PATH (2), with the session's AS width.
    AsPath(AsPath),
    /// NEXT_HOP (3).
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC (4).
    MultiExitDisc(u32),
    /// LOCAL_PREF (5).
    LocalPref(u32),
    /// ATOMIC_AGGREGATE (6).
    AtomicAggregate,
    /// AGGREGATOR (7).
    Aggregator(Aggregator),
    /// COMMUNITIES (8).
    Communities(Vec<Community>),
    /// ORIGINATOR_ID (9).
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (10).
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI (14).
    MpReach(MpReach),
    /// MP_UNREACH_NLRI (15).
    MpUnreach(MpUnreach),
    /// EXTENDED_COMMUNITIES (16).
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (17), always 4-octet.
    As4Path(AsPath),
    /// AS4_AGGREGATOR (18), always 4-octet.
    As4Aggregator(Aggregator),
    /// PMSI_TUNNEL (22).
    PmsiTunnel(PmsiTunnel),
    /// LARGE_COMMUNITY (32).
    LargeCommunities(Vec<LargeCommunity>),
    /// IPv6 address-specific extended communities (25).
    Ipv6ExtendedCommunities(Vec<Ipv6ExtendedCommunity>),
    /// AIGP (26).
    Aigp(Vec<AigpTlv>),
    /// OTC (35): the AS.
    OnlyToCustomer(u32),
    /// Any other type, raw.
    Unknown {
        /// The type code.
        type_code: u8,
        /// The raw value.
        #[serde(serialize_with = "serialize_hex")]
        value: Bytes,
    },
}

impl AttributeValue {
    /// The type code.
    pub fn type_code(&self) -> u8 {
        match self {
            AttributeValue::Origin(_) => tc::ORIGIN,
            AttributeValue::AsPath(_) => tc::AS_PATH,
            AttributeValue::NextHop(_) => tc::NEXT_HOP,
            AttributeValue::MultiExitDisc(_) => tc::MULTI_EXIT_DISC,
            AttributeValue::LocalPref(_) => tc::LOCAL_PREF,
            AttributeValue::AtomicAggregate => tc::ATOMIC_AGGREGATE,
            AttributeValue::Aggregator(_) => tc::AGGREGATOR,
            AttributeValue::Communities(_) => tc::COMMUNITIES,
            AttributeValue::OriginatorId(_) => tc::ORIGINATOR_ID,
            AttributeValue::ClusterList(_) => tc::CLUSTER_LIST,
            AttributeValue::MpReach(_) => tc::MP_REACH_NLRI,
            AttributeValue::MpUnreach(_) => tc::MP_UNREACH_NLRI,
            AttributeValue::ExtendedCommunities(_) => tc::EXTENDED_COMMUNITIES,
            AttributeValue::As4Path(_) => tc::AS4_PATH,
            AttributeValue::As4Aggregator(_) => tc::AS4_AGGREGATOR,
            AttributeValue::PmsiTunnel(_) => tc::PMSI_TUNNEL,
            AttributeValue::LargeCommunities(_) => tc::LARGE_COMMUNITIES,
            AttributeValue::Ipv6ExtendedCommunities(_) => tc::IPV6_EXTENDED_COMMUNITIES,
            AttributeValue::Aigp(_) => tc::AIGP,
            AttributeValue::OnlyToCustomer(_) => tc::OTC,
            AttributeValue::Unknown { type_code, .. } => *type_code,
        }
    }

    /// The flags an originating speaker sets for this type (optional
    /// transitive for unknown types).
    pub fn default_flags(&self) -> AttributeFlags {
        expected_flags(self.type_code()).unwrap_or(AttributeFlags::OPTIONAL_TRANSITIVE)
    }

    /// Writes the value (without the attribute header).
    pub fn emit_value(&self, ctx: &WireContext, out: &mut BytesMut) {
        match self {
            AttributeValue::Origin(o) => out.put_u8(o.to_u8()),
            AttributeValue::AsPath(p) => p.emit(ctx.four_octet_as, out),
            AttributeValue::NextHop(a) | AttributeValue::OriginatorId(a) => {
                out.put_slice(&a.octets())
            }
            AttributeValue::MultiExitDisc(v)
            | AttributeValue::LocalPref(v)
            | AttributeValue::OnlyToCustomer(v) => out.put_u32(*v),
            AttributeValue::AtomicAggregate => {}
            AttributeValue::Aggregator(a) | AttributeValue::As4Aggregator(a) => a.emit(out),
            AttributeValue::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
            AttributeValue::ClusterList(c) => c.iter().for_each(|a| out.put_slice(&a.octets())),
            AttributeValue::MpReach(r) => r.emit(out),
            AttributeValue::MpUnreach(r) => r.emit(out),
            AttributeValue::ExtendedCommunities(c) => c.iter().for_each(|c| out.put_slice(&c.0)),
            AttributeValue::As4Path(p) => p.emit(true, out),
            AttributeValue::PmsiTunnel(p) => p.emit(out),
            AttributeValue::LargeCommunities(c) => c.iter().for_each(|c| {
                out.put_u32(c.global);
                out.put_u32(c.local1);
                out.put_u32(c.local2);
            }),
            AttributeValue::Ipv6ExtendedCommunities(c) => {
                c.iter().for_each(|c| out.put_slice(&c.0))
            }
            AttributeValue::Aigp(t) => t.iter().for_each(|t| t.emit(out)),
            AttributeValue::Unknown { value, .. } => out.put_slice(value),
        }
    }

    /// Encoded value length.
    pub fn encoded_len(&self, ctx: &WireContext) -> usize {
        match self {
            AttributeValue::Origin(_) => 1,
            AttributeValue::AsPath(p) => p.encoded_len(ctx.four_octet_as),
            AttributeValue::NextHop(_)
            | AttributeValue::OriginatorId(_)
            | AttributeValue::MultiExitDisc(_)
            | AttributeValue::LocalPref(_)
            | AttributeValue::OnlyToCustomer(_) => 4,
            AttributeValue::AtomicAggregate => 0,
            AttributeValue::Aggregator(a) | AttributeValue::As4Aggregator(a) => a.encoded_len(),
            AttributeValue::Communities(c) => 4 * c.len(),
            AttributeValue::ClusterList(c) => 4 * c.len(),
            AttributeValue::MpReach(r) => r.encoded_len(),
            AttributeValue::MpUnreach(r) => r.encoded_len(),
            AttributeValue::ExtendedCommunities(c) => 8 * c.len(),
            AttributeValue::As4Path(p) => p.encoded_len(true),
            AttributeValue::PmsiTunnel(p) => p.encoded_len(),
            AttributeValue::LargeCommunities(c) => 12 * c.len(),
            AttributeValue::Ipv6ExtendedCommunities(c) => 20 * c.len(),
            AttributeValue::Aigp(t) => t.iter().map(|t| 3 + t.value.len()).sum(),
            AttributeValue::Unknown { value, .. } => value.len(),
        }
    }

    /// Decodes a value of a known type; `Ok(None)` for unknown types.
    /// `owned` gives the value as `Bytes` for the types that keep raw bytes
    /// (only called for those, so the others cost no reference count).
    fn parse(
        code: u8,
        value: &[u8],
        owned: &dyn Fn() -> Bytes,
        ctx: &WireContext,
    ) -> Result<Option<Self>, String> {
        let u32_of = |what: &str| -> Result<u32, String> {
            let a: [u8; 4] = value[..]
                .try_into()
                .map_err(|_| format!("{what} length {} (expected 4)", value.len()))?;
            Ok(u32::from_be_bytes(a))
        };
        Ok(Some(match code {
            tc::ORIGIN => AttributeValue::Origin(Origin::parse(value)?),
            tc::AS_PATH => AttributeValue::AsPath(AsPath::parse(value, ctx.four_octet_as)?),
            tc::NEXT_HOP => AttributeValue::NextHop(Ipv4Addr::from(u32_of("NEXT_HOP")?)),
            tc::MULTI_EXIT_DISC => AttributeValue::MultiExitDisc(u32_of("MULTI_EXIT_DISC")?),
            tc::LOCAL_PREF => AttributeValue::LocalPref(u32_of("LOCAL_PREF")?),
            tc::ATOMIC_AGGREGATE => {
                if !value.is_empty() {
                    return Err(format!(
                        "ATOMIC_AGGREGATE length {} (expected 0)",
                        value.len()
                    ));
                }
                AttributeValue::AtomicAggregate
            }
            tc::AGGREGATOR => {
                AttributeValue::Aggregator(Aggregator::parse(value, ctx.four_octet_as)?)
            }
            tc::COMMUNITIES => AttributeValue::Communities(community::parse_fixed(
                value,
                "COMMUNITIES",
                |a: &[u8; 4]| Community(u32::from_be_bytes(*a)),
            )?),
            tc::ORIGINATOR_ID => {
                AttributeValue::OriginatorId(Ipv4Addr::from(u32_of("ORIGINATOR_ID")?))
            }
            tc::CLUSTER_LIST => AttributeValue::ClusterList(community::parse_fixed(
                value,
                "CLUSTER_LIST",
                |a: &[u8; 4]| Ipv4Addr::from(*a),
            )?),
            tc::MP_REACH_NLRI => AttributeValue::MpReach(MpReach::parse(&owned(), ctx)?),
            tc::MP_UNREACH_NLRI => AttributeValue::MpUnreach(MpUnreach::parse(&owned(), ctx)?),
            tc::EXTENDED_COMMUNITIES => AttributeValue::ExtendedCommunities(
                community::parse_fixed(value, "EXTENDED_COMMUNITIES", |a: &[u8; 8]| {
                    ExtendedCommunity(*a)
                })?,
            ),
            tc::AS4_PATH => {
                let p = AsPath::parse(value, true)?;
                if p.has_confed() {
                    // RFC 6793 §6: confederation segments in AS4_PATH are malformed.
                    return Err("AS4_PATH contains a confederation segment".into());
                }
                AttributeValue::As4Path(p)
            }
            tc::AS4_AGGREGATOR => AttributeValue::As4Aggregator(Aggregator::parse(value, true)?),
            tc::PMSI_TUNNEL => AttributeValue::PmsiTunnel(
                PmsiTunnel::parse(value).map_err(|e| format!("PMSI_TUNNEL: {e}"))?,
            ),
            tc::IPV6_EXTENDED_COMMUNITIES => AttributeValue::Ipv6ExtendedCommunities(
                community::parse_fixed(value, "IPv6 extended communities", |a: &[u8; 20]| {
                    Ipv6ExtendedCommunity(*a)
                })?,
            ),
            tc::AIGP => AttributeValue::Aigp(AigpTlv::parse_all(&owned())?),
            tc::LARGE_COMMUNITIES => AttributeValue::LargeCommunities(community::parse_fixed(
                value,
                "LARGE_COMMUNITY",
                |a: &[u8; 12]| LargeCommunity {
                    global: u32::from_be_bytes([a[0], a[1], a[2], a[3]]),
                    local1: u32::from_be_bytes([a[4], a[5], a[6], a[7]]),
                    local2: u32::from_be_bytes([a[8], a[9], a[10], a[11]]),
                },
            )?),
            tc::OTC => AttributeValue::OnlyToCustomer(otc::parse(value)?),
            _ => return Ok(None),
        }))
    }
}

/// One path attribute: its received flags and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttribute {
    /// Flags as received (or the type's defaults when built).
    pub flags: AttributeFlags,
    /// The value.
    pub value: AttributeValue,
}

impl PathAttribute {
    /// An attribute with the flags an originator sets for its type.
    pub fn new(value: AttributeValue) -> Self {
        PathAttribute {
            flags: value.default_flags(),
            value,
        }
    }

    /// The type code.
    pub fn type_code(&self) -> u8 {
        self.value.type_code()
    }

    /// The attribute as it is to be passed on to another peer (RFC 4271
    /// §5): an unrecognized optional transitive attribute gets the Partial
    /// bit; an unrecognized optional non-transitive one is dropped (`None`).
    /// Recognized attributes are returned unchanged.
    pub fn for_propagation(&self) -> Option<PathAttribute> {
        match &self.value {
            AttributeValue::Unknown { .. } if !self.flags.transitive() => None,
            AttributeValue::Unknown { .. } => Some(PathAttribute {
                flags: AttributeFlags(self.flags.0 | AttributeFlags::PARTIAL),
                value: self.value.clone(),
            }),
            _ => Some(self.clone()),
        }
    }

    /// Writes the attribute (flags, type, length, value). The extended
    /// length bit is kept when received and added when the value needs it.
    pub fn emit(&self, ctx: &WireContext, out: &mut BytesMut) -> Result<(), EmitError> {
        let len = self.value.encoded_len(ctx);
        let extended = self.flags.extended_length() || len > 255;
        if len > usize::from(u16::MAX) {
            return Err(EmitError::FieldTooLong {
                field: attribute_name(self.type_code()),
                length: len,
                max: usize::from(u16::MAX),
            });
        }
        let flags = if extended {
            self.flags.0 | AttributeFlags::EXTENDED_LENGTH
        } else {
            self.flags.0
        };
        out.put_u8(flags);
        out.put_u8(self.type_code());
        if extended {
            out.put_u16(len as u16);
        } else {
            out.put_u8(len as u8);
        }
        self.value.emit_value(ctx, out);
        Ok(())
    }

    /// Encoded length including the header.
    pub fn encoded_len(&self, ctx: &WireContext) -> usize {
        let len = self.value.encoded_len(ctx);
        len + if self.flags.extended_length() || len > 255 {
            4
        } else {
            3
        }
    }
}

impl Serialize for PathAttribute {
    /// `{"type_code": 1, "name": "ORIGIN", "flags": 64, "value": "IGP"}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PathAttribute", 4)?;
        st.serialize_field("type_code", &self.type_code())?;
        st.serialize_field("name", attribute_name(self.type_code()))?;
        st.serialize_field("flags", &self.flags)?;
        st.serialize_field("value", &self.value)?;
        st.end()
    }
}

/// The path attributes of an UPDATE, in received order, at most one per type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PathAttributes {
    attrs: Vec<PathAttribute>,
}

macro_rules! find {
    ($self:ident, $variant:ident) => {
        $self.attrs.iter().find_map(|a| match &a.value {
            AttributeValue::$variant(v) => Some(v),
            _ => None,
        })
    };
}

impl PathAttributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an attribute with its type's default flags, replacing one of the
    /// same type in place or appending it (builder style).
    pub fn with(mut self, value: AttributeValue) -> Self {
        self.set(value);
        self
    }

    /// Sets an attribute with its type's default flags, replacing one of the
    /// same type in place or appending it.
    pub fn set(&mut self, value: AttributeValue) {
        self.insert(PathAttribute::new(value));
    }

    /// Inserts an attribute with its own flags, replacing one of the same type
    /// in place or appending it.
    pub fn insert(&mut self, attr: PathAttribute) {
        let code = attr.type_code();
        match self.attrs.iter_mut().find(|a| a.type_code() == code) {
            Some(slot) => *slot = attr,
            None => self.attrs.push(attr),
        }
    }

    /// Removes the attribute of type `code`, returning it.
    pub fn remove(&mut self, code: u8) -> Option<PathAttribute> {
        let i = self.attrs.iter().position(|a| a.type_code() == code)?;
        Some(self.attrs.remove(i))
    }

    /// The attribute of type `code`.
    pub fn get(&self, code: u8) -> Option<&PathAttribute> {
        self.attrs.iter().find(|a| a.type_code() == code)
    }

    /// All attributes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, PathAttribute> {
        self.attrs.iter()
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// The same attributes without MP_REACH_NLRI and MP_UNREACH_NLRI: the
    /// part of an UPDATE's attributes that routes share (what the RIB interns).
    pub fn without_nlri(&self) -> PathAttributes {
        PathAttributes {
            attrs: self
                .attrs
                .iter()
                .filter(|a| !matches!(a.type_code(), tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI))
                .cloned()
                .collect(),
        }
    }

    /// ORIGIN.
    pub fn origin(&self) -> Option<Origin> {
        find!(self, Origin).copied()
    }

    /// The AS path: AS_PATH, reconstructed with AS4_PATH when present
    /// (RFC 6793 §4.2.3; AS4_PATH is only kept on 2-octet sessions).
    pub fn as_path(&self) -> Option<Cow<'_, AsPath>> {
        let p = find!(self, AsPath)?;
        match find!(self, As4Path) {
            Some(p4) => Some(Cow::Owned(reconstruct_as4(p, p4))),
            None => Some(Cow::Borrowed(p)),
        }
    }

    /// NEXT_HOP (the IPv4 next hop of the classic NLRI field).
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        find!(self, NextHop).copied()
    }

    /// MULTI_EXIT_DISC.
    pub fn med(&self) -> Option<u32> {
        find!(self, MultiExitDisc).copied()
    }

    /// LOCAL_PREF.
    pub fn local_pref(&self) -> Option<u32> {
        find!(self, LocalPref).copied()
    }

    /// True when ATOMIC_AGGREGATE is present.
    pub fn atomic_aggregate(&self) -> bool {
        self.get(tc::ATOMIC_AGGREGATE).is_some()
    }

    /// AGGREGATOR, with the AS from AS4_AGGREGATOR when AGGREGATOR carries
    /// AS_TRANS (RFC 6793 §4.2.3).
    pub fn aggregator(&self) -> Option<Aggregator> {
        let a = *find!(self, Aggregator)?;
        match find!(self, As4Aggregator) {
            Some(a4) if a.asn == u32::from(super::open::AS_TRANS) => Some(*a4),
            _ => Some(a),
        }
    }

    /// COMMUNITIES (empty when absent).
    pub fn communities(&self) -> &[Community] {
        find!(self, Communities).map_or(&[], Vec::as_slice)
    }

    /// EXTENDED_COMMUNITIES (empty when absent).
    pub fn ext_communities(&self) -> &[ExtendedCommunity] {
        find!(self, ExtendedCommunities).map_or(&[], Vec::as_slice)
    }

    /// The route targets among the extended communities.
    pub fn route_targets(&self) -> impl Iterator<Item = RouteTarget> + '_ {
        self.ext_communities()
            .iter()
            .filter_map(|c| c.route_target())
    }

    /// IPv6 address-specific extended communities (empty when absent).
    pub fn ipv6_ext_communities(&self) -> &[Ipv6ExtendedCommunity] {
        find!(self, Ipv6ExtendedCommunities).map_or(&[], Vec::as_slice)
    }

    /// LARGE_COMMUNITY (empty when absent).
    pub fn large_communities(&self) -> &[LargeCommunity] {
        find!(self, LargeCommunities).map_or(&[], Vec::as_slice)
    }

    /// ORIGINATOR_ID.
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        find!(self, OriginatorId).copied()
    }

    /// CLUSTER_LIST (empty when absent).
    pub fn cluster_list(&self) -> &[Ipv4Addr] {
        find!(self, ClusterList).map_or(&[], Vec::as_slice)
    }

    /// MP_REACH_NLRI.
    pub fn mp_reach(&self) -> Option<&MpReach> {
        find!(self, MpReach)
    }

    /// MP_UNREACH_NLRI.
    pub fn mp_unreach(&self) -> Option<&MpUnreach> {
        find!(self, MpUnreach)
    }

    /// PMSI_TUNNEL.
    pub fn pmsi_tunnel(&self) -> Option<&PmsiTunnel> {
        find!(self, PmsiTunnel)
    }

    /// The AIGP metric (RFC 7311 §3.1), if an AIGP attribute with a metric TLV is present.
    pub fn aigp(&self) -> Option<u64> {
        find!(self, Aigp)?.iter().find_map(AigpTlv::as_metric)
    }

    /// OTC (RFC 9234 §5).
    pub fn otc(&self) -> Option<u32> {
        find!(self, OnlyToCustomer).copied()
    }

    /// Writes all attributes in order.
    pub fn emit(&self, ctx: &WireContext, out: &mut BytesMut) -> Result<(), EmitError> {
        for a in &self.attrs {
            a.emit(ctx, out)?;
        }
        Ok(())
    }

    /// Encoded length of all attributes.
    pub fn encoded_len(&self, ctx: &WireContext) -> usize {
        self.attrs.iter().map(|a| a.encoded_len(ctx)).sum()
    }
}

impl<'a> IntoIterator for &'a PathAttributes {
    type Item = &'a PathAttribute;
    type IntoIter = std::slice::Iter<'a, PathAttribute>;
    fn into_iter(self) -> Self::IntoIter {
        self.attrs.iter()
    }
}

/// What to do about a malformed attribute of type `code` (RFC 7606 §7 and
/// the RFCs that define later attributes).
enum Treatment {
    SessionReset,
    TreatAsWithdraw,
    Discard,
}

fn treatment(code: u8, ctx: &WireContext) -> Treatment {
    let ebgp = ctx.ibgp == Some(false);
    match code {
        // RFC 7606 §7.11 (session reset, AFI/SAFI disable not implemented).
        tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI => Treatment::SessionReset,
        // RFC 7606 §7.6, §7.7; RFC 6793 §6; RFC 7311 §3.1.
        tc::ATOMIC_AGGREGATE | tc::AGGREGATOR | tc::AS4_PATH | tc::AS4_AGGREGATOR | tc::AIGP => {
            Treatment::Discard
        }
        // RFC 7606 §7.5, §7.9, §7.10: from eBGP, discarded anyway.
        tc::LOCAL_PREF | tc::ORIGINATOR_ID | tc::CLUSTER_LIST if ebgp => Treatment::Discard,
        // RFC 7606 §7.1-7.5, 7.8-7.10, 7.14; RFC 8092 §6; RFC 9234 §5; RFC 6514 (PMSI).
        _ => Treatment::TreatAsWithdraw,
    }
}

/// Result of parsing the path attributes field.
pub(crate) struct ParsedAttributes {
    pub attributes: PathAttributes,
    pub treat_as_withdraw: bool,
}

/// Parses the Path Attributes field (RFC 4271 §4.3) applying RFC 7606.
/// `c` covers exactly the field; offsets are absolute.
pub(crate) fn parse_attributes(
    mut c: Cursor,
    ctx: &WireContext,
    errors: &mut Vec<AttributeError>,
) -> Result<ParsedAttributes, WireError> {
    let mut attrs: Vec<PathAttribute> = Vec::with_capacity(8);
    let mut taw = false;
    let record = |errors: &mut Vec<AttributeError>,
                  taw: &mut bool,
                  code: u8,
                  offset: usize,
                  t: Treatment,
                  reason: String| {
        let action = match t {
            Treatment::TreatAsWithdraw => {
                *taw = true;
                ErrorAction::TreatAsWithdraw
            }
            _ => ErrorAction::AttributeDiscard,
        };
        tracing::debug!(type_code = code, offset, ?action, %reason, "UPDATE attribute error");
        errors.push(AttributeError {
            type_code: code,
            offset,
            action,
            reason,
        });
    };
    while !c.is_empty() {
        let start = c.offset();
        let remaining = c.remaining();
        // RFC 7606 §4: fewer bytes than an attribute header → treat-as-withdraw.
        let flags = AttributeFlags(c.u8().unwrap_or(0));
        let header = if flags.extended_length() { 4 } else { 3 };
        if remaining < header {
            record(
                errors,
                &mut taw,
                0,
                start,
                Treatment::TreatAsWithdraw,
                format!("{remaining} bytes left in the path attributes, less than an attribute header ({header})"),
            );
            break;
        }
        let code = c.u8().unwrap_or(0);
        let len = if flags.extended_length() {
            usize::from(c.u16().unwrap_or(0))
        } else {
            usize::from(c.u8().unwrap_or(0))
        };
        let value_at = c.offset();
        if c.skip(len).is_err() {
            let reason = format!(
                "{} length {len} overruns the path attributes ({} bytes left)",
                attribute_name(code),
                c.remaining()
            );
            if matches!(code, tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI) {
                // The NOTIFICATION data is the attribute as far as it goes.
                let _ = c.skip(c.remaining());
                let attribute = c.since(start);
                return Err(WireError {
                    offset: start,
                    kind: WireErrorKind::MalformedMpAttribute {
                        type_code: code,
                        reason,
                        attribute,
                    },
                });
            }
            // RFC 7606 §4: the Total Attribute Length still locates the NLRI.
            record(
                errors,
                &mut taw,
                code,
                start,
                Treatment::TreatAsWithdraw,
                reason,
            );
            break;
        };
        let value = c.window(value_at, len);
        let owned = || c.bytes_of(value_at, len);
        let raw_attr = || c.since(start);
        // RFC 7606 §3.g: duplicates.
        if attrs.iter().any(|a| a.type_code() == code) {
            if matches!(code, tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI) {
                return Err(WireError {
                    offset: start,
                    kind: WireErrorKind::DuplicateMpAttribute { type_code: code },
                });
            }
            record(
                errors,
                &mut taw,
                code,
                start,
                Treatment::Discard,
                format!("duplicate {} attribute", attribute_name(code)),
            );
            continue;
        }
        // RFC 7606 §3.c: optional/transitive bits conflicting with the type.
        let malformed = match expected_flags(code) {
            Some(exp)
                if (flags.0 ^ exp.0) & (AttributeFlags::OPTIONAL | AttributeFlags::TRANSITIVE)
                    != 0 =>
            {
                Some(format!(
                    "{} flags 0x{:02x} conflict with the type (expected optional={} transitive={})",
                    attribute_name(code),
                    flags.0,
                    exp.optional(),
                    exp.transitive()
                ))
            }
            _ => None,
        };
        let parsed = match malformed {
            Some(reason) => Err(reason),
            None => AttributeValue::parse(code, value, &owned, ctx),
        };
        match parsed {
            Ok(Some(v)) => {
                let ebgp = ctx.ibgp == Some(false);
                let discard_reason = match code {
                    tc::LOCAL_PREF | tc::ORIGINATOR_ID | tc::CLUSTER_LIST if ebgp => Some(format!(
                        "{} received from an external peer (RFC 7606 §7.5, §7.9, §7.10)",
                        attribute_name(code)
                    )),
                    tc::AS4_PATH | tc::AS4_AGGREGATOR if ctx.four_octet_as => Some(format!(
                        "{} received on a 4-octet AS session (RFC 6793 §3)",
                        attribute_name(code)
                    )),
                    _ => None,
                };
                match discard_reason {
                    Some(reason) => {
                        record(errors, &mut taw, code, start, Treatment::Discard, reason)
                    }
                    None => attrs.push(PathAttribute { flags, value: v }),
                }
            }
            Ok(None) => {
                if !flags.optional() {
                    // RFC 4271 §6.3: unrecognized well-known attribute.
                    return Err(WireError {
                        offset: start,
                        kind: WireErrorKind::UnrecognizedWellKnownAttribute {
                            type_code: code,
                            attribute: raw_attr(),
                        },
                    });
                }
                attrs.push(PathAttribute {
                    flags,
                    value: AttributeValue::Unknown {
                        type_code: code,
                        value: owned(),
                    },
                });
            }
            Err(reason) => match treatment(code, ctx) {
                Treatment::SessionReset => {
                    return Err(WireError {
                        offset: start,
                        kind: WireErrorKind::MalformedMpAttribute {
                            type_code: code,
                            reason,
                            attribute: raw_attr(),
                        },
                    })
                }
                t => record(errors, &mut taw, code, start, t, reason),
            },
        }
    }
    Ok(ParsedAttributes {
        attributes: PathAttributes { attrs },
        treat_as_withdraw: taw,
    })
}

#[cfg(test)]
mod tests;

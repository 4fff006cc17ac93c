//! UPDATE messages (RFC 4271 §4.3) with RFC 7606 error handling, End-of-RIB
//! markers (RFC 4724 §2) and packing of many NLRI sharing one attribute set
//! into as few messages as fit the size limit (RFC 4271 §4, RFC 8654).

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::attribute::{
    parse_attributes, type_code, AttributeFlags, AttributeValue, MpReach, MpUnreach, NextHop,
    PathAttribute, PathAttributes,
};
use super::context::WireContext;
use super::cursor::Cursor;
use super::error::{begin_u16_len, patch_u16_len, EmitError, NlriField, WireError, WireErrorKind};
use super::error_handling::{AttributeError, ErrorAction};
use super::family::AfiSafi;
use super::header::{MessageType, HEADER_LEN};
use super::prefix::{encode_evpn, encode_prefix, EvpnNlri, Nlri, NlriBlock};

/// An UPDATE message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    /// Withdrawn Routes: IPv4 unicast prefixes no longer reachable.
    #[serde(rename = "withdrawn_routes")]
    pub withdrawn: NlriBlock,
    /// Path attributes in received order.
    #[serde(rename = "path_attributes")]
    pub attributes: PathAttributes,
    /// NLRI: IPv4 unicast prefixes reachable with these attributes.
    pub nlri: NlriBlock,
    /// RFC 7606 treat-as-withdraw: every NLRI announced by this UPDATE (NLRI
    /// field and MP_REACH_NLRI) is to be handled as withdrawn.
    pub treat_as_withdraw: bool,
    /// Attribute errors that did not reset the session (RFC 7606).
    pub attribute_errors: Vec<AttributeError>,
}

/// NLRI to pack into UPDATEs: prefixes or EVPN routes.
#[derive(Debug, Clone, Copy)]
pub enum NlriList<'a> {
    /// IP prefixes of the given family.
    Prefixes(AfiSafi, &'a [Nlri]),
    /// EVPN routes (family L2VPN EVPN).
    Evpn(&'a [EvpnNlri]),
}

impl NlriList<'_> {
    fn family(&self) -> AfiSafi {
        match self {
            NlriList::Prefixes(f, _) => *f,
            NlriList::Evpn(_) => AfiSafi::L2VPN_EVPN,
        }
    }

    /// Encodes every NLRI back to back; returns the bytes and each NLRI's end offset.
    fn encode(&self, add_path: bool) -> Result<(Bytes, Vec<usize>), EmitError> {
        let mut out = BytesMut::new();
        let mut ends = Vec::new();
        match self {
            NlriList::Prefixes(f, v) => {
                for n in *v {
                    encode_prefix(*f, add_path, n, &mut out)?;
                    ends.push(out.len());
                }
            }
            NlriList::Evpn(v) => {
                for r in *v {
                    encode_evpn(add_path, r, &mut out);
                    ends.push(out.len());
                }
            }
        }
        Ok((out.freeze(), ends))
    }
}

/// Splits encoded NLRI into chunks of at most `room` bytes, on NLRI boundaries.
fn split(pool: &Bytes, ends: &[usize], room: usize) -> Result<Vec<Bytes>, EmitError> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut last_end = 0usize;
    for &end in ends {
        if end - start > room {
            if last_end == start {
                return Err(EmitError::TooLarge {
                    length: end - start,
                    max: room,
                });
            }
            chunks.push(pool.slice(start..last_end));
            start = last_end;
            if end - start > room {
                return Err(EmitError::TooLarge {
                    length: end - start,
                    max: room,
                });
            }
        }
        last_end = end;
    }
    if last_end > start {
        chunks.push(pool.slice(start..last_end));
    }
    Ok(chunks)
}

impl Update {
    /// An UPDATE with nothing in it: the IPv4 unicast End-of-RIB (RFC 4724 §2).
    pub fn empty() -> Self {
        Update {
            withdrawn: NlriBlock::empty(AfiSafi::IPV4_UNICAST, false),
            attributes: PathAttributes::new(),
            nlri: NlriBlock::empty(AfiSafi::IPV4_UNICAST, false),
            treat_as_withdraw: false,
            attribute_errors: Vec::new(),
        }
    }

    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, else an UPDATE with only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(family: AfiSafi) -> Self {
        let mut u = Update::empty();
        if family != AfiSafi::IPV4_UNICAST {
            u.attributes.insert(PathAttribute {
                flags: AttributeFlags(AttributeFlags::OPTIONAL),
                value: AttributeValue::MpUnreach(MpUnreach::end_of_rib(family)),
            });
        }
        u
    }

    /// The family this UPDATE is the End-of-RIB marker of, if it is one
    /// (RFC 4724 §2).
    pub fn is_end_of_rib(&self) -> Option<AfiSafi> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.iter().as_slice() {
            [] => Some(AfiSafi::IPV4_UNICAST),
            [PathAttribute {
                value: AttributeValue::MpUnreach(u),
                ..
            }] if u.nlri.is_empty() => Some(u.family),
            _ => None,
        }
    }

    /// Blocks of NLRI this UPDATE announces (NLRI field and MP_REACH_NLRI);
    /// none when it is to be treated as withdraw.
    pub fn announced(&self) -> impl Iterator<Item = &NlriBlock> {
        let on = !self.treat_as_withdraw;
        [
            Some(&self.nlri),
            self.attributes.mp_reach().map(|r| &r.nlri),
        ]
        .into_iter()
        .flatten()
        .filter(move |b| on && !b.is_empty())
    }

    /// Blocks of NLRI this UPDATE withdraws (Withdrawn Routes and
    /// MP_UNREACH_NLRI, plus the announced ones under treat-as-withdraw,
    /// RFC 7606 §2).
    pub fn withdrawals(&self) -> impl Iterator<Item = &NlriBlock> {
        let taw = self.treat_as_withdraw;
        [
            Some(&self.withdrawn),
            self.attributes.mp_unreach().map(|u| &u.nlri),
            taw.then_some(&self.nlri),
            self.attributes.mp_reach().filter(|_| taw).map(|r| &r.nlri),
        ]
        .into_iter()
        .flatten()
        .filter(|b| !b.is_empty())
    }

    /// Parses an UPDATE body (RFC 4271 §4.3, §6.3; RFC 7606). `base` is the
    /// body's offset in the message.
    pub(crate) fn parse_body(
        body: Bytes,
        base: usize,
        ctx: &WireContext,
    ) -> Result<Self, WireError> {
        let mut c = Cursor::new(body, base);
        let list = |offset, reason| WireError {
            offset,
            kind: WireErrorKind::MalformedAttributeList { reason },
        };
        let at = c.offset();
        let wlen = c
            .u16()
            .map_err(|s| WireError::truncated(MessageType::Update, s, "withdrawn routes length"))?;
        let wstart = c.offset();
        let withdrawn_raw = c.take(usize::from(wlen)).map_err(|s| {
            list(
                at,
                format!(
                    "withdrawn routes length {wlen} exceeds the {} bytes left",
                    s.available
                ),
            )
        })?;
        let at = c.offset();
        let alen = c.u16().map_err(|_| {
            list(
                at,
                "no room for the total path attribute length".to_string(),
            )
        })?;
        let attrs_c = c.sub(usize::from(alen)).map_err(|s| {
            list(
                at,
                format!(
                    "total path attribute length {alen} exceeds the {} bytes left",
                    s.available
                ),
            )
        })?;
        let nlri_start = c.offset();
        let nlri_raw = c.rest();
        let v4 = AfiSafi::IPV4_UNICAST;
        let add_path = ctx.add_path(v4);
        let withdrawn = NlriBlock::parse(v4, add_path, withdrawn_raw).map_err(|e| WireError {
            offset: wstart + e.offset,
            kind: WireErrorKind::InvalidNetworkField {
                field: NlriField::Withdrawn,
                reason: e.reason,
            },
        })?;
        let nlri = NlriBlock::parse(v4, add_path, nlri_raw).map_err(|e| WireError {
            offset: nlri_start + e.offset,
            kind: WireErrorKind::InvalidNetworkField {
                field: NlriField::Nlri,
                reason: e.reason,
            },
        })?;
        let mut attribute_errors = Vec::new();
        let parsed = parse_attributes(attrs_c, ctx, &mut attribute_errors)?;
        let attributes = parsed.attributes;
        let mut treat_as_withdraw = parsed.treat_as_withdraw;
        // RFC 7606 §3.d: missing well-known mandatory attributes when NLRI
        // are announced → treat-as-withdraw. NEXT_HOP is only mandatory for
        // the NLRI field (RFC 4760 §3).
        let mp_nlri = attributes.mp_reach().is_some_and(|r| !r.nlri.is_empty());
        if !nlri.is_empty() || mp_nlri {
            let required: &[u8] = if nlri.is_empty() {
                &[type_code::ORIGIN, type_code::AS_PATH]
            } else {
                &[type_code::ORIGIN, type_code::AS_PATH, type_code::NEXT_HOP]
            };
            for &code in required {
                if attributes.get(code).is_none()
                    && !attribute_errors.iter().any(|e| e.type_code == code)
                {
                    treat_as_withdraw = true;
                    attribute_errors.push(AttributeError {
                        type_code: code,
                        offset: base,
                        action: ErrorAction::TreatAsWithdraw,
                        reason: format!(
                            "missing well-known mandatory attribute {}",
                            super::attribute::attribute_name(code)
                        ),
                    });
                }
            }
        }
        if treat_as_withdraw {
            tracing::info!(
                errors = attribute_errors.len(),
                "UPDATE treated as withdraw (RFC 7606)"
            );
        }
        Ok(Update {
            withdrawn,
            attributes,
            nlri,
            treat_as_withdraw,
            attribute_errors,
        })
    }

    /// Writes the body.
    pub(crate) fn emit_body(&self, ctx: &WireContext, out: &mut BytesMut) -> Result<(), EmitError> {
        out.put_u16(u16::try_from(self.withdrawn.raw.len()).map_err(|_| {
            EmitError::FieldTooLong {
                field: "withdrawn routes",
                length: self.withdrawn.raw.len(),
                max: usize::from(u16::MAX),
            }
        })?);
        out.put_slice(&self.withdrawn.raw);
        let at = begin_u16_len(out);
        self.attributes.emit(ctx, out)?;
        patch_u16_len(out, at, "path attributes")?;
        out.put_slice(&self.nlri.raw);
        Ok(())
    }

    /// Length of the body.
    pub fn body_len(&self, ctx: &WireContext) -> usize {
        4 + self.withdrawn.raw.len() + self.attributes.encoded_len(ctx) + self.nlri.raw.len()
    }

    /// UPDATEs announcing `nlri` with `attributes`, as few as fit the
    /// context's maximum message size. IPv4 unicast prefixes with no
    /// `next_hop` go in the NLRI field (the attributes must then hold
    /// NEXT_HOP); anything else goes in an MP_REACH_NLRI placed first
    /// (RFC 7606 §5.1) with `next_hop`. ADD-PATH path ids are written when the
    /// context has ADD-PATH for the family.
    pub fn pack_reach(
        attributes: &PathAttributes,
        next_hop: Option<NextHop>,
        nlri: NlriList<'_>,
        ctx: &WireContext,
    ) -> Result<Vec<Update>, EmitError> {
        let family = nlri.family();
        let add_path = ctx.add_path(family);
        let (pool, ends) = nlri.encode(add_path)?;
        let shared = attributes.without_nlri();
        let base = HEADER_LEN + 4 + shared.encoded_len(ctx);
        let max = ctx.max_message_len();
        match (family == AfiSafi::IPV4_UNICAST, next_hop) {
            (true, None) => {
                let room = max
                    .checked_sub(base)
                    .ok_or(EmitError::TooLarge { length: base, max })?;
                Ok(split(&pool, &ends, room)?
                    .into_iter()
                    .map(|raw| Update {
                        nlri: NlriBlock {
                            kind: family,
                            add_path,
                            raw,
                        },
                        attributes: shared.clone(),
                        ..Update::empty()
                    })
                    .collect())
            }
            (_, None) => Err(EmitError::MissingNextHop { family }),
            (_, Some(nh)) => {
                // MP_REACH header (extended length) + AFI/SAFI/len/nh/reserved.
                let overhead = 4 + 5 + nh.encoded_len();
                let room = max
                    .checked_sub(base + overhead)
                    .ok_or(EmitError::TooLarge {
                        length: base + overhead,
                        max,
                    })?;
                let mut out = Vec::new();
                for raw in split(&pool, &ends, room)? {
                    let mut attrs = PathAttributes::new();
                    attrs.insert(PathAttribute {
                        flags: AttributeFlags(
                            AttributeFlags::OPTIONAL | AttributeFlags::EXTENDED_LENGTH,
                        ),
                        value: AttributeValue::MpReach(MpReach {
                            family,
                            next_hop: nh.clone(),
                            reserved: 0,
                            nlri: NlriBlock {
                                kind: family,
                                add_path,
                                raw,
                            },
                        }),
                    });
                    for a in shared.iter() {
                        attrs.insert(a.clone());
                    }
                    out.push(Update {
                        attributes: attrs,
                        ..Update::empty()
                    });
                }
                Ok(out)
            }
        }
    }

    /// UPDATEs withdrawing `nlri`, as few as fit: IPv4 unicast in the
    /// Withdrawn Routes field, other families in MP_UNREACH_NLRI.
    pub fn pack_withdraw(nlri: NlriList<'_>, ctx: &WireContext) -> Result<Vec<Update>, EmitError> {
        let family = nlri.family();
        let add_path = ctx.add_path(family);
        let (pool, ends) = nlri.encode(add_path)?;
        let max = ctx.max_message_len();
        let block = |raw| NlriBlock {
            kind: family,
            add_path,
            raw,
        };
        if family == AfiSafi::IPV4_UNICAST {
            let room = max - HEADER_LEN - 4;
            return Ok(split(&pool, &ends, room)?
                .into_iter()
                .map(|raw| Update {
                    withdrawn: block(raw),
                    ..Update::empty()
                })
                .collect());
        }
        let room = max - HEADER_LEN - 4 - 4 - 3;
        Ok(split(&pool, &ends, room)?
            .into_iter()
            .map(|raw| {
                let mut u = Update::empty();
                u.attributes.insert(PathAttribute {
                    flags: AttributeFlags(
                        AttributeFlags::OPTIONAL | AttributeFlags::EXTENDED_LENGTH,
                    ),
                    value: AttributeValue::MpUnreach(MpUnreach {
                        family,
                        nlri: block(raw),
                    }),
                });
                u
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::attribute::{AsPath, Origin};
    use crate::wire::context::AddPathFamilies;
    use crate::wire::message::Message;

    fn attrs() -> PathAttributes {
        PathAttributes::new()
            .with(AttributeValue::Origin(Origin::Igp))
            .with(AttributeValue::AsPath(AsPath::sequence([65001])))
            .with(AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)))
    }

    fn prefixes(n: u32) -> Vec<Nlri> {
        (0..n)
            .map(|i| Nlri::new(format!("10.{}.{}.0/24", i >> 8, i & 0xff).parse().unwrap()))
            .collect()
    }

    fn round_trip_all(updates: &[Update], ctx: &WireContext) -> Vec<Nlri> {
        let mut all = Vec::new();
        for u in updates {
            let b = Message::Update(u.clone()).to_bytes(ctx).unwrap();
            assert!(b.len() <= ctx.max_message_len());
            let (Message::Update(back), _) = Message::parse(&b, ctx).unwrap() else {
                panic!()
            };
            assert!(
                back.attribute_errors.is_empty(),
                "{:?}",
                back.attribute_errors
            );
            for blk in back.announced().chain(back.withdrawals()) {
                all.extend(blk.iter());
            }
        }
        all
    }

    #[test]
    fn packs_ipv4_prefixes_under_4096_bytes() {
        let ctx = WireContext::four_octet();
        let p = prefixes(2000);
        let ups = Update::pack_reach(
            &attrs(),
            None,
            NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &p),
            &ctx,
        )
        .unwrap();
        // 4 bytes per /24: (4096 - 19 - 4 - attrs) / 4 ≈ 1010 per message.
        assert_eq!(ups.len(), 2);
        assert_eq!(round_trip_all(&ups, &ctx), p);
        // With extended messages, one UPDATE holds them all.
        let ext = WireContext {
            extended_message: true,
            ..ctx.clone()
        };
        let ups = Update::pack_reach(
            &attrs(),
            None,
            NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &p),
            &ext,
        )
        .unwrap();
        assert_eq!(ups.len(), 1);
    }

    #[test]
    fn packs_mp_reach_first_with_path_ids() {
        let ctx = WireContext {
            add_path: AddPathFamilies::of(&[AfiSafi::IPV6_UNICAST]),
            ..WireContext::four_octet()
        };
        let p: Vec<Nlri> = (0..500u32)
            .map(|i| Nlri {
                path_id: Some(i),
                prefix: format!("2001:db8:{i:x}::/48").parse().unwrap(),
            })
            .collect();
        let nh = NextHop::V6 {
            global: "2001:db8::1".parse().unwrap(),
            link_local: None,
        };
        let ups = Update::pack_reach(
            &attrs(),
            Some(nh),
            NlriList::Prefixes(AfiSafi::IPV6_UNICAST, &p),
            &ctx,
        )
        .unwrap();
        assert_eq!(ups.len(), 2, "500 × 11 bytes needs two 4096-byte messages");
        for u in &ups {
            assert_eq!(
                u.attributes.iter().next().unwrap().type_code(),
                type_code::MP_REACH_NLRI
            );
        }
        assert_eq!(round_trip_all(&ups, &ctx), p);
    }

    #[test]
    fn packs_withdrawals_and_end_of_rib() {
        let ctx = WireContext::four_octet();
        let p = prefixes(1500);
        let ups =
            Update::pack_withdraw(NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &p), &ctx).unwrap();
        assert_eq!(ups.len(), 2);
        assert_eq!(round_trip_all(&ups, &ctx), p);
        let v6: Vec<Nlri> = vec![Nlri::new("2001:db8::/32".parse().unwrap())];
        let ups =
            Update::pack_withdraw(NlriList::Prefixes(AfiSafi::IPV6_UNICAST, &v6), &ctx).unwrap();
        assert_eq!(ups.len(), 1);
        assert_eq!(
            ups[0].attributes.mp_unreach().unwrap().family,
            AfiSafi::IPV6_UNICAST
        );
        assert_eq!(round_trip_all(&ups, &ctx), v6);
        for f in [
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::L2VPN_EVPN,
        ] {
            let eor = Update::end_of_rib(f);
            assert_eq!(eor.is_end_of_rib(), Some(f));
            let b = Message::Update(eor).to_bytes(&ctx).unwrap();
            let (Message::Update(back), _) = Message::parse(&b, &ctx).unwrap() else {
                panic!()
            };
            assert_eq!(back.is_end_of_rib(), Some(f));
        }
        // Empty input packs to nothing.
        assert!(
            Update::pack_withdraw(NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &[]), &ctx)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn mp_families_need_a_next_hop() {
        let p = vec![Nlri::new("2001:db8::/32".parse().unwrap())];
        assert_eq!(
            Update::pack_reach(
                &attrs(),
                None,
                NlriList::Prefixes(AfiSafi::IPV6_UNICAST, &p),
                &WireContext::default()
            ),
            Err(EmitError::MissingNextHop {
                family: AfiSafi::IPV6_UNICAST
            })
        );
    }

    #[test]
    fn attributes_too_large_for_any_nlri_is_an_error() {
        let ctx = WireContext::four_octet();
        let big = attrs().with(AttributeValue::Unknown {
            type_code: 99,
            value: Bytes::from(vec![0u8; 4070]),
        });
        let p = prefixes(1);
        assert!(matches!(
            Update::pack_reach(
                &big,
                None,
                NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &p),
                &ctx
            ),
            Err(EmitError::TooLarge { .. })
        ));
    }
}

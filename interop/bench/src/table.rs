//! The table the blaster sends: generated prefixes, grouped into attribute sets, encoded into
//! BGP UPDATE messages with `perouter-bgp` before t0.

use std::net::Ipv4Addr;

use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net};
use perouter_bgp::wire::{AfiSafi, Capability};
use perouter_bgp::wire::{
    AsPath, AttributeValue, EmitError, EvpnNlri, ExtendedCommunity, Message, NextHop, Nlri,
    NlriList, Origin, PathAttributes, Update, WireContext,
};
use perouter_evpn::{
    EthernetTag, EvpnExtCommunity, EvpnRoute, IpPrefixRoute, Label, MacAddress, RouteDistinguisher,
    RouteTarget,
};

/// First address of the generated prefixes: 16.0.0.0/4 holds 2^20 /24s and 2^28 /32s, away
/// from every address the labs use.
pub const BASE: u32 = 16 << 24;

/// The VNI (label) and route-target number carried by the EVPN type-5 routes.
pub const EVPN_VNI: u32 = 100;

/// The address family of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// IPv4 unicast: prefixes in the NLRI field.
    Ipv4,
    /// L2VPN EVPN type-5 (IP prefix) routes carrying IPv4 prefixes, in MP_REACH_NLRI.
    Evpn,
}

impl Family {
    /// The AFI/SAFI negotiated for the family.
    pub fn afi_safi(self) -> AfiSafi {
        match self {
            Family::Ipv4 => AfiSafi::IPV4_UNICAST,
            Family::Evpn => AfiSafi::L2VPN_EVPN,
        }
    }

    /// The capabilities the harness advertises in its OPEN for this family.
    pub fn capabilities(self, asn: u32) -> Vec<Capability> {
        let f = self.afi_safi();
        vec![
            Capability::MultiProtocol(f),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
            // Graceful-restart aware (no forwarding state): FRR and BIRD send End-of-RIB to such peers.
            Capability::GracefulRestart(perouter_bgp::wire::GracefulRestart {
                restart_flags: 0,
                restart_time: 120,
                families: vec![(f, 0)],
            }),
        ]
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The family of every route.
    pub family: Family,
    /// The number of distinct prefixes.
    pub routes: usize,
    /// The number of distinct attribute sets (MED = set number); prefixes are grouped contiguously.
    pub sets: usize,
    /// Length of each prefix: 24 or 32.
    pub prefix_len: u8,
    /// The blaster's AS (the whole AS_PATH).
    pub asn: u32,
    /// The next hop (IPv4 NEXT_HOP, or the MP_REACH next hop and RD administrator for EVPN).
    pub next_hop: Ipv4Addr,
}

impl TableSpec {
    /// Checks the counts and the prefix length fit the address block.
    pub fn validate(&self) -> Result<(), String> {
        if self.prefix_len != 24 && self.prefix_len != 32 {
            return Err(format!("prefix length {} (24 or 32 only)", self.prefix_len));
        }
        let capacity = 1usize << (self.prefix_len - 4);
        if self.routes == 0 || self.routes > capacity {
            return Err(format!(
                "{} routes: 1 to {capacity} /{} fit in 16.0.0.0/4",
                self.routes, self.prefix_len
            ));
        }
        if self.sets == 0 || self.sets > self.routes {
            return Err(format!(
                "{} attribute sets for {} routes",
                self.sets, self.routes
            ));
        }
        Ok(())
    }

    fn shift(&self) -> u32 {
        32 - u32::from(self.prefix_len)
    }

    /// The prefix of route `i`.
    pub fn prefix(&self, i: usize) -> Ipv4Net {
        let addr = BASE + ((i as u32) << self.shift());
        Ipv4Net::new(Ipv4Addr::from(addr), self.prefix_len).expect("length 24 or 32")
    }

    /// The route index of a received prefix, if it is one of the table's.
    pub fn index_of(&self, addr: u32, len: u8) -> Option<usize> {
        if len != self.prefix_len || addr < BASE {
            return None;
        }
        let off = addr - BASE;
        if off & ((1u32 << self.shift()) - 1) != 0 {
            return None;
        }
        let i = (off >> self.shift()) as usize;
        (i < self.routes).then_some(i)
    }

    /// The attribute set of route `i` (contiguous groups of about routes/sets).
    pub fn set_of(&self, i: usize) -> usize {
        ((i as u128 * self.sets as u128) / self.routes as u128) as usize
    }

    /// The type-5 route carrying route `i`'s prefix.
    pub fn evpn_route(&self, i: usize) -> EvpnRoute {
        EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
            RouteDistinguisher::Ipv4 {
                addr: self.next_hop,
                number: 100,
            },
            perouter_evpn::Esi::ZERO,
            EthernetTag(0),
            IpNet::V4(self.prefix(i)),
            Label::from_vni(EVPN_VNI),
        ))
    }

    fn attributes(&self, set: usize) -> PathAttributes {
        let mut a = PathAttributes::new()
            .with(AttributeValue::Origin(Origin::Igp))
            .with(AttributeValue::AsPath(AsPath::sequence([self.asn])))
            .with(AttributeValue::MultiExitDisc(set as u32));
        match self.family {
            Family::Ipv4 => a = a.with(AttributeValue::NextHop(self.next_hop)),
            Family::Evpn => {
                let rt = RouteTarget::As2 {
                    asn: (self.asn & 0xffff) as u16,
                    number: EVPN_VNI,
                };
                let encap = EvpnExtCommunity::Encapsulation {
                    tunnel_type: perouter_evpn::TUNNEL_TYPE_VXLAN,
                };
                let rmac = EvpnExtCommunity::RouterMac(MacAddress([0x02, 0, 0, 0, 0, 0x01]));
                a = a.with(AttributeValue::ExtendedCommunities(vec![
                    ExtendedCommunity(rt.to_ext_community()),
                    ExtendedCommunity(encap.to_bytes()),
                    ExtendedCommunity(rmac.to_bytes()),
                ]));
            }
        }
        a
    }
}

/// The encoded table: whole BGP messages, and which message carries each route.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Each UPDATE, header included, in sending order.
    pub messages: Vec<Bytes>,
    /// For route `i`, the index in `messages` of the UPDATE announcing it.
    pub message_of: Vec<u32>,
}

impl Encoded {
    /// Total bytes on the wire.
    pub fn bytes(&self) -> usize {
        self.messages.iter().map(|m| m.len()).sum()
    }
}

/// Encodes the whole table, one attribute set after the other, packed as `perouter-bgp` packs
/// (as many NLRI per UPDATE as fit in 4096 bytes).
pub fn encode(spec: &TableSpec, ctx: &WireContext) -> Result<Encoded, EmitError> {
    let mut messages = Vec::new();
    let mut message_of = Vec::with_capacity(spec.routes);
    let mut start = 0usize;
    while start < spec.routes {
        let set = spec.set_of(start);
        let mut end = start + 1;
        while end < spec.routes && spec.set_of(end) == set {
            end += 1;
        }
        let attrs = spec.attributes(set);
        let updates = match spec.family {
            Family::Ipv4 => {
                let nlri: Vec<Nlri> = (start..end)
                    .map(|i| Nlri::new(IpNet::V4(spec.prefix(i))))
                    .collect();
                Update::pack_reach(
                    &attrs,
                    None,
                    NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &nlri),
                    ctx,
                )?
            }
            Family::Evpn => {
                let nlri: Vec<EvpnNlri> = (start..end)
                    .map(|i| EvpnNlri {
                        path_id: None,
                        route: spec.evpn_route(i),
                    })
                    .collect();
                Update::pack_reach(
                    &attrs,
                    Some(NextHop::V4(spec.next_hop)),
                    NlriList::Evpn(&nlri),
                    ctx,
                )?
            }
        };
        for u in updates {
            let n = u.announced().map(|b| b.len()).sum::<usize>();
            let idx = messages.len() as u32;
            message_of.extend(std::iter::repeat_n(idx, n));
            messages.push(Message::Update(u).to_bytes(ctx)?);
        }
        start = end;
    }
    assert_eq!(message_of.len(), spec.routes, "every route in one UPDATE");
    Ok(Encoded {
        messages,
        message_of,
    })
}

/// One UPDATE announcing IPv4 route `i` alone with its usual attributes but via `next_hop`: a
/// next-hop change of one route (the one-change latency, [`crate::change`]).
pub fn encode_next_hop_change(
    spec: &TableSpec,
    i: usize,
    next_hop: Ipv4Addr,
    ctx: &WireContext,
) -> Result<Bytes, EmitError> {
    let changed = TableSpec {
        next_hop,
        ..spec.clone()
    };
    let nlri = [Nlri::new(IpNet::V4(spec.prefix(i)))];
    let updates = Update::pack_reach(
        &changed.attributes(spec.set_of(i)),
        None,
        NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &nlri),
        ctx,
    )?;
    let update = updates
        .into_iter()
        .next()
        .expect("one NLRI fits one UPDATE");
    Message::Update(update).to_bytes(ctx)
}

/// An End-of-RIB marker for `family`, encoded.
pub fn end_of_rib(family: Family, ctx: &WireContext) -> Result<Bytes, EmitError> {
    Message::Update(Update::end_of_rib(family.afi_safi())).to_bytes(ctx)
}

//! Kernel nexthop objects (`RTM_NEWNEXTHOP`, Linux 5.3+): one object per distinct next hop,
//! one group object per distinct ECMP set, and routes that reference them with `RTA_NH_ID`.
//!
//! A million routes through one gateway then share one object, and moving all of them to
//! another gateway is one `RTM_NEWNEXTHOP` replacing the object (the routes are not rewritten).
//!
//! **Encoding by hand.** netlink-packet-route 0.34 (the version in `Cargo.lock`) has no nexthop
//! message (`RouteNetlinkMessage` has no `NewNexthop` variant; only the route attribute
//! `RTA_NH_ID` exists), so the few fixed fields and attributes of `linux/nexthop.h` used here
//! are encoded and parsed in this module.
//!
//! **Identifiers.** Nexthop ids are namespace-wide. perouter allocates its objects in
//! [`ID_FIRST`]`..=`[`ID_LAST`] (the lowest id free in the namespace, so a plan is a pure
//! function of what the kernel reports) and marks them with protocol
//! [`crate::desired::ROUTE_PROTOCOL`]; objects of any other protocol are never touched. After a
//! restart the observed objects of our protocol are adopted as they are: a route whose object
//! still describes its wanted next hops is left alone.
//!
//! **Fallback.** When the kernel refuses nexthop objects (no `RTM_GETNEXTHOP`: `EOPNOTSUPP`,
//! `EINVAL` on kernels before 5.3), or a gateway cannot be tied to one device (the kernel
//! requires `NHA_OIF`), routes carry their gateways themselves (`RTA_GATEWAY`/`RTA_MULTIPATH`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `RTM_NEWNEXTHOP` (linux/rtnetlink.h).
pub const RTM_NEWNEXTHOP: u16 = 104;
/// `RTM_DELNEXTHOP`.
pub const RTM_DELNEXTHOP: u16 = 105;
/// `RTM_GETNEXTHOP`.
pub const RTM_GETNEXTHOP: u16 = 106;
/// `RTNLGRP_NEXTHOP`: the multicast group of nexthop notifications.
pub const RTNLGRP_NEXTHOP: u32 = 32;

/// First nexthop id perouter allocates ("PE" in the high half).
pub const ID_FIRST: u32 = 0x5045_0000;
/// Last nexthop id perouter allocates: 2^20 objects, far more than distinct next hops.
pub const ID_LAST: u32 = 0x5054_ffff;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
/// `RTNH_F_ONLINK`.
const RTNH_F_ONLINK: u32 = 4;
/// Size of `struct nhmsg` (family, scope, protocol, reserved, flags u32).
pub const NHMSG_LEN: usize = 8;
/// Offset of `nh_protocol` in `struct nhmsg`.
pub const NH_PROTOCOL_OFFSET: usize = 2;

/// One next hop as a kernel object: a gateway on a device (`onlink` or resolved on the device's
/// connected subnets). The kernel requires the device (`NHA_OIF`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NhHop {
    /// Gateway.
    pub gateway: IpAddr,
    /// Output device.
    pub dev: String,
    /// `RTNH_F_ONLINK`: the gateway is not on the device's subnet.
    pub onlink: bool,
}

/// What one nexthop object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NhObject {
    /// A single next hop.
    Hop(NhHop),
    /// An ECMP group of other objects (equal weights), by id, ascending.
    Group(Vec<u32>),
}

/// A nexthop object of protocol [`crate::desired::ROUTE_PROTOCOL`] as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedNhObject {
    /// A single next hop.
    Hop {
        /// Gateway (`None`: a device-only next hop, which this crate never creates).
        gateway: Option<IpAddr>,
        /// Output interface index.
        oif: u32,
        /// `RTNH_F_ONLINK`.
        onlink: bool,
    },
    /// A group, member ids ascending.
    Group(Vec<u32>),
}

/// The nexthop objects of one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedNhObjects {
    /// Whether the kernel takes nexthop objects (and the driver is allowed to use them).
    pub supported: bool,
    /// Our objects by id.
    pub ours: BTreeMap<u32, ObservedNhObject>,
    /// Every id in use in the namespace, ours or not (ids are namespace-wide).
    pub taken: BTreeSet<u32>,
    /// Objects used by routes the streaming audit ([`crate::index::Audit`]) found installed
    /// as wanted and left out of the observation: the diff keeps them.
    pub audited: BTreeSet<u32>,
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + ((len + 3) & !3) - len, 0);
}

fn family_of(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

/// The body (`struct nhmsg` and attributes) of an `RTM_NEWNEXTHOP` creating or replacing object
/// `id`; `oif` is the device's index for a [`NhObject::Hop`].
pub fn encode_new(id: u32, object: &NhObject, oif: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(48);
    let (family, flags) = match object {
        NhObject::Hop(h) => (
            family_of(&h.gateway),
            if h.onlink { RTNH_F_ONLINK } else { 0 },
        ),
        NhObject::Group(_) => (libc::AF_UNSPEC as u8, 0),
    };
    b.extend_from_slice(&[family, 0, crate::desired::ROUTE_PROTOCOL, 0]);
    b.extend_from_slice(&flags.to_ne_bytes());
    push_attr(&mut b, NHA_ID, &id.to_ne_bytes());
    match object {
        NhObject::Hop(h) => {
            push_attr(&mut b, NHA_OIF, &oif.to_ne_bytes());
            match h.gateway {
                IpAddr::V4(v) => push_attr(&mut b, NHA_GATEWAY, &v.octets()),
                IpAddr::V6(v) => push_attr(&mut b, NHA_GATEWAY, &v.octets()),
            }
        }
        NhObject::Group(members) => {
            // struct nexthop_grp { u32 id; u8 weight (minus one); u8 weight_high; u16 resvd }
            let mut g = Vec::with_capacity(members.len() * 8);
            for m in members {
                g.extend_from_slice(&m.to_ne_bytes());
                g.extend_from_slice(&[0, 0, 0, 0]);
            }
            push_attr(&mut b, NHA_GROUP, &g);
        }
    }
    b
}

/// The body of an `RTM_DELNEXTHOP` removing object `id`.
pub fn encode_del(id: u32) -> Vec<u8> {
    let mut b = vec![0u8; NHMSG_LEN];
    push_attr(&mut b, NHA_ID, &id.to_ne_bytes());
    b
}

/// The body of an `RTM_GETNEXTHOP` dump request (every object, both families).
pub fn encode_dump() -> Vec<u8> {
    vec![0u8; NHMSG_LEN]
}

/// Parses the body of one `RTM_NEWNEXTHOP` (dump reply or notification): its id, protocol and
/// content; `None` when malformed.
pub fn parse(body: &[u8]) -> Option<(u32, u8, ObservedNhObject)> {
    let hdr = body.get(..NHMSG_LEN)?;
    let protocol = hdr[NH_PROTOCOL_OFFSET];
    let flags = u32::from_ne_bytes(hdr[4..8].try_into().ok()?);
    let (mut id, mut oif, mut gateway, mut group) = (None, 0u32, None, None);
    let mut off = NHMSG_LEN;
    while let Some(tlv) = body.get(off..off + 4) {
        let len = u16::from_ne_bytes([tlv[0], tlv[1]]) as usize;
        if len < 4 {
            break;
        }
        let kind = u16::from_ne_bytes([tlv[2], tlv[3]]) & 0x3fff;
        let v = body.get(off + 4..off + len)?;
        match kind {
            NHA_ID => id = Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?)),
            NHA_OIF => oif = u32::from_ne_bytes(v.get(..4)?.try_into().ok()?),
            NHA_GATEWAY => {
                gateway = match v.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
                    _ => None,
                }
            }
            NHA_GROUP => {
                let mut ids: Vec<u32> = v
                    .chunks_exact(8)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                ids.sort_unstable();
                group = Some(ids);
            }
            _ => {}
        }
        off += (len + 3) & !3;
    }
    let object = match group {
        Some(g) => ObservedNhObject::Group(g),
        None => ObservedNhObject::Hop {
            gateway,
            oif,
            onlink: flags & RTNH_F_ONLINK != 0,
        },
    };
    Some((id?, protocol, object))
}

/// The lowest id of perouter's range not in `taken`; marks it taken.
pub fn allocate(taken: &mut BTreeSet<u32>) -> Option<u32> {
    let mut candidate = ID_FIRST;
    for &t in taken.range(ID_FIRST..=ID_LAST) {
        if t != candidate {
            break;
        }
        candidate = candidate.checked_add(1)?;
    }
    (candidate <= ID_LAST).then(|| {
        taken.insert(candidate);
        candidate
    })
}

/// The nexthop objects the kernel holds after a pass, by what they hold: lets the edge-triggered
/// path ([`crate::edge`]) point a changed route at an existing object without an observation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NhIndex {
    /// Single-hop objects by hop.
    hops: BTreeMap<NhHop, u32>,
    /// Single-hop objects whose gateway the kernel resolves (not `onlink`), by gateway.
    via: BTreeMap<IpAddr, u32>,
    /// Group objects by member ids (ascending).
    groups: BTreeMap<Vec<u32>, u32>,
    /// Every nexthop id taken in the namespace (for new objects).
    taken: BTreeSet<u32>,
    /// Running devices (up, with carrier) and their connected subnets.
    running: BTreeMap<String, Vec<ipnet::IpNet>>,
}

impl NhIndex {
    /// The index of the objects `router` reported, with the objects `ops` (a plan applied
    /// without failure) created, re-pointed or deleted.
    pub fn after(router: &crate::observed::NamespaceState, ops: &[crate::op::Op]) -> NhIndex {
        use crate::op::Op;
        let mut by_id: BTreeMap<u32, NhObject> = BTreeMap::new();
        for (id, o) in &router.nexthops.ours {
            let object = match o {
                ObservedNhObject::Hop {
                    gateway: Some(gateway),
                    oif,
                    onlink,
                } => match router.name_of(*oif) {
                    Some(dev) => NhObject::Hop(NhHop {
                        gateway: *gateway,
                        dev: dev.to_string(),
                        onlink: *onlink,
                    }),
                    None => continue,
                },
                ObservedNhObject::Hop { .. } => continue,
                ObservedNhObject::Group(m) => NhObject::Group(m.clone()),
            };
            by_id.insert(*id, object);
        }
        for op in ops {
            match op {
                Op::ReplaceNhObject { id, object } => {
                    by_id.insert(*id, object.clone());
                }
                Op::DelNhObject { id } => {
                    by_id.remove(id);
                }
                // A device deleted or recreated takes its objects with it.
                Op::DeleteLink { .. } => {
                    by_id.retain(|_, o| !matches!(o, NhObject::Hop(_)));
                }
                _ => {}
            }
        }
        let mut ix = NhIndex {
            taken: router.nexthops.taken.clone(),
            ..Default::default()
        };
        ix.taken.extend(by_id.keys().copied());
        let deleted: BTreeSet<&str> = ops
            .iter()
            .filter_map(|op| match op {
                Op::DeleteLink { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        for l in router.links.values() {
            if l.up && l.carrier && l.name != "lo" && !deleted.contains(l.name.as_str()) {
                let nets = l
                    .addresses
                    .iter()
                    .filter(|a| a.prefix_len() < a.max_prefix_len())
                    .copied()
                    .collect();
                ix.running.insert(l.name.clone(), nets);
            }
        }
        for (id, o) in by_id {
            match o {
                NhObject::Hop(h) => {
                    if !h.onlink {
                        ix.via.insert(h.gateway, id);
                    }
                    ix.hops.insert(h, id);
                }
                NhObject::Group(mut m) => {
                    m.sort_unstable();
                    ix.groups.insert(m, id);
                }
            }
        }
        // Groups whose members are gone are gone too.
        let live: BTreeSet<u32> = ix.hops.values().copied().collect();
        ix.groups
            .retain(|m, _| m.iter().all(|id| live.contains(id)));
        ix
    }

    /// Whether no object is known and none can be made (no running device known).
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty() && self.running.is_empty()
    }

    /// The object holding `hops`, created if none does: `(id, objects to create first)`.
    /// `None` when a hop has no running device (or its gateway's device is ambiguous), or the
    /// id range is full: the route then carries its gateways.
    pub fn ensure(&mut self, hops: &[crate::op::NextHop]) -> Option<(u32, Vec<crate::op::Op>)> {
        use crate::op::Op;
        let mut new = Vec::new();
        let mut ids = Vec::with_capacity(hops.len());
        for h in hops {
            let hop = match &h.dev {
                Some(dev) if self.running.contains_key(dev) => NhHop {
                    gateway: h.gateway,
                    dev: dev.clone(),
                    onlink: true,
                },
                Some(_) => return None,
                None => {
                    if let Some(id) = self.via.get(&h.gateway) {
                        ids.push(*id);
                        continue;
                    }
                    let mut devs = self.running.iter().filter(|(_, nets)| {
                        nets.iter()
                            .any(|n| n.contains(&h.gateway) && n.addr() != h.gateway)
                    });
                    let (dev, _) = devs.next()?;
                    if devs.next().is_some() {
                        return None;
                    }
                    NhHop {
                        gateway: h.gateway,
                        dev: dev.clone(),
                        onlink: false,
                    }
                }
            };
            let id = match self.hops.get(&hop) {
                Some(id) => *id,
                None => {
                    let id = allocate(&mut self.taken)?;
                    new.push(Op::ReplaceNhObject {
                        id,
                        object: NhObject::Hop(hop.clone()),
                    });
                    if !hop.onlink {
                        self.via.insert(hop.gateway, id);
                    }
                    self.hops.insert(hop, id);
                    id
                }
            };
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        let id = match ids.as_slice() {
            [] => return None,
            [one] => *one,
            many => match self.groups.get(many) {
                Some(id) => *id,
                None => {
                    let id = allocate(&mut self.taken)?;
                    new.push(Op::ReplaceNhObject {
                        id,
                        object: NhObject::Group(many.to_vec()),
                    });
                    self.groups.insert(many.to_vec(), id);
                    id
                }
            },
        };
        Some((id, new))
    }

    /// The object that holds exactly `hops` (a group for several), if one exists.
    pub fn lookup(&self, hops: &[crate::op::NextHop]) -> Option<u32> {
        let ids: Option<Vec<u32>> = hops
            .iter()
            .map(|h| match &h.dev {
                Some(dev) => self
                    .hops
                    .get(&NhHop {
                        gateway: h.gateway,
                        dev: dev.clone(),
                        onlink: true,
                    })
                    .copied(),
                None => self.via.get(&h.gateway).copied(),
            })
            .collect();
        match ids?.as_mut_slice() {
            [one] => Some(*one),
            [] => None,
            many => {
                many.sort_unstable();
                self.groups.get(many).copied()
            }
        }
    }
}

/// The routes of `ops` to send again with their gateways in them, because the nexthop object
/// they refer to was refused (`failed` holds the indexes of the failed operations, e.g. a
/// device without carrier): each such [`crate::op::Op::ReplaceRouteNh`] becomes the
/// equivalent [`crate::op::Op::ReplaceRoute`]. Returns (index of the original operation,
/// replacement).
pub fn fallback_routes(
    ops: &[crate::op::Op],
    failed: &BTreeSet<usize>,
) -> Vec<(usize, crate::op::Op)> {
    use crate::op::{NextHop, Op};
    let mut objects: BTreeMap<u32, &NhObject> = BTreeMap::new();
    let mut refused: BTreeSet<u32> = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::ReplaceNhObject { id, object } = op {
            objects.insert(*id, object);
            if failed.contains(&i) {
                refused.insert(*id);
            }
        }
    }
    let hop = |h: &NhHop| {
        if h.onlink {
            NextHop::onlink(h.gateway, h.dev.clone())
        } else {
            NextHop::via(h.gateway)
        }
    };
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Op::ReplaceRouteNh {
            table,
            prefix,
            nhid,
        } = op
        else {
            continue;
        };
        let nexthops = match objects.get(nhid) {
            Some(NhObject::Group(m))
                if refused.contains(nhid) || m.iter().any(|m| refused.contains(m)) =>
            {
                m.iter()
                    .filter_map(|m| match objects.get(m) {
                        Some(NhObject::Hop(h)) => Some(hop(h)),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            }
            Some(NhObject::Hop(h)) if refused.contains(nhid) => vec![hop(h)],
            _ => continue,
        };
        if !nexthops.is_empty() {
            out.push((
                i,
                Op::ReplaceRoute {
                    table: *table,
                    prefix: *prefix,
                    nexthops,
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_objects_parse_back() {
        let hop = NhObject::Hop(NhHop {
            gateway: "192.0.2.1".parse().unwrap(),
            dev: "eth0".into(),
            onlink: true,
        });
        let (id, proto, o) = parse(&encode_new(ID_FIRST, &hop, 7)).unwrap();
        assert_eq!((id, proto), (ID_FIRST, crate::desired::ROUTE_PROTOCOL));
        assert_eq!(
            o,
            ObservedNhObject::Hop {
                gateway: Some("192.0.2.1".parse().unwrap()),
                oif: 7,
                onlink: true
            }
        );
        let v6 = NhObject::Hop(NhHop {
            gateway: "2001:db8::1".parse().unwrap(),
            dev: "eth0".into(),
            onlink: false,
        });
        let (_, _, o) = parse(&encode_new(9, &v6, 3)).unwrap();
        assert_eq!(
            o,
            ObservedNhObject::Hop {
                gateway: Some("2001:db8::1".parse().unwrap()),
                oif: 3,
                onlink: false
            }
        );
        let group = NhObject::Group(vec![5, 3]);
        let (id, _, o) = parse(&encode_new(11, &group, 0)).unwrap();
        assert_eq!((id, o), (11, ObservedNhObject::Group(vec![3, 5])));
        assert_eq!(parse(&encode_del(12)).unwrap().0, 12);
    }

    #[test]
    fn allocation_takes_the_lowest_free_id_of_the_range() {
        let mut taken: BTreeSet<u32> = [1, ID_FIRST, ID_FIRST + 1, ID_FIRST + 3].into();
        assert_eq!(allocate(&mut taken), Some(ID_FIRST + 2));
        assert_eq!(allocate(&mut taken), Some(ID_FIRST + 4));
        let mut full: BTreeSet<u32> = (ID_FIRST..=ID_LAST).collect();
        assert_eq!(allocate(&mut full), None);
    }
}

//! Kernel notifications from the router namespace: local MACs learned on L2VNI bridges and
//! MAC+IP from neighbour entries (for type-2 origination), and drift (someone removed one of our
//! objects), which should trigger a reconcile; a link losing its carrier (so that the sessions
//! over it end at once instead of at hold-timer expiry). Also the refresher that keeps silent
//! hosts' neighbour entries alive.
//!
//! [`WatchDecoder`] is pure (messages in, [`KernelEvent`]s out); [`spawn`] is the thin driver
//! thread that reads the multicast socket and forwards events on a bounded channel.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

use crate::desired::{names, NodeDatapath};
use crate::netns::NetnsHandle;
use crate::nexthop;
use crate::observed::{
    fdb_from_message, neighbour_from_message, route_from_message, LinkKind, NamespaceState,
};
use crate::op::Op;
use perouter_evpn::MacAddress;

/// `NUD_STALE`.
const NUD_STALE: u16 = 0x04;
/// `NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE`: an entry with a usable MAC.
const NUD_USABLE: u16 = 0x02 | 0x04 | 0x08 | 0x10;

/// Something the kernel reported that the control plane must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// A MAC learned (or aged out) on an L2VNI bridge from a local port: a type-2 MAC route to
    /// originate (or withdraw), RFC 7432 §9.1.
    LocalMac {
        /// The L2VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddress,
        /// Learned (`true`) or gone (`false`).
        present: bool,
    },
    /// A neighbour resolved (or gone) on an L2VNI bridge: a type-2 MAC+IP route, RFC 7432 §9.1.
    LocalNeighbour {
        /// The L2VNI.
        vni: u32,
        /// The IP.
        ip: IpAddr,
        /// Its MAC.
        mac: Option<MacAddress>,
        /// Usable (`true`) or gone/failed (`false`).
        present: bool,
    },
    /// One of our objects changed behind our back: reconcile.
    Drift {
        /// What happened, for the log.
        what: String,
    },
    /// A link that was running lost its carrier or was set down (or deleted): what ran over it
    /// is gone (FRR's fast-external-failover acts on this).
    LinkDown {
        /// The link's name.
        name: String,
        /// The addresses it had when the watch started.
        addresses: Vec<IpAddr>,
    },
}

/// Turns notifications into events; tracks link names to interpret them.
#[derive(Debug, Default)]
pub struct WatchDecoder {
    links: BTreeMap<u32, String>,
    /// Links running (`IFF_UP` and `IFF_LOWER_UP`) as last seen.
    running: BTreeSet<u32>,
    /// Addresses of each link, from the seed.
    addresses: BTreeMap<u32, Vec<IpAddr>>,
}

impl WatchDecoder {
    /// A decoder that knows the links of `state` (seed it from a dump, then feed notifications).
    pub fn new(state: &NamespaceState) -> WatchDecoder {
        WatchDecoder {
            links: state
                .links
                .values()
                .map(|l| (l.ifindex, l.name.clone()))
                .collect(),
            // The dump does not carry the carrier: an up link counts as running.
            running: state
                .links
                .values()
                .filter(|l| l.up)
                .map(|l| l.ifindex)
                .collect(),
            addresses: state
                .links
                .values()
                .map(|l| (l.ifindex, l.addresses.iter().map(IpNet::addr).collect()))
                .collect(),
        }
    }

    fn link_down(&mut self, index: u32, name: Option<String>) -> Vec<KernelEvent> {
        if !self.running.remove(&index) {
            return vec![];
        }
        match name {
            Some(name) => vec![KernelEvent::LinkDown {
                name,
                addresses: self.addresses.get(&index).cloned().unwrap_or_default(),
            }],
            None => vec![],
        }
    }

    fn name(&self, i: u32) -> Option<&str> {
        self.links.get(&i).map(String::as_str)
    }

    fn l2vni_of_bridge(&self, i: u32) -> Option<u32> {
        names::vni_of(self.name(i)?, names::BRIDGE_PREFIX)
    }

    /// The local MACs and neighbours already in `state` (learned before the watch started, e.g.
    /// while the previous process ran), as the events their notifications would have been. The
    /// kernel announces an FDB row or a neighbour only when it changes: without this, a workload
    /// that stays where it is would be originated (type-2, RFC 7432 §9.1) only at its next change
    /// — for a neighbour, REACHABLE → STALE after 15–45 s; for a busy FDB row, never.
    pub fn seed_events(&self, state: &NamespaceState) -> Vec<KernelEvent> {
        let master: BTreeMap<u32, u32> = state
            .links
            .values()
            .filter_map(|l| Some((l.ifindex, l.master?)))
            .collect();
        let mut evs = Vec::new();
        for e in &state.fdb {
            let port_is_vxlan = self
                .name(e.ifindex)
                .is_some_and(|p| names::vni_of(p, names::VXLAN_PREFIX).is_some());
            if e.is_self || e.ext_learned || e.permanent || port_is_vxlan {
                continue;
            }
            if let Some(vni) = master
                .get(&e.ifindex)
                .and_then(|&m| self.l2vni_of_bridge(m))
            {
                evs.push(KernelEvent::LocalMac {
                    vni,
                    mac: e.mac,
                    present: true,
                });
            }
        }
        for (&(ifindex, ip), n) in &state.neighbours {
            if n.ext_learned || n.mac.is_none() || n.state & NUD_USABLE == 0 {
                continue;
            }
            if let Some(vni) = self.l2vni_of_bridge(ifindex) {
                evs.push(KernelEvent::LocalNeighbour {
                    vni,
                    ip,
                    mac: n.mac,
                    present: true,
                });
            }
        }
        evs
    }

    /// Handles one notification.
    pub fn handle_message(&mut self, msg: &RouteNetlinkMessage) -> Vec<KernelEvent> {
        use RouteNetlinkMessage as M;
        match msg {
            M::NewLink(l) => {
                let index = l.header.index;
                if let Some(n) = link_name(l) {
                    self.links.insert(index, n);
                }
                let f = l.header.flags;
                if f.contains(LinkFlags::Up) && f.contains(LinkFlags::LowerUp) {
                    self.running.insert(index);
                    vec![]
                } else {
                    let name = self.name(index).map(str::to_string);
                    self.link_down(index, name)
                }
            }
            M::DelLink(l) => {
                let index = l.header.index;
                let name = self.links.remove(&index).or_else(|| link_name(l));
                let mut evs = Vec::new();
                if let Some(n) = name.as_ref().filter(|n| is_ours(n)) {
                    evs.push(KernelEvent::Drift {
                        what: format!("link {n} deleted"),
                    });
                }
                evs.extend(self.link_down(index, name));
                self.addresses.remove(&index);
                evs
            }
            M::DelRoute(r) => match route_from_message(r) {
                Some(((table, prefix), _)) => {
                    vec![KernelEvent::Drift {
                        what: format!("route {prefix} table {table} deleted"),
                    }]
                }
                None => vec![],
            },
            M::NewNeighbour(n) | M::DelNeighbour(n) => {
                let present = matches!(msg, M::NewNeighbour(_));
                self.neighbour(n, present)
            }
            _ => vec![],
        }
    }

    fn neighbour(&self, n: &NeighbourMessage, present: bool) -> Vec<KernelEvent> {
        let ext = n.header.flags.contains(NeighbourFlags::ExtLearned);
        if n.header.family == AddressFamily::Bridge {
            let Some(e) = fdb_from_message(n) else {
                return vec![];
            };
            // A bridge row from a local port: not the VXLAN device's, not ours, not static.
            let master = n.attributes.iter().find_map(|a| match a {
                netlink_packet_route::neighbour::NeighbourAttribute::Controller(m) => Some(*m),
                _ => None,
            });
            let port_is_vxlan = self
                .name(e.ifindex)
                .is_some_and(|p| names::vni_of(p, names::VXLAN_PREFIX).is_some());
            if e.is_self || ext || e.permanent || port_is_vxlan {
                if ext && !present && port_is_vxlan {
                    return vec![KernelEvent::Drift {
                        what: format!("remote MAC {} removed", e.mac),
                    }];
                }
                return vec![];
            }
            let Some(vni) = master.and_then(|m| self.l2vni_of_bridge(m)) else {
                return vec![];
            };
            return vec![KernelEvent::LocalMac {
                vni,
                mac: e.mac,
                present,
            }];
        }
        let Some(((ifindex, ip), entry)) = neighbour_from_message(n) else {
            return vec![];
        };
        let Some(vni) = self.l2vni_of_bridge(ifindex) else {
            return vec![];
        };
        if ext {
            return if present {
                vec![]
            } else {
                vec![KernelEvent::Drift {
                    what: format!("neighbour {ip} on VNI {vni} removed"),
                }]
            };
        }
        let usable = present && entry.state & NUD_USABLE != 0;
        vec![KernelEvent::LocalNeighbour {
            vni,
            ip,
            mac: entry.mac,
            present: usable,
        }]
    }
}

/// `RTM_NEWROUTE` (linux/rtnetlink.h).
const RTM_NEWROUTE: u16 = 24;
/// `RTM_DELROUTE`.
const RTM_DELROUTE: u16 = 25;
/// Size of `struct nlmsghdr`; the `struct rtmsg` of a route message follows it.
const NLMSG_HDRLEN: usize = 16;
/// Offset of `rtm_protocol` in `struct rtmsg` (family, dst_len, src_len, tos, table, protocol).
const RTM_PROTOCOL_OFFSET: usize = 5;

/// Whether one raw notification can matter to [`WatchDecoder`], read from its fixed headers
/// without decoding it. Route additions never do (the decoder acts on none), and a route
/// deletion only does when the route is ours (protocol [`crate::desired::ROUTE_PROTOCOL`]):
/// anything else is ignored by [`WatchDecoder::handle_message`] anyway. The kernel announces
/// every route perouter installs, so at scale this drops almost all of the watch's traffic
/// before any decoding or allocation.
pub fn worth_decoding(frame: &[u8]) -> bool {
    let Some(t) = frame.get(4..6) else {
        return false;
    };
    match u16::from_ne_bytes([t[0], t[1]]) {
        RTM_NEWROUTE => false,
        RTM_DELROUTE => {
            frame.get(NLMSG_HDRLEN + RTM_PROTOCOL_OFFSET) == Some(&crate::desired::ROUTE_PROTOCOL)
        }
        // Nexthop objects: only the deletion of one of ours matters (the kernel drops the
        // routes using it without a notification per route).
        nexthop::RTM_NEWNEXTHOP => false,
        nexthop::RTM_DELNEXTHOP => {
            frame.get(NLMSG_HDRLEN + nexthop::NH_PROTOCOL_OFFSET)
                == Some(&crate::desired::ROUTE_PROTOCOL)
        }
        _ => true,
    }
}

/// What [`decode_frames`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Netlink messages in the buffer.
    pub frames: u64,
    /// Of those, skipped by [`worth_decoding`] without being decoded.
    pub skipped: u64,
}

/// Walks the netlink messages of one `recv` buffer, decodes those [`worth_decoding`] and hands
/// the decoder's events to `emit`, which returns false to stop (the receiver is gone). Returns
/// false when it stopped.
pub fn decode_frames(
    data: &[u8],
    decoder: &mut WatchDecoder,
    counts: &mut FrameCounts,
    mut emit: impl FnMut(KernelEvent) -> bool,
) -> bool {
    let mut off = 0usize;
    while let Some(hdr) = data.get(off..off + 4) {
        let len = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let Some(frame) = data.get(off..off + len).filter(|_| len >= NLMSG_HDRLEN) else {
            break;
        };
        counts.frames += 1;
        if !worth_decoding(frame) {
            counts.skipped += 1;
        } else if u16::from_ne_bytes([frame[4], frame[5]]) == nexthop::RTM_DELNEXTHOP {
            // netlink-packet-route has no nexthop messages: read the id from the fixed layout.
            if let Some((id, _, _)) = nexthop::parse(&frame[NLMSG_HDRLEN..]) {
                let ev = KernelEvent::Drift {
                    what: format!("nexthop object {id} deleted"),
                };
                tracing::debug!(event = ?ev, "kernel event");
                if !emit(ev) {
                    return false;
                }
            }
        } else if let Ok(NetlinkMessage {
            payload: NetlinkPayload::InnerMessage(m),
            ..
        }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame)
        {
            for ev in decoder.handle_message(&m) {
                tracing::debug!(event = ?ev, "kernel event");
                if !emit(ev) {
                    return false;
                }
            }
        }
        off += (len + 3) & !3;
    }
    true
}

fn link_name(l: &LinkMessage) -> Option<String> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn is_ours(n: &str) -> bool {
    [
        names::BRIDGE_PREFIX,
        names::VXLAN_PREFIX,
        names::ROUTER_VETH_PREFIX,
    ]
    .iter()
    .any(|p| names::vni_of(n, p).is_some())
        || n == names::PASSTHROUGH_ROUTER
}

/// The refresher: a probe (`NTF_USE`) for every STALE, locally learned neighbour on an L2VNI
/// bridge whose MAC the bridge last saw on a local port, so the kernel re-resolves it and a
/// silent host's type-2 route stays (upstream pings STALE entries every 30 s).
///
/// A neighbour whose MAC sits behind the VXLAN port (the workload moved to another node) or that
/// the bridge no longer knows is not probed: the probe would cross the fabric and the answer
/// would refresh the *other* node's FDB, keeping alive there a route that its own node decided
/// to let age out.
pub fn stale_probes(desired: &NodeDatapath, router: &NamespaceState) -> Vec<Op> {
    let mut out = Vec::new();
    for v in &desired.l2vnis {
        let br = names::bridge(v.vni);
        let Some(link) = router.links.get(&br) else {
            continue;
        };
        // Ports of this bridge that are not VXLAN devices: where local workloads are learned.
        let local_ports: BTreeSet<u32> = router
            .links
            .values()
            .filter(|l| l.master == Some(link.ifindex) && !matches!(l.kind, LinkKind::Vxlan(_)))
            .map(|l| l.ifindex)
            .collect();
        // The MACs the bridge learned on those ports, once per bridge (not per neighbour).
        let local_macs: BTreeSet<MacAddress> = router
            .fdb
            .iter()
            .filter(|f| {
                f.master
                    && !f.permanent
                    && !f.ext_learned
                    && f.dst.is_none()
                    && local_ports.contains(&f.ifindex)
            })
            .map(|f| f.mac)
            .collect();
        for ((ifindex, ip), n) in &router.neighbours {
            if *ifindex == link.ifindex
                && !n.ext_learned
                && n.state == NUD_STALE
                && n.mac.is_some_and(|m| local_macs.contains(&m))
            {
                out.push(Op::ProbeNeighbour {
                    dev: br.clone(),
                    ip: *ip,
                });
            }
        }
    }
    out
}

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NEIGH: u32 = 3;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_ROUTE: u32 = 11;

/// Starts a thread that listens to link, neighbour and route notifications in `router` and
/// sends [`KernelEvent`]s on `tx` (bounded: a slow consumer slows the reader, never loses
/// order). The thread ends when `tx` is closed. `seed` is a current view of the namespace.
pub fn spawn(
    router: &NetnsHandle,
    seed: &NamespaceState,
    tx: tokio::sync::mpsc::Sender<KernelEvent>,
) -> io::Result<std::thread::JoinHandle<()>> {
    let sock = router.run(|| -> io::Result<Socket> {
        let mut s = Socket::new(NETLINK_ROUTE)?;
        s.bind_auto()?;
        for g in [
            RTNLGRP_LINK,
            RTNLGRP_NEIGH,
            RTNLGRP_IPV4_ROUTE,
            RTNLGRP_IPV6_ROUTE,
        ] {
            s.add_membership(g)?;
        }
        // Kernels without nexthop objects (before 5.3) have no such group: nothing to watch.
        if let Err(e) = s.add_membership(nexthop::RTNLGRP_NEXTHOP) {
            tracing::debug!(error = %e, "no nexthop notifications");
        }
        Ok(s)
    })??;
    let mut decoder = WatchDecoder::new(seed);
    std::thread::Builder::new()
        .name("fib-watch".into())
        .spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut counts = FrameCounts::default();
            loop {
                // SAFETY: buf is valid for writes of buf.len() bytes during the call.
                let n =
                    unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::ENOBUFS) {
                        // Notifications were lost: ask for a full reconcile.
                        if tx
                            .blocking_send(KernelEvent::Drift {
                                what: "notifications overrun".into(),
                            })
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    tracing::warn!(error = %e, "kernel watch stopped");
                    return;
                }
                let data = &buf[..n as usize];
                if !decode_frames(data, &mut decoder, &mut counts, |ev| {
                    tx.blocking_send(ev).is_ok()
                }) {
                    return;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};

    fn decoder() -> WatchDecoder {
        let mut d = WatchDecoder::default();
        d.links.insert(10, "br-pe-110".into());
        d.links.insert(11, "vni110".into());
        d.links.insert(12, "pe-e-110".into());
        d
    }

    fn fdb(port: u32, master: u32, flags: NeighbourFlags) -> NeighbourMessage {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Bridge;
        m.header.ifindex = port;
        m.header.flags = flags;
        m.header.state = NeighbourState::Reachable;
        m.attributes = vec![
            NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 7]),
            NeighbourAttribute::Controller(master),
        ];
        m
    }

    #[test]
    fn local_macs_are_reported_remote_ones_are_not() {
        let mut d = decoder();
        let ev = d.handle_message(&RouteNetlinkMessage::NewNeighbour(fdb(
            12,
            10,
            NeighbourFlags::empty(),
        )));
        assert_eq!(
            ev,
            vec![KernelEvent::LocalMac {
                vni: 110,
                mac: MacAddress([2, 0, 0, 0, 0, 7]),
                present: true
            }]
        );
        let ev = d.handle_message(&RouteNetlinkMessage::DelNeighbour(fdb(
            12,
            10,
            NeighbourFlags::empty(),
        )));
        assert!(matches!(
            ev[0],
            KernelEvent::LocalMac { present: false, .. }
        ));
        // Our own extern_learn row on the VXLAN port is no local MAC; its removal is drift.
        let ours = fdb(11, 10, NeighbourFlags::ExtLearned);
        assert!(d
            .handle_message(&RouteNetlinkMessage::NewNeighbour(ours.clone()))
            .is_empty());
        assert!(matches!(
            d.handle_message(&RouteNetlinkMessage::DelNeighbour(ours))[0],
            KernelEvent::Drift { .. }
        ));
    }

    #[test]
    fn neighbours_on_l2vni_bridges_become_mac_ip_events() {
        let mut d = decoder();
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.ifindex = 10;
        m.header.state = NeighbourState::Reachable;
        m.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(
                "192.168.110.5".parse().unwrap(),
            )),
            NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 9]),
        ];
        let ev = d.handle_message(&RouteNetlinkMessage::NewNeighbour(m.clone()));
        assert_eq!(
            ev,
            vec![KernelEvent::LocalNeighbour {
                vni: 110,
                ip: "192.168.110.5".parse().unwrap(),
                mac: Some(MacAddress([2, 0, 0, 0, 0, 9])),
                present: true
            }]
        );
        m.header.state = NeighbourState::Failed;
        assert!(matches!(
            d.handle_message(&RouteNetlinkMessage::NewNeighbour(m))[0],
            KernelEvent::LocalNeighbour { present: false, .. }
        ));
    }

    #[test]
    fn entries_learned_before_the_watch_are_replayed_as_events() {
        use crate::observed::{FdbEntry, Link, LinkKind, ObservedNeighbour};
        let link = |ifindex: u32, name: &str, kind: LinkKind, master: Option<u32>| Link {
            ifindex,
            name: name.into(),
            kind,
            master,
            up: true,
            carrier: true,
            mtu: None,
            mac: None,
            group: 0,
            addr_gen_mode: None,
            bridge_port: None,
            addresses: BTreeSet::new(),
            link_locals: BTreeSet::new(),
        };
        let mut st = NamespaceState::default();
        for l in [
            link(10, "br-pe-110", LinkKind::Bridge, None),
            link(12, "pe-e-110", LinkKind::Veth, Some(10)),
            link(20, "br-other", LinkKind::Bridge, None),
            link(21, "other-port", LinkKind::Veth, Some(20)),
        ] {
            st.links.insert(l.name.clone(), l);
        }
        let row = |ifindex: u32, last: u8| FdbEntry {
            ifindex,
            mac: MacAddress([2, 0, 0, 0, 0, last]),
            dst: None,
            is_self: false,
            master: true,
            ext_learned: false,
            permanent: false,
        };
        st.fdb = vec![
            row(12, 7),
            // The port's own MAC, a remote MAC we installed, a bridge that is not an L2VNI's.
            FdbEntry {
                permanent: true,
                ..row(12, 8)
            },
            FdbEntry {
                ext_learned: true,
                ..row(12, 9)
            },
            row(21, 10),
        ];
        let neigh = |state: u16, ext_learned: bool| ObservedNeighbour {
            mac: Some(MacAddress([2, 0, 0, 0, 0, 7])),
            state,
            ext_learned,
        };
        st.neighbours
            .insert((10, "192.168.110.5".parse().unwrap()), neigh(0x02, false));
        st.neighbours
            .insert((10, "192.168.110.6".parse().unwrap()), neigh(0x20, false));
        st.neighbours
            .insert((10, "192.168.110.7".parse().unwrap()), neigh(0x02, true));
        st.neighbours
            .insert((20, "10.0.0.5".parse().unwrap()), neigh(0x02, false));
        let d = WatchDecoder::new(&st);
        assert_eq!(
            d.seed_events(&st),
            vec![
                KernelEvent::LocalMac {
                    vni: 110,
                    mac: MacAddress([2, 0, 0, 0, 0, 7]),
                    present: true
                },
                KernelEvent::LocalNeighbour {
                    vni: 110,
                    ip: "192.168.110.5".parse().unwrap(),
                    mac: Some(MacAddress([2, 0, 0, 0, 0, 7])),
                    present: true
                },
            ]
        );
    }

    /// A kernel-shaped route notification: header, table, destination, gateway, device,
    /// metric, as `ip monitor route` shows them.
    fn route_msg(protocol: u8, prefix: &str) -> netlink_packet_route::route::RouteMessage {
        use netlink_packet_route::route::{
            RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
        };
        let p: ipnet::Ipv4Net = prefix.parse().unwrap();
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = p.prefix_len();
        m.header.table = 254;
        m.header.protocol = RouteProtocol::from(protocol);
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Table(254),
            RouteAttribute::Destination(RouteAddress::Inet(p.addr())),
            RouteAttribute::Gateway(RouteAddress::Inet("192.168.11.2".parse().unwrap())),
            RouteAttribute::Oif(12),
            RouteAttribute::Priority(20),
        ];
        m
    }

    fn frame(m: RouteNetlinkMessage) -> Vec<u8> {
        let mut nl = NetlinkMessage::from(m);
        nl.finalize();
        let mut b = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut b);
        b
    }

    fn nh_frame(kind: u16, body: Vec<u8>) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        f.extend_from_slice(&kind.to_ne_bytes());
        f.extend_from_slice(&[0; 10]);
        f.extend_from_slice(&body);
        f
    }

    #[test]
    fn only_the_deletion_of_our_nexthop_objects_is_drift() {
        use crate::nexthop::{encode_new, NhHop, NhObject, ID_FIRST};
        let hop = NhObject::Hop(NhHop {
            gateway: "192.0.2.1".parse().unwrap(),
            dev: "eth0".into(),
            onlink: false,
        });
        let ours_new = nh_frame(nexthop::RTM_NEWNEXTHOP, encode_new(ID_FIRST, &hop, 3));
        let mut del = encode_new(ID_FIRST, &hop, 3);
        let ours_del = nh_frame(nexthop::RTM_DELNEXTHOP, del.clone());
        del[nexthop::NH_PROTOCOL_OFFSET] = 4; // RTPROT_STATIC: someone else's
        let foreign_del = nh_frame(nexthop::RTM_DELNEXTHOP, del);
        assert!(!worth_decoding(&ours_new));
        assert!(worth_decoding(&ours_del));
        assert!(!worth_decoding(&foreign_del));
        let mut buf = Vec::new();
        for f in [&ours_new, &foreign_del, &ours_del] {
            buf.extend_from_slice(f);
        }
        let mut dec = decoder();
        let mut counts = FrameCounts::default();
        let mut evs = Vec::new();
        assert!(decode_frames(&buf, &mut dec, &mut counts, |e| {
            evs.push(e);
            true
        }));
        assert_eq!(
            counts,
            FrameCounts {
                frames: 3,
                skipped: 2
            }
        );
        assert_eq!(
            evs,
            vec![KernelEvent::Drift {
                what: format!("nexthop object {ID_FIRST} deleted")
            }]
        );
    }

    #[test]
    fn only_our_route_deletions_and_non_route_messages_are_decoded() {
        use crate::desired::ROUTE_PROTOCOL;
        let mut link = LinkMessage::default();
        link.header.index = 11;
        let cases = [
            (
                RouteNetlinkMessage::NewRoute(route_msg(ROUTE_PROTOCOL, "10.1.0.0/24")),
                false,
            ),
            (
                RouteNetlinkMessage::NewRoute(route_msg(4, "10.2.0.0/24")),
                false,
            ),
            (
                RouteNetlinkMessage::DelRoute(route_msg(4, "10.3.0.0/24")),
                false,
            ),
            (
                RouteNetlinkMessage::DelRoute(route_msg(ROUTE_PROTOCOL, "10.4.0.0/24")),
                true,
            ),
            (RouteNetlinkMessage::DelLink(link), true),
        ];
        let mut all = Vec::new();
        for (m, want) in &cases {
            let f = frame(m.clone());
            assert_eq!(worth_decoding(&f), *want, "{m:?}");
            if !want {
                // Skipping loses nothing: the decoder would have ignored it.
                assert!(decoder().handle_message(m).is_empty(), "{m:?}");
            }
            all.extend_from_slice(&f);
        }
        // One recv buffer with all five: two decoded, two events, in order.
        let mut d = decoder();
        let mut counts = FrameCounts::default();
        let mut events = Vec::new();
        assert!(decode_frames(&all, &mut d, &mut counts, |e| {
            events.push(e);
            true
        }));
        assert_eq!(
            counts,
            FrameCounts {
                frames: 5,
                skipped: 3
            }
        );
        assert_eq!(
            events,
            vec![
                KernelEvent::Drift {
                    what: "route 10.4.0.0/24 table 254 deleted".into()
                },
                KernelEvent::Drift {
                    what: "link vni110 deleted".into()
                },
            ]
        );
        // A receiver that is gone stops the walk at the first event.
        let mut n = 0;
        assert!(!decode_frames(
            &all,
            &mut decoder(),
            &mut FrameCounts::default(),
            |_| {
                n += 1;
                false
            }
        ));
        assert_eq!(n, 1);
        // Truncated and garbage buffers never panic.
        for cut in 0..all.len() {
            decode_frames(
                &all[..cut],
                &mut decoder(),
                &mut FrameCounts::default(),
                |_| true,
            );
        }
        assert!(!worth_decoding(&[]));
    }

    #[test]
    fn deleting_our_link_is_drift_a_foreign_one_is_not() {
        let mut d = decoder();
        let mut l = LinkMessage::default();
        l.header.index = 11;
        assert!(matches!(
            d.handle_message(&RouteNetlinkMessage::DelLink(l.clone()))[0],
            KernelEvent::Drift { .. }
        ));
        d.links.insert(20, "eth9".into());
        l.header.index = 20;
        assert!(d
            .handle_message(&RouteNetlinkMessage::DelLink(l))
            .is_empty());
    }

    #[test]
    fn a_running_link_losing_its_carrier_is_link_down_once() {
        let mut d = decoder();
        d.links.insert(30, "eth1".into());
        d.addresses
            .insert(30, vec!["192.168.11.3".parse().unwrap()]);
        let mut l = LinkMessage::default();
        l.header.index = 30;
        l.header.flags = LinkFlags::Up | LinkFlags::LowerUp | LinkFlags::Running;
        assert!(d
            .handle_message(&RouteNetlinkMessage::NewLink(l.clone()))
            .is_empty());
        l.header.flags = LinkFlags::Up;
        assert_eq!(
            d.handle_message(&RouteNetlinkMessage::NewLink(l.clone())),
            vec![KernelEvent::LinkDown {
                name: "eth1".into(),
                addresses: vec!["192.168.11.3".parse().unwrap()],
            }]
        );
        // Still down: said once.
        assert!(d
            .handle_message(&RouteNetlinkMessage::NewLink(l.clone()))
            .is_empty());
        // Back, then deleted while running.
        l.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        assert!(d
            .handle_message(&RouteNetlinkMessage::NewLink(l.clone()))
            .is_empty());
        assert!(matches!(
            d.handle_message(&RouteNetlinkMessage::DelLink(l))[..],
            [KernelEvent::LinkDown { .. }]
        ));
    }
}

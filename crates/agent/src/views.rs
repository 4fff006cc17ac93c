//! The local API's answers for `perouter show bgp summary`, `show bgp neighbor` and `show evpn
//! vni`: typed, with a stable JSON schema (what `-o json` prints).
//!
//! Schema rules: fields are only ever added; a field's meaning and type never change; absent
//! knowledge is `null`, never a made-up zero. Addresses are printed without ports; durations
//! are whole seconds.
//!
//! The views are pure functions of the owners' snapshots (the speaker's [`PeerStatus`], the
//! planned sessions, EVPN routes), so they are tested without a running node.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use perouter_bgp::config::Family;
use perouter_bgp::session::counters::{MessageCounts, NotificationCount};
use perouter_bgp::speaker::PeerStatus;
use serde::{Deserialize, Serialize};

use crate::runtime::routing::EvpnRouteView;
use crate::runtime::sessions::PlannedSession;

/// `show bgp summary`: one row per session, like vtysh's `show bgp summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgpSummary {
    /// Our BGP identifier.
    pub router_id: String,
    /// Our AS.
    pub local_as: u32,
    /// The sessions, by neighbour address.
    pub peers: Vec<SummaryRow>,
    /// Sessions in all.
    pub total_peers: usize,
    /// Sessions Established.
    pub established: usize,
}

/// One row of [`BgpSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The neighbour's address (no port).
    pub neighbor: String,
    /// BGP version (4).
    pub version: u8,
    /// The neighbour's AS as configured: a number, `external` or `internal`.
    pub remote_as: String,
    /// Messages received.
    pub msg_rcvd: u64,
    /// Messages sent.
    pub msg_sent: u64,
    /// Seconds Established (null when not Established).
    pub up_seconds: Option<u64>,
    /// FSM state (RFC 4271 §8.2.2).
    pub state: String,
    /// Prefixes held from the neighbour: the exact count when a prefix limit tracks it,
    /// otherwise NLRI announced minus withdrawn (null when not Established).
    pub pfx_rcd: Option<u64>,
    /// NLRI sent to the neighbour.
    pub pfx_snt: u64,
    /// What the session serves (`fabric`, `host vrf red vni 100`, `passthrough`) or its
    /// configured description.
    pub desc: String,
    /// The VRF its socket is bound to.
    pub vrf: Option<String>,
}

/// `show bgp neighbor ADDR`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighborDetail {
    /// The neighbour's address (no port).
    pub neighbor: String,
    /// The TCP port dialled.
    pub port: u16,
    /// Its AS as configured.
    pub remote_as: String,
    /// Our AS on this session.
    pub local_as: u32,
    /// Our BGP identifier.
    pub local_router_id: String,
    /// What the session serves.
    pub desc: String,
    /// The VRF its socket is bound to.
    pub vrf: Option<String>,
    /// FSM state.
    pub state: String,
    /// Seconds Established (null when not).
    pub up_seconds: Option<u64>,
    /// Local address of the live connection.
    pub local_address: Option<String>,
    /// Hold time configured, seconds.
    pub hold_time: u16,
    /// Keepalive interval configured, seconds (null: a third of the hold time).
    pub keepalive: Option<u16>,
    /// Connect-retry time configured, seconds.
    pub connect_retry: u16,
    /// Families configured (offered in the OPEN).
    pub families: Vec<String>,
    /// Capabilities offered besides the families.
    pub capabilities: Vec<String>,
    /// Graceful restart (RFC 4724) as configured.
    pub graceful_restart: GracefulRestartView,
    /// TCP-MD5 (RFC 2385) key configured.
    pub tcp_md5: bool,
    /// eBGP multihop TTL, when set.
    pub ebgp_multihop: Option<u8>,
    /// Messages received by type.
    pub messages_received: MessageCounts,
    /// Messages sent by type.
    pub messages_sent: MessageCounts,
    /// NOTIFICATIONs received by code/subcode.
    pub notifications_received: Vec<NotificationCount>,
    /// NOTIFICATIONs sent by code/subcode.
    pub notifications_sent: Vec<NotificationCount>,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Times it left Established.
    pub flaps: u64,
    /// Times the live session was handed over to a new perouter process (upgrades without a
    /// flap: uptime and counters continue).
    #[serde(default)]
    pub handoffs: u64,
    /// The last NOTIFICATION received, decoded.
    pub last_notification_received: Option<String>,
    /// The last NOTIFICATION sent, decoded.
    pub last_notification_sent: Option<String>,
    /// The last local error (I/O, decoding).
    pub last_error: Option<String>,
    /// NLRI announced by the neighbour.
    pub prefixes_received: u64,
    /// NLRI withdrawn by the neighbour.
    pub prefixes_withdrawn: u64,
    /// NLRI sent.
    pub prefixes_advertised: u64,
    /// Distinct prefixes held, when a prefix limit tracks them.
    pub prefixes_current: Option<u64>,
    /// The prefix limit.
    pub max_prefix: Option<u32>,
    /// UPDATEs treated as withdraw (RFC 7606).
    pub updates_treated_as_withdraw: u64,
    /// Attributes discarded (RFC 7606).
    pub attributes_discarded: u64,
    /// Bytes queued for the neighbour and not yet acknowledged by it (our send queue plus the
    /// kernel's socket buffer).
    pub send_queue_bytes: u64,
    /// Since when (Unix seconds) the send queue has made no progress: the neighbour is not
    /// reading. The session is closed when this lasts the SendHoldTime (RFC 9687).
    pub send_stalled_since: Option<u64>,
    /// Batches of routes waiting in the session's outbox.
    pub outbox_depth: usize,
    /// What the OPEN exchange decided (null when not Established).
    pub negotiated: Option<NegotiatedView>,
}

/// What the OPEN exchange decided on an Established session (RFC 4271 §4.2, RFC 5492): the
/// peer's identity, the timers in force and the capabilities both sides have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NegotiatedView {
    /// The peer's AS (from its 4-octet AS capability when present, RFC 6793).
    pub peer_as: u32,
    /// The peer's BGP identifier.
    pub peer_router_id: String,
    /// Hold time in force, seconds: the smaller of both OPENs' (0: none).
    pub hold_time: u16,
    /// Keepalive interval in force, seconds (null: none sent).
    pub keepalive: Option<u64>,
    /// Families both sides offered.
    pub families: Vec<String>,
    /// Capabilities both sides have: `4-octet-as`, `extended-message`, `route-refresh`,
    /// `enhanced-route-refresh`, `add-path-rx FAMILY`, `add-path-tx FAMILY`,
    /// `extended-nexthop FAMILY/AFI`.
    pub capabilities: Vec<String>,
    /// The peer's graceful restart (RFC 4724 §3): restart time in seconds, when it sent one.
    pub peer_restart_time: Option<u16>,
    /// Families for which the peer keeps forwarding across its restart (F bit).
    pub peer_gr_forwarding: Vec<String>,
    /// Every capability the peer's OPEN carried (received), whether or not both sides have it.
    pub received_capabilities: Vec<String>,
}

impl NegotiatedView {
    fn from_params(p: &perouter_bgp::fsm::SessionParams) -> Self {
        let mut capabilities = Vec::new();
        for (on, name) in [
            (p.four_octet_as, "4-octet-as"),
            (p.extended_message, "extended-message"),
            (p.route_refresh, "route-refresh"),
            (p.enhanced_route_refresh, "enhanced-route-refresh"),
        ] {
            if on {
                capabilities.push(name.to_string());
            }
        }
        capabilities.extend(
            p.add_path_receive
                .iter()
                .map(|f| format!("add-path-rx {f}")),
        );
        capabilities.extend(p.add_path_send.iter().map(|f| format!("add-path-tx {f}")));
        capabilities.extend(
            p.extended_next_hop.iter().map(|(f, afi)| {
                format!("extended-nexthop {f}/{}", format!("{afi:?}").to_lowercase())
            }),
        );
        let gr = p.graceful_restart.as_ref();
        NegotiatedView {
            peer_as: p.peer_as,
            peer_router_id: p.peer_id.to_string(),
            hold_time: p.hold_time,
            keepalive: p.keepalive.map(|k| k.as_secs()),
            families: p.families.iter().map(|f| f.to_string()).collect(),
            capabilities,
            received_capabilities: p.peer_capabilities.clone(),
            peer_restart_time: gr.map(|g| g.restart_time),
            peer_gr_forwarding: gr
                .map(|g| {
                    g.families
                        .iter()
                        .filter(|(_, f)| *f)
                        .map(|(fam, _)| fam.to_string())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Graceful restart settings of a neighbour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GracefulRestartView {
    /// Offered.
    pub enabled: bool,
    /// Restart time advertised, seconds.
    pub restart_time: u16,
    /// How long the neighbour's stale routes are kept, seconds.
    pub stale_time: u16,
    /// We came back from a restart with forwarding preserved (R and F bits).
    pub restarting: bool,
}

/// `show evpn vni`: one row per VNI of this node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VniRow {
    /// The VNI.
    pub vni: u32,
    /// `L3` or `L2`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource's name.
    pub name: String,
    /// The VRF.
    pub vrf: Option<String>,
    /// The VXLAN device.
    pub vxlan: String,
    /// The bridge.
    pub bridge: String,
    /// Our VTEP address.
    pub vtep: Option<String>,
    /// The route distinguisher.
    pub rd: String,
    /// The VRF's routing table (L3).
    pub table: Option<u32>,
    /// The router MAC advertised in type-5 routes (L3, RFC 9135).
    pub router_mac: Option<String>,
    /// Route targets exported (L3).
    pub export_rts: Vec<String>,
    /// Route targets imported (L3).
    pub import_rts: Vec<String>,
    /// Remote VTEPs: originators of type-3 routes for this VNI (L2) or next hops of its
    /// type-5 routes (L3).
    pub remote_vteps: Vec<String>,
    /// Remote MACs learnt through type-2 routes.
    pub remote_macs: usize,
    /// Remote MAC+IP (neighbour) entries learnt through type-2 routes.
    pub remote_neighbors: usize,
    /// Local MACs advertised as type-2 routes.
    pub local_macs: usize,
    /// Type-5 prefixes received (L3).
    pub remote_prefixes: usize,
}

fn family_name(f: &Family) -> &'static str {
    match f {
        Family::Ipv4Unicast => "ipv4-unicast",
        Family::Ipv6Unicast => "ipv6-unicast",
        Family::L2vpnEvpn => "l2vpn-evpn",
    }
}

fn state(p: &PeerStatus) -> String {
    format!("{:?}", p.session.state)
}

fn established(p: &PeerStatus) -> bool {
    state(p) == "Established"
}

/// The planned session `p` belongs to (by configured target; dynamic neighbours by range).
fn planned<'a>(p: &PeerStatus, sessions: &'a [PlannedSession]) -> Option<&'a PlannedSession> {
    sessions.iter().find(|s| s.neighbor.target == p.target)
}

fn desc(p: &PeerStatus, s: Option<&PlannedSession>) -> String {
    match s {
        Some(s) => s
            .neighbor
            .peer
            .description
            .clone()
            .unwrap_or_else(|| s.role.to_string()),
        None => p.target.to_string(),
    }
}

/// Builds `show bgp summary`.
pub fn bgp_summary(
    router_id: String,
    local_as: u32,
    peers: &[PeerStatus],
    sessions: &[PlannedSession],
) -> BgpSummary {
    let mut rows: Vec<SummaryRow> = peers
        .iter()
        .map(|p| {
            let s = planned(p, sessions);
            let c = &p.session.counters;
            let up = established(p);
            SummaryRow {
                neighbor: p.remote.ip().to_string(),
                version: 4,
                remote_as: s
                    .map(|s| s.neighbor.peer.remote_as.to_string())
                    .unwrap_or_else(|| "-".into()),
                msg_rcvd: c.messages_in.total(),
                msg_sent: c.messages_out.total(),
                up_seconds: c.uptime.map(|d| d.as_secs()),
                state: state(p),
                pfx_rcd: up.then(|| {
                    c.prefixes_current
                        .unwrap_or(c.prefixes_received.saturating_sub(c.prefixes_withdrawn))
                }),
                pfx_snt: c.prefixes_advertised,
                desc: desc(p, s),
                vrf: s.and_then(|s| s.vrf.clone()),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |r: &SummaryRow| (r.neighbor.parse::<IpAddr>().ok(), r.neighbor.clone());
        key(a).cmp(&key(b))
    });
    BgpSummary {
        router_id,
        local_as,
        total_peers: rows.len(),
        established: rows.iter().filter(|r| r.state == "Established").count(),
        peers: rows,
    }
}

/// Whether `query` names `p`: its address, with or without a port (`192.0.2.1`,
/// `192.0.2.1:179`, `[fd00::1]:179`), or its interface.
pub fn matches(p: &PeerStatus, query: &str) -> bool {
    let q = query.trim();
    let addr = q
        .parse::<IpAddr>()
        .ok()
        .or_else(|| q.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()));
    match addr {
        Some(a) => p.remote.ip() == a,
        None => p.target.to_string() == q || p.target.to_string() == format!("interface {q}"),
    }
}

/// Builds `show bgp neighbor ADDR`.
pub fn neighbor_detail(
    router_id: String,
    local_as: u32,
    p: &PeerStatus,
    sessions: &[PlannedSession],
) -> NeighborDetail {
    let s = planned(p, sessions);
    let cfg = s.map(|s| &s.neighbor.peer);
    let c = &p.session.counters;
    let mut capabilities = Vec::new();
    if let Some(cfg) = cfg {
        capabilities.push("4-octet-as".to_string());
        if cfg.route_refresh {
            capabilities.push("route-refresh".into());
        }
        if cfg.extended_message {
            capabilities.push("extended-message".into());
        }
        if cfg.extended_next_hop {
            capabilities.push("extended-next-hop".into());
        }
        if cfg.graceful_restart.enabled {
            capabilities.push("graceful-restart".into());
        }
        if !cfg.add_path.is_empty() {
            capabilities.push("add-path".into());
        }
    }
    NeighborDetail {
        neighbor: p.remote.ip().to_string(),
        port: p.remote.port(),
        remote_as: cfg
            .map(|c| c.remote_as.to_string())
            .unwrap_or_else(|| "-".into()),
        local_as: cfg.and_then(|c| c.local_as).unwrap_or(local_as),
        local_router_id: router_id,
        desc: desc(p, s),
        vrf: s.and_then(|s| s.vrf.clone()),
        state: state(p),
        up_seconds: c.uptime.map(|d| d.as_secs()),
        local_address: p.session.local.map(|a| a.ip().to_string()),
        hold_time: cfg.map_or(0, |c| c.hold_time),
        keepalive: cfg.and_then(|c| c.keepalive),
        connect_retry: cfg.map_or(0, |c| c.connect_retry),
        families: cfg
            .map(|c| {
                c.families
                    .iter()
                    .map(|f| family_name(f).to_string())
                    .collect()
            })
            .unwrap_or_default(),
        capabilities,
        graceful_restart: GracefulRestartView {
            enabled: cfg.is_some_and(|c| c.graceful_restart.enabled),
            restart_time: cfg.map_or(0, |c| c.graceful_restart.restart_time),
            stale_time: cfg.map_or(0, |c| c.graceful_restart.stale_time),
            restarting: cfg.is_some_and(|c| c.graceful_restart.restarting),
        },
        tcp_md5: cfg.is_some_and(|c| c.password.is_some()),
        ebgp_multihop: cfg.and_then(|c| c.ebgp_multihop),
        messages_received: c.messages_in,
        messages_sent: c.messages_out,
        notifications_received: c.notifications_received.clone(),
        notifications_sent: c.notifications_sent.clone(),
        established_transitions: c.established_transitions,
        flaps: c.flaps,
        handoffs: c.handoffs,
        last_notification_received: c.last_notification_received.as_ref().map(|n| n.to_string()),
        last_notification_sent: c.last_notification_sent.as_ref().map(|n| n.to_string()),
        last_error: c.last_error.clone(),
        prefixes_received: c.prefixes_received,
        prefixes_withdrawn: c.prefixes_withdrawn,
        prefixes_advertised: c.prefixes_advertised,
        prefixes_current: c.prefixes_current,
        max_prefix: cfg.and_then(|c| c.max_prefix),
        updates_treated_as_withdraw: c.updates_treated_as_withdraw,
        attributes_discarded: c.attributes_discarded,
        send_queue_bytes: p.session.send_queue_bytes,
        send_stalled_since: p.session.send_stalled_since,
        outbox_depth: p.session.outbox_depth,
        negotiated: p
            .session
            .negotiated
            .as_deref()
            .map(NegotiatedView::from_params),
    }
}

/// Builds `show evpn vni` from the plan and the EVPN table.
pub fn vnis(plan: &crate::plan::NodePlan, evpn: &[EvpnRouteView]) -> Vec<VniRow> {
    #[derive(Default)]
    struct Seen {
        vteps: BTreeSet<String>,
        macs: BTreeSet<String>,
        neighbors: usize,
        local_macs: usize,
        prefixes: usize,
    }
    let mut by_vni: BTreeMap<u32, Seen> = BTreeMap::new();
    for r in evpn {
        let Some(vni) = r.vni else { continue };
        let e = by_vni.entry(vni).or_default();
        match &r.route {
            perouter_evpn::EvpnRoute::MacIp(m) => {
                if r.local {
                    e.local_macs += 1;
                } else {
                    e.macs.insert(m.mac.to_string());
                    if m.ip.is_some() {
                        e.neighbors += 1;
                    }
                }
            }
            perouter_evpn::EvpnRoute::InclusiveMulticast(i) if !r.local => {
                e.vteps.insert(i.originator.to_string());
            }
            perouter_evpn::EvpnRoute::IpPrefix(_) if !r.local => {
                e.prefixes += 1;
                if let Some(nh) = r.next_hop {
                    e.vteps.insert(nh.to_string());
                }
            }
            _ => {}
        }
    }
    let mut rows = Vec::new();
    for l in &plan.l3vnis {
        let s = by_vni.remove(&l.vni).unwrap_or_default();
        rows.push(VniRow {
            vni: l.vni,
            kind: "L3".into(),
            name: l.name.clone(),
            vrf: Some(l.vrf.clone()),
            vxlan: l.vxlan.clone(),
            bridge: l.bridge.clone(),
            vtep: Some(l.vtep.to_string()),
            rd: l.rd.to_string(),
            table: Some(l.table),
            router_mac: Some(plan.router_mac.to_string()),
            export_rts: l.export_rts.iter().map(|r| r.to_string()).collect(),
            import_rts: l.import_rts.iter().map(|r| r.to_string()).collect(),
            remote_vteps: s.vteps.into_iter().collect(),
            remote_macs: s.macs.len(),
            remote_neighbors: s.neighbors,
            local_macs: s.local_macs,
            remote_prefixes: s.prefixes,
        });
    }
    for l in &plan.l2vnis {
        let s = by_vni.remove(&l.vni).unwrap_or_default();
        rows.push(VniRow {
            vni: l.vni,
            kind: "L2".into(),
            name: l.name.clone(),
            vrf: l.vrf.clone(),
            vxlan: l.vxlan.clone(),
            bridge: l.bridge.clone(),
            vtep: Some(l.vtep.to_string()),
            rd: l.rd.to_string(),
            table: None,
            router_mac: None,
            export_rts: Vec::new(),
            import_rts: Vec::new(),
            remote_vteps: s.vteps.into_iter().collect(),
            remote_macs: s.macs.len(),
            remote_neighbors: s.neighbors,
            local_macs: s.local_macs,
            remote_prefixes: s.prefixes,
        });
    }
    rows.sort_by_key(|r| r.vni);
    rows
}

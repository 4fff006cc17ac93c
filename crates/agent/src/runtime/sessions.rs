//! From the node plan to BGP sessions: the fabric neighbours of the underlay, one host session
//! per L3VNI (inside the VRF, on the `pe-e-<vni>` side) and the passthrough session (on `pt-ns`).
//! Pure; the speaker runs what this returns.

use std::net::IpAddr;

use perouter_bgp::config::{
    AsKind, Family, GracefulRestartConfig, NeighborConfig, NeighborTarget, PeerConfig, RemoteAs,
};
use serde::Serialize;

use crate::config::model::{self, AddressFamily, PeerAs};
use crate::plan::{HostSessionPlan, NodePlan};

/// Which part of the node a session serves: decides how the RIB treats its routes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionRole {
    /// A fabric (ToR) neighbour: underlay unicast and EVPN.
    Fabric,
    /// The host speaker of an L3VNI's VRF: its routes become type-5 routes.
    Host {
        /// The VRF.
        vrf: String,
        /// The L3VNI.
        vni: u32,
    },
    /// The passthrough host speaker: default-table unicast, no EVPN.
    Passthrough,
}

impl std::fmt::Display for SessionRole {
    /// `fabric`, `host vrf red vni 100`, `passthrough`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionRole::Fabric => f.write_str("fabric"),
            SessionRole::Host { vrf, vni } => write!(f, "host vrf {vrf} vni {vni}"),
            SessionRole::Passthrough => f.write_str("passthrough"),
        }
    }
}

/// Node-wide session limits, set by `perouter run` flags (perouter extensions: OpenPERouter's
/// API has no field for them). Applied to every planned neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLimits {
    /// Most prefixes accepted from one neighbour; beyond it the session is closed with Cease /
    /// Maximum Number of Prefixes Reached (RFC 4486) and held down for `max_prefix_restart`
    /// seconds. `None`: no limit.
    pub max_prefix: Option<u32>,
    /// Seconds a neighbour stays down after exceeding `max_prefix`.
    pub max_prefix_restart: u16,
    /// RFC 9687 SendHoldTimer in seconds (`None`: max(8 min, 2 × hold time); 0: off).
    pub send_hold_time: Option<u32>,
    /// Most sessions accepted at once from one listen range (FRR's `bgp listen limit`).
    pub listen_limit: usize,
}

/// FRR's default `bgp listen limit`, which upstream's configuration inherits.
pub const DEFAULT_LISTEN_LIMIT: usize = 100;

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_prefix: None,
            max_prefix_restart: 60,
            send_hold_time: None,
            listen_limit: DEFAULT_LISTEN_LIMIT,
        }
    }
}

impl SessionLimits {
    /// Sets the limits on one neighbour.
    pub fn apply(&self, n: &mut NeighborConfig) {
        n.peer.max_prefix = self.max_prefix;
        n.peer.max_prefix_restart = self.max_prefix_restart;
        n.peer.send_hold_time = self.send_hold_time;
        if matches!(n.target, NeighborTarget::ListenRange(_)) {
            n.limit = Some(self.listen_limit);
        }
    }
}

/// One session the node should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedSession {
    /// What it serves.
    pub role: SessionRole,
    /// The VRF device its socket is bound to (host sessions of L3VNIs).
    pub vrf: Option<String>,
    /// The speaker's configuration of it.
    pub neighbor: NeighborConfig,
}

fn remote_as(p: PeerAs) -> RemoteAs {
    match p {
        PeerAs::Number(n) => RemoteAs::Number(n),
        PeerAs::External => RemoteAs::Kind(AsKind::External),
        PeerAs::Internal => RemoteAs::Kind(AsKind::Internal),
    }
}

fn family(f: AddressFamily) -> Option<Family> {
    match f {
        AddressFamily::Ipv4Unicast => Some(Family::Ipv4Unicast),
        AddressFamily::Ipv6Unicast => Some(Family::Ipv6Unicast),
        AddressFamily::Evpn => Some(Family::L2vpnEvpn),
        // VPN families need SRv6, which the validation already refuses.
        AddressFamily::Ipv4Vpn | AddressFamily::Ipv6Vpn => None,
    }
}

fn graceful_restart(plan: &NodePlan) -> GracefulRestartConfig {
    GracefulRestartConfig {
        enabled: true,
        restart_time: plan.restart_time,
        stale_time: plan.stale_path_time,
        // The kernel state survives a perouter restart (the namespace is never torn down).
        forwarding_preserved: true,
        restarting: false,
    }
}

fn host_sessions(
    plan: &NodePlan,
    hs: &HostSessionPlan,
    role: SessionRole,
    vrf: Option<String>,
    out: &mut Vec<PlannedSession>,
) {
    for (v, fam) in hs
        .v4
        .iter()
        .map(|v| (v, Family::Ipv4Unicast))
        .chain(hs.v6.iter().map(|v| (v, Family::Ipv6Unicast)))
    {
        let mut peer = PeerConfig::new(remote_as(hs.host_as));
        peer.local_as = Some(hs.local_as);
        peer.families = vec![fam];
        peer.local_address = Some(v.router.addr());
        peer.graceful_restart = graceful_restart(plan);
        // iBGP host sessions get next-hop-self, as upstream configures FRR.
        peer.vrf = vrf.clone();
        peer.next_hop_self = matches!(hs.host_as, PeerAs::Internal)
            || matches!(hs.host_as, PeerAs::Number(n) if n == hs.local_as);
        peer.description = Some(match &role {
            SessionRole::Host { vrf, .. } => format!("host session, vrf {vrf}"),
            _ => "passthrough host session".to_string(),
        });
        out.push(PlannedSession {
            role: role.clone(),
            vrf: vrf.clone(),
            neighbor: NeighborConfig {
                target: NeighborTarget::Address(v.host.addr()),
                limit: None,
                peer,
            },
        });
    }
}

/// Every session of the node, fabric first.
pub fn planned_sessions(plan: &NodePlan) -> Vec<PlannedSession> {
    let mut out = Vec::new();
    for n in &plan.neighbors {
        let i = &n.intent;
        let mut peer = PeerConfig::new(remote_as(i.remote_as));
        peer.local_as = Some(plan.asn);
        peer.families = n.families.iter().filter_map(|f| family(*f)).collect();
        if let Some(t) = i.timers {
            peer.hold_time = t.hold;
            peer.keepalive = Some(t.keepalive);
        }
        if let Some(c) = i.connect_time {
            peer.connect_retry = c;
        }
        if let Some(p) = i.port {
            peer.port = if p == 0 { 179 } else { p };
        }
        peer.password = i.password.clone();
        peer.ebgp_multihop = i.ebgp_multihop_ttl;
        // Every node has the same AS: eBGP fabrics send our own AS back to us.
        peer.allowas_in = n.allowas_in.then_some(1);
        peer.next_hop_self = n.next_hop_self;
        peer.route_reflector_client = !n.rr_client_families.is_empty();
        peer.extended_next_hop = n.extended_next_hop;
        peer.graceful_restart = graceful_restart(plan);
        let (target, limit) = match &i.target {
            model::NeighborTarget::Address(a) => (NeighborTarget::Address(*a), None),
            model::NeighborTarget::Interface(s) => (NeighborTarget::Interface(s.clone()), None),
            model::NeighborTarget::ListenRange(r) => {
                (NeighborTarget::ListenRange(*r), Some(DEFAULT_LISTEN_LIMIT))
            }
        };
        if matches!(target, NeighborTarget::ListenRange(_)) {
            peer.passive = true;
        }
        out.push(PlannedSession {
            role: SessionRole::Fabric,
            vrf: None,
            neighbor: NeighborConfig {
                target,
                limit,
                peer,
            },
        });
    }
    for l in &plan.l3vnis {
        if let Some(hs) = &l.host_session {
            let role = SessionRole::Host {
                vrf: l.vrf.clone(),
                vni: l.vni,
            };
            host_sessions(plan, hs, role, Some(l.vrf.clone()), &mut out);
        }
    }
    if let Some(p) = &plan.passthrough {
        host_sessions(
            plan,
            &p.host_session,
            SessionRole::Passthrough,
            None,
            &mut out,
        );
    }
    out
}

/// The address a session's peer has, when it has a fixed one.
pub fn peer_address(s: &PlannedSession) -> Option<IpAddr> {
    match &s.neighbor.target {
        NeighborTarget::Address(a) => Some(*a),
        _ => None,
    }
}

/// The settings that differ between two configurations of one neighbour (`families`,
/// `local_as`, …), by name only — never values, so a changed password is named, not shown.
/// The speaker resets a session whose configuration changed; this says why in the log first.
pub fn changed_fields(old: &NeighborConfig, new: &NeighborConfig) -> Vec<String> {
    fn walk(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let null = serde_json::Value::Null;
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let (a, b) = (serde_json::to_value(old), serde_json::to_value(new));
    if let (Ok(a), Ok(b)) = (a, b) {
        walk("", &a, &b, &mut out);
    }
    if out.is_empty() {
        out.push("configuration".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_dir;

    #[test]
    fn canonical_sessions() {
        let dir = std::env::temp_dir().join(format!("perouter-sessions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openpe_all.yaml"),
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2, holdTimeSeconds: 9, keepaliveTimeSeconds: 3}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\nl3vnis:\n  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24, ipv6: '2001:db8:1::/64'}}}\nbgppassthrough:\n  hostSession: {asn: 64514, hostType: Internal, localCIDR: {ipv4: 192.169.100.0/24}}\n",
        )
        .unwrap();
        let r = check_dir(&dir, Some(2), "perouter").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let s = planned_sessions(&r.plan.unwrap());
        assert_eq!(s.len(), 4);
        let fabric = &s[0];
        assert_eq!(fabric.role, SessionRole::Fabric);
        assert_eq!(
            fabric.neighbor.target,
            NeighborTarget::Address("192.168.11.2".parse().unwrap())
        );
        assert_eq!(
            fabric.neighbor.peer.families,
            vec![Family::Ipv4Unicast, Family::L2vpnEvpn]
        );
        assert_eq!(
            (
                fabric.neighbor.peer.hold_time,
                fabric.neighbor.peer.keepalive
            ),
            (9, Some(3))
        );
        assert_eq!(fabric.neighbor.peer.allowas_in, Some(1));
        assert!(fabric.neighbor.peer.graceful_restart.forwarding_preserved);
        let red4 = &s[1];
        assert_eq!(
            red4.role,
            SessionRole::Host {
                vrf: "red".into(),
                vni: 100
            }
        );
        assert_eq!(red4.vrf.as_deref(), Some("red"));
        assert_eq!(
            red4.neighbor.target,
            NeighborTarget::Address("192.169.10.4".parse().unwrap())
        );
        assert_eq!(
            red4.neighbor.peer.local_address,
            Some("192.169.10.1".parse().unwrap())
        );
        assert_eq!(red4.neighbor.peer.remote_as, RemoteAs::Number(64515));
        assert_eq!(s[2].neighbor.peer.families, vec![Family::Ipv6Unicast]);
        // allowas-in on fabric neighbours only, never on host or passthrough sessions (issue
        // 10: a host echoing our AS during a mass withdrawal must be refused).
        for h in &s[1..] {
            assert_eq!(h.neighbor.peer.allowas_in, None, "{:?}", h.role);
        }
        let pt = &s[3];
        assert_eq!(pt.role, SessionRole::Passthrough);
        assert_eq!(pt.vrf, None);
        assert!(
            pt.neighbor.peer.next_hop_self,
            "iBGP host session gets next-hop-self"
        );
        assert_eq!(peer_address(pt), Some("192.169.100.4".parse().unwrap()));
        let mut changed = fabric.neighbor.clone();
        changed.peer.local_as = Some(65000);
        changed.peer.password = Some("secret".into());
        let why = changed_fields(&fabric.neighbor, &changed);
        assert!(why.contains(&"local_as".to_string()), "{why:?}");
        assert!(why.iter().all(|w| !w.contains("secret")), "{why:?}");
    }
}

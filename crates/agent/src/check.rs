//! `perouter check DIR`: validate a static configuration offline and show the node plan it
//! derives (addresses, names, sessions), without touching the host.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

use crate::config::model::{NeighborTarget, PeerAs, UnderlayNic};
use crate::config::resources::FailedResource;
use crate::config::static_files::{self, FileError, NodeConfig};
use crate::plan::{index_from_addresses, HostLegPlan, NodePlan, PlanError};
use crate::runtime::node_config::{apply_config, ConfigInput};

/// What `perouter check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The directory checked.
    pub dir: PathBuf,
    /// The `openpe_*.yaml` files read.
    pub files: Vec<PathBuf>,
    /// Files that could not be used.
    pub file_errors: Vec<FileError>,
    /// Sections accepted but ignored.
    pub ignored: Vec<String>,
    /// Deprecated spellings accepted, each naming the current one.
    pub warnings: Vec<String>,
    /// Resources skipped, with the rule each broke.
    pub failed_resources: Vec<FailedResource>,
    /// Set when the underlay was invalid (a running node would keep its current one).
    pub underlay_failed: bool,
    /// The node index used, and where it came from.
    pub node_index: Option<u32>,
    /// The derived plan, or why there is none.
    pub plan: Result<NodePlan, String>,
}

impl CheckReport {
    /// Whether everything in the directory is valid and a plan could be made.
    pub fn is_clean(&self) -> bool {
        self.file_errors.is_empty() && self.failed_resources.is_empty() && self.plan.is_ok()
    }

    /// `perouter check`'s exit status: 0 everything valid, 1 some files or resources skipped
    /// (the rest would run), 2 unusable (no plan: no valid underlay, no node index).
    pub fn exit_status(&self) -> u8 {
        if self.plan.is_err() {
            2
        } else if self.is_clean() {
            0
        } else {
            1
        }
    }
}

/// Resolves the node index from `node-config.yaml` (or the override), reading the named
/// interface's addresses from this host when the index is given by interface.
pub fn resolve_node_index(
    node: Option<&NodeConfig>,
    override_index: Option<u32>,
) -> Result<u32, PlanError> {
    if let Some(i) = override_index {
        return Ok(i);
    }
    let Some(node) = node else {
        return Err(PlanError::NodeIndex(format!(
            "no {} and no --node-index given",
            static_files::NODE_CONFIG_FILE
        )));
    };
    let src = &node.node_index;
    if let Some(i) = src.index {
        return u32::try_from(i).map_err(|_| {
            PlanError::NodeIndex(format!("nodeIndex.index {i} is negative or too large"))
        });
    }
    let Some(ifname) = &src.interface_name else {
        return Err(PlanError::NodeIndex(
            "nodeIndex needs index or interfaceName".into(),
        ));
    };
    let cidr = match &src.cidr {
        None => None,
        Some(c) => Some(
            c.parse::<IpNet>()
                .map_err(|_| PlanError::NodeIndex(format!("nodeIndex.cidr {c:?} is not a CIDR")))?,
        ),
    };
    let addrs = interface_addresses(ifname)
        .map_err(|e| PlanError::NodeIndex(format!("interface {ifname}: {e}")))?;
    index_from_addresses(&addrs, cidr)
}

/// The addresses (with prefix lengths) of an interface of this host.
pub fn interface_addresses(ifname: &str) -> std::io::Result<Vec<IpNet>> {
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)? {
        if ifa.interface_name != ifname {
            continue;
        }
        let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else {
            continue;
        };
        if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            let len = u32::from(m.ip()).count_ones() as u8;
            if let Ok(n) = IpNet::new(a.ip().into(), len) {
                out.push(n);
            }
        } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            let len = u128::from(m.ip()).count_ones() as u8;
            if let Ok(n) = IpNet::new(a.ip().into(), len) {
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such interface or no address",
        ));
    }
    Ok(out)
}

/// Checks a configuration directory the way `perouter run` applies it: the same strict file
/// reading, the same validation (runtime limits included) and the same plan, through
/// [`apply_config`] with nothing running.
pub fn check_dir(
    dir: &Path,
    override_index: Option<u32>,
    router_netns: &str,
) -> std::io::Result<CheckReport> {
    let cfg = static_files::load_dir(dir)?;
    let index = resolve_node_index(cfg.node.as_ref(), override_index);
    let ignored = cfg.ignored;
    let input = ConfigInput {
        resources: cfg.resources,
        failed_before: cfg.failed_resources,
        file_errors: cfg.file_errors,
        warnings: cfg.warnings,
        files: cfg.files,
        node_index: index.as_ref().map(|i| *i).map_err(|e| e.to_string()),
    };
    let applied = apply_config(None, input, router_netns);
    let plan = match applied.plan {
        Some(p) => Ok((*p).clone()),
        None => Err(applied
            .plan_error
            .unwrap_or_else(|| "no plan could be made".into())),
    };
    Ok(CheckReport {
        dir: dir.to_path_buf(),
        files: applied.files,
        file_errors: applied.file_errors,
        ignored,
        warnings: applied.warnings,
        failed_resources: applied.failed_resources,
        underlay_failed: applied.underlay_failed,
        node_index: index.ok(),
        plan,
    })
}

fn peer_as(p: PeerAs) -> String {
    match p {
        PeerAs::Number(n) => n.to_string(),
        PeerAs::External => "external".into(),
        PeerAs::Internal => "internal".into(),
    }
}

/// Renders a report for humans.
pub fn render_text(r: &CheckReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "configuration: {} ({} file(s))",
        r.dir.display(),
        r.files.len()
    );
    for f in &r.files {
        let _ = writeln!(s, "  read {}", f.display());
    }
    for e in &r.file_errors {
        let _ = writeln!(s, "  ERROR {}: {}", e.path.display(), e.message);
    }
    for i in &r.ignored {
        let _ = writeln!(s, "  note: {i}");
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  deprecated: {w}");
    }
    if r.failed_resources.is_empty() {
        let _ = writeln!(s, "resources: all valid");
    } else {
        let _ = writeln!(s, "resources: {} skipped", r.failed_resources.len());
        for f in &r.failed_resources {
            let _ = writeln!(s, "  FAILED {f}");
        }
    }
    let plan = match &r.plan {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(s, "plan: none: {e}");
            return s;
        }
    };
    let _ = writeln!(
        s,
        "node index {}: router namespace {:?}",
        plan.index, plan.router_netns
    );
    let _ = writeln!(s, "  AS {}  router-id {}", plan.asn, plan.router_id);
    if let Some(v) = plan.vtep_v4 {
        let _ = writeln!(s, "  VTEP {v}/32 on lo");
    }
    if let Some(v) = plan.vtep_v6 {
        let _ = writeln!(s, "  VTEP {v}/128 on lo");
    }
    for nic in &plan.underlay_nics {
        let _ = match nic {
            UnderlayNic::NetworkDevice(n) => writeln!(
                s,
                "  underlay NIC {n} (moved into the router namespace, group 4242)"
            ),
            UnderlayNic::CniDevice(n) => writeln!(
                s,
                "  underlay CNI device {} (created in the router namespace by CNI plugins)",
                n.name
            ),
        };
    }
    let _ = writeln!(s, "fabric sessions:");
    for n in &plan.neighbors {
        let target = match &n.intent.target {
            NeighborTarget::Address(a) => a.to_string(),
            NeighborTarget::Interface(i) => format!("interface {i} (unnumbered)"),
            NeighborTarget::ListenRange(r) => format!("listen range {r}"),
        };
        let fams: Vec<String> = n
            .families
            .iter()
            .map(|f| format!("{f:?}").to_lowercase())
            .collect();
        let _ = writeln!(
            s,
            "  {target:<28} AS {:<10} families {}{}{}",
            peer_as(n.intent.remote_as),
            fams.join(","),
            if n.allowas_in { " allowas-in" } else { "" },
            if n.next_hop_self {
                " next-hop-self"
            } else {
                ""
            },
        );
    }
    for l in &plan.l3vnis {
        let _ = writeln!(
            s,
            "L3VNI {} (vni {}): vrf {} table {}  vxlan {} port {} local {}  bridge {}",
            l.name, l.vni, l.vrf, l.table, l.vxlan, l.vxlan_port, l.vtep, l.bridge
        );
        let rts: Vec<String> = l.export_rts.iter().map(|r| r.to_string()).collect();
        let imports: Vec<String> = l.import_rts.iter().map(|m| m.to_string()).collect();
        let _ = writeln!(
            s,
            "  rd {}  export {}  import {}  router-mac {}",
            l.rd,
            rts.join(","),
            imports.join(","),
            plan.router_mac
        );
        if let Some(hs) = &l.host_session {
            for v in hs.v4.iter().chain(hs.v6.iter()) {
                let _ = writeln!(
                    s,
                    "  veth {} {} <-> {} {}  host session AS {} <-> {}",
                    l.router_veth,
                    v.router,
                    l.host_veth,
                    v.host,
                    hs.local_as,
                    peer_as(hs.host_as)
                );
            }
        }
    }
    for l in &plan.l2vnis {
        let _ = writeln!(
            s,
            "L2VNI {} (vni {}): vxlan {} local {} bridge {}{}",
            l.name,
            l.vni,
            l.vxlan,
            l.vtep,
            l.bridge,
            l.vrf
                .as_ref()
                .map(|v| format!(" in vrf {v}"))
                .unwrap_or_default()
        );
        if let Some(m) = l.bridge_mac {
            let gws: Vec<String> = l.gateway_ips.iter().map(|g| g.to_string()).collect();
            let _ = writeln!(s, "  gateway {} mac {m}", gws.join(","));
        }
        let leg = match &l.host_leg {
            HostLegPlan::Bare => "left bare".to_string(),
            HostLegPlan::ManagedBridge(b) => format!("attached to managed bridge {b}"),
            HostLegPlan::ExistingBridge(b) => format!("attached to existing bridge {b}"),
            HostLegPlan::ManagedOvsBridge(b) => {
                format!("a port of managed OVS bridge {b} (created by perouter)")
            }
            HostLegPlan::ExistingOvsBridge(b) => {
                format!("a port of existing OVS bridge {b} (must exist)")
            }
        };
        let _ = writeln!(s, "  veth {} <-> {} {leg}", l.router_veth, l.host_veth);
    }
    if let Some(p) = &plan.passthrough {
        let hs = &p.host_session;
        for v in hs.v4.iter().chain(hs.v6.iter()) {
            let _ = writeln!(
                s,
                "passthrough: veth {} {} <-> {} {}  host session AS {} <-> {}",
                p.router_veth,
                v.router,
                p.host_veth,
                v.host,
                hs.local_as,
                peer_as(hs.host_as)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_a_directory_and_renders_the_plan() {
        let dir = std::env::temp_dir().join(format!("perouter-check-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("configs")).unwrap();
        std::fs::write(
            dir.join("configs/openpe_underlay.yaml"),
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("configs/openpe_vni.yaml"),
            "l3vnis:\n  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24}}}\n  - {name: bad, vrf: bad, vni: 0}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("node-config.yaml"),
            "nodeIndex: {index: 0}\nnodeName: node-a\n",
        )
        .unwrap();
        let r = check_dir(&dir, None, "perouter").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!r.is_clean());
        assert_eq!(r.failed_resources.len(), 1);
        assert_eq!(r.node_index, Some(0));
        let text = render_text(&r);
        assert!(
            text.contains("FAILED L3VNI bad: spec.vni 0 is outside 1..16777215"),
            "{text}"
        );
        assert!(text.contains("VTEP 100.65.0.0/32 on lo"), "{text}");
        assert!(
            text.contains("veth pe-e-100 192.169.10.1/24 <-> host-e-100 192.169.10.2/24"),
            "{text}"
        );
        assert!(text.contains("router-id 10.0.0.1"), "{text}");
        let again = check_dir(Path::new("/nonexistent-perouter-dir"), Some(0), "perouter").unwrap();
        assert!(again.plan.is_err());
    }

    #[test]
    fn node_index_sources() {
        assert_eq!(resolve_node_index(None, Some(4)).unwrap(), 4);
        assert!(resolve_node_index(None, None).is_err());
        let mut n = NodeConfig::default();
        n.node_index.index = Some(-1);
        assert!(resolve_node_index(Some(&n), None).is_err());
        // `lo` exists everywhere with 127.0.0.1/8: host part 1.
        let mut n = NodeConfig::default();
        n.node_index.interface_name = Some("lo".into());
        assert_eq!(resolve_node_index(Some(&n), None).unwrap(), 1);
    }
}

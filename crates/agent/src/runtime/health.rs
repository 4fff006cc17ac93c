//! What the status says about the datapath, and when the node is ready: pure functions over the
//! plan, the datapath reconciler's status and the sessions, so that `/readyz`, `show status` and
//! the Kubernetes node status tell the same truth.

use std::sync::atomic::{AtomicBool, Ordering};

use perouter_fib::reconcile::Status as FibStatus;

use crate::config::resources::{FailedResource, FailureReason, ResourceKind};
use crate::plan::{HostLegPlan, NodePlan};

/// Splits an operation's text into its words (device names, `table`, numbers). A sysctl path
/// (`net/ipv4/conf/DEV/rp_filter=2`) yields the device it names, the segment after `conf` or
/// `neigh`, so that a failed per-device sysctl goes to the resource owning that device.
fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| {
        c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | ',' | ':' | '"' | '=')
    })
    .filter(|w| !w.is_empty())
    .map(|w| {
        if !w.contains('/') || w.contains('.') {
            return w; // not a sysctl path (addresses and prefixes have dots or colons)
        }
        let segs: Vec<&str> = w.split('/').collect();
        segs.iter()
            .position(|s| *s == "conf" || *s == "neigh")
            .and_then(|i| segs.get(i + 1).copied())
            .unwrap_or(w)
    })
    .collect()
}

/// Whether the failed operation `text` touches one of `names` or the routing table `table`.
fn touches(text: &str, names: &[&str], table: Option<u32>) -> bool {
    let w = words(text);
    names.iter().any(|n| !n.is_empty() && w.contains(n))
        || table.is_some_and(|t| {
            let t = t.to_string();
            w.windows(2).any(|p| p[0] == "table" && p[1] == t)
        })
}

/// The datapath's failed operations (the reconciler's `last_failures`, each `op: kernel error`)
/// attributed to the resource whose devices, VRF or table they touch: one
/// `OverlayAttachmentFailed` per resource, carrying the kernel's error texts. Failures that
/// belong to no VNI (the underlay NIC, the VTEP on lo) are attributed to the Underlay.
pub fn datapath_failures(
    plan: &NodePlan,
    underlay: &str,
    failures: &[String],
) -> Vec<FailedResource> {
    let mut out: Vec<FailedResource> = Vec::new();
    let mut add = |kind: ResourceKind, name: &str, text: &str| match out
        .iter_mut()
        .find(|f| f.kind == kind && f.name == name)
    {
        Some(f) => {
            f.message.push_str("; ");
            f.message.push_str(text);
        }
        None => out.push(FailedResource {
            kind,
            name: name.to_string(),
            reason: FailureReason::OverlayAttachmentFailed,
            message: format!("datapath: {text}"),
        }),
    };
    for text in failures {
        let l3 = plan.l3vnis.iter().find(|l| {
            touches(
                text,
                &[&l.vrf, &l.bridge, &l.vxlan, &l.host_veth, &l.router_veth],
                Some(l.table),
            )
        });
        if let Some(l) = l3 {
            add(ResourceKind::L3Vni, &l.name, text);
            continue;
        }
        let l2 = plan.l2vnis.iter().find(|l| {
            let leg = match &l.host_leg {
                HostLegPlan::ManagedBridge(b) | HostLegPlan::ManagedOvsBridge(b) => b.as_str(),
                _ => "",
            };
            touches(
                text,
                &[&l.bridge, &l.vxlan, &l.host_veth, &l.router_veth, leg],
                None,
            )
        });
        if let Some(l) = l2 {
            add(ResourceKind::L2Vni, &l.name, text);
            continue;
        }
        if let Some(p) = &plan.passthrough {
            if touches(text, &[&p.host_veth, &p.router_veth], None) {
                add(ResourceKind::L3Passthrough, &p.name, text);
                continue;
            }
        }
        add(ResourceKind::Underlay, underlay, text);
    }
    out
}

/// Remembers that a fabric session has been Established at least once since start.
#[derive(Debug, Default)]
pub struct Latch(AtomicBool);

impl Latch {
    /// Sets the latch when `now` is true; says whether it is set.
    pub fn see(&self, now: bool) -> bool {
        if now {
            self.0.store(true, Ordering::Relaxed);
        }
        self.0.load(Ordering::Relaxed)
    }
}

/// Whether the node is ready (`/readyz`), and if not, why: it needs a plan, a datapath that has
/// run and applies that plan (no driver error, no failed operation), and at least one fabric
/// session that has come up since start (when it has fabric neighbours at all).
pub fn readiness(
    has_plan: bool,
    fib: &FibStatus,
    fabric_neighbors: usize,
    fabric_ever_up: bool,
) -> Result<(), String> {
    if !has_plan {
        return Err("no node plan yet".into());
    }
    if fib.passes == 0 {
        return Err("the datapath has not run its first pass yet".into());
    }
    if let Some(e) = &fib.last_error {
        return Err(format!("the datapath cannot apply the plan: {e}"));
    }
    if !fib.last_failures.is_empty() {
        return Err(format!(
            "the datapath cannot apply the plan: {} operation(s) failed, first: {}",
            fib.last_failures.len(),
            fib.last_failures[0]
        ));
    }
    if fabric_neighbors > 0 && !fabric_ever_up {
        return Err("no fabric session has come up yet".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_dir;

    fn plan() -> NodePlan {
        let dir = std::env::temp_dir().join(format!("perouter-health-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openpe_all.yaml"),
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\nl3vnis:\n  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.10.0/24}}}\nl2vnis:\n  - {name: l2, vni: 110, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}\n",
        )
        .unwrap();
        let r = check_dir(&dir, Some(0), "perouter").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        r.plan.unwrap()
    }

    #[test]
    fn failures_are_attributed_to_their_resource() {
        let p = plan();
        let red = &p.l3vnis[0];
        let l2 = &p.l2vnis[0];
        let failures = vec![
            format!("create vrf red table {}: Operation not supported (os error 95) ()", red.table),
            format!("[router] set {} up: No such device (os error 19) ()", red.bridge),
            format!("add route 10.1.0.0/24 table {} metric 20: Network unreachable (os error 101) ()", red.table),
            format!("[host] create bridge {:?} master None: File exists (os error 17) ()", l2.bridge),
            format!("create vxlan {} id 110 local 100.65.0.0 dstport 4789 master {}: Address in use (os error 98) ()", l2.vxlan, l2.bridge),
            "[router] add address 100.65.0.0/32 dev lo: Permission denied (os error 13) ()".to_string(),
            // A per-device sysctl of the VRF: the L3VNI's, not the underlay's.
            "sysctl net/ipv4/conf/red/rp_filter=2: No such file or directory (os error 2)".to_string(),
        ];
        let f = datapath_failures(&p, "u", &failures);
        let summary: Vec<(ResourceKind, &str, usize)> = f
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.name.as_str(),
                    f.message.matches("os error").count(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (ResourceKind::L3Vni, "red", 4),
                (ResourceKind::L2Vni, "l2", 2),
                (ResourceKind::Underlay, "u", 1)
            ]
        );
        assert!(f
            .iter()
            .all(|f| f.reason == FailureReason::OverlayAttachmentFailed));
        assert!(
            f[0].message.contains("Operation not supported"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn ready_only_when_the_datapath_applies_the_plan_and_a_fabric_session_came_up() {
        let ok = FibStatus {
            passes: 1,
            ..Default::default()
        };
        assert!(readiness(false, &ok, 1, true).is_err());
        assert!(readiness(true, &FibStatus::default(), 1, true).is_err());
        let failing = FibStatus {
            passes: 3,
            last_failures: vec!["create vrf red table 1001: Operation not supported".into(); 23],
            ..Default::default()
        };
        let e = readiness(true, &failing, 1, true).unwrap_err();
        assert!(e.contains("23 operation(s) failed"), "{e}");
        let broken = FibStatus {
            passes: 3,
            last_error: Some("netlink socket: EPERM".into()),
            ..Default::default()
        };
        assert!(readiness(true, &broken, 1, true).is_err());
        assert_eq!(
            readiness(true, &ok, 1, false).unwrap_err(),
            "no fabric session has come up yet"
        );
        assert_eq!(readiness(true, &ok, 1, true), Ok(()));
        assert_eq!(
            readiness(true, &ok, 0, false),
            Ok(()),
            "no fabric neighbours to wait for"
        );
        let l = Latch::default();
        assert!(!l.see(false));
        assert!(l.see(true));
        assert!(l.see(false), "once up, stays seen");
    }
}

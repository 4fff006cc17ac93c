//! L2VNI host legs on Open vSwitch bridges (`hostMaster.type: OVSBridge`), the way KubeVirt's
//! OVS-CNI attaches VMs: the datapath creates the veth pair as for any L2VNI and leaves the host
//! side unattached; this task makes it a port of the OVS bridge over OVSDB
//! ([`perouter_ovsdb`]).
//!
//! As upstream OpenPERouter does: a Managed bridge is `br-hs-<vni>`, created with the
//! `created-by=openperouter` marker and deleted when no L2VNI wants it any more; an External
//! bridge must exist (a clear failure names it otherwise) and only our port is ever added to or
//! removed from it; a removed L2VNI's port (`host-e-<vni>`) is taken off whatever bridge holds
//! it.
//!
//! Level-triggered like the datapath: a pass reads the database, plans (pure,
//! [`perouter_ovsdb::vswitch::plan`]) and runs one transaction per leg, so one leg's failure
//! never touches another's. Passes run on every plan change and every period; while ovsdb is
//! unreachable they are retried with a backoff (1 s doubling to 30 s) and each L2VNI on OVS is
//! reported failed (status `OverlayAttachmentFailed`, `perouter_ovs_*` metrics). BGP sessions,
//! other VNIs and the kernel datapath never wait on OVS.

use std::path::PathBuf;
use std::time::Duration;

use perouter_ovsdb::vswitch::{self, Leg, Scope, Wanted};
use perouter_ovsdb::{Client, Error};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::plan::{HostLegPlan, NodePlan};

/// The default OVSDB socket of Open vSwitch packages.
pub const DEFAULT_SOCKET: &str = "/var/run/openvswitch/db.sock";
/// How long one OVSDB request may take before the server counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry delay while ovsdb is unreachable; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// The longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How the OVS task runs.
#[derive(Debug, Clone)]
pub struct OvsOptions {
    /// The ovsdb-server socket (`--ovsdb-socket`).
    pub socket: PathBuf,
    /// `datapath_type` of the bridges perouter creates (`--ovs-datapath-type`; `netdev` is the
    /// userspace datapath, for hosts without the openvswitch kernel module).
    pub datapath_type: Option<String>,
    /// Period of the passes when nothing changes.
    pub period: Duration,
}

/// What the task reports (status API, node status, metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OvsStatus {
    /// Passes run (including failed ones).
    pub passes: u64,
    /// Host legs wanted on OVS by the running plan.
    pub legs: usize,
    /// Whether the last pass reached ovsdb.
    pub connected: bool,
    /// Why the last pass could not talk to ovsdb.
    pub last_error: Option<String>,
    /// What the last pass could not apply, one text per leg or transaction; each names the
    /// host veth or bridge, so it is attributed to its L2VNI.
    pub last_failures: Vec<String>,
    /// Transactions committed since start.
    pub transactions: u64,
    /// Transactions refused since start.
    pub transaction_failures: u64,
}

/// What perouter owns in the database: its host veths and managed bridges.
pub fn scope() -> Scope {
    Scope {
        port_prefix: perouter_fib::desired::names::HOST_VETH_PREFIX.to_string(),
        bridge_prefix: perouter_fib::desired::names::HOST_BRIDGE_PREFIX.to_string(),
    }
}

/// The OVS host legs `plan` wants (pure: what `perouter check` shows is what runs).
pub fn wanted(plan: &NodePlan, datapath_type: Option<&str>) -> Wanted {
    Wanted {
        legs: plan
            .l2vnis
            .iter()
            .filter_map(|l| {
                match &l.host_leg {
                    HostLegPlan::ManagedOvsBridge(b) => Some((b, true)),
                    HostLegPlan::ExistingOvsBridge(b) => Some((b, false)),
                    _ => None,
                }
                .map(|(bridge, managed)| Leg {
                    port: l.host_veth.clone(),
                    bridge: bridge.clone(),
                    managed,
                })
            })
            .collect(),
        datapath_type: datapath_type.map(str::to_string),
    }
}

/// What one pass did.
#[derive(Debug, Default)]
struct Pass {
    applied: Vec<String>,
    failures: Vec<String>,
    refused: u64,
}

/// One pass over a connection (made, or made again once if the kept one went stale).
async fn pass(
    client: &mut Option<Client>,
    opts: &OvsOptions,
    want: &Wanted,
) -> Result<Pass, Error> {
    let scope = scope();
    let plan = loop {
        let fresh = client.is_none();
        let c = match client {
            Some(c) => c,
            None => client.insert(Client::connect(&opts.socket, REQUEST_TIMEOUT).await?),
        };
        match c.plan(want, &scope).await {
            Ok(p) => break p,
            // A kept connection went stale (the server restarted): once more on a new one.
            Err(e) if e.is_fatal() && !fresh => *client = None,
            Err(e) => {
                if e.is_fatal() {
                    *client = None;
                }
                return Err(e);
            }
        }
    };
    let mut out = Pass::default();
    for p in plan.problems {
        out.failures.push(format!("ovs {}: {}", p.port, p.message));
    }
    let Some(c) = client.as_mut() else {
        return Ok(out);
    };
    for t in plan.txns {
        match c.transact(vswitch::DATABASE, &t.ops).await {
            Ok(_) => out.applied.push(t.what),
            Err(e) if !e.is_fatal() => {
                out.refused += 1;
                out.failures
                    .push(format!("ovs {}: {} refused: {e}", t.subject, t.what));
            }
            Err(e) => {
                *client = None;
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Runs the OVS host legs until `legs` closes: a pass on every change of the wanted legs and
/// every period, retried with a backoff while ovsdb is unreachable.
pub async fn run(
    opts: OvsOptions,
    mut legs: watch::Receiver<Wanted>,
    status: watch::Sender<OvsStatus>,
) {
    let mut client: Option<Client> = None;
    let mut backoff = MIN_BACKOFF;
    let mut ever_wanted = false;
    let mut reachable = true;
    let mut last_failures: Vec<String> = Vec::new();
    let mut st = OvsStatus::default();
    loop {
        let want = legs.borrow_and_update().clone();
        ever_wanted |= !want.legs.is_empty();
        st.passes += 1;
        st.legs = want.legs.len();
        // Nothing wanted, never was, and no OVS here: nothing to do (and nothing to say).
        let idle = want.legs.is_empty() && !ever_wanted && !opts.socket.exists();
        let wait = if idle {
            st.connected = false;
            opts.period
        } else {
            match pass(&mut client, &opts, &want).await {
                Ok(p) => {
                    if !reachable {
                        info!(socket = %opts.socket.display(), "ovsdb reachable again: applying the OVS host legs");
                    }
                    reachable = true;
                    backoff = MIN_BACKOFF;
                    for what in &p.applied {
                        info!(socket = %opts.socket.display(), "ovs: {what}");
                    }
                    for f in p.failures.iter().filter(|f| !last_failures.contains(f)) {
                        warn!("{f}");
                    }
                    last_failures = p.failures.clone();
                    st.connected = true;
                    st.last_error = None;
                    st.last_failures = p.failures;
                    st.transactions += p.applied.len() as u64;
                    st.transaction_failures += p.refused;
                    opts.period
                }
                Err(e) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    let text = format!("ovsdb unreachable at {}: {e}", opts.socket.display());
                    if want.legs.is_empty() {
                        // Only leftovers to clean up: said quietly, retried later.
                        debug!("{text}: OVS cleanup deferred");
                        st.last_failures.clear();
                    } else {
                        let ports: Vec<&str> = want.legs.iter().map(|l| l.port.as_str()).collect();
                        warn!(socket = %opts.socket.display(), error = %e, retry_in_secs = wait.as_secs(),
                            legs = %ports.join(","),
                            "ovsdb unreachable: the OVS host legs of these L2VNIs are not applied; retrying");
                        st.last_failures = want
                            .legs
                            .iter()
                            .map(|l| {
                                format!(
                                    "ovs {}: not attached to OVS bridge {}: {text}",
                                    l.port, l.bridge
                                )
                            })
                            .collect();
                    }
                    last_failures.clear();
                    reachable = false;
                    st.connected = false;
                    st.last_error = Some(text);
                    wait
                }
            }
        };
        status.send_replace(st.clone());
        tokio::select! {
            r = legs.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_dir;

    fn plan(l2vnis: &str) -> NodePlan {
        let dir = std::env::temp_dir().join(format!(
            "perouter-ovs-{}-{}",
            std::process::id(),
            l2vnis.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openpe_all.yaml"),
            format!("underlays:\n  - asn: 64514\n    interfaces: [{{type: NetworkDevice, networkDevice: {{interfaceName: toswitch1}}}}]\n    neighbors: [{{asn: 64512, address: 192.168.11.2}}]\n    tunnelEndpoint: {{cidrs: [100.65.0.0/24]}}\nl2vnis:\n{l2vnis}"),
        )
        .unwrap();
        let r = check_dir(&dir, Some(0), "perouter").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        r.plan.unwrap()
    }

    #[test]
    fn managed_and_external_ovs_legs_come_from_the_plan() {
        let p = plan("  - {name: a, vni: 210, hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: Managed}}}\n  - {name: b, vni: 220, hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: External, name: ovs-ext}}}\n  - {name: c, vni: 230, hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}\n  - {name: d, vni: 240}\n");
        let w = wanted(&p, Some("netdev"));
        assert_eq!(
            w.legs,
            [
                Leg {
                    port: "host-e-210".into(),
                    bridge: "br-hs-210".into(),
                    managed: true
                },
                Leg {
                    port: "host-e-220".into(),
                    bridge: "ovs-ext".into(),
                    managed: false
                },
            ]
        );
        assert_eq!(w.datapath_type.as_deref(), Some("netdev"));
        // The datapath leaves both unattached for OVS; the Linux one gets its bridge.
        let d = crate::runtime::datapath::node_datapath(&p, None);
        use perouter_fib::HostLeg;
        let legs: Vec<&HostLeg> = d.l2vnis.iter().map(|l| &l.host_leg).collect();
        assert_eq!(
            legs,
            [
                &HostLeg::Bare,
                &HostLeg::Bare,
                &HostLeg::ManagedBridge,
                &HostLeg::Bare
            ]
        );
        // Failures name the host veth: they land on the right L2VNI in the status.
        let f = crate::runtime::health::datapath_failures(
            &p,
            "u",
            &["ovs host-e-220: OVS bridge ovs-ext does not exist".to_string()],
        );
        assert_eq!((f[0].name.as_str(), f.len()), ("b", 1));
    }

    #[tokio::test]
    async fn unreachable_ovsdb_is_reported_per_leg_and_retried() {
        let p = plan("  - {name: a, vni: 210, hostMaster: {type: OVSBridge, ovsBridge: {lifecycle: Managed}}}\n");
        let (legs_tx, legs_rx) = watch::channel(wanted(&p, None));
        let (st_tx, mut st_rx) = watch::channel(OvsStatus::default());
        let opts = OvsOptions {
            socket: std::env::temp_dir()
                .join(format!("perouter-no-ovsdb-{}.sock", std::process::id())),
            datapath_type: None,
            period: Duration::from_secs(60),
        };
        let task = tokio::spawn(run(opts, legs_rx, st_tx));
        st_rx.wait_for(|s| s.passes >= 1).await.unwrap();
        let s = st_rx.borrow().clone();
        assert!(!s.connected);
        assert!(
            s.last_error
                .as_deref()
                .unwrap()
                .contains("ovsdb unreachable at"),
            "{s:?}"
        );
        assert_eq!(s.last_failures.len(), 1);
        assert!(
            s.last_failures[0].contains("host-e-210") && s.last_failures[0].contains("br-hs-210")
        );
        // Retried after the first backoff (1 s), not only at the 60 s period.
        tokio::time::timeout(Duration::from_secs(5), st_rx.wait_for(|s| s.passes >= 2))
            .await
            .expect("a retry within the backoff")
            .unwrap();
        // No OVS leg wanted any more: no failure reported for the missing ovsdb.
        legs_tx.send_replace(Wanted::default());
        st_rx.wait_for(|s| s.legs == 0).await.unwrap();
        assert!(st_rx.borrow().last_failures.is_empty());
        drop(legs_tx);
        task.await.unwrap();
    }
}

//! CNI underlay devices (`interfaces: [{type: CNIDevice, cniDevice: ...}]`): the one owner of
//! the attachments made by running CNI plugins into the router namespace.
//!
//! Like upstream OpenPERouter, the attachment cache is the source of truth for what was
//! provisioned: one file per interface in `--cni-state-dir` (default: `cni-NETNS/` beside the
//! API socket) holds the configuration it was added with, the plugin's result and the
//! interface's index. It survives perouter restarts and crashes, so a restart adopts the
//! interfaces it finds (no ADD), and a DEL can be run with the configuration of the ADD even
//! after the underlay is gone.
//!
//! Each pass (on every plan change and every reconcile period) compares the wanted devices,
//! the cache and the router namespace's links ([`decide`], pure) and then runs the plugins:
//! - wanted and cached with the same configuration, present under its name with the same index:
//!   kept, and CHECKed (CNI SPEC §4.2) unless the list disables it; a failed CHECK is drift;
//! - missing (deleted), renamed (its index under another name), replaced (another index), or a
//!   failed CHECK: drift, re-provisioned in place by DEL (of whatever name it has now) + ADD;
//! - cached but no longer wanted (underlay deleted, interface renamed in the configuration) or
//!   wanted with another configuration: DEL, then ADD of the wanted one;
//! - wanted but not cached: ADD (a leftover interface of that name is DELed first).
//!
//! Plugin errors name the plugin and its message; they are logged, kept in [`CniStatus`] (shown
//! as a datapath error in the node status) and retried on the next pass. Nothing else waits on
//! this task: the sessions over the device come up when it appears.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use perouter_cni::{Driver, DriverConfig, NetworkConfigList};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::model::{CniNic, UnderlayNic};
use crate::plan::NodePlan;

/// The CNI devices `plan` wants in the router namespace.
pub fn wanted(plan: &NodePlan) -> Vec<CniNic> {
    plan.underlay_nics
        .iter()
        .filter_map(|n| match n {
            UnderlayNic::CniDevice(c) => Some(c.clone()),
            UnderlayNic::NetworkDevice(_) => None,
        })
        .collect()
}

/// One cached attachment (the file `IFNAME.json` in the state directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// `CNI_IFNAME` of the ADD.
    pub ifname: String,
    /// The configuration list of the ADD (canonical JSON).
    pub config: String,
    /// The runtime configuration of the ADD (canonical JSON).
    pub runtime_config: String,
    /// `CNI_CONTAINERID` of the ADD.
    pub container_id: String,
    /// `CNI_NETNS` of the ADD.
    pub netns: PathBuf,
    /// The ADD's result (`prevResult` of CHECK and DEL).
    pub result: Value,
    /// The interface's index right after the ADD (None when it could not be read).
    pub ifindex: Option<u32>,
}

impl Attachment {
    fn same_config(&self, nic: &CniNic) -> bool {
        self.config == nic.config && self.runtime_config == nic.runtime_config
    }
}

/// What a pass does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// DEL the cached attachment, naming the interface as it is called now (`CNI_IFNAME`).
    Del {
        /// The cached attachment.
        attachment: Attachment,
        /// The interface's current name (the cached one when it is gone).
        current_name: String,
        /// Why (for the log).
        why: String,
    },
    /// DEL with the wanted configuration an interface that is not in the cache (a leftover
    /// whose cache was lost), so that the ADD can create it afresh.
    DelUncached {
        /// The wanted device.
        nic: CniNic,
    },
    /// CHECK a kept attachment.
    Check {
        /// The cached attachment.
        attachment: Attachment,
    },
    /// ADD the wanted device.
    Add {
        /// The wanted device.
        nic: CniNic,
    },
}

/// The pass for `wanted` devices, the `cached` attachments and the router namespace's links
/// (name → index). Pure. `drifted` names cached interfaces whose last CHECK failed.
pub fn decide(
    wanted: &[CniNic],
    cached: &[Attachment],
    links: &BTreeMap<String, u32>,
    drifted: &[String],
) -> Vec<Action> {
    let mut dels = Vec::new();
    let mut adds = Vec::new();
    let mut checks = Vec::new();
    let name_of = |idx: u32| {
        links
            .iter()
            .find(|(_, i)| **i == idx)
            .map(|(n, _)| n.clone())
    };
    for a in cached {
        let want = wanted.iter().find(|n| n.name == a.ifname);
        // Where the attachment's interface is now.
        let current = match (links.get(&a.ifname), a.ifindex) {
            (Some(i), Some(c)) if *i == c => Some(a.ifname.clone()),
            (Some(_), None) => Some(a.ifname.clone()),
            (_, Some(c)) => name_of(c),
            (None, None) => None,
        };
        let del = |why: String| Action::Del {
            attachment: a.clone(),
            current_name: current.clone().unwrap_or_else(|| a.ifname.clone()),
            why,
        };
        match want {
            None => dels.push(del("no longer configured".into())),
            Some(n) if !a.same_config(n) => {
                dels.push(del("its CNI configuration changed".into()));
                adds.push(n.clone());
            }
            Some(n) => match &current {
                Some(c) if *c == a.ifname && drifted.contains(&a.ifname) => {
                    dels.push(del("its CNI CHECK failed".into()));
                    adds.push(n.clone());
                }
                Some(c) if *c == a.ifname => checks.push(Action::Check {
                    attachment: a.clone(),
                }),
                Some(c) => {
                    dels.push(del(format!("renamed to {c} outside perouter")));
                    adds.push(n.clone());
                }
                None if links.contains_key(&a.ifname) => {
                    dels.push(del("replaced by another interface of that name".into()));
                    adds.push(n.clone());
                }
                None => {
                    dels.push(del("deleted outside perouter".into()));
                    adds.push(n.clone());
                }
            },
        }
    }
    let mut out = dels;
    for n in wanted {
        if cached.iter().any(|a| a.ifname == n.name) {
            continue;
        }
        if links.contains_key(&n.name) {
            out.push(Action::DelUncached { nic: n.clone() });
        }
        adds.push(n.clone());
    }
    out.extend(checks);
    out.extend(adds.into_iter().map(|nic| Action::Add { nic }));
    out
}

/// The command-line side of [`CniOptions`].
#[derive(Debug, Clone)]
pub struct CniSettings {
    /// Plugin directories (`CNI_PATH`).
    pub path: Vec<PathBuf>,
    /// The attachment cache.
    pub state_dir: PathBuf,
    /// Per-plugin timeout.
    pub timeout: Duration,
    /// The Kubernetes node name, when known.
    pub node: Option<String>,
}

/// The node-scoped `CNI_CONTAINERID`: `perouter-underlay-` and the node (the Kubernetes node
/// name, else this host's name and the router namespace, so that several lab nodes on one
/// machine differ). Plugins key state on it (the dhcp plugin's client id, host-local leases),
/// so it must be stable across restarts and unique per node.
pub fn container_id(node: Option<&str>, router_netns: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let who = match node {
        Some(n) => n.to_string(),
        None => format!("{}-{router_netns}", host.trim()),
    };
    let clean: String = who
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("perouter-underlay-{}", clean.trim_matches('-'))
}

/// How the task runs the plugins.
#[derive(Debug, Clone)]
pub struct CniOptions {
    /// The router namespace (`CNI_NETNS` is its `/run/netns` path).
    pub router_netns: String,
    /// The namespace the plugins run in (the node's host namespace; None: perouter's own).
    pub host_netns: Option<String>,
    /// Where the attachment cache lives.
    pub state_dir: PathBuf,
    /// `CNI_CONTAINERID` (node-scoped, stable: DHCP client ids and host-local leases key on it).
    pub container_id: String,
    /// Plugin directories.
    pub path: Vec<PathBuf>,
    /// Per-plugin timeout.
    pub timeout: Duration,
    /// The reconcile period.
    pub period: Duration,
}

/// What the task reports (`perouter show status`: `cni`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CniStatus {
    /// Passes run.
    pub passes: u64,
    /// The interfaces attached after the last pass.
    pub attached: Vec<String>,
    /// The last pass's failures, each naming the plugin and its message.
    pub last_failures: Vec<String>,
    /// ADDs and DELs run so far (lab and metrics evidence of adoption vs re-provisioning).
    pub adds: u64,
    /// DELs run so far.
    pub dels: u64,
}

fn read_cache(dir: &Path) -> Vec<Attachment> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        match std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Attachment>(&b).map_err(|e| e.to_string()))
        {
            Ok(a) => out.push(a),
            Err(e) => {
                warn!(file = %p.display(), error = %e, "unreadable CNI attachment cache entry: ignored")
            }
        }
    }
    out.sort_by(|a, b| a.ifname.cmp(&b.ifname));
    out
}

fn cache_file(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("{ifname}.json"))
}

fn write_cache(dir: &Path, a: &Attachment) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let p = cache_file(dir, &a.ifname);
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(a).unwrap_or_default())?;
    std::fs::rename(tmp, p)
}

/// The router namespace's links, name → index.
fn links(netns: &str) -> std::io::Result<BTreeMap<String, u32>> {
    let h = perouter_fib::netns::NetnsHandle::open(netns)?;
    h.run(|| {
        nix::net::if_::if_nameindex().map(|l| {
            l.iter()
                .map(|i| (i.name().to_string_lossy().into_owned(), i.index()))
                .collect::<BTreeMap<_, _>>()
        })
    })?
    .map_err(std::io::Error::from)
}

fn list_of(config: &str) -> Result<NetworkConfigList, String> {
    let v: Value = serde_json::from_str(config).map_err(|e| e.to_string())?;
    NetworkConfigList::from_value(&v).map_err(|e| e.to_string())
}

fn rc_of(rc: &str) -> Map<String, Value> {
    serde_json::from_str(rc).unwrap_or_default()
}

/// One pass; blocking (runs plugins). `drifted` carries failed CHECKs to the next pass.
fn pass(opts: &CniOptions, wanted: &[CniNic], drifted: &mut Vec<String>, st: &mut CniStatus) {
    let netns_path = perouter_fib::netns::path(&opts.router_netns);
    let driver = Driver::new(DriverConfig {
        path: opts.path.clone(),
        timeout: opts.timeout,
        exec_netns: opts.host_netns.as_deref().map(perouter_fib::netns::path),
    });
    let mut failures = Vec::new();
    let cached = read_cache(&opts.state_dir);
    let now = match links(&opts.router_netns) {
        Ok(l) => l,
        Err(e) => {
            st.last_failures = vec![format!(
                "CNI: cannot list the links of router namespace {}: {e}",
                opts.router_netns
            )];
            return;
        }
    };
    let actions = decide(wanted, &cached, &now, drifted);
    drifted.clear();
    // An ADD after a failed DEL of the same name would collide: skipped until the DEL works.
    let mut blocked: Vec<String> = Vec::new();
    for act in actions {
        match act {
            Action::Del {
                attachment: a,
                current_name,
                why,
            } => {
                info!(ifname = %a.ifname, current = %current_name, %why, "CNI DEL");
                st.dels += 1;
                let res = list_of(&a.config)
                    .map_err(|e| format!("cached CNI configuration of {}: {e}", a.ifname))
                    .and_then(|l| {
                        driver
                            .del_list(
                                &l,
                                &rc_of(&a.runtime_config),
                                &a.container_id,
                                &a.netns,
                                &current_name,
                                Some(&a.result),
                            )
                            .map_err(|e| e.to_string())
                    });
                match res {
                    Ok(()) => {
                        if let Err(e) = std::fs::remove_file(cache_file(&opts.state_dir, &a.ifname))
                        {
                            warn!(ifname = %a.ifname, error = %e, "cannot remove the CNI attachment cache entry");
                        }
                    }
                    Err(e) => {
                        warn!(ifname = %a.ifname, error = %e, "CNI DEL failed (retried next pass)");
                        failures.push(e);
                        blocked.push(a.ifname.clone());
                    }
                }
            }
            Action::DelUncached { nic } => {
                info!(ifname = %nic.name, "CNI DEL of an interface of that name with no cached attachment, before ADD");
                st.dels += 1;
                let res = list_of(&nic.config).and_then(|l| {
                    driver
                        .del_list(
                            &l,
                            &rc_of(&nic.runtime_config),
                            &opts.container_id,
                            &netns_path,
                            &nic.name,
                            None,
                        )
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = res {
                    warn!(ifname = %nic.name, error = %e, "CNI DEL failed (retried next pass)");
                    failures.push(e);
                    blocked.push(nic.name.clone());
                }
            }
            Action::Check { attachment: a } => {
                let Ok(l) = list_of(&a.config) else { continue };
                if l.disable_check {
                    continue;
                }
                if let Err(e) = driver.check_list(
                    &l,
                    &rc_of(&a.runtime_config),
                    &a.container_id,
                    &a.netns,
                    &a.ifname,
                    &a.result,
                ) {
                    warn!(ifname = %a.ifname, error = %e, "CNI CHECK failed: re-provisioning on the next pass");
                    failures.push(e.to_string());
                    drifted.push(a.ifname.clone());
                }
            }
            Action::Add { nic } => {
                if blocked.contains(&nic.name) {
                    continue;
                }
                let l = match list_of(&nic.config) {
                    Ok(l) => l,
                    Err(e) => {
                        failures.push(format!("CNI configuration of {}: {e}", nic.name));
                        continue;
                    }
                };
                let rc = rc_of(&nic.runtime_config);
                info!(ifname = %nic.name, network = %l.name, "CNI ADD into router namespace {}", opts.router_netns);
                st.adds += 1;
                match driver.add_list(&l, &rc, &opts.container_id, &netns_path, &nic.name) {
                    Ok(r) => {
                        let ifindex = links(&opts.router_netns)
                            .ok()
                            .and_then(|m| m.get(&nic.name).copied());
                        let a = Attachment {
                            ifname: nic.name.clone(),
                            config: nic.config.clone(),
                            runtime_config: nic.runtime_config.clone(),
                            container_id: opts.container_id.clone(),
                            netns: netns_path.clone(),
                            result: r.raw,
                            ifindex,
                        };
                        info!(ifname = %nic.name, ?ifindex, ips = ?r.ips.iter().map(|i| i.address.as_str()).collect::<Vec<_>>(), "CNI ADD done");
                        if let Err(e) = write_cache(&opts.state_dir, &a) {
                            failures.push(format!(
                                "cannot record the CNI attachment of {} in {}: {e}",
                                nic.name,
                                opts.state_dir.display()
                            ));
                        }
                    }
                    Err(e) => {
                        warn!(ifname = %nic.name, error = %e, "CNI ADD failed: cleaning up with DEL, retried next pass");
                        failures.push(e.to_string());
                        // SPEC §4.1: a failed ADD is followed by a DEL to release what was made.
                        if let Err(d) = driver.del_list(
                            &l,
                            &rc,
                            &opts.container_id,
                            &netns_path,
                            &nic.name,
                            None,
                        ) {
                            warn!(ifname = %nic.name, error = %d, "CNI DEL after the failed ADD failed too");
                        }
                    }
                }
            }
        }
    }
    st.passes += 1;
    st.attached = read_cache(&opts.state_dir)
        .into_iter()
        .map(|a| a.ifname)
        .collect();
    st.last_failures = failures;
}

/// Runs the task: a pass on every change of `wanted` and every period.
pub async fn run(
    opts: CniOptions,
    mut wanted: watch::Receiver<Vec<CniNic>>,
    status: watch::Sender<CniStatus>,
) {
    let mut tick = tokio::time::interval(opts.period);
    let mut drifted: Vec<String> = Vec::new();
    let mut st = CniStatus::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            c = wanted.changed() => if c.is_err() { return },
        }
        let w = wanted.borrow_and_update().clone();
        // Nothing to do and nothing cached: no pass (and no plugin run) at all.
        if w.is_empty() && read_cache(&opts.state_dir).is_empty() {
            continue;
        }
        let o = opts.clone();
        let (mut d, mut s) = (std::mem::take(&mut drifted), st.clone());
        match tokio::task::spawn_blocking(move || {
            pass(&o, &w, &mut d, &mut s);
            (d, s)
        })
        .await
        {
            Ok((d, s)) => {
                drifted = d;
                st = s;
            }
            Err(e) => warn!(error = %e, "CNI pass panicked"),
        }
        status.send_replace(st.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str, cfg: &str) -> CniNic {
        CniNic {
            name: name.into(),
            config: cfg.into(),
            runtime_config: "{}".into(),
        }
    }

    fn att(name: &str, cfg: &str, idx: u32) -> Attachment {
        Attachment {
            ifname: name.into(),
            config: cfg.into(),
            runtime_config: "{}".into(),
            container_id: "perouter-underlay-n1".into(),
            netns: "/run/netns/pe".into(),
            result: Value::Null,
            ifindex: Some(idx),
        }
    }

    fn links(l: &[(&str, u32)]) -> BTreeMap<String, u32> {
        l.iter().map(|(n, i)| (n.to_string(), *i)).collect()
    }

    fn kinds(a: &[Action]) -> Vec<String> {
        a.iter()
            .map(|a| match a {
                Action::Del { current_name, .. } => format!("del {current_name}"),
                Action::DelUncached { nic } => format!("del! {}", nic.name),
                Action::Check { attachment } => format!("check {}", attachment.ifname),
                Action::Add { nic } => format!("add {}", nic.name),
            })
            .collect()
    }

    #[test]
    fn a_fresh_device_is_added_and_a_present_one_adopted_and_checked() {
        let w = [nic("net1", "A")];
        assert_eq!(
            kinds(&decide(&w, &[], &links(&[("lo", 1)]), &[])),
            ["add net1"]
        );
        let c = [att("net1", "A", 7)];
        let l = links(&[("lo", 1), ("net1", 7)]);
        assert_eq!(
            kinds(&decide(&w, &c, &l, &[])),
            ["check net1"],
            "restart: adopt, no ADD"
        );
    }

    #[test]
    fn drift_is_reprovisioned_in_place() {
        let w = [nic("net1", "A")];
        let c = [att("net1", "A", 7)];
        assert_eq!(
            kinds(&decide(&w, &c, &links(&[("lo", 1)]), &[])),
            ["del net1", "add net1"],
            "deleted"
        );
        assert_eq!(
            kinds(&decide(&w, &c, &links(&[("foo", 7)]), &[])),
            ["del foo", "add net1"],
            "renamed: the DEL names the interface as it is now"
        );
        assert_eq!(
            kinds(&decide(&w, &c, &links(&[("net1", 9)]), &[])),
            ["del net1", "add net1"],
            "replaced"
        );
        assert_eq!(
            kinds(&decide(&w, &c, &links(&[("net1", 7)]), &["net1".into()])),
            ["del net1", "add net1"],
            "failed CHECK"
        );
    }

    #[test]
    fn removed_renamed_or_changed_configuration_dels_with_the_cached_one() {
        let c = [att("net1", "A", 7)];
        let l = links(&[("net1", 7)]);
        let a = decide(&[], &c, &l, &[]);
        assert_eq!(kinds(&a), ["del net1"], "underlay deleted");
        assert!(matches!(&a[0], Action::Del { attachment, .. } if attachment.config == "A"));
        assert_eq!(
            kinds(&decide(&[nic("underlay1", "A")], &c, &l, &[])),
            ["del net1", "add underlay1"]
        );
        assert_eq!(
            kinds(&decide(&[nic("net1", "B")], &c, &l, &[])),
            ["del net1", "add net1"]
        );
    }

    #[test]
    fn a_leftover_interface_without_a_cache_entry_is_deleted_before_the_add() {
        let w = [nic("net1", "A")];
        assert_eq!(
            kinds(&decide(&w, &[], &links(&[("net1", 3)]), &[])),
            ["del! net1", "add net1"]
        );
    }
}

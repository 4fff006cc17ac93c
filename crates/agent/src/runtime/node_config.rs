//! The configuration source of the daemon, whichever way the resources arrive: a
//! [`ConfigInput`] (a `ResourceSet`, failures found before validation, the node index) goes
//! through the pure [`apply_config`] — validate, derive the node plan, keep the running plan when
//! the new one cannot be made — and comes out as an [`AppliedConfig`] published on a `watch`
//! channel.
//!
//! Two producers feed it: [`ConfigSource`] (static mode: the directory, polled) and
//! [`super::kubernetes`] (Kubernetes mode: static files merged with the API's resources by
//! [`crate::k8s::source`]). An invalid underlay keeps the running plan (upstream's
//! `UnderlayFailed`); bad resources are reported and skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::check::resolve_node_index;
use crate::config::resources::{FailedResource, ResourceKind, ResourceSet};
use crate::config::static_files::{self, FileError};
use crate::config::validate::validate;
use crate::plan::{derive_plan, NodePlan};

/// What the daemon is running now, and what it could not apply.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedConfig {
    /// The plan in effect (None until a valid underlay has been seen).
    pub plan: Option<Arc<NodePlan>>,
    /// Resources skipped, and why (failures found before validation, e.g. unresolved
    /// `passwordSecret`s, first).
    pub failed_resources: Vec<FailedResource>,
    /// Files that could not be used.
    pub file_errors: Vec<FileError>,
    /// Why the newest configuration could not replace the running plan, if it couldn't.
    pub plan_error: Option<String>,
    /// Set when the underlay was invalid and the running one was kept.
    pub underlay_failed: bool,
    /// The configuration files read.
    pub files: Vec<PathBuf>,
    /// How many times a new plan was applied.
    pub generation: u64,
}

impl AppliedConfig {
    /// Whether `next` says anything new compared with `self`: another plan or other failures
    /// (a poll that finds the same configuration publishes nothing).
    pub fn same_outcome(&self, next: &AppliedConfig) -> bool {
        next.generation == self.generation
            && next.failed_resources == self.failed_resources
            && next.file_errors == self.file_errors
            && next.plan_error == self.plan_error
            && next.underlay_failed == self.underlay_failed
    }

    /// Logs what `self` skipped or could not apply (once per published change).
    pub fn log_problems(&self) {
        for f in &self.failed_resources {
            warn!(kind = %f.kind, name = %f.name, reason = %f.reason, "resource skipped: {}", f.message);
        }
        for e in &self.file_errors {
            warn!(file = %e.path.display(), "configuration file skipped: {}", e.message);
        }
        if let Some(e) = &self.plan_error {
            warn!("keeping the running plan: {e}");
        }
    }
}

/// One configuration to apply, from either source.
#[derive(Debug, Clone)]
pub struct ConfigInput {
    /// Every resource that applies to this node (static files, or static files + API).
    pub resources: ResourceSet,
    /// Failures found before validation (unresolved `passwordSecret`s).
    pub failed_before: Vec<FailedResource>,
    /// Files that could not be used.
    pub file_errors: Vec<FileError>,
    /// The configuration files read.
    pub files: Vec<PathBuf>,
    /// This node's index, or why it is not known (yet): the whole message of the plan error.
    pub node_index: Result<u32, String>,
}

/// Validates `input`, derives the plan and says what applies now. Pure (given the input): the
/// plan of `previous` is kept — the same `Arc`, so the daemon sees no change — when the new
/// configuration yields the same plan or none at all (an invalid underlay or an unknown index
/// never tears the node down); `generation` counts the plans that replaced another.
///
/// An Underlay that already failed before validation (a `passwordSecret` that cannot be
/// resolved) is not applied at all: running its sessions without their TCP-MD5 key would
/// downgrade them to unauthenticated ones. It counts as an invalid underlay — the running plan,
/// with the last good key, stays.
pub fn apply_config(
    previous: Option<&AppliedConfig>,
    mut input: ConfigInput,
    router_netns: &str,
) -> AppliedConfig {
    let generation = previous.map_or(0, |p| p.generation);
    let prev_plan = previous.and_then(|p| p.plan.clone());
    let blocked: Vec<String> = input
        .failed_before
        .iter()
        .filter(|f| f.kind == ResourceKind::Underlay)
        .map(|f| f.name.clone())
        .collect();
    let before = input.resources.underlays.len();
    input
        .resources
        .underlays
        .retain(|u| !blocked.contains(&u.name));
    let underlay_blocked = input.resources.underlays.len() != before;
    let v = validate(&input.resources);
    let planned = input
        .node_index
        .and_then(|i| derive_plan(&v.intent, i, router_netns).map_err(|e| e.to_string()));
    let (plan, plan_error) = match planned {
        Ok(p) => match &prev_plan {
            Some(prev) if **prev == p => (Some(prev.clone()), None),
            _ => (Some(Arc::new(p)), None),
        },
        Err(e) => (prev_plan.clone(), Some(e)),
    };
    let generation = if plan.as_ref().map(Arc::as_ptr) != prev_plan.as_ref().map(Arc::as_ptr) {
        generation + 1
    } else {
        generation
    };
    let mut failed_resources = input.failed_before;
    failed_resources.extend(v.failed);
    AppliedConfig {
        plan,
        failed_resources,
        file_errors: input.file_errors,
        plan_error,
        underlay_failed: v.underlay_failed || underlay_blocked,
        files: input.files,
        generation,
    }
}

/// Where the daemon reads its configuration in static mode.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The static directory.
    pub dir: PathBuf,
    /// A node index given on the command line (overrides node-config.yaml).
    pub node_index: Option<u32>,
    /// The router namespace name.
    pub router_netns: String,
    /// How often the directory is re-read.
    pub poll: Duration,
}

impl ConfigSource {
    /// Reads, validates and plans once; `previous` is kept when the new underlay is invalid.
    pub fn load(&self, previous: Option<&AppliedConfig>) -> AppliedConfig {
        let cfg = match static_files::load_dir(&self.dir) {
            Ok(c) => c,
            Err(e) => {
                return AppliedConfig {
                    plan: previous.and_then(|p| p.plan.clone()),
                    failed_resources: Vec::new(),
                    file_errors: vec![FileError {
                        path: self.dir.clone(),
                        message: e.to_string(),
                    }],
                    plan_error: Some(format!("cannot read {}: {e}", self.dir.display())),
                    underlay_failed: false,
                    files: Vec::new(),
                    generation: previous.map_or(0, |p| p.generation),
                }
            }
        };
        // node-config.yaml's logLevel applies live (a no-op unless it changed).
        if let Some(n) = &cfg.node {
            crate::logging::apply_config_level(&n.log_level);
        }
        let node_index =
            resolve_node_index(cfg.node.as_ref(), self.node_index).map_err(|e| e.to_string());
        let input = ConfigInput {
            resources: cfg.resources,
            failed_before: Vec::new(),
            file_errors: cfg.file_errors,
            files: cfg.files,
            node_index,
        };
        apply_config(previous, input, &self.router_netns)
    }

    /// Polls the directory forever, publishing every change (plan or reported failures).
    pub async fn run(self, tx: watch::Sender<Arc<AppliedConfig>>) {
        let mut current = tx.borrow().clone();
        loop {
            tokio::time::sleep(self.poll).await;
            let src = self.clone();
            let prev = current.clone();
            let Ok(next) = tokio::task::spawn_blocking(move || src.load(Some(&prev))).await else {
                continue;
            };
            if current.same_outcome(&next) {
                continue;
            }
            if next.generation != current.generation {
                info!(
                    generation = next.generation,
                    "configuration changed: applying a new node plan"
                );
            }
            next.log_problems();
            current = Arc::new(next);
            if tx.send(current.clone()).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resources::{FailureReason, Resource, ResourceKind, Source};
    use crate::config::types::{L3VniSpec, UnderlaySpec};

    #[test]
    fn invalid_underlay_keeps_the_running_plan() {
        let dir = std::env::temp_dir().join(format!("perouter-nodecfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n";
        std::fs::write(dir.join("openpe_u.yaml"), good).unwrap();
        let src = ConfigSource {
            dir: dir.clone(),
            node_index: Some(0),
            router_netns: "perouter".into(),
            poll: Duration::from_secs(1),
        };
        let a = src.load(None);
        assert_eq!(a.generation, 1);
        assert!(a.plan.is_some());
        let b = src.load(Some(&a));
        assert_eq!(b.generation, 1, "unchanged config is not a new generation");
        assert!(a.same_outcome(&b));
        std::fs::write(
            dir.join("openpe_u.yaml"),
            good.replace("asn: 64514", "asn: 0"),
        )
        .unwrap();
        let c = src.load(Some(&b));
        assert!(c.underlay_failed);
        assert!(!b.same_outcome(&c));
        assert_eq!(c.generation, 1);
        assert_eq!(c.plan.as_ref().unwrap().asn, 64514, "running plan kept");
        assert!(c.plan_error.is_some());
        std::fs::write(dir.join("openpe_u.yaml"), good.replace("64512", "64600")).unwrap();
        let d = src.load(Some(&c));
        assert_eq!(d.generation, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn api_set() -> ResourceSet {
        let api = || Source::Api {
            namespace: "ns".into(),
        };
        let underlay: UnderlaySpec = serde_yaml::from_str(
            "{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}",
        )
        .unwrap();
        ResourceSet {
            underlays: vec![Resource::new(ResourceKind::Underlay, "u", api(), underlay)],
            l3vnis: vec![Resource::new(
                ResourceKind::L3Vni,
                "red",
                api(),
                L3VniSpec {
                    vrf: "red".into(),
                    vni: 100,
                    ..Default::default()
                },
            )],
            ..Default::default()
        }
    }

    fn input(resources: ResourceSet, node_index: Result<u32, String>) -> ConfigInput {
        ConfigInput {
            resources,
            failed_before: Vec::new(),
            file_errors: Vec::new(),
            files: Vec::new(),
            node_index,
        }
    }

    #[test]
    fn unknown_index_waits_then_plans_and_index_change_replans() {
        let a = apply_config(
            None,
            input(api_set(), Err("waiting for the API".into())),
            "perouter",
        );
        assert!(a.plan.is_none());
        assert_eq!(a.generation, 0);
        assert!(
            a.plan_error
                .as_deref()
                .unwrap()
                .contains("waiting for the API"),
            "{:?}",
            a.plan_error
        );
        let b = apply_config(Some(&a), input(api_set(), Ok(3)), "perouter");
        let plan = b.plan.clone().expect("planned once the index is known");
        assert_eq!((plan.index, b.generation), (3, 1));
        assert_eq!(plan.l3vnis.iter().map(|l| l.vni).collect::<Vec<_>>(), [100]);
        // The index goes missing again: the running plan stays.
        let c = apply_config(Some(&b), input(api_set(), Err("gone".into())), "perouter");
        assert!(Arc::ptr_eq(c.plan.as_ref().unwrap(), &plan));
        assert_eq!(c.generation, 1);
        let d = apply_config(Some(&c), input(api_set(), Ok(4)), "perouter");
        assert_eq!((d.plan.as_ref().unwrap().index, d.generation), (4, 2));
    }

    #[test]
    fn unresolved_password_keeps_the_running_plan_and_its_key() {
        let mut with_key = api_set();
        with_key.underlays[0].spec.neighbors[0].password = Some("k3y".into());
        let a = apply_config(None, input(with_key, Ok(0)), "perouter");
        let plan = a.plan.clone().unwrap();
        let mut i = input(api_set(), Ok(0));
        i.resources.underlays[0].spec.neighbors[0].password_secret = Some("md5".into());
        i.failed_before = vec![FailedResource {
            kind: ResourceKind::Underlay,
            name: "u".into(),
            reason: FailureReason::DependencyFailed,
            message: "spec.neighbors[0].passwordSecret: Secret ns/md5 not found".into(),
        }];
        let b = apply_config(Some(&a), i.clone(), "perouter");
        assert!(
            Arc::ptr_eq(b.plan.as_ref().unwrap(), &plan),
            "never an unauthenticated session"
        );
        assert_eq!(plan.neighbors[0].intent.password.as_deref(), Some("k3y"));
        assert!(b.underlay_failed);
        assert_eq!(b.failed_resources.len(), 1);
        // At boot there is nothing to keep: no plan rather than one without the key.
        assert!(apply_config(None, i, "perouter").plan.is_none());
    }

    #[test]
    fn failures_before_validation_come_first() {
        let mut bad = api_set();
        bad.l3vnis.push(Resource::new(
            ResourceKind::L3Vni,
            "broken",
            Source::Api {
                namespace: "ns".into(),
            },
            L3VniSpec {
                vrf: "x".into(),
                vni: 0,
                ..Default::default()
            },
        ));
        let secret = FailedResource {
            kind: ResourceKind::Underlay,
            name: "u".into(),
            reason: FailureReason::DependencyFailed,
            message: "spec.neighbors[0].passwordSecret: Secret ns/md5 not found".into(),
        };
        let mut i = input(bad, Ok(0));
        i.failed_before = vec![secret.clone()];
        let a = apply_config(None, i, "perouter");
        assert!(
            a.plan.is_none() && a.underlay_failed,
            "the blocked underlay is not applied"
        );
        assert_eq!(a.failed_resources.len(), 2);
        assert_eq!(a.failed_resources[0], secret);
        assert_eq!(
            (
                a.failed_resources[1].name.as_str(),
                a.failed_resources[1].reason
            ),
            ("broken", FailureReason::ValidationFailed)
        );
    }
}

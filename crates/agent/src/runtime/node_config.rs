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
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::check::resolve_node_index;
use crate::config::resources::{
    FailedResource, FailureReason, Resource, ResourceKind, ResourceSet, Source,
};
use crate::config::static_files::{self, FileCache, FileError};
use crate::config::validate::{validate, Validated};
use crate::plan::{derive_plan, NodePlan, PlanError};

/// What the daemon is running now, and what it could not apply.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppliedConfig {
    /// The plan in effect (None until a valid underlay has been seen).
    pub plan: Option<Arc<NodePlan>>,
    /// Resources skipped or held at their last valid version, and why (failures found before
    /// validation, e.g. unresolved `passwordSecret`s or unknown fields, first). A message ending
    /// in [`KEPT`] names a resource whose last valid version is still applied.
    pub failed_resources: Vec<FailedResource>,
    /// Files that could not be used (`file:line:column: why`); what they last gave stays.
    pub file_errors: Vec<FileError>,
    /// Deprecated spellings accepted, one line each.
    pub warnings: Vec<String>,
    /// Why the newest configuration could not replace the running plan, if it couldn't.
    pub plan_error: Option<String>,
    /// Set when the underlay was invalid and the running one was kept.
    pub underlay_failed: bool,
    /// Set while no Underlay at all applies to a node that runs a plan. An Underlay from the
    /// static files is withdrawn only when two reads in a row find none (a file rewritten in
    /// place is empty for a moment); one from the API at once.
    #[serde(skip)]
    pub underlay_missing: bool,
    /// The configuration files read.
    pub files: Vec<PathBuf>,
    /// How many times a new plan was applied.
    pub generation: u64,
    /// The resources in force that validated: what a resource that stops reading or validating
    /// falls back to.
    #[serde(skip)]
    pub last_good: Arc<ResourceSet>,
}

/// Appended to the message of a failed resource whose last valid version stays in force.
pub const KEPT: &str = " (failed; its last valid version is still applied)";

impl AppliedConfig {
    /// Whether `next` says anything new compared with `self`: another plan or other failures
    /// (a poll that finds the same configuration publishes nothing).
    pub fn same_outcome(&self, next: &AppliedConfig) -> bool {
        next.generation == self.generation
            && next.failed_resources == self.failed_resources
            && next.file_errors == self.file_errors
            && next.warnings == self.warnings
            && next.plan_error == self.plan_error
            && next.underlay_failed == self.underlay_failed
            && next.underlay_missing == self.underlay_missing
    }

    /// Logs what `self` skipped or could not apply (once per published change).
    pub fn log_problems(&self) {
        for f in &self.failed_resources {
            warn!(kind = %f.kind, name = %f.name, reason = %f.reason, "resource not applied as written: {}", f.message);
        }
        for e in &self.file_errors {
            warn!(file = %e.path.display(), "configuration file not used (what it last gave stays): {}", e.message);
        }
        for w in &self.warnings {
            warn!("deprecated: {w}");
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
    /// Failures found before validation (unresolved `passwordSecret`s, unknown fields, values
    /// of the wrong type).
    pub failed_before: Vec<FailedResource>,
    /// Files that could not be used.
    pub file_errors: Vec<FileError>,
    /// Deprecated spellings accepted.
    pub warnings: Vec<String>,
    /// The configuration files read.
    pub files: Vec<PathBuf>,
    /// This node's index, or why it is not known (yet): the whole message of the plan error.
    pub node_index: Result<u32, String>,
}

fn find<'a, T>(list: &'a [Resource<T>], name: &str) -> Option<&'a Resource<T>> {
    list.iter().find(|r| r.name == name)
}

/// Puts `good` in place of the resource of the same name in `list` (or adds it); whether that
/// changed anything.
fn restore<T: Clone + PartialEq>(list: &mut Vec<Resource<T>>, good: &Resource<T>) -> bool {
    match list.iter_mut().find(|r| r.name == good.name) {
        Some(r) if r == good => false,
        Some(r) => {
            *r = good.clone();
            true
        }
        None => {
            list.push(good.clone());
            true
        }
    }
}

/// Restores the last valid version of the resource `kind`/`name`, if there is one.
fn restore_kind(set: &mut ResourceSet, good: &ResourceSet, kind: ResourceKind, name: &str) -> bool {
    match kind {
        ResourceKind::Underlay => {
            find(&good.underlays, name).is_some_and(|g| restore(&mut set.underlays, g))
        }
        ResourceKind::L3Vni => {
            find(&good.l3vnis, name).is_some_and(|g| restore(&mut set.l3vnis, g))
        }
        ResourceKind::L2Vni => {
            find(&good.l2vnis, name).is_some_and(|g| restore(&mut set.l2vnis, g))
        }
        ResourceKind::L3Passthrough => {
            find(&good.passthroughs, name).is_some_and(|g| restore(&mut set.passthroughs, g))
        }
    }
}

fn has_kind(set: &ResourceSet, kind: ResourceKind, name: &str) -> bool {
    match kind {
        ResourceKind::Underlay => find(&set.underlays, name).is_some(),
        ResourceKind::L3Vni => find(&set.l3vnis, name).is_some(),
        ResourceKind::L2Vni => find(&set.l2vnis, name).is_some(),
        ResourceKind::L3Passthrough => find(&set.passthroughs, name).is_some(),
    }
}

/// Every (kind, name) of `set`.
fn names(set: &ResourceSet) -> Vec<(ResourceKind, String)> {
    let mut out: Vec<(ResourceKind, String)> = Vec::new();
    out.extend(set.underlays.iter().map(|r| (r.kind, r.name.clone())));
    out.extend(set.l3vnis.iter().map(|r| (r.kind, r.name.clone())));
    out.extend(set.l2vnis.iter().map(|r| (r.kind, r.name.clone())));
    out.extend(set.passthroughs.iter().map(|r| (r.kind, r.name.clone())));
    out
}

/// The resources of `set` that `keep` accepts.
fn subset(set: &ResourceSet, keep: impl Fn(ResourceKind, &str) -> bool) -> ResourceSet {
    ResourceSet {
        underlays: set
            .underlays
            .iter()
            .filter(|r| keep(r.kind, &r.name))
            .cloned()
            .collect(),
        l3vnis: set
            .l3vnis
            .iter()
            .filter(|r| keep(r.kind, &r.name))
            .cloned()
            .collect(),
        l2vnis: set
            .l2vnis
            .iter()
            .filter(|r| keep(r.kind, &r.name))
            .cloned()
            .collect(),
        passthroughs: set
            .passthroughs
            .iter()
            .filter(|r| keep(r.kind, &r.name))
            .cloned()
            .collect(),
    }
}

/// Keeps the resources of `set` that are not named in `failed`.
fn without_failed(set: &ResourceSet, failed: &[FailedResource]) -> ResourceSet {
    let bad =
        |kind: ResourceKind, name: &str| failed.iter().any(|f| f.kind == kind && f.name == name);
    ResourceSet {
        underlays: set
            .underlays
            .iter()
            .filter(|r| !bad(r.kind, &r.name))
            .cloned()
            .collect(),
        l3vnis: set
            .l3vnis
            .iter()
            .filter(|r| !bad(r.kind, &r.name))
            .cloned()
            .collect(),
        l2vnis: set
            .l2vnis
            .iter()
            .filter(|r| !bad(r.kind, &r.name))
            .cloned()
            .collect(),
        passthroughs: set
            .passthroughs
            .iter()
            .filter(|r| !bad(r.kind, &r.name))
            .cloned()
            .collect(),
    }
}

/// Validates `input`, derives the plan and says what applies now. Pure (given the input): the
/// plan of `previous` is kept — the same `Arc`, so the daemon sees no change — when the new
/// configuration yields the same plan or none at all (an invalid underlay or an unknown index
/// never tears the node down); `generation` counts the plans that replaced another.
///
/// **Last good configuration.** Nothing that was working is torn down because its source broke:
/// - a file that cannot be read or parsed (listed in `file_errors`) keeps every resource it last
///   gave in force, until it parses again;
/// - a resource that fails (to read, or to validate) keeps its last valid version in force where
///   it had one — reported as failed, with [`KEPT`] — and is skipped only when it never had one.
///
/// An Underlay that already failed before validation (a `passwordSecret` that cannot be
/// resolved) is never applied as written: running its sessions without their TCP-MD5 key would
/// downgrade them to unauthenticated ones. Its last valid version (with the last good key) stays.
pub fn apply_config(
    previous: Option<&AppliedConfig>,
    mut input: ConfigInput,
    router_netns: &str,
) -> AppliedConfig {
    let generation = previous.map_or(0, |p| p.generation);
    let prev_plan = previous.and_then(|p| p.plan.clone());
    let good: Arc<ResourceSet> = previous.map(|p| p.last_good.clone()).unwrap_or_default();
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
    // What a broken file last gave stays.
    let mut set = input.resources;
    let broken: Vec<&PathBuf> = input.file_errors.iter().map(|e| &e.path).collect();
    let from_broken = |src: &Source| matches!(src, Source::File(p) if broken.contains(&p));
    for r in good.underlays.iter().filter(|r| from_broken(&r.source)) {
        if !has_kind(&set, r.kind, &r.name) {
            set.underlays.push(r.clone());
        }
    }
    for r in good.l3vnis.iter().filter(|r| from_broken(&r.source)) {
        if !has_kind(&set, r.kind, &r.name) {
            set.l3vnis.push(r.clone());
        }
    }
    for r in good.l2vnis.iter().filter(|r| from_broken(&r.source)) {
        if !has_kind(&set, r.kind, &r.name) {
            set.l2vnis.push(r.clone());
        }
    }
    for r in good.passthroughs.iter().filter(|r| from_broken(&r.source)) {
        if !has_kind(&set, r.kind, &r.name) {
            set.passthroughs.push(r.clone());
        }
    }
    let mut first = validate(&set);
    let mut failed_resources = input.failed_before;
    // A running resource never loses to a newcomer: when a resource that is unchanged since it
    // last validated fails now, the cause is another resource (a VNI, VRF or pool taken by a new
    // or changed one). The newcomers are then admitted one by one, in name order, and one that
    // would make a running resource fail is refused instead.
    let incumbent = |kind: ResourceKind, name: &str, set: &ResourceSet| -> bool {
        match kind {
            ResourceKind::Underlay => find(&set.underlays, name) == find(&good.underlays, name),
            ResourceKind::L3Vni => find(&set.l3vnis, name) == find(&good.l3vnis, name),
            ResourceKind::L2Vni => find(&set.l2vnis, name) == find(&good.l2vnis, name),
            ResourceKind::L3Passthrough => {
                find(&set.passthroughs, name) == find(&good.passthroughs, name)
            }
        }
    };
    if first
        .failed
        .iter()
        .any(|f| has_kind(&good, f.kind, &f.name) && incumbent(f.kind, &f.name, &set))
    {
        let mut newcomers: Vec<(ResourceKind, String)> = names(&set)
            .into_iter()
            .filter(|(k, n)| !incumbent(*k, n, &set))
            .collect();
        newcomers.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        let mut admitted: Vec<(ResourceKind, String)> = Vec::new();
        for cand in newcomers {
            let trial = subset(&set, |k, n| {
                incumbent(k, n, &set)
                    || admitted.iter().any(|(ak, an)| *ak == k && an == n)
                    || (cand.0 == k && cand.1 == n)
            });
            let v = validate(&trial);
            let hurts = v
                .failed
                .iter()
                .any(|f| incumbent(f.kind, &f.name, &set) && has_kind(&good, f.kind, &f.name));
            if hurts {
                let why = v
                    .failed
                    .iter()
                    .find(|f| f.kind == cand.0 && f.name == cand.1)
                    .map(|f| f.message.clone())
                    .unwrap_or_else(|| {
                        let victims: Vec<String> = v
                            .failed
                            .iter()
                            .map(|f| format!("{} {} ({})", f.kind, f.name, f.message))
                            .collect();
                        format!(
                            "refused: it conflicts with {}, which already runs",
                            victims.join(", ")
                        )
                    });
                failed_resources.push(FailedResource {
                    kind: cand.0,
                    name: cand.1.clone(),
                    reason: FailureReason::ValidationFailed,
                    message: why,
                });
            } else {
                admitted.push(cand);
            }
        }
        let rejected: Vec<(ResourceKind, String)> = failed_resources
            .iter()
            .map(|f| (f.kind, f.name.clone()))
            .collect();
        set = subset(&set, |k, n| {
            !rejected.iter().any(|(rk, rn)| *rk == k && rn == n) || incumbent(k, n, &set)
        });
        first = validate(&set);
    }
    let underlay_failed = first.underlay_failed || underlay_blocked;
    for f in first.failed {
        if !failed_resources
            .iter()
            .any(|g| g.kind == f.kind && g.name == f.name)
        {
            failed_resources.push(f);
        }
    }
    // A failed resource falls back to its last valid version.
    let mut restored = Vec::new();
    for f in &failed_resources {
        if restore_kind(&mut set, &good, f.kind, &f.name) {
            restored.push((f.kind, f.name.clone()));
        }
    }
    let v = if restored.is_empty() {
        Validated {
            intent: first.intent,
            failed: Vec::new(),
            underlay_failed,
        }
    } else {
        validate(&set)
    };
    // Failures the fallback did not cure stay skipped; cured ones are reported as kept.
    for f in &mut failed_resources {
        let cured = restored.iter().any(|(k, n)| *k == f.kind && *n == f.name)
            && !v
                .failed
                .iter()
                .any(|g| g.kind == f.kind && g.name == f.name);
        if cured {
            f.message.push_str(KEPT);
        }
    }
    for g in v.failed {
        if !failed_resources
            .iter()
            .any(|f| f.kind == g.kind && f.name == g.name)
        {
            failed_resources.push(g);
        }
    }
    let still_bad: Vec<FailedResource> = failed_resources
        .iter()
        .filter(|f| !f.message.ends_with(KEPT))
        .cloned()
        .collect();
    let last_good = Arc::new(without_failed(&set, &still_bad));
    // No Underlay at all (deleted, not merely invalid) while a plan runs: the node's routing is
    // withdrawn and its NIC returned, as upstream does; the VNIs and the passthrough wait for an
    // Underlay (DependencyFailed). An invalid Underlay keeps the running plan instead.
    let underlay_missing = set.underlays.is_empty() && !underlay_failed && prev_plan.is_some();
    let from_files = good
        .underlays
        .iter()
        .all(|u| matches!(u.source, Source::File(_)));
    let confirmed = previous.is_some_and(|p| p.underlay_missing) || !from_files;
    let deleted_from: Option<&NodePlan> = prev_plan
        .as_deref()
        .filter(|_| underlay_missing && confirmed);
    let planned = input.node_index.and_then(|i| {
        match (derive_plan(&v.intent, i, router_netns), deleted_from) {
            (Err(PlanError::NoUnderlay), Some(running)) => {
                let waiting = set
                    .l3vnis
                    .iter()
                    .map(|r| (ResourceKind::L3Vni, &r.name))
                    .chain(set.l2vnis.iter().map(|r| (ResourceKind::L2Vni, &r.name)))
                    .chain(
                        set.passthroughs
                            .iter()
                            .map(|r| (ResourceKind::L3Passthrough, &r.name)),
                    );
                for (kind, name) in waiting {
                    if !failed_resources
                        .iter()
                        .any(|f| f.kind == kind && &f.name == name)
                    {
                        failed_resources.push(FailedResource {
                            kind,
                            name: name.clone(),
                            reason: FailureReason::DependencyFailed,
                            message: "no Underlay applies to this node".into(),
                        });
                    }
                }
                Ok(running.withdrawn())
            }
            (r, _) => r.map_err(|e| e.to_string()),
        }
    });
    let (plan, plan_error) = match planned {
        Ok(p) => match &prev_plan {
            Some(prev) if **prev == p => (Some(prev.clone()), None),
            _ => (Some(Arc::new(p)), None),
        },
        Err(_) if underlay_missing && !confirmed => (
            prev_plan.clone(),
            Some("no Underlay applies to this node: the node's routing is withdrawn if the next read finds none either".into()),
        ),
        Err(e) => (prev_plan.clone(), Some(e)),
    };
    let generation = if plan.as_ref().map(Arc::as_ptr) != prev_plan.as_ref().map(Arc::as_ptr) {
        generation + 1
    } else {
        generation
    };
    AppliedConfig {
        plan,
        failed_resources,
        file_errors: input.file_errors,
        warnings: input.warnings,
        plan_error,
        underlay_failed,
        underlay_missing,
        files: input.files,
        generation,
        last_good,
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
    /// Reads, validates and plans once, reading every file; `previous` is what runs now.
    pub fn load(&self, previous: Option<&AppliedConfig>) -> AppliedConfig {
        self.load_with(previous, &mut FileCache::default(), None)
    }

    /// Reads, validates and plans once: files unchanged since `cache` saw them are not read
    /// again, and with `settle = Some(now)` a file modified within
    /// [`static_files::SETTLE`] of `now` counts as not changed yet.
    pub fn load_with(
        &self,
        previous: Option<&AppliedConfig>,
        cache: &mut FileCache,
        settle: Option<SystemTime>,
    ) -> AppliedConfig {
        let cfg = match static_files::load_dir_cached(&self.dir, cache, settle) {
            Ok(c) => c,
            Err(e) => {
                return AppliedConfig {
                    plan: previous.and_then(|p| p.plan.clone()),
                    failed_resources: Vec::new(),
                    file_errors: vec![FileError {
                        path: self.dir.clone(),
                        message: e.to_string(),
                    }],
                    warnings: Vec::new(),
                    plan_error: Some(format!("cannot read {}: {e}", self.dir.display())),
                    underlay_failed: false,
                    underlay_missing: previous.is_some_and(|p| p.underlay_missing),
                    files: Vec::new(),
                    generation: previous.map_or(0, |p| p.generation),
                    last_good: previous.map(|p| p.last_good.clone()).unwrap_or_default(),
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
            failed_before: cfg.failed_resources,
            file_errors: cfg.file_errors,
            warnings: cfg.warnings,
            files: cfg.files,
            node_index,
        };
        apply_config(previous, input, &self.router_netns)
    }

    /// Polls the directory forever, publishing every change (plan or reported failures).
    pub async fn run(self, tx: watch::Sender<Arc<AppliedConfig>>) {
        let mut current = tx.borrow().clone();
        let mut cache = Some(FileCache::default());
        // The first poll has an empty file cache: a file written less than SETTLE before it
        // would count as new and settling and be skipped, dropping for one poll the resources
        // the start applied from it. The start read every file without settling; so does the
        // first poll, which fills the cache.
        let mut first = true;
        loop {
            tokio::time::sleep(self.poll).await;
            let src = self.clone();
            let prev = current.clone();
            let mut c = cache.take().unwrap_or_default();
            let settle = (!std::mem::take(&mut first)).then(SystemTime::now);
            let Ok((next, c)) = tokio::task::spawn_blocking(move || {
                let next = src.load_with(Some(&prev), &mut c, settle);
                (next, c)
            })
            .await
            else {
                continue;
            };
            cache = Some(c);
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
        assert!(
            c.failed_resources[0].message.ends_with(KEPT),
            "reported as failed, last valid version applied: {:?}",
            c.failed_resources
        );
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
            warnings: Vec::new(),
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
    fn deleted_underlay_withdraws_the_plan_and_an_invalid_one_keeps_it() {
        let a = apply_config(None, input(api_set(), Ok(0)), "perouter");
        let running = a.plan.clone().unwrap();
        // An invalid Underlay: the running plan stays.
        let mut bad = api_set();
        bad.underlays[0].spec.asn = 0;
        let b = apply_config(Some(&a), input(bad, Ok(0)), "perouter");
        assert!(Arc::ptr_eq(b.plan.as_ref().unwrap(), &running));
        assert!(b.underlay_failed);
        // The Underlay deleted: no neighbour, NIC, VTEP or VNI; the VNI waits for an Underlay.
        let mut gone = api_set();
        gone.underlays.clear();
        let c = apply_config(Some(&b), input(gone.clone(), Ok(0)), "perouter");
        let w = c.plan.clone().unwrap();
        assert!(w.neighbors.is_empty() && w.underlay_nics.is_empty() && w.l3vnis.is_empty());
        assert_eq!((w.vtep_v4, w.asn, w.index), (None, running.asn, 0));
        assert_eq!((c.generation, c.plan_error.as_deref()), (2, None));
        assert_eq!(c.failed_resources.len(), 1, "{:?}", c.failed_resources);
        assert_eq!(
            (
                c.failed_resources[0].name.as_str(),
                c.failed_resources[0].reason
            ),
            ("red", FailureReason::DependencyFailed)
        );
        // Still deleted: nothing new. Back: the whole plan again.
        let d = apply_config(Some(&c), input(gone, Ok(0)), "perouter");
        assert_eq!(d.generation, 2);
        let e = apply_config(Some(&d), input(api_set(), Ok(0)), "perouter");
        assert_eq!(**e.plan.as_ref().unwrap(), *running);
        assert!(e.failed_resources.is_empty());
        // From the static files: the first read without an Underlay keeps the running plan
        // (a file rewritten in place), the second withdraws it.
        let file = |mut r: ResourceSet| {
            for u in &mut r.underlays {
                u.source = Source::File("/c/openpe_u.yaml".into());
            }
            for l in &mut r.l3vnis {
                l.source = Source::File("/c/openpe_l3.yaml".into());
            }
            r
        };
        let f = apply_config(Some(&e), input(file(api_set()), Ok(0)), "perouter");
        let mut files_gone = file(api_set());
        files_gone.underlays.clear();
        let g = apply_config(Some(&f), input(files_gone.clone(), Ok(0)), "perouter");
        assert!(Arc::ptr_eq(
            g.plan.as_ref().unwrap(),
            f.plan.as_ref().unwrap()
        ));
        assert!(g.underlay_missing && g.plan_error.is_some());
        let back = apply_config(Some(&g), input(file(api_set()), Ok(0)), "perouter");
        assert!(!back.underlay_missing && back.plan_error.is_none());
        assert!(Arc::ptr_eq(
            back.plan.as_ref().unwrap(),
            f.plan.as_ref().unwrap()
        ));
        let g2 = apply_config(Some(&back), input(files_gone.clone(), Ok(0)), "perouter");
        let h = apply_config(Some(&g2), input(files_gone.clone(), Ok(0)), "perouter");
        assert!(
            h.plan.as_ref().unwrap().neighbors.is_empty(),
            "withdrawn on the second read"
        );
        let i = apply_config(Some(&h), input(files_gone, Ok(0)), "perouter");
        assert!(Arc::ptr_eq(
            i.plan.as_ref().unwrap(),
            h.plan.as_ref().unwrap()
        ));
        assert!(i.same_outcome(&h), "stays withdrawn without flapping");
        // At boot there is nothing to withdraw: no plan.
        let mut none = api_set();
        none.underlays.clear();
        assert!(apply_config(None, input(none, Ok(0)), "perouter")
            .plan
            .is_none());
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

    #[test]
    fn broken_files_and_resources_keep_their_last_good_version() {
        let dir = std::env::temp_dir().join(format!("perouter-lastgood-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openpe_u.yaml"),
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n",
        )
        .unwrap();
        let vnis = dir.join("openpe_v.yaml");
        let good = "l2vnis:\n  - {name: red, vni: 100}\n";
        std::fs::write(&vnis, good).unwrap();
        let src = ConfigSource {
            dir: dir.clone(),
            node_index: Some(0),
            router_netns: "perouter".into(),
            poll: Duration::from_secs(1),
        };
        let vni_list = |a: &AppliedConfig| -> Vec<u32> {
            a.plan
                .as_ref()
                .unwrap()
                .l2vnis
                .iter()
                .map(|l| l.vni)
                .collect()
        };
        let a = src.load(None);
        assert_eq!(vni_list(&a), [100]);
        let plan = a.plan.clone().unwrap();
        // Half-written / syntax error: the file's resources stay, the error says where.
        std::fs::write(&vnis, "l2vnis:\n  - {name: red, vni: 100\n").unwrap();
        let b = src.load(Some(&a));
        assert!(
            Arc::ptr_eq(b.plan.as_ref().unwrap(), &plan),
            "nothing torn down"
        );
        assert_eq!(b.file_errors.len(), 1);
        assert!(
            b.file_errors[0]
                .message
                .starts_with(&format!("{}:3:", vnis.display())),
            "{:?}",
            b.file_errors
        );
        assert!(!a.same_outcome(&b), "the failure is published");
        // Unreadable (gone unreadable is the same as unparsable): still kept.
        std::fs::write(&vnis, "l2vnis: 7\n").unwrap();
        let b = src.load(Some(&b));
        assert!(Arc::ptr_eq(b.plan.as_ref().unwrap(), &plan));
        // An unknown field in the resource: its last valid version stays, reported as failed.
        std::fs::write(&vnis, "l2vnis:\n  - {name: red, vni: 100, vxlanPrt: 1}\n").unwrap();
        let c = src.load(Some(&b));
        assert!(Arc::ptr_eq(c.plan.as_ref().unwrap(), &plan));
        assert_eq!(c.failed_resources.len(), 1);
        assert!(
            c.failed_resources[0].message.ends_with(KEPT),
            "{:?}",
            c.failed_resources
        );
        assert!(c.failed_resources[0]
            .message
            .contains("did you mean `vxlanPort`"));
        // A validation failure: same; a new resource that never validated is skipped.
        std::fs::write(
            &vnis,
            "l2vnis:\n  - {name: red, vni: 0}\n  - {name: blue, vni: 0}\n",
        )
        .unwrap();
        let d = src.load(Some(&c));
        assert!(Arc::ptr_eq(d.plan.as_ref().unwrap(), &plan));
        let msgs: Vec<(&str, bool)> = d
            .failed_resources
            .iter()
            .map(|f| (f.name.as_str(), f.message.ends_with(KEPT)))
            .collect();
        assert_eq!(msgs, [("blue", false), ("red", true)]);
        // The last good version survives several bad polls, and a fixed file applies.
        let d = src.load(Some(&d));
        assert!(Arc::ptr_eq(d.plan.as_ref().unwrap(), &plan));
        std::fs::write(&vnis, "l2vnis:\n  - {name: red, vni: 200}\n").unwrap();
        let e = src.load(Some(&d));
        assert_eq!(vni_list(&e), [200]);
        assert!(e.failed_resources.is_empty() && e.file_errors.is_empty());
        // Removing the resource (or the file) removes it: that is not a failure.
        std::fs::remove_file(&vnis).unwrap();
        let f = src.load(Some(&e));
        assert!(vni_list(&f).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newcomer_never_takes_a_running_resources_vni() {
        let mut set = api_set();
        let a = apply_config(None, input(set.clone(), Ok(0)), "perouter");
        let plan = a.plan.clone().unwrap();
        // "blue" sorts before "red" and asks for red's VNI: blue is refused, red keeps running.
        set.l3vnis.push(Resource::new(
            ResourceKind::L3Vni,
            "blue",
            Source::Api {
                namespace: "ns".into(),
            },
            L3VniSpec {
                vrf: "blue".into(),
                vni: 100,
                ..Default::default()
            },
        ));
        let b = apply_config(Some(&a), input(set, Ok(0)), "perouter");
        assert!(
            Arc::ptr_eq(b.plan.as_ref().unwrap(), &plan),
            "red untouched"
        );
        let failed: Vec<&str> = b.failed_resources.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(failed, ["blue"], "{:?}", b.failed_resources);
        assert!(
            b.failed_resources[0].message.contains("already used by"),
            "{:?}",
            b.failed_resources
        );
    }
}

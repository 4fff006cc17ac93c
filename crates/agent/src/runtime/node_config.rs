//! The configuration source of the daemon: reads the static directory, validates it, derives the
//! node plan and publishes a new [`AppliedConfig`] whenever the result changes. An invalid
//! underlay keeps the running plan (upstream's `UnderlayFailed`); bad resources are reported and
//! skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::check::resolve_node_index;
use crate::config::resources::FailedResource;
use crate::config::static_files::{self, FileError};
use crate::config::validate::validate;
use crate::plan::{derive_plan, NodePlan};

/// What the daemon is running now, and what it could not apply.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedConfig {
    /// The plan in effect (None until a valid underlay has been seen).
    pub plan: Option<Arc<NodePlan>>,
    /// Resources skipped, and why.
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

/// Where the daemon reads its configuration.
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
        let generation = previous.map_or(0, |p| p.generation);
        let prev_plan = previous.and_then(|p| p.plan.clone());
        let cfg = match static_files::load_dir(&self.dir) {
            Ok(c) => c,
            Err(e) => {
                return AppliedConfig {
                    plan: prev_plan,
                    failed_resources: Vec::new(),
                    file_errors: vec![FileError { path: self.dir.clone(), message: e.to_string() }],
                    plan_error: Some(format!("cannot read {}: {e}", self.dir.display())),
                    underlay_failed: false,
                    files: Vec::new(),
                    generation,
                }
            }
        };
        let v = validate(&cfg.resources);
        let planned = resolve_node_index(cfg.node.as_ref(), self.node_index)
            .and_then(|i| derive_plan(&v.intent, i, &self.router_netns));
        let (plan, plan_error) = match planned {
            Ok(p) => {
                let changed = prev_plan.as_deref() != Some(&p);
                (Some(if changed { Arc::new(p) } else { prev_plan.clone().expect("unchanged implies some") }), None)
            }
            // Keep what runs: an invalid underlay or a missing index never tears the node down.
            Err(e) => (prev_plan.clone(), Some(e.to_string())),
        };
        let generation = if plan.as_ref().map(Arc::as_ptr) != prev_plan.as_ref().map(Arc::as_ptr) {
            generation + 1
        } else {
            generation
        };
        AppliedConfig {
            plan,
            failed_resources: v.failed,
            file_errors: cfg.file_errors,
            plan_error,
            underlay_failed: v.underlay_failed,
            files: cfg.files,
            generation,
        }
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
            let same = next.generation == current.generation
                && next.failed_resources == current.failed_resources
                && next.file_errors == current.file_errors
                && next.plan_error == current.plan_error;
            if same {
                continue;
            }
            if next.generation != current.generation {
                info!(generation = next.generation, "configuration changed: applying a new node plan");
            }
            for f in &next.failed_resources {
                warn!(kind = %f.kind, name = %f.name, reason = %f.reason, "resource skipped: {}", f.message);
            }
            for e in &next.file_errors {
                warn!(file = %e.path.display(), "configuration file skipped: {}", e.message);
            }
            if let Some(e) = &next.plan_error {
                warn!("keeping the running plan: {e}");
            }
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

    #[test]
    fn invalid_underlay_keeps_the_running_plan() {
        let dir = std::env::temp_dir().join(format!("perouter-nodecfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n";
        std::fs::write(dir.join("openpe_u.yaml"), good).unwrap();
        let src = ConfigSource { dir: dir.clone(), node_index: Some(0), router_netns: "perouter".into(), poll: Duration::from_secs(1) };
        let a = src.load(None);
        assert_eq!(a.generation, 1);
        assert!(a.plan.is_some());
        let b = src.load(Some(&a));
        assert_eq!(b.generation, 1, "unchanged config is not a new generation");
        std::fs::write(dir.join("openpe_u.yaml"), good.replace("asn: 64514", "asn: 0")).unwrap();
        let c = src.load(Some(&b));
        assert!(c.underlay_failed);
        assert_eq!(c.generation, 1);
        assert_eq!(c.plan.as_ref().unwrap().asn, 64514, "running plan kept");
        assert!(c.plan_error.is_some());
        std::fs::write(dir.join("openpe_u.yaml"), good.replace("64512", "64600")).unwrap();
        let d = src.load(Some(&c));
        assert_eq!(d.generation, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

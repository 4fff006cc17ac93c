//! Kubernetes mode's configuration producer: the same [`AppliedConfig`] the static source
//! publishes, made from the static files merged with the API's resources.
//!
//! ```text
//!  static dir (polled) ──ResourceSet──► k8s controller (merge, nodeSelector, Secrets, debounce)
//!        │ files, errors, node-config index                     │ K8sConfig
//!        ▼                                                      ▼
//!  node index (annotation, retried) ───────────────────► applier: apply_config ──► AppliedConfig
//! ```
//!
//! Two-stage boot as upstream: the static files apply without waiting for the API (the
//! controller emits them at once); API resources join once every watch has listed; if the API
//! goes away the last complete view stays. The node index is `--node-index` when given, else the
//! `openpe.io/nodeindex` annotation (allocated if missing); until the API has answered,
//! node-config.yaml's index (if any) lets stage 1 run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::check::resolve_node_index;
use crate::config::resources::{FailedResource, ResourceSet};
use crate::config::static_files::{self, FileError, StaticConfig};
use crate::k8s::controller::ControllerConfig;
use crate::k8s::mode;
use crate::k8s::node_index::ANNOTATION;
use crate::k8s::source::K8sConfig;
use crate::k8s::status_writer::StatusWriter;

use super::node_config::{apply_config, AppliedConfig, ConfigInput};

/// Where Kubernetes mode finds what is not in the API.
#[derive(Debug, Clone)]
pub struct KubernetesSource {
    /// The static directory (stage 1); a missing directory is an empty configuration.
    pub dir: PathBuf,
    /// `--node-index`: overrides the annotation.
    pub node_index: Option<u32>,
    /// The router namespace name.
    pub router_netns: String,
    /// How often the static directory is re-read.
    pub poll: Duration,
}

/// What the static directory holds besides resources, for the applier.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticFiles {
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Files that could not be used.
    pub file_errors: Vec<FileError>,
    /// Static resources that could not be read (unknown fields, wrong types).
    pub failed: Vec<FailedResource>,
    /// Deprecated spellings accepted.
    pub warnings: Vec<String>,
    /// node-config.yaml's index, or why there is none.
    pub node_index: Result<u32, String>,
}

/// Reads the static directory; a missing one is empty (Kubernetes mode needs no static files).
fn load_static(dir: &Path) -> StaticConfig {
    match static_files::load_dir(dir) {
        Ok(c) => {
            // node-config.yaml's logLevel applies live (a no-op unless it changed).
            if let Some(n) = &c.node {
                crate::logging::apply_config_level(&n.log_level);
            }
            c
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StaticConfig::default(),
        Err(e) => StaticConfig {
            file_errors: vec![FileError {
                path: dir.to_path_buf(),
                message: e.to_string(),
            }],
            ..Default::default()
        },
    }
}

fn split(cfg: StaticConfig) -> (ResourceSet, StaticFiles) {
    let node_index = resolve_node_index(cfg.node.as_ref(), None).map_err(|e| e.to_string());
    (
        cfg.resources,
        StaticFiles {
            files: cfg.files,
            file_errors: cfg.file_errors,
            failed: cfg.failed_resources,
            warnings: cfg.warnings,
            node_index,
        },
    )
}

/// Which index the plan uses: `--node-index`, else the annotation once known, else
/// node-config.yaml's (stage 1, while the API has not answered). Pure.
pub fn choose_index(
    override_index: Option<u32>,
    annotated: Option<&Result<u32, String>>,
    from_file: &Result<u32, String>,
) -> Result<u32, String> {
    if let Some(i) = override_index {
        return Ok(i);
    }
    match (annotated, from_file) {
        (Some(Ok(i)), _) => Ok(*i),
        (_, Ok(i)) => Ok(*i),
        (Some(Err(e)), Err(_)) => Err(format!("node index: {e}")),
        (None, Err(_)) => Err(format!(
            "node index: waiting for the {ANNOTATION} annotation (Kubernetes API)"
        )),
    }
}

/// The running Kubernetes configuration side.
pub struct KubernetesConfig {
    /// The configuration in effect; its plan is `None` until one can be made.
    pub applied: watch::Receiver<Arc<AppliedConfig>>,
    /// Writes this node's status.
    pub status: StatusWriter,
}

/// Starts the static poller, the controller, the node index lookup and the applier; returns at
/// once (nothing here waits for the API server).
pub async fn start(
    client: Client,
    controller: ControllerConfig,
    source: KubernetesSource,
) -> KubernetesConfig {
    let dir = source.dir.clone();
    let first = tokio::task::spawn_blocking(move || load_static(&dir))
        .await
        .unwrap_or_default();
    let (static_set, files) = split(first);
    info!(node = %controller.node_name, namespace = %controller.namespace, static_resources = static_set.len(),
        "Kubernetes mode: static files first, API resources when the API answers");
    let (set_tx, set_rx) = watch::channel(static_set.clone());
    let (files_tx, files_rx) = watch::channel(files);
    tokio::spawn(poll_static(
        source.dir.clone(),
        source.poll,
        set_tx,
        files_tx,
    ));

    let (index_tx, index_rx) = watch::channel(None);
    if source.node_index.is_none() {
        let client = client.clone();
        let (node, ns) = (controller.node_name.clone(), controller.namespace.clone());
        tokio::spawn(async move {
            let r = mode::node_index(&client, &node, &ns)
                .await
                .map_err(|e| e.to_string());
            match &r {
                Ok(i) => {
                    info!(node = %node, index = i, "node index from the {ANNOTATION} annotation")
                }
                Err(e) => warn!(node = %node, error = %e, "no node index from the API"),
            }
            let _ = index_tx.send(Some(r));
        });
    }

    let k8s = mode::start(client, controller, static_set, Some(set_rx));
    let initial = AppliedConfig {
        plan: None,
        failed_resources: Vec::new(),
        file_errors: Vec::new(),
        plan_error: Some("waiting for the configuration".into()),
        underlay_failed: false,
        files: Vec::new(),
        generation: 0,
        ..Default::default()
    };
    let (tx, rx) = watch::channel(Arc::new(initial));
    tokio::spawn(run_applier(k8s.config, index_rx, files_rx, source, tx));
    KubernetesConfig {
        applied: rx,
        status: k8s.status,
    }
}

/// Re-reads the static directory every `poll`, publishing changes (the controller merges the
/// resources; the applier takes the rest).
async fn poll_static(
    dir: PathBuf,
    poll: Duration,
    set_tx: watch::Sender<ResourceSet>,
    files_tx: watch::Sender<StaticFiles>,
) {
    loop {
        tokio::time::sleep(poll).await;
        let d = dir.clone();
        let Ok(cfg) = tokio::task::spawn_blocking(move || load_static(&d)).await else {
            continue;
        };
        let (set, files) = split(cfg);
        let set_changed = set_tx.send_if_modified(|s| {
            let changed = *s != set;
            if changed {
                *s = set;
            }
            changed
        });
        let files_changed = files_tx.send_if_modified(|f| {
            let changed = *f != files;
            if changed {
                *f = files;
            }
            changed
        });
        if set_changed || files_changed {
            info!(dir = %dir.display(), "static configuration changed");
        }
        if set_tx.is_closed() && files_tx.is_closed() {
            return;
        }
    }
}

/// Turns every new controller configuration, node index or static-file report into an
/// [`AppliedConfig`] and publishes it when it says something new. Ends when `tx` has no
/// receivers or the controller is gone.
pub async fn run_applier(
    mut config: watch::Receiver<Option<K8sConfig>>,
    mut index: watch::Receiver<Option<Result<u32, String>>>,
    mut files: watch::Receiver<StaticFiles>,
    source: KubernetesSource,
    tx: watch::Sender<Arc<AppliedConfig>>,
) {
    let mut current = tx.borrow().clone();
    let mut last_index: Option<u32> = None;
    // A sender that is gone (the index lookup ends once it has answered) is not waited on again.
    let (mut index_open, mut files_open) = (true, true);
    loop {
        let k8s = config.borrow_and_update().clone();
        let annotated = index.borrow_and_update().clone();
        let static_files = files.borrow_and_update().clone();
        if let Some(k8s) = k8s {
            let node_index = choose_index(
                source.node_index,
                annotated.as_ref(),
                &static_files.node_index,
            );
            if let (Some(Ok(a)), Ok(f)) = (&annotated, &static_files.node_index) {
                if a != f && source.node_index.is_none() {
                    warn!(annotation = a, node_config = f, "the {ANNOTATION} annotation and node-config.yaml disagree: using the annotation");
                }
            }
            if let (Ok(i), Some(prev)) = (&node_index, last_index) {
                if *i != prev {
                    warn!(
                        from = prev,
                        to = i,
                        "node index changed: the node's addresses are derived again"
                    );
                }
            }
            last_index = node_index.as_ref().ok().copied().or(last_index);
            let mut failed_before = static_files.failed;
            failed_before.extend(k8s.failed);
            let input = ConfigInput {
                resources: k8s.resources,
                failed_before,
                file_errors: static_files.file_errors,
                warnings: static_files.warnings,
                files: static_files.files,
                node_index,
            };
            let next = apply_config(Some(&current), input, &source.router_netns);
            if !current.same_outcome(&next) {
                if next.generation != current.generation {
                    info!(
                        generation = next.generation,
                        api_synced = k8s.api_synced,
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
        tokio::select! {
            r = config.changed() => if r.is_err() { warn!("the Kubernetes controller stopped"); return },
            r = index.changed(), if index_open => index_open = r.is_ok(),
            r = files.changed(), if files_open => files_open = r.is_ok(),
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_precedence() {
        let file: Result<u32, String> = Ok(5);
        let none: Result<u32, String> = Err("no node-config.yaml".into());
        assert_eq!(
            choose_index(Some(9), Some(&Ok(2)), &file),
            Ok(9),
            "--node-index wins"
        );
        assert_eq!(
            choose_index(None, Some(&Ok(2)), &file),
            Ok(2),
            "annotation over node-config.yaml"
        );
        assert_eq!(
            choose_index(None, None, &file),
            Ok(5),
            "stage 1: node-config.yaml until the API answers"
        );
        assert_eq!(
            choose_index(None, Some(&Err("node x not found".into())), &file),
            Ok(5)
        );
        assert!(choose_index(None, None, &none)
            .unwrap_err()
            .contains("waiting for the openpe.io/nodeindex"));
        assert!(
            choose_index(None, Some(&Err("node x not found".into())), &none)
                .unwrap_err()
                .contains("node x not found")
        );
    }

    #[test]
    fn missing_static_directory_is_empty() {
        let c = load_static(Path::new("/nonexistent/perouter-test-dir"));
        assert!(c.resources.is_empty() && c.file_errors.is_empty());
    }
}

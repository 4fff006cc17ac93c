//! Kubernetes mode wired together for `perouter run`: the controller task, the node index and the
//! status writer, each independent so that the static configuration (stage 1) never waits for the
//! API server (stage 2).
//!
//! ```text
//! let client = kube::Client::try_default().await?;            // in-cluster service account
//! let mode = perouter_agent::k8s::mode::start(client.clone(), cfg, static_set, None);
//! // reconcile loop: on mode.config.changed() → validate(&config.resources) → apply →
//! //   mode.status.write(&ConfigOutcome::from_validated(&validated, &config.failed, index), &runtime)
//! let index = perouter_agent::k8s::mode::node_index(&client, &node, &ns).await; // retries
//! ```

use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::resources::ResourceSet;

use super::controller::{run, ControllerConfig};
use super::mirror::MirrorReport;
use super::node_index::{ensure_node_index, NodeIndexError};
use super::source::K8sConfig;
use super::status_writer::StatusWriter;

/// The running Kubernetes side of the agent.
pub struct KubernetesMode {
    /// The latest configuration for this node (`None` until the first one: static files, or the
    /// API's first complete list).
    pub config: watch::Receiver<Option<K8sConfig>>,
    /// Writes this node's `RouterNodeConfigurationStatus`.
    pub status: StatusWriter,
    /// The controller task (ends when every receiver of `config` is dropped).
    pub controller: JoinHandle<()>,
    /// How the static mirror stands (see [`super::mirror`]); `None` without static updates.
    pub mirror: Option<watch::Receiver<MirrorReport>>,
}

/// Starts the controller and, when the static files are followed (`static_updates`), the
/// mirror of this node's static resources as custom resources; returns at once.
pub fn start(
    client: Client,
    cfg: ControllerConfig,
    static_set: ResourceSet,
    static_updates: Option<watch::Receiver<ResourceSet>>,
) -> KubernetesMode {
    let (tx, rx) = watch::channel(None);
    let status = StatusWriter::new(client.clone(), cfg.node_name.clone(), &cfg.namespace);
    let mirror = static_updates.clone().map(|statics| {
        let (report_tx, report_rx) = watch::channel(MirrorReport::default());
        tokio::spawn(super::mirror::run(
            client.clone(),
            cfg.node_name.clone(),
            cfg.namespace.clone(),
            statics,
            report_tx,
        ));
        report_rx
    });
    let controller = tokio::spawn(run(client, cfg, static_set, static_updates, tx));
    KubernetesMode {
        config: rx,
        status,
        controller,
        mirror,
    }
}

/// This node's index, retried with exponential backoff (0.5 s doubling to 30 s) until the API
/// answers; only a missing Node object is returned as an error.
pub async fn node_index(
    client: &Client,
    node_name: &str,
    namespace: &str,
) -> Result<u32, NodeIndexError> {
    let mut delay = Duration::from_millis(500);
    loop {
        match ensure_node_index(client, node_name, namespace).await {
            Ok(i) => return Ok(i),
            Err(e @ NodeIndexError::NodeNotFound(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "cannot get the node index yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The command-line flags of Kubernetes mode, for `perouter run` to `#[command(flatten)]`; the
/// DaemonSet in `deploy/daemonset.yaml` passes them.
#[derive(Debug, Clone, clap::Args)]
pub struct KubernetesArgs {
    /// Join the Kubernetes API (in-cluster service account, or KUBECONFIG) besides the static files.
    #[arg(long)]
    pub kubernetes: bool,
    /// This node's name (the DaemonSet passes `spec.nodeName`).
    #[arg(long, requires = "kubernetes")]
    pub node_name: Option<String>,
    /// The namespace of the configuration resources, password Secrets and status objects.
    #[arg(long, default_value = "openperouter-system")]
    pub namespace: String,
}

impl KubernetesArgs {
    /// The controller configuration, when Kubernetes mode is on and the node is named.
    pub fn controller_config(&self) -> Option<ControllerConfig> {
        Some(ControllerConfig {
            node_name: self.node_name.clone().filter(|_| self.kubernetes)?,
            namespace: self.namespace.clone(),
            debounce: Default::default(),
        })
    }
}

//! The Kubernetes controller: kube-runtime watchers for the four configuration kinds, this node's
//! Node object and the password Secrets, feeding the sans-IO [`ConfigSource`]; its output goes to
//! the reconcile loop through a `tokio::sync::watch` channel (latest value wins, so a slow
//! reconcile never queues stale configurations).
//!
//! Watch errors (API server down, RBAC, network) are retried with kube-runtime's exponential
//! backoff (800 ms doubling to 30 s, jittered); meanwhile the last configuration stays.

use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::resources::ResourceSet;
use crate::config::types::{L2Vni, L3Passthrough, L3Vni, Underlay};

use super::secrets::BASIC_AUTH;
use super::source::{ApiEvent, ConfigSource, Debounce, K8sConfig};

/// What the controller needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// This node's name (`spec.nodeName` of the pod).
    pub node_name: String,
    /// The namespace the configuration resources, Secrets and status objects live in.
    pub namespace: String,
    /// Debounce of configuration changes.
    pub debounce: Debounce,
}

fn watch_stream<K>(
    api: Api<K>,
    config: watcher::Config,
    wrap: fn(Event<K>) -> ApiEvent,
) -> BoxStream<'static, ApiEvent>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    watcher::watcher(api, config)
        .default_backoff()
        .map(move |r| match r {
            Ok(event) => wrap(event),
            Err(e) => ApiEvent::Error(format!(
                "{} watch: {e}",
                K::kind(&K::DynamicType::default())
            )),
        })
        .boxed()
}

/// The merged event stream of every watch the controller needs.
pub fn api_events(
    client: &Client,
    cfg: &ControllerConfig,
) -> impl Stream<Item = ApiEvent> + Send + 'static {
    let ns = cfg.namespace.as_str();
    let mut all = SelectAll::new();
    all.push(watch_stream(
        Api::<Underlay>::namespaced(client.clone(), ns),
        watcher::Config::default(),
        ApiEvent::Underlay,
    ));
    all.push(watch_stream(
        Api::<L3Vni>::namespaced(client.clone(), ns),
        watcher::Config::default(),
        ApiEvent::L3Vni,
    ));
    all.push(watch_stream(
        Api::<L2Vni>::namespaced(client.clone(), ns),
        watcher::Config::default(),
        ApiEvent::L2Vni,
    ));
    all.push(watch_stream(
        Api::<L3Passthrough>::namespaced(client.clone(), ns),
        watcher::Config::default(),
        ApiEvent::L3Passthrough,
    ));
    all.push(watch_stream(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={}", cfg.node_name)),
        ApiEvent::Node,
    ));
    all.push(watch_stream(
        Api::<Secret>::namespaced(client.clone(), ns),
        watcher::Config::default().fields(&format!("type={BASIC_AUTH}")),
        ApiEvent::Secret,
    ));
    all
}

/// Runs the controller until `out` has no receiver left: merges `static_set` (and its updates on
/// `static_updates`, if any) with the API's resources for this node and publishes every settled
/// change on `out`.
pub async fn run(
    client: Client,
    cfg: ControllerConfig,
    static_set: ResourceSet,
    static_updates: Option<watch::Receiver<ResourceSet>>,
    out: watch::Sender<Option<K8sConfig>>,
) {
    let events = api_events(&client, &cfg);
    run_with_events(events, cfg, static_set, static_updates, out).await
}

/// [`run`] over any event stream (the tests feed recorded or scripted events).
pub async fn run_with_events(
    events: impl Stream<Item = ApiEvent> + Send + 'static,
    cfg: ControllerConfig,
    static_set: ResourceSet,
    mut static_updates: Option<watch::Receiver<ResourceSet>>,
    out: watch::Sender<Option<K8sConfig>>,
) {
    tracing::info!(node = %cfg.node_name, namespace = %cfg.namespace, "Kubernetes controller starting");
    let mut source = ConfigSource::new(
        cfg.namespace.clone(),
        static_set,
        cfg.debounce,
        Instant::now().into_std(),
    );
    let mut events = std::pin::pin!(events);
    let far = Duration::from_secs(3600);
    loop {
        let deadline = source
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + far);
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    source.handle_event(event, Instant::now().into_std());
                    // Drain what is already queued: one debounce pass per batch.
                    while let Some(Some(event)) = futures::FutureExt::now_or_never(events.next()) {
                        source.handle_event(event, Instant::now().into_std());
                    }
                }
                None => {
                    tracing::warn!("every Kubernetes watch ended; the controller stops");
                    return;
                }
            },
            changed = async {
                match static_updates.as_mut() {
                    Some(rx) => rx.changed().await.map(|_| rx.borrow_and_update().clone()),
                    None => std::future::pending().await,
                }
            } => match changed {
                Ok(set) => source.handle_static(set, Instant::now().into_std()),
                Err(_) => static_updates = None,
            },
            _ = tokio::time::sleep_until(deadline) => {}
            _ = out.closed() => return,
        }
        if let Some(config) = source.poll_config(Instant::now().into_std()) {
            out.send_replace(Some(config));
        }
    }
}

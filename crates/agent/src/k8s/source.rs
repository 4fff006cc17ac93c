//! The Kubernetes configuration source as a sans-IO state machine: watch events, the Node and the
//! static files go in (`handle_*`), a debounced, deduplicated [`K8sConfig`] for this node comes out
//! (`poll_*`). The driver that feeds it from kube-runtime watchers is [`super::controller`].
//!
//! Two-stage boot, as upstream: the static files apply first; API resources join once every watch
//! has completed its initial list (so a half-listed cluster never produces a half configuration);
//! when the API goes away the last complete view stays, static files included, until a relist
//! says otherwise.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Secret};
use kube::runtime::watcher::Event;
use kube::ResourceExt;

use crate::config::resources::{FailedResource, Resource, ResourceKind, ResourceSet, Source};
use crate::config::types::{L2Vni, L3Passthrough, L3Vni, LabelSelector, Underlay};

use super::secrets::resolve_passwords;

/// Label upstream puts on the custom resources it mirrors from static files; such objects are the
/// static files themselves and are not merged a second time.
pub const STATIC_MIRROR_LABEL: &str = "openperouter.github.io/source";

/// How long the configuration must be quiet before it is emitted, and the longest a burst of
/// changes may delay it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// Emit once nothing changed for this long.
    pub quiet: Duration,
    /// Emit at the latest this long after the first unsent change.
    pub max_delay: Duration,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            quiet: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// One event from the API, as the watchers deliver them.
// Events are moved once from the watcher into the store, never kept in bulk: boxing the large
// variants would only add an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ApiEvent {
    /// An Underlay watch event.
    Underlay(Event<Underlay>),
    /// An L3VNI watch event.
    L3Vni(Event<L3Vni>),
    /// An L2VNI watch event.
    L2Vni(Event<L2Vni>),
    /// An L3Passthrough watch event.
    L3Passthrough(Event<L3Passthrough>),
    /// A watch event of this node's Node object.
    Node(Event<Node>),
    /// A watch event of a `kubernetes.io/basic-auth` Secret in perouter's namespace.
    Secret(Event<Secret>),
    /// A watch failed (the watcher retries with exponential backoff).
    Error(String),
}

/// What the controller hands to the reconcile loop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct K8sConfig {
    /// Static resources first, then the API's that select this node.
    pub resources: ResourceSet,
    /// Problems found before validation (unresolved `passwordSecret`s), for the status.
    pub failed: Vec<FailedResource>,
    /// Whether API resources are included (every watch has listed at least once).
    pub api_synced: bool,
    /// This node's labels, as last seen.
    pub node_labels: BTreeMap<String, String>,
}

/// The objects of one kind, keyed by `namespace/name`, with relist handling.
#[derive(Debug)]
struct Store<K> {
    live: BTreeMap<String, K>,
    relisting: Option<BTreeMap<String, K>>,
    synced: bool,
}

impl<K> Default for Store<K> {
    fn default() -> Self {
        Store {
            live: BTreeMap::new(),
            relisting: None,
            synced: false,
        }
    }
}

impl<K: ResourceExt> Store<K> {
    /// Applies one watch event; returns whether the visible content may have changed.
    fn handle(&mut self, event: Event<K>) -> bool {
        let key = |o: &K| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any());
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(o) => {
                self.relisting
                    .get_or_insert_with(BTreeMap::new)
                    .insert(key(&o), o);
                false
            }
            Event::InitDone => {
                self.live = self.relisting.take().unwrap_or_default();
                self.synced = true;
                true
            }
            Event::Apply(o) => {
                self.live.insert(key(&o), o);
                true
            }
            Event::Delete(o) => {
                self.live.remove(&key(&o));
                true
            }
        }
    }
}

/// The configuration source: see the module documentation.
#[derive(Debug)]
pub struct ConfigSource {
    namespace: String,
    debounce: Debounce,
    static_set: ResourceSet,
    underlays: Store<Underlay>,
    l3vnis: Store<L3Vni>,
    l2vnis: Store<L2Vni>,
    passthroughs: Store<L3Passthrough>,
    nodes: Store<Node>,
    secrets: Store<Secret>,
    /// First and last change not yet emitted.
    dirty: Option<(Instant, Instant)>,
    last: Option<K8sConfig>,
    errors: u64,
}

fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_none_or(|s| s.matches(labels))
}

fn is_static_mirror<K: ResourceExt>(o: &K) -> bool {
    o.labels()
        .get(STATIC_MIRROR_LABEL)
        .is_some_and(|v| v == "static")
}

fn collect<K: ResourceExt, T: Clone>(
    store: &Store<K>,
    kind: ResourceKind,
    labels: &BTreeMap<String, String>,
    spec: impl Fn(&K) -> &T,
    selector: impl Fn(&T) -> Option<&LabelSelector>,
) -> Vec<Resource<T>> {
    store
        .live
        .values()
        .filter(|o| !is_static_mirror(*o))
        .filter(|o| selects(selector(spec(o)), labels))
        .map(|o| {
            Resource::new(
                kind,
                o.name_any(),
                Source::Api {
                    namespace: o.namespace().unwrap_or_default(),
                },
                spec(o).clone(),
            )
        })
        .collect()
}

impl ConfigSource {
    /// A source for the node whose Node object the driver watches; `namespace` is where the
    /// password Secrets live. `static_set` is what the static files hold at boot (may be empty).
    pub fn new(
        namespace: impl Into<String>,
        static_set: ResourceSet,
        debounce: Debounce,
        now: Instant,
    ) -> Self {
        ConfigSource {
            namespace: namespace.into(),
            debounce,
            static_set,
            underlays: Store::default(),
            l3vnis: Store::default(),
            l2vnis: Store::default(),
            passthroughs: Store::default(),
            nodes: Store::default(),
            secrets: Store::default(),
            // Stage 1: the static configuration is emitted without waiting for the API.
            dirty: Some((now, now)),
            last: None,
            errors: 0,
        }
    }

    fn touch(&mut self, now: Instant) {
        self.dirty = Some(match self.dirty {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// The static files changed.
    pub fn handle_static(&mut self, set: ResourceSet, now: Instant) {
        self.static_set = set;
        self.touch(now);
    }

    /// One event from a watcher.
    pub fn handle_event(&mut self, event: ApiEvent, now: Instant) {
        let changed = match event {
            ApiEvent::Underlay(e) => self.underlays.handle(e),
            ApiEvent::L3Vni(e) => self.l3vnis.handle(e),
            ApiEvent::L2Vni(e) => self.l2vnis.handle(e),
            ApiEvent::L3Passthrough(e) => self.passthroughs.handle(e),
            ApiEvent::Node(e) => self.nodes.handle(e),
            ApiEvent::Secret(e) => self.secrets.handle(e),
            ApiEvent::Error(e) => {
                self.errors += 1;
                tracing::warn!(error = %e, "Kubernetes API watch failed; keeping the last configuration, retrying with backoff");
                false
            }
        };
        if changed {
            self.touch(now);
        }
    }

    /// Whether every watch has completed its first list.
    pub fn api_synced(&self) -> bool {
        self.underlays.synced
            && self.l3vnis.synced
            && self.l2vnis.synced
            && self.passthroughs.synced
            && self.nodes.synced
            && self.secrets.synced
    }

    /// How many watch errors were seen.
    pub fn error_count(&self) -> u64 {
        self.errors
    }

    /// This node's labels, if its Node object has been seen.
    fn node_labels(&self) -> Option<BTreeMap<String, String>> {
        self.nodes.live.values().next().map(|n| n.labels().clone())
    }

    /// The configuration as it stands now (not debounced).
    pub fn current(&self) -> K8sConfig {
        let mut set = self.static_set.clone();
        let mut labels = BTreeMap::new();
        let synced = self.api_synced() && self.node_labels().is_some();
        if synced {
            labels = self.node_labels().unwrap_or_default();
            set.extend(ResourceSet {
                underlays: collect(
                    &self.underlays,
                    ResourceKind::Underlay,
                    &labels,
                    |o| &o.spec,
                    |s| s.node_selector.as_ref(),
                ),
                l3vnis: collect(
                    &self.l3vnis,
                    ResourceKind::L3Vni,
                    &labels,
                    |o| &o.spec,
                    |s| s.node_selector.as_ref(),
                ),
                l2vnis: collect(
                    &self.l2vnis,
                    ResourceKind::L2Vni,
                    &labels,
                    |o| &o.spec,
                    |s| s.node_selector.as_ref(),
                ),
                passthroughs: collect(
                    &self.passthroughs,
                    ResourceKind::L3Passthrough,
                    &labels,
                    |o| &o.spec,
                    |s| s.node_selector.as_ref(),
                ),
            });
        }
        let secrets: BTreeMap<String, Secret> = self
            .secrets
            .live
            .values()
            .map(|s| (s.name_any(), s.clone()))
            .collect();
        let failed = resolve_passwords(&mut set, &secrets, &self.namespace);
        K8sConfig {
            resources: set,
            failed,
            api_synced: synced,
            node_labels: labels,
        }
    }

    /// When the driver should call [`Self::poll_config`] next, if something is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.dirty
            .map(|(first, last)| (last + self.debounce.quiet).min(first + self.debounce.max_delay))
    }

    /// The configuration to apply, once changes have settled, and only if it differs from the
    /// last one emitted (watch events that change nothing for this node emit nothing).
    pub fn poll_config(&mut self, now: Instant) -> Option<K8sConfig> {
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        self.dirty = None;
        let config = self.current();
        if !config.api_synced && self.static_set.is_empty() {
            // Nothing is known yet: an empty configuration would tear down what the kernel holds.
            return None;
        }
        if self.last.as_ref() == Some(&config) {
            return None;
        }
        tracing::info!(
            resources = config.resources.len(),
            failed = config.failed.len(),
            api_synced = config.api_synced,
            "configuration for this node changed"
        );
        self.last = Some(config.clone());
        Some(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use kube::api::ObjectMeta;

    use crate::config::types::L3VniSpec;

    const DEB: Debounce = Debounce {
        quiet: Duration::from_millis(100),
        max_delay: Duration::from_millis(1000),
    };

    fn node(labels: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("node-a".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn l3vni(name: &str, selector: Option<(&str, &str)>) -> L3Vni {
        let mut v = L3Vni::new(
            name,
            L3VniSpec {
                vrf: name.into(),
                vni: 100,
                node_selector: selector.map(|(k, val)| LabelSelector {
                    match_labels: [(k.to_string(), val.to_string())].into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        v.metadata.namespace = Some("ns".into());
        v
    }

    /// Completes the initial list of every kind, with these L3VNIs and this node.
    fn sync(src: &mut ConfigSource, l3vnis: Vec<L3Vni>, n: Node, now: Instant) {
        src.handle_event(ApiEvent::Underlay(Event::InitDone), now);
        src.handle_event(ApiEvent::L2Vni(Event::InitDone), now);
        src.handle_event(ApiEvent::L3Passthrough(Event::InitDone), now);
        src.handle_event(ApiEvent::Secret(Event::InitDone), now);
        src.handle_event(ApiEvent::Node(Event::Init), now);
        src.handle_event(ApiEvent::Node(Event::InitApply(n)), now);
        src.handle_event(ApiEvent::Node(Event::InitDone), now);
        src.handle_event(ApiEvent::L3Vni(Event::Init), now);
        for v in l3vnis {
            src.handle_event(ApiEvent::L3Vni(Event::InitApply(v)), now);
        }
        src.handle_event(ApiEvent::L3Vni(Event::InitDone), now);
    }

    fn names(c: &K8sConfig) -> Vec<&str> {
        c.resources.l3vnis.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn nothing_is_emitted_before_sync_without_static_files() {
        let t0 = Instant::now();
        let mut src = ConfigSource::new("ns", ResourceSet::default(), DEB, t0);
        assert_eq!(src.poll_config(t0 + Duration::from_secs(5)), None);
        src.handle_event(ApiEvent::Underlay(Event::InitDone), t0);
        assert_eq!(
            src.poll_config(t0 + Duration::from_secs(5)),
            None,
            "a partial list is not a configuration"
        );
    }

    #[test]
    fn debounce_waits_for_quiet_but_not_forever() {
        let t0 = Instant::now();
        let mut src = ConfigSource::new("ns", ResourceSet::default(), DEB, t0);
        sync(&mut src, vec![l3vni("red", None)], node(&[]), t0);
        assert_eq!(
            src.poll_config(t0 + Duration::from_millis(50)),
            None,
            "still settling"
        );
        let c = src
            .poll_config(t0 + Duration::from_millis(100))
            .expect("quiet for 100 ms");
        assert_eq!(names(&c), ["red"]);
        // A burst of changes every 50 ms: emitted at max_delay, not starved.
        let mut t = t0 + Duration::from_millis(200);
        let start = t;
        let mut emitted = None;
        for i in 0..40 {
            src.handle_event(
                ApiEvent::L3Vni(Event::Apply(l3vni(&format!("v{i}"), None))),
                t,
            );
            if let Some(c) = src.poll_config(t) {
                emitted = Some((t - start, c));
                break;
            }
            t += Duration::from_millis(50);
        }
        let (after, c) = emitted.expect("emitted during the burst");
        assert!(
            after >= DEB.max_delay && after < DEB.max_delay + Duration::from_millis(100),
            "{after:?}"
        );
        assert!(c.resources.l3vnis.len() > 1);
    }

    #[test]
    fn unchanged_configuration_is_not_emitted_twice() {
        let t0 = Instant::now();
        let mut src = ConfigSource::new("ns", ResourceSet::default(), DEB, t0);
        sync(
            &mut src,
            vec![l3vni("red", None), l3vni("blue", Some(("rack", "r2")))],
            node(&[("rack", "r1")]),
            t0,
        );
        assert!(src.poll_config(t0 + DEB.max_delay).is_some());
        // A resource for another rack arrives: this node's configuration is unchanged.
        let t1 = t0 + Duration::from_secs(5);
        src.handle_event(
            ApiEvent::L3Vni(Event::Apply(l3vni("green", Some(("rack", "r9"))))),
            t1,
        );
        assert_eq!(src.poll_config(t1 + DEB.max_delay), None);
    }

    #[test]
    fn relist_drops_objects_deleted_while_away() {
        let t0 = Instant::now();
        let mut src = ConfigSource::new("ns", ResourceSet::default(), DEB, t0);
        sync(
            &mut src,
            vec![l3vni("red", None), l3vni("blue", None)],
            node(&[]),
            t0,
        );
        assert_eq!(
            names(&src.poll_config(t0 + DEB.max_delay).unwrap()),
            ["blue", "red"]
        );
        let t1 = t0 + Duration::from_secs(5);
        src.handle_event(ApiEvent::Error("connection refused".into()), t1);
        assert_eq!(
            src.poll_config(t1 + DEB.max_delay),
            None,
            "an error changes nothing"
        );
        // Relist: Init / InitApply(red) / InitDone — blue was deleted meanwhile.
        src.handle_event(ApiEvent::L3Vni(Event::Init), t1);
        src.handle_event(ApiEvent::L3Vni(Event::InitApply(l3vni("red", None))), t1);
        assert_eq!(
            src.poll_config(t1 + DEB.max_delay),
            None,
            "mid-relist the old view stays"
        );
        src.handle_event(ApiEvent::L3Vni(Event::InitDone), t1);
        assert_eq!(
            names(&src.poll_config(t1 + DEB.max_delay).unwrap()),
            ["red"]
        );
        assert_eq!(src.error_count(), 1);
    }

    #[test]
    fn static_mirrors_are_not_merged_twice() {
        let t0 = Instant::now();
        let mut mirror = l3vni("static-copy", None);
        mirror.metadata.labels =
            Some([(STATIC_MIRROR_LABEL.to_string(), "static".to_string())].into());
        let mut src = ConfigSource::new("ns", ResourceSet::default(), DEB, t0);
        sync(&mut src, vec![mirror, l3vni("red", None)], node(&[]), t0);
        assert_eq!(
            names(&src.poll_config(t0 + DEB.max_delay).unwrap()),
            ["red"]
        );
    }
}

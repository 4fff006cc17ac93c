//! Static resources mirrored as custom resources, as upstream's `MirrorController` does in its
//! hybrid mode: every resource of this node's static files becomes an object of its kind in
//! perouter's namespace, so that `kubectl get l3vnis` shows what the node runs whichever source
//! it came from (and upstream's admission webhook can refuse API resources that clash with it).
//!
//! Upstream's naming, kept so that tooling written against it finds the same objects:
//!
//! - name `static-<node>-<kind>-<name>` (`static-node-a-l3vni-red`), a DNS subdomain;
//! - in perouter's namespace;
//! - labels [`STATIC_MIRROR_LABEL`]`=static` and [`STATIC_NODE_LABEL`]`=<node>`;
//! - `spec` as in the file, with `nodeSelector: {matchLabels: {kubernetes.io/hostname: <node>}}`
//!   (a mirror describes one node) and an L2VNI's `routingDomain.l3vni.name` pointing at the
//!   mirrored L3VNI's name.
//!
//! The mirror converges the API to the files: it creates a mirror when a file appears, replaces it
//! when the file changes, deletes it when the file goes, re-creates it after a manual deletion and
//! reverts a manual edit of its spec or labels. perouter never reads mirrors back as configuration
//! ([`super::source`] skips objects labelled `source=static`).
//!
//! [`MirrorState`] is the sans-IO core (watch events and static sets in, one API action at a time
//! out, with per-object exponential backoff on failures); [`run`] is its driver. A real API
//! server fills CRD defaults into what it stores, so a stored spec may differ from the desired
//! one right after our own write: the spec the server returned for our last write of a desired
//! spec counts as in sync (else every write would trigger the next).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use kube::api::{ApiResource, DeleteParams, DynamicObject, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::config::resources::{ResourceKind, ResourceSet};
use crate::config::types::{L2Vni, L3Passthrough, L3Vni, LabelSelector, Underlay};

use super::crd::{GROUP, VERSION};
use super::source::STATIC_MIRROR_LABEL;

/// The value of [`STATIC_MIRROR_LABEL`] on mirrors.
pub const STATIC_MIRROR_VALUE: &str = "static";
/// Label naming the node whose static files a mirror comes from (upstream's `StaticNodeLabel`).
pub const STATIC_NODE_LABEL: &str = "openperouter.github.io/static-node";
/// The well-known node label mirrors select their node by.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// First retry delay after a failed API call.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The four mirrored kinds, in the order they are converged.
pub const KINDS: [ResourceKind; 4] = [
    ResourceKind::Underlay,
    ResourceKind::L3Vni,
    ResourceKind::L2Vni,
    ResourceKind::L3Passthrough,
];

/// The lowercase kind as it appears in mirror names (`underlay`, `l3vni`, ...).
fn kind_slug(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Underlay => "underlay",
        ResourceKind::L3Vni => "l3vni",
        ResourceKind::L2Vni => "l2vni",
        ResourceKind::L3Passthrough => "l3passthrough",
    }
}

/// The API resource (group, version, kind, plural) of a kind.
pub fn api_resource(kind: ResourceKind) -> ApiResource {
    match kind {
        ResourceKind::Underlay => ApiResource::erase::<Underlay>(&()),
        ResourceKind::L3Vni => ApiResource::erase::<L3Vni>(&()),
        ResourceKind::L2Vni => ApiResource::erase::<L2Vni>(&()),
        ResourceKind::L3Passthrough => ApiResource::erase::<L3Passthrough>(&()),
    }
}

/// The mirror's name for static resource `name` of `kind` on `node`: `static-<node>-<kind>-<name>`
/// made a valid DNS subdomain (lowercase; other characters become `-`; at most 253 characters).
pub fn mirror_name(node: &str, kind: ResourceKind, name: &str) -> String {
    let raw = format!("static-{node}-{}-{name}", kind_slug(kind)).to_lowercase();
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(253);
    s.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// One mirror: kind and object name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MirrorKey {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its `metadata.name`.
    pub name: String,
}

/// The specs the mirrors of `set` must hold on `node`, by key (see the module documentation).
pub fn desired_mirrors(set: &ResourceSet, node: &str) -> BTreeMap<MirrorKey, Value> {
    let selector = Some(LabelSelector {
        match_labels: [(HOSTNAME_LABEL.to_string(), node.to_string())].into(),
        ..Default::default()
    });
    let mut out = BTreeMap::new();
    let mut put = |kind, name: &str, spec: Result<Value, serde_json::Error>| {
        let key = MirrorKey {
            kind,
            name: mirror_name(node, kind, name),
        };
        match spec {
            Ok(spec) => {
                out.insert(key, spec);
            }
            Err(e) => {
                tracing::warn!(kind = %kind, name, error = %e, "cannot mirror a static resource")
            }
        }
    };
    for r in &set.underlays {
        let mut spec = r.spec.clone();
        spec.node_selector = selector.clone();
        put(r.kind, &r.name, serde_json::to_value(spec));
    }
    let l3_names: BTreeSet<&str> = set.l3vnis.iter().map(|r| r.name.as_str()).collect();
    for r in &set.l3vnis {
        let mut spec = r.spec.clone();
        spec.node_selector = selector.clone();
        put(r.kind, &r.name, serde_json::to_value(spec));
    }
    for r in &set.l2vnis {
        let mut spec = r.spec.clone();
        spec.node_selector = selector.clone();
        if let Some(l3) = spec.routing_domain.as_mut().and_then(|d| d.l3vni.as_mut()) {
            if l3_names.contains(l3.name.as_str()) {
                l3.name = mirror_name(node, ResourceKind::L3Vni, &l3.name);
            }
        }
        put(r.kind, &r.name, serde_json::to_value(spec));
    }
    for r in &set.passthroughs {
        let mut spec = r.spec.clone();
        spec.node_selector = selector.clone();
        put(r.kind, &r.name, serde_json::to_value(spec));
    }
    out
}

/// A mirror as the API holds it.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    labels: BTreeMap<String, String>,
    spec: Value,
    resource_version: String,
    /// The whole object (a replace starts from it, keeping metadata others set).
    object: Value,
}

impl Observed {
    fn from_object(object: Value) -> Option<(String, Observed)> {
        let meta = &object["metadata"];
        let name = meta["name"].as_str()?.to_string();
        let labels = meta["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some((
            name,
            Observed {
                labels,
                spec: object["spec"].clone(),
                resource_version: meta["resourceVersion"].as_str().unwrap_or("").to_string(),
                object,
            },
        ))
    }
}

/// One watch event of one mirrored kind, objects as JSON.
#[derive(Debug, Clone)]
pub struct MirrorEvent {
    /// The kind watched.
    pub kind: ResourceKind,
    /// The event.
    pub event: Event<Value>,
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorAction {
    /// Create `object` (POST).
    Create {
        /// Which mirror.
        key: MirrorKey,
        /// The whole object.
        object: Value,
    },
    /// Replace the stored object with `object` (PUT; carries the observed `resourceVersion`,
    /// so a concurrent edit makes it fail with 409 and the next event is looked at again).
    Replace {
        /// Which mirror.
        key: MirrorKey,
        /// The whole object.
        object: Value,
    },
    /// Delete the mirror (its static resource is gone).
    Delete {
        /// Which mirror.
        key: MirrorKey,
    },
}

impl MirrorAction {
    /// The mirror it acts on.
    pub fn key(&self) -> &MirrorKey {
        match self {
            MirrorAction::Create { key, .. }
            | MirrorAction::Replace { key, .. }
            | MirrorAction::Delete { key } => key,
        }
    }
}

/// The outcome of a [`MirrorAction`], as the driver reports it back.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorResult {
    /// Done; the object the API returned for a create or replace (`None` for a delete).
    Done(Option<Value>),
    /// The API refused or failed: the message, for logs, and whether the object was simply not
    /// there (a delete of a missing object is done).
    Failed {
        /// Why.
        message: String,
        /// HTTP 404.
        not_found: bool,
    },
}

/// How the mirror stands, for logs and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorReport {
    /// Mirrors the static files call for.
    pub desired: usize,
    /// Of those, how many the API holds as desired.
    pub in_sync: usize,
    /// The last API error, if the latest attempt of some mirror failed.
    pub last_error: Option<String>,
    /// API writes done (creates, replaces, deletes).
    pub writes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    retry_at: Instant,
    delay: Duration,
}

/// The sans-IO mirror: see the module documentation.
#[derive(Debug)]
pub struct MirrorState {
    node: String,
    namespace: String,
    desired: BTreeMap<MirrorKey, Value>,
    observed: BTreeMap<MirrorKey, Observed>,
    /// Per kind: the objects of a relist in progress.
    relisting: BTreeMap<ResourceKind, BTreeMap<String, Observed>>,
    /// Kinds whose watch has completed a list (nothing is written for a kind before).
    synced: BTreeSet<ResourceKind>,
    /// Desired spec → the spec the API returned when we wrote it.
    written: BTreeMap<MirrorKey, (Value, Value)>,
    backoff: BTreeMap<MirrorKey, Backoff>,
    in_flight: Option<MirrorKey>,
    errors: BTreeMap<MirrorKey, String>,
    writes: u64,
}

impl MirrorState {
    /// The mirror of `node`'s static files, in `namespace`; `set` is what the files hold now.
    pub fn new(node: impl Into<String>, namespace: impl Into<String>, set: &ResourceSet) -> Self {
        let node = node.into();
        MirrorState {
            desired: desired_mirrors(set, &node),
            node,
            namespace: namespace.into(),
            observed: BTreeMap::new(),
            relisting: BTreeMap::new(),
            synced: BTreeSet::new(),
            written: BTreeMap::new(),
            backoff: BTreeMap::new(),
            in_flight: None,
            errors: BTreeMap::new(),
            writes: 0,
        }
    }

    /// The label selector of this node's mirrors (for the watches).
    pub fn label_selector(&self) -> String {
        format!(
            "{STATIC_MIRROR_LABEL}={STATIC_MIRROR_VALUE},{STATIC_NODE_LABEL}={}",
            self.node
        )
    }

    /// The static files changed.
    pub fn handle_static(&mut self, set: &ResourceSet) {
        let desired = desired_mirrors(set, &self.node);
        if desired != self.desired {
            // A changed desired spec is retried at once, not after an old failure's backoff.
            self.backoff
                .retain(|k, _| desired.get(k) == self.desired.get(k));
            self.desired = desired;
        }
    }

    fn is_ours(&self, o: &Observed) -> bool {
        o.labels.get(STATIC_MIRROR_LABEL).map(String::as_str) == Some(STATIC_MIRROR_VALUE)
            && o.labels.get(STATIC_NODE_LABEL) == Some(&self.node)
    }

    /// One watch event of a mirrored kind (objects without this node's mirror labels are
    /// ignored, so a watch without a label selector works too).
    pub fn handle_event(&mut self, ev: MirrorEvent) {
        let kind = ev.kind;
        let key = |name: String| MirrorKey { kind, name };
        match ev.event {
            Event::Init => {
                self.relisting.insert(kind, BTreeMap::new());
            }
            Event::InitApply(o) => {
                if let Some((name, obs)) = Observed::from_object(o) {
                    if self.is_ours(&obs) {
                        self.relisting.entry(kind).or_default().insert(name, obs);
                    }
                }
            }
            Event::InitDone => {
                let listed = self.relisting.remove(&kind).unwrap_or_default();
                self.observed.retain(|k, _| k.kind != kind);
                for (name, obs) in listed {
                    self.observed.insert(key(name), obs);
                }
                self.synced.insert(kind);
            }
            Event::Apply(o) => {
                if let Some((name, obs)) = Observed::from_object(o) {
                    if self.is_ours(&obs) {
                        self.observed.insert(key(name), obs);
                    } else {
                        // Its labels were edited away: it is no longer a mirror we hold.
                        self.observed.remove(&key(name));
                    }
                }
            }
            Event::Delete(o) => {
                if let Some((name, _)) = Observed::from_object(o) {
                    self.observed.remove(&key(name));
                }
            }
        }
    }

    /// Whether the API holds `key` as desired.
    fn in_sync(&self, key: &MirrorKey, want: &Value) -> bool {
        let Some(obs) = self.observed.get(key) else {
            return false;
        };
        self.is_ours(obs)
            && (obs.spec == *want
                || self
                    .written
                    .get(key)
                    .is_some_and(|(d, s)| d == want && *s == obs.spec))
    }

    fn object(&self, key: &MirrorKey, spec: &Value, base: Option<&Value>) -> Value {
        let ar = api_resource(key.kind);
        let mut obj = base.cloned().unwrap_or_else(|| json!({}));
        obj["apiVersion"] = json!(format!("{GROUP}/{VERSION}"));
        obj["kind"] = json!(ar.kind);
        obj["metadata"]["name"] = json!(key.name);
        obj["metadata"]["namespace"] = json!(self.namespace);
        obj["metadata"]["labels"][STATIC_MIRROR_LABEL] = json!(STATIC_MIRROR_VALUE);
        obj["metadata"]["labels"][STATIC_NODE_LABEL] = json!(self.node);
        obj["spec"] = spec.clone();
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
        obj
    }

    /// The next API call to make, if any is due at `now` (one at a time: the driver reports its
    /// outcome with [`Self::handle_result`] before asking again).
    pub fn poll_action(&mut self, now: Instant) -> Option<MirrorAction> {
        if self.in_flight.is_some() {
            return None;
        }
        // A backoff for a mirror that needs nothing any more would only wake the driver.
        let stale: Vec<MirrorKey> = self
            .backoff
            .keys()
            .filter(|k| match self.desired.get(*k) {
                Some(want) => self.in_sync(k, want),
                None => !self.observed.contains_key(*k),
            })
            .cloned()
            .collect();
        for k in stale {
            self.backoff.remove(&k);
            self.errors.remove(&k);
        }
        let due = |k: &MirrorKey| self.backoff.get(k).is_none_or(|b| b.retry_at <= now);
        let mut action = None;
        for (key, want) in &self.desired {
            if !self.synced.contains(&key.kind) || !due(key) || self.in_sync(key, want) {
                continue;
            }
            action = Some(match self.observed.get(key) {
                None => MirrorAction::Create {
                    key: key.clone(),
                    object: self.object(key, want, None),
                },
                Some(obs) => MirrorAction::Replace {
                    key: key.clone(),
                    object: self.object(key, want, Some(&obs.object)),
                },
            });
            break;
        }
        if action.is_none() {
            action = self
                .observed
                .keys()
                .find(|k| self.synced.contains(&k.kind) && !self.desired.contains_key(*k) && due(k))
                .map(|k| MirrorAction::Delete { key: k.clone() });
        }
        if let Some(a) = &action {
            self.in_flight = Some(a.key().clone());
        }
        action
    }

    /// The outcome of the action last returned by [`Self::poll_action`].
    pub fn handle_result(&mut self, key: &MirrorKey, result: MirrorResult, now: Instant) {
        if self.in_flight.as_ref() == Some(key) {
            self.in_flight = None;
        }
        match result {
            MirrorResult::Done(returned) => {
                self.writes += 1;
                self.backoff.remove(key);
                if self.errors.remove(key).is_some() {
                    tracing::info!(kind = %key.kind, name = %key.name, "static mirror written after earlier failures");
                }
                match returned.and_then(Observed::from_object) {
                    Some((_, obs)) => {
                        if let Some(want) = self.desired.get(key) {
                            self.written
                                .insert(key.clone(), (want.clone(), obs.spec.clone()));
                        }
                        self.observed.insert(key.clone(), obs);
                    }
                    None => {
                        self.observed.remove(key);
                        self.written.remove(key);
                    }
                }
            }
            MirrorResult::Failed { not_found, .. }
                if not_found && !self.desired.contains_key(key) =>
            {
                // Deleting what is already gone.
                self.observed.remove(key);
                self.backoff.remove(key);
            }
            MirrorResult::Failed { message, .. } => {
                let delay = self
                    .backoff
                    .get(key)
                    .map(|b| (b.delay * 2).min(BACKOFF_MAX))
                    .unwrap_or(BACKOFF_MIN);
                tracing::warn!(kind = %key.kind, name = %key.name, error = %message, retry_in = ?delay,
                    "cannot write the static mirror; retrying with backoff");
                self.backoff.insert(
                    key.clone(),
                    Backoff {
                        retry_at: now + delay,
                        delay,
                    },
                );
                self.errors.insert(key.clone(), message);
            }
        }
    }

    /// When a backed-off action falls due, if one is waiting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.backoff.values().map(|b| b.retry_at).min()
    }

    /// How the mirror stands.
    pub fn report(&self) -> MirrorReport {
        MirrorReport {
            desired: self.desired.len(),
            in_sync: self
                .desired
                .iter()
                .filter(|(k, v)| self.in_sync(k, v))
                .count(),
            last_error: self.errors.values().next_back().cloned(),
            writes: self.writes,
        }
    }
}

fn watch_kind(
    client: &Client,
    namespace: &str,
    kind: ResourceKind,
    selector: &str,
) -> BoxStream<'static, Option<MirrorEvent>> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &api_resource(kind));
    watcher::watcher(api, watcher::Config::default().labels(selector))
        .default_backoff()
        .map(move |r| match r {
            Ok(event) => Some(MirrorEvent {
                kind,
                event: event.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
            }),
            Err(e) => {
                tracing::warn!(kind = %kind, error = %e, "static mirror watch failed; retrying with backoff");
                None
            }
        })
        .boxed()
}

trait EventMap<K> {
    fn map<T>(self, f: impl FnMut(K) -> T) -> Event<T>;
}

impl<K> EventMap<K> for Event<K> {
    fn map<T>(self, mut f: impl FnMut(K) -> T) -> Event<T> {
        match self {
            Event::Init => Event::Init,
            Event::InitApply(o) => Event::InitApply(f(o)),
            Event::InitDone => Event::InitDone,
            Event::Apply(o) => Event::Apply(f(o)),
            Event::Delete(o) => Event::Delete(f(o)),
        }
    }
}

async fn execute(client: &Client, namespace: &str, action: &MirrorAction) -> MirrorResult {
    let key = action.key();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &api_resource(key.kind));
    let to_dyn = |v: &Value| serde_json::from_value::<DynamicObject>(v.clone());
    let r = match action {
        MirrorAction::Create { object, .. } => match to_dyn(object) {
            Ok(o) => api.create(&PostParams::default(), &o).await.map(Some),
            Err(e) => {
                return MirrorResult::Failed {
                    message: e.to_string(),
                    not_found: false,
                }
            }
        },
        MirrorAction::Replace { object, .. } => match to_dyn(object) {
            Ok(o) => api
                .replace(&key.name, &PostParams::default(), &o)
                .await
                .map(Some),
            Err(e) => {
                return MirrorResult::Failed {
                    message: e.to_string(),
                    not_found: false,
                }
            }
        },
        MirrorAction::Delete { .. } => api
            .delete(&key.name, &DeleteParams::default())
            .await
            .map(|_| None),
    };
    match r {
        Ok(o) => {
            tracing::info!(kind = %key.kind, name = %key.name, action = match action {
                MirrorAction::Create { .. } => "created",
                MirrorAction::Replace { .. } => "replaced",
                MirrorAction::Delete { .. } => "deleted",
            }, "static mirror");
            MirrorResult::Done(o.and_then(|o| serde_json::to_value(o).ok()))
        }
        Err(e) => MirrorResult::Failed {
            not_found: matches!(&e, kube::Error::Api(s) if s.code == 404),
            message: e.to_string(),
        },
    }
}

/// Runs the mirror of `node`'s static files until `statics` has no sender left: watches this
/// node's mirrors of the four kinds and makes one API call at a time until they match the files;
/// API failures are logged and retried with backoff (500 ms doubling to 30 s per object), the
/// watches with kube-runtime's backoff. `report` receives every change of [`MirrorReport`].
pub async fn run(
    client: Client,
    node: String,
    namespace: String,
    mut statics: watch::Receiver<ResourceSet>,
    report: watch::Sender<MirrorReport>,
) {
    let mut state = MirrorState::new(node, namespace.clone(), &statics.borrow_and_update());
    let selector = state.label_selector();
    let mut events = SelectAll::new();
    for kind in KINDS {
        events.push(watch_kind(&client, &namespace, kind, &selector));
    }
    tracing::info!(selector = %selector, "static mirror starting");
    let far = Duration::from_secs(3600);
    let mut statics_open = true;
    loop {
        // tokio's clock (not std's), so that timers and backoff agree under a paused clock.
        let now = || tokio::time::Instant::now().into_std();
        while let Some(action) = state.poll_action(now()) {
            let result = execute(&client, &namespace, &action).await;
            state.handle_result(action.key(), result, now());
        }
        report.send_if_modified(|r| {
            let now = state.report();
            let changed = *r != now;
            *r = now;
            changed
        });
        let deadline = state
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + far);
        tokio::select! {
            ev = events.next() => match ev {
                Some(Some(ev)) => {
                    state.handle_event(ev);
                    while let Some(Some(Some(ev))) = futures::FutureExt::now_or_never(events.next()) {
                        state.handle_event(ev);
                    }
                }
                Some(None) => {}
                None => return,
            },
            r = statics.changed(), if statics_open => match r {
                Ok(()) => state.handle_static(&statics.borrow_and_update()),
                Err(_) => statics_open = false,
            },
            _ = tokio::time::sleep_until(deadline) => {}
        }
        if !statics_open && report.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resources::{Resource, Source};
    use crate::config::types::L3VniSpec;

    fn set(vni: i64) -> ResourceSet {
        ResourceSet {
            l3vnis: vec![Resource::new(
                ResourceKind::L3Vni,
                "Red_1",
                Source::File("/x/openpe_red.yaml".into()),
                L3VniSpec {
                    vrf: "red".into(),
                    vni,
                    ..Default::default()
                },
            )],
            ..Default::default()
        }
    }

    fn synced(st: &mut MirrorState) {
        for kind in KINDS {
            st.handle_event(MirrorEvent {
                kind,
                event: Event::InitDone,
            });
        }
    }

    #[test]
    fn names_are_dns_subdomains() {
        assert_eq!(
            mirror_name("Node_A", ResourceKind::L3Vni, "Red_1"),
            "static-node-a-l3vni-red-1"
        );
        let long = "x".repeat(300);
        assert!(mirror_name("n", ResourceKind::Underlay, &long).len() <= 253);
    }

    #[test]
    fn nothing_is_written_before_the_kind_is_listed() {
        let t = Instant::now();
        let mut st = MirrorState::new("node-a", "ns", &set(100));
        assert_eq!(
            st.poll_action(t),
            None,
            "a create before the list may clash"
        );
        synced(&mut st);
        assert!(matches!(
            st.poll_action(t),
            Some(MirrorAction::Create { .. })
        ));
    }

    #[test]
    fn server_defaults_after_our_write_are_not_fought() {
        let t = Instant::now();
        let mut st = MirrorState::new("node-a", "ns", &set(100));
        synced(&mut st);
        let Some(MirrorAction::Create { key, mut object }) = st.poll_action(t) else {
            panic!("create expected")
        };
        // The API server fills a CRD default into what it stores and returns.
        object["spec"]["vxlanPort"] = json!(4789);
        object["metadata"]["resourceVersion"] = json!("7");
        st.handle_result(&key, MirrorResult::Done(Some(object.clone())), t);
        assert_eq!(st.poll_action(t), None, "in sync as written");
        // Its watch event says the same: still nothing to do.
        st.handle_event(MirrorEvent {
            kind: ResourceKind::L3Vni,
            event: Event::Apply(object.clone()),
        });
        assert_eq!(st.poll_action(t), None);
        // A manual edit is reverted, starting from the stored object (its resourceVersion).
        let mut edited = object;
        edited["spec"]["vni"] = json!(9876);
        edited["metadata"]["resourceVersion"] = json!("8");
        st.handle_event(MirrorEvent {
            kind: ResourceKind::L3Vni,
            event: Event::Apply(edited),
        });
        match st.poll_action(t) {
            Some(MirrorAction::Replace { object, .. }) => {
                assert_eq!(object["spec"]["vni"], 100);
                assert_eq!(object["metadata"]["resourceVersion"], "8");
            }
            other => panic!("replace expected, got {other:?}"),
        }
    }

    #[test]
    fn failures_back_off_and_a_new_desired_spec_retries_at_once() {
        let t = Instant::now();
        let mut st = MirrorState::new("node-a", "ns", &set(100));
        synced(&mut st);
        let key = st.poll_action(t).unwrap().key().clone();
        let fail = || MirrorResult::Failed {
            message: "503".into(),
            not_found: false,
        };
        st.handle_result(&key, fail(), t);
        assert_eq!(st.poll_action(t), None, "backing off");
        assert_eq!(st.poll_timeout(), Some(t + BACKOFF_MIN));
        assert!(st.poll_action(t + BACKOFF_MIN).is_some());
        st.handle_result(&key, fail(), t + BACKOFF_MIN);
        assert_eq!(
            st.poll_timeout(),
            Some(t + BACKOFF_MIN + BACKOFF_MIN * 2),
            "doubled"
        );
        assert_eq!(st.report().last_error.as_deref(), Some("503"));
        st.handle_static(&set(200));
        assert!(
            st.poll_action(t + BACKOFF_MIN).is_some(),
            "new spec: at once"
        );
    }
}

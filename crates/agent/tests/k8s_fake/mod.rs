//! A fake Kubernetes API server for the controller tests: kube-rs's client talks to it through
//! tower-test's mock service, and it answers list, watch (streamed), get, create, update (PUT with
//! `resourceVersion` preconditions), JSON merge patch (of objects and their `status` subresource)
//! and delete the way a real API server does: every write bumps a global `resourceVersion`, stale
//! writes get 409 Conflict, missing objects 404, and watches stream `ADDED`/`MODIFIED`/`DELETED`
//! from the requested `resourceVersion` on. It can also be taken down (503 and closed watches) to
//! play an API outage.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::{broadcast, Barrier};

/// Response bodies: whole (JSON) or streamed (watches).
pub type ResBody = UnsyncBoxBody<Bytes, Infallible>;

const PLURALS: [&str; 8] = [
    "nodes",
    "configmaps",
    "secrets",
    "underlays",
    "l3vnis",
    "l2vnis",
    "l3passthroughs",
    "routernodeconfigurationstatuses",
];

#[derive(Clone, Debug)]
struct WatchEvent {
    collection: String,
    rv: u64,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    rv: u64,
    /// collection path → name → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    log: Vec<WatchEvent>,
    down: bool,
    /// Requests seen: "METHOD path?query".
    requests: Vec<String>,
    conflicts: u64,
}

/// A barrier and how many more requests must pass it.
type RaceGate = (Arc<Barrier>, usize);

/// The fake API server; clones share state.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<WatchEvent>,
    outage: Arc<tokio::sync::watch::Sender<bool>>,
    /// The next `n` GETs of the node-index ConfigMap wait for each other (forcing a race).
    configmap_get_barrier: Arc<Mutex<Option<RaceGate>>>,
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn whole(code: u16, v: &Value) -> Response<ResBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(v).unwrap())).boxed_unsync())
        .unwrap()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn query(uri: &http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `metadata.name=x,type=y` against an object.
fn field_match(selector: Option<&String>, obj: &Value) -> bool {
    let Some(sel) = selector else { return true };
    sel.split(',').filter(|c| !c.is_empty()).all(|clause| {
        let (k, v) = clause.split_once('=').unwrap();
        let got = match k {
            "metadata.name" => obj["metadata"]["name"].as_str(),
            "metadata.namespace" => obj["metadata"]["namespace"].as_str(),
            "type" => obj["type"].as_str(),
            other => panic!("field selector {other} not supported by the fake"),
        };
        got == Some(v)
    })
}

/// `a=b,c=d` (equality clauses only) against an object's labels.
fn label_match(selector: Option<&String>, obj: &Value) -> bool {
    let Some(sel) = selector else { return true };
    sel.split(',').filter(|c| !c.is_empty()).all(|clause| {
        let (k, v) = clause
            .split_once('=')
            .unwrap_or_else(|| panic!("label selector {clause} not supported by the fake"));
        obj["metadata"]["labels"][k].as_str() == Some(v)
    })
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

impl FakeApi {
    /// An empty cluster.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        let (outage, _) = tokio::sync::watch::channel(false);
        FakeApi {
            state: Arc::default(),
            events,
            outage: Arc::new(outage),
            configmap_get_barrier: Arc::default(),
        }
    }

    /// A kube client whose requests this fake answers (one serving task per client).
    pub fn client(&self, default_namespace: &str) -> Client {
        let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<ResBody>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                let fake = fake.clone();
                tokio::spawn(async move { send.send_response(fake.serve(req).await) });
            }
        });
        Client::new(mock, default_namespace)
    }

    fn collection_of(path: &str) -> (String, Option<String>, bool) {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let at = segs
            .iter()
            .rposition(|s| PLURALS.contains(s))
            .unwrap_or_else(|| panic!("unknown path {path}"));
        let collection = segs[..=at].join("/");
        let name = segs.get(at + 1).map(|s| s.to_string());
        let status = segs.get(at + 2) == Some(&"status");
        (collection, name, status)
    }

    fn write(&self, st: &mut State, collection: &str, kind: &'static str, mut obj: Value) -> Value {
        st.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        if kind == "DELETED" {
            st.objects
                .entry(collection.into())
                .or_default()
                .remove(&name);
        } else {
            st.objects
                .entry(collection.into())
                .or_default()
                .insert(name, obj.clone());
        }
        let ev = WatchEvent {
            collection: collection.into(),
            rv: st.rv,
            kind,
            object: obj.clone(),
        };
        st.log.push(ev.clone());
        let _ = self.events.send(ev);
        obj
    }

    /// Creates or replaces an object directly (as another client would), by collection path.
    pub fn put(&self, collection: &str, mut obj: Value) -> Value {
        let mut st = self.state.lock().unwrap();
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        let exists = st
            .objects
            .get(collection)
            .is_some_and(|m| m.contains_key(&name));
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = json!(format!("uid-{name}"));
        }
        self.write(
            &mut st,
            collection,
            if exists { "MODIFIED" } else { "ADDED" },
            obj,
        )
    }

    /// Deletes an object directly.
    pub fn delete(&self, collection: &str, name: &str) {
        let mut st = self.state.lock().unwrap();
        if let Some(obj) = st
            .objects
            .get(collection)
            .and_then(|m| m.get(name))
            .cloned()
        {
            self.write(&mut st, collection, "DELETED", obj);
        }
    }

    /// The stored object, if any.
    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(collection)
            .and_then(|m| m.get(name))
            .cloned()
    }

    /// The names of the objects stored in `collection`.
    pub fn names(&self, collection: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(collection)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Takes the API down (503 on every request, watches closed) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
        self.outage.send_replace(down);
    }

    /// Makes the next `parties` GETs of the node-index ConfigMap wait for each other, so that
    /// every party reads the same `resourceVersion`.
    pub fn race_configmap_gets(&self, parties: usize) {
        *self.configmap_get_barrier.lock().unwrap() =
            Some((Arc::new(Barrier::new(parties)), parties));
    }

    /// How many writes were refused with 409 Conflict.
    pub fn conflicts(&self) -> u64 {
        self.state.lock().unwrap().conflicts
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    async fn serve(&self, req: Request<Body>) -> Response<ResBody> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let q = query(&uri);
        let (collection, name, is_status) = Self::collection_of(uri.path());
        {
            let mut st = self.state.lock().unwrap();
            st.requests.push(format!("{method} {uri}"));
            if st.down {
                return whole(
                    503,
                    &status(503, "ServiceUnavailable", "the fake API is down"),
                );
            }
        }
        if method == http::Method::GET && name.as_deref() == Some("perouter-node-index") {
            let barrier = {
                let mut slot = self.configmap_get_barrier.lock().unwrap();
                let b = slot.as_mut().map(|(b, n)| {
                    *n -= 1;
                    (b.clone(), *n)
                });
                if b.as_ref().is_some_and(|(_, left)| *left == 0) {
                    *slot = None;
                }
                b
            };
            if let Some((b, _)) = barrier {
                b.wait().await;
            }
        }
        let body = req.into_body().collect_bytes().await.unwrap_or_default();
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        let mut st = self.state.lock().unwrap();
        match (method.as_str(), name) {
            ("GET", None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                let from: u64 = q
                    .get("resourceVersion")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let selector = q.get("fieldSelector").cloned();
                let labels = q.get("labelSelector").cloned();
                let backlog: Vec<WatchEvent> = st
                    .log
                    .iter()
                    .filter(|e| e.collection == collection && e.rv > from)
                    .cloned()
                    .collect();
                let live = tokio_stream_from(self.events.subscribe());
                let last = backlog.last().map(|e| e.rv).unwrap_or(from);
                let mut outage = self.outage.subscribe();
                let coll = collection.clone();
                let stream = futures::stream::iter(backlog)
                    .chain(live.filter(move |e| futures::future::ready(e.rv > last)))
                    .filter(move |e| {
                        futures::future::ready(
                            e.collection == coll
                                && field_match(selector.as_ref(), &e.object)
                                && label_match(labels.as_ref(), &e.object),
                        )
                    })
                    .map(|e| {
                        let mut line =
                            serde_json::to_vec(&json!({"type": e.kind, "object": e.object}))
                                .unwrap();
                        line.push(b'\n');
                        Ok::<_, Infallible>(Frame::data(Bytes::from(line)))
                    })
                    .take_until(async move {
                        let _ = outage.wait_for(|down| *down).await;
                    });
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(StreamBody::new(stream).boxed_unsync())
                    .unwrap()
            }
            ("GET", None) => {
                let selector = q.get("fieldSelector");
                let labels = q.get("labelSelector");
                let items: Vec<Value> = st
                    .objects
                    .get(&collection)
                    .map(|m| {
                        m.values()
                            .filter(|o| field_match(selector, o) && label_match(labels, o))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                whole(
                    200,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": st.rv.to_string()}, "items": items}),
                )
            }
            ("GET", Some(name)) => match st.objects.get(&collection).and_then(|m| m.get(&name)) {
                Some(o) => whole(200, o),
                None => whole(
                    404,
                    &status(404, "NotFound", &format!("{collection}/{name} not found")),
                ),
            },
            ("POST", _) => {
                let name = body["metadata"]["name"].as_str().unwrap().to_string();
                if st
                    .objects
                    .get(&collection)
                    .is_some_and(|m| m.contains_key(&name))
                {
                    st.conflicts += 1;
                    return whole(
                        409,
                        &status(409, "AlreadyExists", &format!("{name} already exists")),
                    );
                }
                let mut obj = body;
                obj["metadata"]["uid"] = json!(format!("uid-{name}"));
                obj["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
                let obj = self.write(&mut st, &collection, "ADDED", obj);
                whole(201, &obj)
            }
            ("PUT", Some(name)) => {
                let Some(current) = st
                    .objects
                    .get(&collection)
                    .and_then(|m| m.get(&name))
                    .cloned()
                else {
                    return whole(404, &status(404, "NotFound", "not found"));
                };
                if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                    st.conflicts += 1;
                    return whole(409, &status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again"));
                }
                let mut obj = body;
                obj["metadata"]["uid"] = current["metadata"]["uid"].clone();
                let obj = self.write(&mut st, &collection, "MODIFIED", obj);
                whole(200, &obj)
            }
            ("PATCH", Some(name)) => {
                let Some(current) = st
                    .objects
                    .get(&collection)
                    .and_then(|m| m.get(&name))
                    .cloned()
                else {
                    return whole(404, &status(404, "NotFound", "not found"));
                };
                let want_rv = &body["metadata"]["resourceVersion"];
                if !want_rv.is_null() && *want_rv != current["metadata"]["resourceVersion"] {
                    st.conflicts += 1;
                    return whole(
                        409,
                        &status(409, "Conflict", "the object has been modified"),
                    );
                }
                let mut obj = current.clone();
                if is_status {
                    let mut s = obj["status"].take();
                    merge(&mut s, &body["status"]);
                    obj["status"] = s;
                } else {
                    let mut patch = body.clone();
                    patch.as_object_mut().map(|p| p.remove("status"));
                    merge(&mut obj, &patch);
                }
                let obj = self.write(&mut st, &collection, "MODIFIED", obj);
                whole(200, &obj)
            }
            ("DELETE", Some(name)) => match st
                .objects
                .get(&collection)
                .and_then(|m| m.get(&name))
                .cloned()
            {
                Some(o) => {
                    self.write(&mut st, &collection, "DELETED", o.clone());
                    whole(200, &o)
                }
                None => whole(404, &status(404, "NotFound", "not found")),
            },
            (m, n) => panic!("fake API: unsupported {m} {collection} {n:?}"),
        }
    }
}

fn tokio_stream_from(
    rx: broadcast::Receiver<WatchEvent>,
) -> impl futures::Stream<Item = WatchEvent> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Collection paths.
pub const NODES: &str = "/api/v1/nodes";
/// In `openperouter-system`.
pub const CONFIGMAPS: &str = "/api/v1/namespaces/openperouter-system/configmaps";
/// In `openperouter-system`.
pub const SECRETS: &str = "/api/v1/namespaces/openperouter-system/secrets";
/// perouter's namespace in these tests.
pub const NS: &str = "openperouter-system";

/// The collection path of one of our kinds (`underlays`, `l3vnis`, ...).
pub fn ours(plural: &str) -> String {
    format!("/apis/network.openperouter.io/v1alpha1/namespaces/{NS}/{plural}")
}

/// A Node object.
pub fn node(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

/// One of our resources from a YAML spec.
pub fn resource(kind: &str, name: &str, spec_yaml: &str) -> Value {
    let spec: Value = serde_yaml::from_str(spec_yaml).unwrap();
    json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": kind,
           "metadata": {"name": name, "namespace": NS}, "spec": spec})
}

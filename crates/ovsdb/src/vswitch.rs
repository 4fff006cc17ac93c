//! The part of the `Open_vSwitch` database (ovs-vswitchd.conf.db(5)) perouter touches, and the
//! pure planning of the transactions that attach host legs to OVS bridges.
//!
//! A host leg is a port (and its interface, of the default `system` type) named after a
//! kernel device (the L2VNI's host-side veth), on a bridge that is either *managed* (created
//! here with the `created-by` marker, deleted here when no leg wants it) or *external* (must
//! exist; never created, modified or deleted here). Upstream OpenPERouter behaves the same and
//! uses the same marker, so bridges it created are recognised.
//!
//! Planning is level-triggered: [`plan`] compares a [`Snapshot`] with the [`Wanted`] legs and
//! yields one transaction per leg that needs a change (so one leg's failure never blocks
//! another's), one per port to detach and one per bridge to delete. An up-to-date database
//! yields none, which makes a pass safe to repeat.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::datum;
use crate::transact::{insert, mutate_set, select_all, update};

/// The database name.
pub const DATABASE: &str = "Open_vSwitch";
/// The `external_ids` key marking a bridge perouter created.
pub const CREATED_BY_KEY: &str = "created-by";
/// Its value: upstream's, so that a node moved from OpenPERouter keeps its bridges managed.
pub const CREATED_BY_VALUE: &str = "openperouter";

/// What perouter owns in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Ports whose name starts with this are perouter's (the host veths, `host-e-`).
    pub port_prefix: String,
    /// Managed bridges are named with this prefix (`br-hs-`) and carry the marker.
    pub bridge_prefix: String,
}

/// One host leg wanted on an OVS bridge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leg {
    /// The port (and interface) name: the kernel device to attach.
    pub port: String,
    /// The bridge.
    pub bridge: String,
    /// Whether the bridge is perouter's to create (and delete when no leg wants it).
    pub managed: bool,
}

/// Everything wanted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The legs.
    pub legs: Vec<Leg>,
    /// `datapath_type` of the bridges perouter creates (`netdev` for the userspace datapath);
    /// `None` leaves OVS's default (`system`, the kernel module).
    pub datapath_type: Option<String>,
}

/// A Bridge row (the columns read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeRow {
    /// `_uuid`.
    pub uuid: String,
    /// `name`.
    pub name: String,
    /// `ports` (Port UUIDs).
    pub ports: Vec<String>,
    /// `external_ids`.
    pub external_ids: Vec<(String, String)>,
    /// `datapath_type` (empty = default).
    pub datapath_type: String,
}

impl BridgeRow {
    /// Whether perouter created it.
    pub fn created_by_us(&self) -> bool {
        self.external_ids
            .iter()
            .any(|(k, v)| k == CREATED_BY_KEY && v == CREATED_BY_VALUE)
    }
}

/// A Port row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortRow {
    /// `_uuid`.
    pub uuid: String,
    /// `name`.
    pub name: String,
}

/// An Interface row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceRow {
    /// `name`.
    pub name: String,
    /// `error`: why ovs-vswitchd could not use it (e.g. the device does not exist).
    pub error: Option<String>,
}

/// What the database holds, as far as perouter cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The `_uuid` of the one `Open_vSwitch` row (None: the database was never initialised).
    pub root: Option<String>,
    /// Bridges.
    pub bridges: Vec<BridgeRow>,
    /// Ports.
    pub ports: Vec<PortRow>,
    /// Interfaces.
    pub interfaces: Vec<InterfaceRow>,
}

/// The operations of the read transaction; [`Snapshot::from_results`] takes its results.
pub fn read_ops() -> Vec<Value> {
    vec![
        select_all("Open_vSwitch", &["_uuid"]),
        select_all(
            "Bridge",
            &["_uuid", "name", "ports", "external_ids", "datapath_type"],
        ),
        select_all("Port", &["_uuid", "name"]),
        select_all("Interface", &["name", "error"]),
    ]
}

fn rows(v: &Value) -> &[Value] {
    v.get("rows")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn string(row: &Value, col: &str) -> Option<String> {
    row.get(col)?.as_str().map(str::to_string)
}

fn uuid_col(row: &Value) -> Option<String> {
    datum::as_uuid(row.get("_uuid")?).map(str::to_string)
}

impl Snapshot {
    /// The snapshot from the results of [`read_ops`]. Rows without the identifying columns are
    /// skipped rather than guessed.
    pub fn from_results(results: &[Value]) -> Result<Snapshot, String> {
        let [root, bridges, ports, interfaces] = results else {
            return Err(format!("{} results for 4 selects", results.len()));
        };
        Ok(Snapshot {
            root: rows(root).iter().find_map(uuid_col),
            bridges: rows(bridges)
                .iter()
                .filter_map(|r| {
                    Some(BridgeRow {
                        uuid: uuid_col(r)?,
                        name: string(r, "name")?,
                        ports: r.get("ports").map(datum::as_uuid_set).unwrap_or_default(),
                        external_ids: r
                            .get("external_ids")
                            .map(datum::as_string_map)
                            .unwrap_or_default(),
                        datapath_type: string(r, "datapath_type").unwrap_or_default(),
                    })
                })
                .collect(),
            ports: rows(ports)
                .iter()
                .filter_map(|r| {
                    Some(PortRow {
                        uuid: uuid_col(r)?,
                        name: string(r, "name")?,
                    })
                })
                .collect(),
            interfaces: rows(interfaces)
                .iter()
                .filter_map(|r| {
                    Some(InterfaceRow {
                        name: string(r, "name")?,
                        error: r.get("error").and_then(datum::as_optional_string),
                    })
                })
                .collect(),
        })
    }

    fn bridge(&self, name: &str) -> Option<&BridgeRow> {
        self.bridges.iter().find(|b| b.name == name)
    }

    fn holders(&self, port_uuid: &str) -> Vec<&BridgeRow> {
        self.bridges
            .iter()
            .filter(|b| b.ports.iter().any(|p| p == port_uuid))
            .collect()
    }
}

/// One transaction to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    /// Its operations.
    pub ops: Vec<Value>,
    /// What it does, for the log.
    pub what: String,
    /// The port or bridge it concerns (for attributing a failure to its L2VNI).
    pub subject: String,
}

/// A leg that cannot be applied as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The port (host leg).
    pub port: String,
    /// Why.
    pub message: String,
}

/// The transactions a pass runs and the problems it reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Transactions, independent of each other.
    pub txns: Vec<Txn>,
    /// Legs that cannot be applied (no transaction is planned for them).
    pub problems: Vec<Problem>,
}

/// Plans the transactions that bring `snap` to `wanted`, touching only what `scope` says is
/// perouter's.
pub fn plan(snap: &Snapshot, wanted: &Wanted, scope: &Scope) -> Plan {
    let mut out = Plan::default();
    let mut seen = BTreeSet::new();
    let mut doomed: BTreeSet<&str> = BTreeSet::new();
    let wanted_managed: BTreeSet<&str> = wanted
        .legs
        .iter()
        .filter(|l| l.managed)
        .map(|l| l.bridge.as_str())
        .collect();
    for b in &snap.bridges {
        if b.created_by_us()
            && b.name.starts_with(&scope.bridge_prefix)
            && !wanted_managed.contains(b.name.as_str())
        {
            doomed.insert(b.uuid.as_str());
        }
    }
    for leg in &wanted.legs {
        if !seen.insert(leg.port.as_str()) {
            continue;
        }
        let problem = |message: String| Problem {
            port: leg.port.clone(),
            message,
        };
        let bridge = snap.bridge(&leg.bridge);
        if bridge.is_none() && !leg.managed {
            out.problems.push(problem(format!(
                "OVS bridge {} does not exist (lifecycle External: perouter attaches {} to it but never creates it)",
                leg.bridge, leg.port
            )));
            continue;
        }
        if bridge.is_none() && snap.root.is_none() {
            out.problems.push(problem(
                "the Open_vSwitch table has no row: the database is not initialised (ovs-vsctl init)"
                    .into(),
            ));
            continue;
        }
        let port = snap.ports.iter().find(|p| p.name == leg.port);
        let holders = port.map(|p| snap.holders(&p.uuid)).unwrap_or_default();
        let attached = bridge.is_some_and(|b| holders.iter().any(|h| h.uuid == b.uuid));
        let mut ops = Vec::new();
        let mut what = Vec::new();
        if let (Some(b), Some(t)) = (bridge, &wanted.datapath_type) {
            if leg.managed && b.created_by_us() && &b.datapath_type != t {
                ops.push(update("Bridge", &b.uuid, json!({"datapath_type": t})));
                what.push(format!("set datapath_type {t} on bridge {}", b.name));
            }
        }
        if !attached {
            let port_ref = match port {
                Some(p) => {
                    for h in &holders {
                        ops.push(mutate_set(
                            "Bridge",
                            &h.uuid,
                            "ports",
                            "delete",
                            vec![datum::uuid(&p.uuid)],
                        ));
                        what.push(format!("move port {} from bridge {}", p.name, h.name));
                    }
                    datum::uuid(&p.uuid)
                }
                None => {
                    ops.push(insert("Interface", json!({"name": leg.port}), "iface"));
                    ops.push(insert(
                        "Port",
                        json!({"name": leg.port, "interfaces": datum::named_uuid("iface")}),
                        "port",
                    ));
                    datum::named_uuid("port")
                }
            };
            match bridge {
                Some(b) => {
                    ops.push(mutate_set(
                        "Bridge",
                        &b.uuid,
                        "ports",
                        "insert",
                        vec![port_ref],
                    ));
                    what.push(format!("attach port {} to bridge {}", leg.port, b.name));
                }
                None => {
                    let mut row = json!({
                        "name": leg.bridge,
                        "ports": datum::set(vec![port_ref]),
                        "external_ids": datum::string_map(&[(CREATED_BY_KEY, CREATED_BY_VALUE)]),
                    });
                    if let Some(t) = &wanted.datapath_type {
                        row["datapath_type"] = json!(t);
                    }
                    ops.push(insert("Bridge", row, "bridge"));
                    // snap.root is Some: checked above.
                    let root = snap.root.as_deref().unwrap_or_default();
                    ops.push(mutate_set(
                        "Open_vSwitch",
                        root,
                        "bridges",
                        "insert",
                        vec![datum::named_uuid("bridge")],
                    ));
                    what.push(format!(
                        "create bridge {} with port {}",
                        leg.bridge, leg.port
                    ));
                }
            }
        } else if let Some(e) = snap
            .interfaces
            .iter()
            .find(|i| i.name == leg.port)
            .and_then(|i| i.error.as_ref())
        {
            out.problems.push(problem(format!(
                "OVS cannot use interface {} on bridge {}: {e}",
                leg.port, leg.bridge
            )));
        }
        if !ops.is_empty() {
            out.txns.push(Txn {
                ops,
                what: what.join(", "),
                subject: leg.port.clone(),
            });
        }
    }
    // Ports of legs no longer wanted (removed VNI, or a leg moved off OVS).
    for p in &snap.ports {
        if !p.name.starts_with(&scope.port_prefix) || seen.contains(p.name.as_str()) {
            continue;
        }
        for h in snap.holders(&p.uuid) {
            if doomed.contains(h.uuid.as_str()) {
                continue;
            }
            out.txns.push(Txn {
                ops: vec![mutate_set(
                    "Bridge",
                    &h.uuid,
                    "ports",
                    "delete",
                    vec![datum::uuid(&p.uuid)],
                )],
                what: format!("detach port {} from bridge {}", p.name, h.name),
                subject: p.name.clone(),
            });
        }
    }
    // Managed bridges no leg wants: unreferenced from the root row, OVS garbage-collects the
    // bridge with its ports and interfaces (RFC 7047 §3.2, non-root tables).
    if let Some(root) = &snap.root {
        for b in snap
            .bridges
            .iter()
            .filter(|b| doomed.contains(b.uuid.as_str()))
        {
            out.txns.push(Txn {
                ops: vec![mutate_set(
                    "Open_vSwitch",
                    root,
                    "bridges",
                    "delete",
                    vec![datum::uuid(&b.uuid)],
                )],
                what: format!("delete managed bridge {}", b.name),
                subject: b.name.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;

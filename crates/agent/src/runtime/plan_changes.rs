//! What changed between two node plans, in one line for the log ("configuration generation N
//! applied: ...").

use std::collections::BTreeMap;
use std::fmt::Display;

use crate::config::model::NeighborTarget;
use crate::plan::NodePlan;

fn target(t: &NeighborTarget) -> String {
    match t {
        NeighborTarget::Address(a) => a.to_string(),
        NeighborTarget::Interface(i) => format!("interface {i}"),
        NeighborTarget::ListenRange(n) => format!("range {n}"),
    }
}

/// Appends `what added [..] removed [..] changed [..]` for two keyed lists.
fn keyed<K: Ord + Display, V: PartialEq>(
    out: &mut Vec<String>,
    what: &str,
    old: BTreeMap<K, &V>,
    new: BTreeMap<K, &V>,
) {
    let join = |v: Vec<&K>| {
        v.iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let added: Vec<&K> = new.keys().filter(|k| !old.contains_key(k)).collect();
    let removed: Vec<&K> = old.keys().filter(|k| !new.contains_key(k)).collect();
    let changed: Vec<&K> = new
        .iter()
        .filter(|(k, v)| old.get(k).is_some_and(|o| o != *v))
        .map(|(k, _)| k)
        .collect();
    for (verb, list) in [("added", added), ("removed", removed), ("changed", changed)] {
        if !list.is_empty() {
            out.push(format!("{what} {verb} [{}]", join(list)));
        }
    }
}

/// The differences between `old` and `new`: resources added, removed and changed (`L3VNI
/// added [200]; neighbor changed [192.168.11.2]`), or `no change` when only the generation
/// moved.
pub fn describe(old: &NodePlan, new: &NodePlan) -> String {
    let mut out = Vec::new();
    if old.asn != new.asn || old.router_id != new.router_id {
        out.push(format!(
            "AS/router ID {}/{} -> {}/{}",
            old.asn, old.router_id, new.asn, new.router_id
        ));
    }
    if old.vtep_v4 != new.vtep_v4 || old.vtep_v6 != new.vtep_v6 {
        out.push("VTEP changed".into());
    }
    if old.underlay_nics != new.underlay_nics {
        out.push("underlay NICs changed".into());
    }
    keyed(
        &mut out,
        "neighbor",
        old.neighbors
            .iter()
            .map(|n| (target(&n.intent.target), n))
            .collect(),
        new.neighbors
            .iter()
            .map(|n| (target(&n.intent.target), n))
            .collect(),
    );
    keyed(
        &mut out,
        "L3VNI",
        old.l3vnis.iter().map(|l| (l.vni, l)).collect(),
        new.l3vnis.iter().map(|l| (l.vni, l)).collect(),
    );
    keyed(
        &mut out,
        "L2VNI",
        old.l2vnis.iter().map(|l| (l.vni, l)).collect(),
        new.l2vnis.iter().map(|l| (l.vni, l)).collect(),
    );
    keyed(
        &mut out,
        "L3Passthrough",
        old.passthrough
            .iter()
            .map(|p| (p.name.clone(), p))
            .collect(),
        new.passthrough
            .iter()
            .map(|p| (p.name.clone(), p))
            .collect(),
    );
    let known = old.asn != new.asn
        || old.router_id != new.router_id
        || old.vtep_v4 != new.vtep_v4
        || old.vtep_v6 != new.vtep_v6
        || old.underlay_nics != new.underlay_nics
        || old.neighbors != new.neighbors
        || old.l3vnis != new.l3vnis
        || old.l2vnis != new.l2vnis
        || old.passthrough != new.passthrough;
    if !known && old != new {
        out.push("node settings changed".into());
    }
    if out.is_empty() {
        "no change".into()
    } else {
        out.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_was_added_removed_and_changed() {
        let a = crate::metrics::tests::example_applied();
        let old = a.plan.expect("the example plans");
        let mut new = (*old).clone();
        assert_eq!(describe(&old, &new), "no change");
        let first = new.l3vnis[0].clone();
        let mut added = first.clone();
        added.vni = 4242;
        new.l3vnis.push(added);
        new.l3vnis[0].table += 1000;
        let d = describe(&old, &new);
        assert!(d.contains("L3VNI added [4242]"), "{d}");
        assert!(d.contains(&format!("L3VNI changed [{}]", first.vni)), "{d}");
        new.neighbors.clear();
        let d = describe(&old, &new);
        assert!(d.contains("neighbor removed ["), "{d}");
        new.restart_time += 1;
        assert!(describe(&(*old).clone(), &{
            let mut p = (*old).clone();
            p.restart_time += 1;
            p
        })
        .contains("node settings changed"));
    }
}

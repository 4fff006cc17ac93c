//! Strict reading of YAML resources: unknown fields, deprecated spellings and positions.
//!
//! The API types ([`super::types`]) deserialize leniently (serde ignores unknown keys), which
//! would let a typo such as `holdTimeSecs` vanish silently. This module walks a resource's YAML
//! tree beside the resource's JSON schema (the same one the CRDs are generated from) and finds
//! every key the schema does not know: it is an error naming the field and the closest known one,
//! unless it is the pre-2026-07-30 all-lowercase spelling of a known field (`hostmaster`,
//! `vxlanport`, `localcidr`, `hostasn`, …), which is renamed to the current spelling with a
//! deprecation warning.
//!
//! It also finds where in a file a problem is: [`locate`] returns the line and column of a key
//! given its path, and [`probe_item`] re-reads one list item straight from the text so that a type
//! error comes with the position of the offending value (serde_yaml attaches the position of the
//! innermost event to an error, but only when deserializing from text, not from a `Value`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Renders a path the way the validation messages name fields: `spec.neighbors[0].asn`.
pub fn render_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                s.push_str(&format!("[{i}]"));
            }
        }
    }
    s
}

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What walking one resource found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Keys the schema does not know: path of the key (inside the resource), and a suggestion.
    pub unknown: Vec<(Vec<Seg>, Option<String>)>,
    /// Older spellings that were rewritten: path of the key, the old text and the new one.
    pub deprecated: Vec<(Vec<Seg>, String, String)>,
}

/// The JSON schema of `T` (the CRD's, before Kubernetes' structural rewriting), as JSON.
pub fn schema_of<T: schemars::JsonSchema>() -> Json {
    schemars::schema_for!(T).as_value().clone()
}

fn resolve<'a>(s: &'a Json, root: &'a Json) -> &'a Json {
    let mut cur = s;
    for _ in 0..16 {
        match cur.get("$ref").and_then(Json::as_str) {
            Some(r) => {
                let Some(name) = r
                    .strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
                else {
                    return cur;
                };
                match root
                    .get("$defs")
                    .or_else(|| root.get("definitions"))
                    .and_then(|d| d.get(name))
                {
                    Some(next) => cur = next,
                    None => return cur,
                }
            }
            None => return cur,
        }
    }
    cur
}

/// The branches of a schema node (itself, or its `anyOf`/`oneOf`/`allOf` members), resolved.
fn branches<'a>(s: &'a Json, root: &'a Json) -> Vec<&'a Json> {
    let s = resolve(s, root);
    let mut out = vec![s];
    for k in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = s.get(k).and_then(Json::as_array) {
            for b in list {
                out.extend(branches(b, root));
            }
        }
    }
    out
}

/// The properties of an object schema, when it has a closed set of them.
fn properties<'a>(s: &'a Json, root: &'a Json) -> Option<&'a serde_json::Map<String, Json>> {
    let bs = branches(s, root);
    if bs.iter().any(|b| {
        b.get("x-kubernetes-preserve-unknown-fields") == Some(&Json::Bool(true))
            || b.get("additionalProperties")
                .is_some_and(|a| a != &Json::Bool(false))
    }) {
        return None;
    }
    bs.into_iter()
        .find_map(|b| b.get("properties").and_then(Json::as_object))
}

fn items<'a>(s: &'a Json, root: &'a Json) -> Option<&'a Json> {
    branches(s, root).into_iter().find_map(|b| b.get("items"))
}

/// The known name closest to `field` (edit distance, case-insensitive), if one is close enough to
/// be a likely typo.
pub fn closest<'a>(field: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let f = field.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(&f, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= (k.len().max(field.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// Walks `value` beside `schema` (whose `$ref`s resolve against `root`): renames deprecated
/// spellings in place and records unknown keys. `extra` are keys allowed at the top level beside
/// the schema's (a static file's `name`).
pub fn walk(value: &mut Yaml, schema: &Json, root: &Json, extra: &[&str]) -> Findings {
    let mut out = Findings::default();
    let mut path = Vec::new();
    walk_at(value, schema, root, extra, &mut path, &mut out);
    out
}

fn walk_at(
    value: &mut Yaml,
    schema: &Json,
    root: &Json,
    extra: &[&str],
    path: &mut Vec<Seg>,
    out: &mut Findings,
) {
    match value {
        Yaml::Mapping(map) => {
            let Some(props) = properties(schema, root) else {
                return;
            };
            // Before `lifecycle`, a bridge said `autoCreate: true|false`.
            if props.contains_key("lifecycle") && !map.contains_key("lifecycle") {
                if let Some(Yaml::Bool(b)) = map.get("autoCreate").cloned() {
                    let new = if b { "Managed" } else { "External" };
                    out.deprecated.push((
                        with(path, Seg::Key("autoCreate".into())),
                        format!("autoCreate: {b}"),
                        format!("lifecycle: {new}"),
                    ));
                    map.remove("autoCreate");
                    map.insert(Yaml::String("lifecycle".into()), Yaml::String(new.into()));
                }
            }
            let keys: Vec<Yaml> = map.keys().cloned().collect();
            for key in keys {
                let Some(k) = key.as_str().map(str::to_string) else {
                    out.unknown
                        .push((with(path, Seg::Key(format!("{key:?}"))), None));
                    continue;
                };
                if props.contains_key(&k) || extra.contains(&k.as_str()) {
                    continue;
                }
                let spelled = props
                    .keys()
                    .find(|p| p.eq_ignore_ascii_case(&k) && !map.contains_key(p.as_str()));
                match spelled {
                    Some(new) if k == k.to_ascii_lowercase() => {
                        out.deprecated.push((
                            with(path, Seg::Key(k.clone())),
                            k.clone(),
                            new.clone(),
                        ));
                        if let Some(v) = map.remove(&key) {
                            map.insert(Yaml::String(new.clone()), v);
                        }
                    }
                    _ => {
                        let known = props
                            .keys()
                            .map(String::as_str)
                            .chain(extra.iter().copied());
                        out.unknown
                            .push((with(path, Seg::Key(k.clone())), closest(&k, known)));
                    }
                }
            }
            let keys: Vec<Yaml> = map.keys().cloned().collect();
            for key in keys {
                let Some(k) = key.as_str() else { continue };
                let Some(sub) = props.get(k) else { continue };
                let k = k.to_string();
                if let Some(v) = map.get_mut(&key) {
                    path.push(Seg::Key(k));
                    walk_at(v, sub, root, &[], path, out);
                    path.pop();
                }
            }
        }
        Yaml::Sequence(seq) => {
            let Some(item) = items(schema, root) else {
                return;
            };
            for (i, v) in seq.iter_mut().enumerate() {
                path.push(Seg::Index(i));
                walk_at(v, item, root, &[], path, out);
                path.pop();
            }
        }
        Yaml::Tagged(t) => walk_at(&mut t.value, schema, root, extra, path, out),
        Yaml::String(v) => {
            // Older enum spellings (`internal`, `linux-bridge`): same letters, other case/dashes.
            let norm = |x: &str| x.replace(['-', '_'], "").to_ascii_lowercase();
            let allowed: Vec<&str> = branches(schema, root)
                .into_iter()
                .filter_map(|b| b.get("enum").and_then(Json::as_array))
                .flatten()
                .filter_map(Json::as_str)
                .collect();
            if allowed.is_empty() || allowed.contains(&v.as_str()) {
                return;
            }
            if let Some(new) = allowed.iter().find(|a| norm(a) == norm(v)) {
                out.deprecated
                    .push((path.clone(), v.clone(), (*new).to_string()));
                *v = (*new).to_string();
            }
        }
        _ => {}
    }
}

fn with(path: &[Seg], last: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(last);
    p
}

/// The marker error [`locate`] raises when it reaches the key it looks for.
const HERE: &str = "\u{1}perouter-locate-here";

/// Navigates a document along a path; at the end, either raises [`HERE`] on the last key (so
/// that serde_yaml attaches that key's position) or deserializes a `T` there.
struct Nav<'p, T> {
    path: &'p [Seg],
    mark_key: bool,
    leaf: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Nav<'_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.path.first() {
            None => T::deserialize(d).map(|_| ()),
            Some(Seg::Key(_)) => d.deserialize_any(self),
            Some(Seg::Index(_)) => d.deserialize_any(self),
        }
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Nav<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        let Some(Seg::Key(target)) = self.path.first() else {
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let last = self.path.len() == 1;
        let mut done = false;
        while let Some(hit) = m.next_key_seed(KeySeed {
            target,
            mark: last && self.mark_key && !done,
        })? {
            if hit && !done {
                done = true;
                m.next_value_seed(Nav::<T> {
                    path: &self.path[1..],
                    mark_key: self.mark_key,
                    leaf: PhantomData,
                })?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let Some(Seg::Index(target)) = self.path.first() else {
            while s.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            let more = if i == *target {
                s.next_element_seed(Nav::<T> {
                    path: &self.path[1..],
                    mark_key: self.mark_key,
                    leaf: PhantomData,
                })?
                .is_some()
            } else {
                s.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, a: A) -> Result<(), A::Error> {
        // A tagged value (`!tag x`): look inside it.
        let (_, v): (IgnoredAny, _) = a.variant()?;
        de::VariantAccess::newtype_variant_seed(v, self)
    }
}

/// Reads a mapping key; says whether it is `target`, and raises [`HERE`] on it when `mark`.
struct KeySeed<'a> {
    target: &'a str,
    mark: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        let hit = v == self.target;
        if hit && self.mark {
            return Err(E::custom(HERE));
        }
        Ok(hit)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        self.visit_str("~")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<bool, A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<bool, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

fn pos_of(e: &serde_yaml::Error) -> Option<Pos> {
    e.location().map(|l| Pos {
        line: l.line(),
        column: l.column(),
    })
}

/// Where the key at the end of `path` is in `text` (the first YAML document).
pub fn locate(text: &str, path: &[Seg]) -> Option<Pos> {
    if !matches!(path.last(), Some(Seg::Key(_))) {
        return None;
    }
    let nav = Nav::<IgnoredAny> {
        path,
        mark_key: true,
        leaf: PhantomData,
    };
    match nav.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Err(e) if e.to_string().contains(HERE) => pos_of(&e),
        _ => None,
    }
}

/// Re-reads the value at `path` of `text` as a `T`: the error, with the position of the value
/// that broke it and serde_yaml's path of it (relative to the document), when it does not read.
pub fn probe_item<T: DeserializeOwned>(text: &str, path: &[Seg]) -> Option<(Option<Pos>, String)> {
    let nav = Nav::<T> {
        path,
        mark_key: false,
        leaf: PhantomData,
    };
    match nav.deserialize(serde_yaml::Deserializer::from_str(text)) {
        Ok(()) => None,
        Err(e) => Some((pos_of(&e), strip_position(&e.to_string()))),
    }
}

/// A serde_yaml message without its trailing ` at line L column C` (positions are given
/// separately, as `file:line:column`).
pub fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::{L2VniSpec, UnderlaySpec};

    #[test]
    fn unknown_keys_are_found_with_a_suggestion() {
        let mut v: Yaml = serde_yaml::from_str(
            "asn: 1\nneighbors:\n  - {asn: 2, address: 1.2.3.4, holdTimeSecs: 9}\nrouterIDCIDR: 10.0.0.0/24\nbogus: 1\n",
        )
        .unwrap();
        let schema = schema_of::<UnderlaySpec>();
        let f = walk(&mut v, &schema, &schema, &[]);
        assert_eq!(f.unknown.len(), 2, "{f:?}");
        assert_eq!(f.unknown[0].0, vec![Seg::Key("bogus".into())]);
        assert_eq!(
            f.unknown[1],
            (
                vec![
                    Seg::Key("neighbors".into()),
                    Seg::Index(0),
                    Seg::Key("holdTimeSecs".into())
                ],
                Some("holdTimeSeconds".into())
            )
        );
        assert!(f.deprecated.is_empty());
    }

    #[test]
    fn lowercase_spellings_are_renamed_and_reported() {
        let mut v: Yaml = serde_yaml::from_str(
            "vni: 110\nvxlanport: 4790\nhostmaster: {type: LinuxBridge, linuxbridge: {lifecycle: Managed}}\n",
        )
        .unwrap();
        let schema = schema_of::<L2VniSpec>();
        let f = walk(&mut v, &schema, &schema, &["name"]);
        assert!(f.unknown.is_empty(), "{f:?}");
        let news: Vec<&str> = f.deprecated.iter().map(|(_, _, n)| n.as_str()).collect();
        assert_eq!(news, ["vxlanPort", "hostMaster", "linuxBridge"]);
        let spec: L2VniSpec = serde_yaml::from_value(v).unwrap();
        assert_eq!(spec.vxlan_port, Some(4790));
        assert_eq!(
            spec.host_master.unwrap().linux_bridge.unwrap().lifecycle,
            "Managed"
        );
    }

    #[test]
    fn free_form_fields_are_not_checked() {
        let mut v: Yaml = serde_yaml::from_str(
            "asn: 1\ninterfaces:\n  - type: CNIDevice\n    cniDevice: {type: RawConfig, rawConfig: {anything: 1}}\nnodeSelector: {matchLabels: {a: b}}\n",
        )
        .unwrap();
        let schema = schema_of::<UnderlaySpec>();
        let f = walk(&mut v, &schema, &schema, &[]);
        assert_eq!(f, Findings::default());
    }

    #[test]
    fn keys_and_type_errors_are_located() {
        let text = "underlays:\n  - asn: 1\nl3vnis:\n  - name: a\n    vni: 1\n  - name: b\n    vni: [100]\n    holdTimeSecs: 3\n";
        let p = locate(
            text,
            &[
                Seg::Key("l3vnis".into()),
                Seg::Index(1),
                Seg::Key("holdTimeSecs".into()),
            ],
        );
        assert_eq!(p, Some(Pos { line: 8, column: 5 }));
        let (pos, msg) = probe_item::<crate::config::types::L3VniSpec>(
            text,
            &[Seg::Key("l3vnis".into()), Seg::Index(1)],
        )
        .expect("vni is not a number");
        assert_eq!(
            pos,
            Some(Pos {
                line: 7,
                column: 10
            }),
            "{msg}"
        );
        assert!(msg.contains("vni"), "{msg}");
        assert!(probe_item::<crate::config::types::L3VniSpec>(
            text,
            &[Seg::Key("l3vnis".into()), Seg::Index(0)]
        )
        .is_none());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("underlay", ["underlays", "l3vnis"]).as_deref(),
            Some("underlays")
        );
        assert_eq!(closest("zzzzzz", ["underlays", "l3vnis"]), None);
    }
}

//! OVSDB's JSON encoding of data (RFC 7047 §5.1): a UUID is `["uuid", "…"]`, a reference to a
//! row inserted in the same transaction `["named-uuid", "…"]`, a set `["set", [...]]` (or a
//! bare atom when it has one element), a map `["map", [[k, v], ...]]`.

use serde_json::{json, Value};

/// `["uuid", u]`.
pub fn uuid(u: &str) -> Value {
    json!(["uuid", u])
}

/// `["named-uuid", name]`: a row inserted earlier in the same transaction with `uuid-name`.
pub fn named_uuid(name: &str) -> Value {
    json!(["named-uuid", name])
}

/// `["set", items]`.
pub fn set(items: Vec<Value>) -> Value {
    json!(["set", items])
}

/// `["map", [[k, v], ...]]` of strings.
pub fn string_map(pairs: &[(&str, &str)]) -> Value {
    let items: Vec<Value> = pairs.iter().map(|(k, v)| json!([k, v])).collect();
    json!(["map", items])
}

/// The two elements of a tagged pair `[tag, x]` when the tag is `tag`.
fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v.as_array()?.as_slice() {
        [t, x] if t.as_str() == Some(tag) => Some(x),
        _ => None,
    }
}

/// The UUID in `["uuid", "…"]`, if `v` is one.
pub fn as_uuid(v: &Value) -> Option<&str> {
    tagged(v, "uuid")?.as_str()
}

/// The elements of a set: `["set", [...]]`, or a bare atom as a one-element set. Anything
/// else (a map, a malformed pair) is an empty set.
pub fn as_set(v: &Value) -> Vec<&Value> {
    if let Some(items) = tagged(v, "set") {
        return items
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
    }
    if tagged(v, "map").is_some() {
        return Vec::new();
    }
    vec![v]
}

/// The UUIDs in a set of UUIDs (elements that are not UUIDs are skipped).
pub fn as_uuid_set(v: &Value) -> Vec<String> {
    as_set(v)
        .into_iter()
        .filter_map(as_uuid)
        .map(str::to_string)
        .collect()
}

/// The string pairs of a map of strings (pairs that are not two strings are skipped).
pub fn as_string_map(v: &Value) -> Vec<(String, String)> {
    let Some(items) = tagged(v, "map").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|p| match p.as_array()?.as_slice() {
            [k, v] => Some((k.as_str()?.to_string(), v.as_str()?.to_string())),
            _ => None,
        })
        .collect()
}

/// An optional string column (`["set", []]` when empty, else the string).
pub fn as_optional_string(v: &Value) -> Option<String> {
    as_set(v)
        .first()
        .and_then(|x| x.as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_sets_maps_and_uuids_as_ovsdb_server_sends_them() {
        // From a real ovsdb-server 3.1 select.
        let one = json!(["uuid", "5db97e09-a49e-413f-8c00-e1d81c34998b"]);
        assert_eq!(as_uuid_set(&one), ["5db97e09-a49e-413f-8c00-e1d81c34998b"]);
        let two = json!(["set", [["uuid", "a"], ["uuid", "b"]]]);
        assert_eq!(as_uuid_set(&two), ["a", "b"]);
        assert!(as_uuid_set(&json!(["set", []])).is_empty());
        assert_eq!(
            as_string_map(&json!(["map", [["created-by", "openperouter"], ["x", 1]]])),
            [("created-by".to_string(), "openperouter".to_string())]
        );
        assert!(as_string_map(&json!(["set", []])).is_empty());
        assert_eq!(as_optional_string(&json!(["set", []])), None);
        assert_eq!(
            as_optional_string(&json!("could not open network device")),
            Some("could not open network device".into())
        );
        assert_eq!(as_uuid(&json!(["named-uuid", "x"])), None);
        assert!(as_set(&json!(["map", []])).is_empty());
    }

    #[test]
    fn encodes_references_and_maps() {
        assert_eq!(uuid("u").to_string(), r#"["uuid","u"]"#);
        assert_eq!(named_uuid("p0").to_string(), r#"["named-uuid","p0"]"#);
        assert_eq!(
            string_map(&[("created-by", "openperouter")]).to_string(),
            r#"["map",[["created-by","openperouter"]]]"#
        );
        assert_eq!(
            set(vec![uuid("a")]).to_string(),
            r#"["set",[["uuid","a"]]]"#
        );
    }
}

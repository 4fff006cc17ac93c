//! Schema helpers for the CRDs: the pieces of a Kubernetes structural schema that schemars does not
//! produce by itself (required-but-defaulted fields, CEL rules, opaque objects).
//!
//! The spec types keep loose `#[serde(default)]` fields so that validation can report per-field
//! errors; schemars would turn each such field into an *optional* property with a zero `default`
//! (`asn: 0`), which the API server would then reject as an invalid default. [`required`] undoes
//! that for the fields upstream marks `+required`.

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

/// A schemars transform marking `fields` required and dropping the `default` schemars derived for
/// them from `#[serde(default)]` (upstream's `+required` fields have no default).
pub fn required(fields: &'static [&'static str]) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for field in fields {
                if let Some(Value::Object(prop)) = props.get_mut(*field) {
                    prop.remove("default");
                }
            }
        }
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        let list = obj
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            for field in fields {
                if !list.iter().any(|v| v == *field) {
                    list.push(Value::String((*field).to_string()));
                }
            }
        }
    }
}

/// A schemars transform appending CEL validation rules (`x-kubernetes-validations`, evaluated by
/// the API server since Kubernetes 1.25) as `(rule, message)` pairs, exactly as upstream's
/// `+kubebuilder:validation:XValidation` markers declare them.
pub fn cel(rules: &'static [(&'static str, &'static str)]) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        let Some(obj) = schema.as_object_mut() else {
            return;
        };
        let list = obj
            .entry("x-kubernetes-validations")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            for (rule, message) in rules {
                list.push(json!({ "rule": rule, "message": message }));
            }
        }
    }
}

/// The schema of an opaque JSON object kept as-is (upstream's `apiextensionsv1.JSON` fields with
/// `+kubebuilder:pruning:PreserveUnknownFields`): CNI configuration, and the SRv6/IS-IS settings
/// perouter accepts but does not implement yet.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

//! The `transact` method (RFC 7047 §4.1.3) and the operations perouter uses (§5.2): select,
//! insert, update, mutate. Pure: operations are built as JSON, results are checked.

use serde_json::{json, Value};

/// `["Open_vSwitch", op, ...]`: the params of a `transact` on database `db`.
pub fn params(db: &str, ops: &[Value]) -> Value {
    let mut p = vec![Value::String(db.to_string())];
    p.extend(ops.iter().cloned());
    Value::Array(p)
}

/// A `where` clause matching the row `uuid`.
pub fn by_uuid(uuid: &str) -> Value {
    json!([["_uuid", "==", ["uuid", uuid]]])
}

/// `select` of `columns` from every row of `table` (§5.2.2).
pub fn select_all(table: &str, columns: &[&str]) -> Value {
    json!({"op": "select", "table": table, "where": [], "columns": columns})
}

/// `insert` of `row` into `table`, named `uuid_name` for later operations of the same
/// transaction (§5.2.1).
pub fn insert(table: &str, row: Value, uuid_name: &str) -> Value {
    json!({"op": "insert", "table": table, "row": row, "uuid-name": uuid_name})
}

/// `update` of the row `uuid` of `table` with `row` (§5.2.3).
pub fn update(table: &str, uuid: &str, row: Value) -> Value {
    json!({"op": "update", "table": table, "where": by_uuid(uuid), "row": row})
}

/// `mutate` of the set column `column` of the row `uuid`: `insert` or `delete` `items`
/// (§5.2.4).
pub fn mutate_set(
    table: &str,
    uuid: &str,
    column: &str,
    mutator: &str,
    items: Vec<Value>,
) -> Value {
    json!({"op": "mutate", "table": table, "where": by_uuid(uuid),
        "mutations": [[column, mutator, crate::datum::set(items)]]})
}

/// Why a transaction did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactError {
    /// The server refused the request as a whole (`error` in the response).
    #[error("request refused: {0}")]
    Refused(String),
    /// The result is not an array of operation results.
    #[error("malformed result: {0}")]
    Malformed(String),
    /// Operation `index` (0-based) failed; nothing was committed.
    #[error("operation {index} failed: {error}{}", details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Operation {
        /// Which operation.
        index: usize,
        /// The error (`constraint violation`, `syntax error`, …).
        error: String,
        /// The server's explanation.
        details: Option<String>,
    },
    /// Every operation succeeded but the commit failed (the extra result element).
    #[error("commit failed: {error}{}", details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Commit {
        /// The error.
        error: String,
        /// The server's explanation.
        details: Option<String>,
    },
}

/// A JSON-RPC `error` as text (a string, or an object with `error` and `details`).
pub fn error_text(e: &Value) -> String {
    match e {
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            let err = m.get("error").and_then(Value::as_str).unwrap_or("error");
            match m.get("details").and_then(Value::as_str) {
                Some(d) => format!("{err}: {d}"),
                None => err.to_string(),
            }
        }
        other => other.to_string(),
    }
}

fn op_error(v: &Value) -> Option<(String, Option<String>)> {
    let e = v.get("error")?;
    if e.is_null() {
        return None;
    }
    Some((
        e.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
        v.get("details").and_then(Value::as_str).map(str::to_string),
    ))
}

/// Checks the reply to a transaction of `n_ops` operations (§4.1.3): the results of the
/// operations when it committed. A reply with an error anywhere is an error (the server
/// committed nothing then).
pub fn check(result: &Value, error: &Value, n_ops: usize) -> Result<Vec<Value>, TransactError> {
    if !error.is_null() {
        return Err(TransactError::Refused(error_text(error)));
    }
    let Some(items) = result.as_array() else {
        return Err(TransactError::Malformed("result is not an array".into()));
    };
    for (index, item) in items.iter().enumerate() {
        if let Some((error, details)) = op_error(item) {
            return Err(if index >= n_ops {
                TransactError::Commit { error, details }
            } else {
                TransactError::Operation {
                    index,
                    error,
                    details,
                }
            });
        }
    }
    if items.len() < n_ops {
        return Err(TransactError::Malformed(format!(
            "{} results for {n_ops} operations",
            items.len()
        )));
    }
    if let Some(i) = items[..n_ops].iter().position(|v| !v.is_object()) {
        return Err(TransactError::Malformed(format!(
            "result {i} is not an object"
        )));
    }
    Ok(items[..n_ops].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Value, Value) {
        let v: Value = serde_json::from_str(s).unwrap();
        (v["result"].clone(), v["error"].clone())
    }

    #[test]
    fn real_replies_of_ovsdb_server() {
        // Captured from ovsdb-server 3.1: an insert/insert/mutate whose commit violates the
        // Interface name index (the extra, fourth element), a select of a table that does not
        // exist, a transact on an unknown database, and a success.
        let (r, e) = parse(
            r#"{"id":7,"result":[{"uuid":["uuid","a82d6f63-1cbf-4eaf-b407-b2e38502edd3"]},{"uuid":["uuid","ee2445cf-38f6-43fc-8021-a7b65a53169a"]},{"count":1},{"details":"Transaction causes multiple rows in \"Interface\" table to have identical values (host-e-9) for index on column \"name\".","error":"constraint violation"}],"error":null}"#,
        );
        match check(&r, &e, 3) {
            Err(TransactError::Commit { error, details }) => {
                assert_eq!(error, "constraint violation");
                assert!(details.unwrap().contains("host-e-9"));
            }
            other => panic!("{other:?}"),
        }
        let (r, e) = parse(
            r#"{"id":2,"result":[{"syntax":"{}","details":"Parsing ovsdb operation 1 of 1 failed: No table named Nope.","error":"syntax error"}],"error":null}"#,
        );
        assert!(matches!(
            check(&r, &e, 1),
            Err(TransactError::Operation { index: 0, .. })
        ));
        let (r, e) = parse(
            r#"{"id":4,"error":{"syntax":"[]","details":"transact request specifies unknown database Nodb","error":"unknown database"}}"#,
        );
        assert_eq!(
            check(&r, &e, 1),
            Err(TransactError::Refused(
                "unknown database: transact request specifies unknown database Nodb".into()
            ))
        );
        let (r, e) = parse(r#"{"id":8,"result":[{"count":0}],"error":null}"#);
        assert_eq!(check(&r, &e, 1).unwrap(), [json!({"count": 0})]);
        assert!(matches!(check(&r, &e, 2), Err(TransactError::Malformed(_))));
        assert!(matches!(
            check(&json!([1]), &Value::Null, 1),
            Err(TransactError::Malformed(_))
        ));
        assert!(matches!(
            check(&json!({}), &Value::Null, 0),
            Err(TransactError::Malformed(_))
        ));
    }

    #[test]
    fn builds_operations_in_rfc_7047_form() {
        assert_eq!(
            mutate_set(
                "Bridge",
                "b",
                "ports",
                "insert",
                vec![crate::datum::named_uuid("p")]
            ),
            json!({"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "b"]]],
                "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]})
        );
        assert_eq!(
            params("Open_vSwitch", &[select_all("Port", &["name"])]),
            json!(["Open_vSwitch", {"op": "select", "table": "Port", "where": [], "columns": ["name"]}])
        );
    }
}

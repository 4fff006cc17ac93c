//! Network configuration lists (SPEC §1) and the per-plugin configuration derived from them
//! (SPEC §3).

use serde_json::{Map, Value};

/// The oldest spec version accepted: 1.0.0 defines only the list format, which is what this
/// crate runs (upstream OpenPERouter refuses older versions the same way).
pub const MIN_VERSION: (u64, u64, u64) = (1, 0, 0);

/// A configuration list that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not an object, or a field of the wrong type or missing.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(s: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(s.into())
}

/// A validated network configuration list: `cniVersion` ≥ 1.0.0, a `name`, and one or more
/// plugins, each an object with a `type` (the binary to run).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfigList {
    /// `cniVersion`.
    pub cni_version: String,
    /// `name`, the network's name (given to every plugin).
    pub name: String,
    /// `disableCheck`: CHECK is never run for this network (SPEC §1).
    pub disable_check: bool,
    /// The plugin objects, in list order, as given.
    pub plugins: Vec<Map<String, Value>>,
}

/// Parses `"MAJOR.MINOR.PATCH"`.
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
    let out = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(out)
}

impl NetworkConfigList {
    /// Validates `v` as a configuration list (SPEC §1). Errors name the field.
    pub fn from_value(v: &Value) -> Result<Self, ConfigError> {
        let o = v
            .as_object()
            .ok_or_else(|| invalid("the network configuration must be a JSON object"))?;
        let cni_version = o
            .get("cniVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("cniVersion must be set (a string such as \"1.0.0\")"))?;
        let ver = parse_version(cni_version).ok_or_else(|| {
            invalid(format!(
                "cniVersion {cni_version:?} is not MAJOR.MINOR.PATCH"
            ))
        })?;
        if ver < MIN_VERSION {
            return Err(invalid(format!(
                "cniVersion {cni_version:?} is not supported: only 1.0.0 and later (network configuration lists)"
            )));
        }
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("name must be a non-empty string"))?;
        let disable_check = match o.get("disableCheck") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("disableCheck must be a boolean")),
        };
        let plugins = o
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("plugins must be a list of plugin configurations"))?;
        if plugins.is_empty() {
            return Err(invalid("plugins must have at least one plugin"));
        }
        let mut out = Vec::with_capacity(plugins.len());
        for (i, p) in plugins.iter().enumerate() {
            let p = p
                .as_object()
                .ok_or_else(|| invalid(format!("plugins[{i}] must be an object")))?;
            match p.get("type").and_then(Value::as_str) {
                Some(t) if valid_type(t) => {}
                Some(t) => {
                    return Err(invalid(format!(
                        "plugins[{i}].type {t:?} must be a plain binary name (letters, digits, '-', '_', '.')"
                    )))
                }
                None => return Err(invalid(format!("plugins[{i}].type must be set"))),
            }
            if let Some(c) = p.get("capabilities") {
                if !c
                    .as_object()
                    .is_some_and(|c| c.values().all(Value::is_boolean))
                {
                    return Err(invalid(format!(
                        "plugins[{i}].capabilities must be an object of booleans"
                    )));
                }
            }
            out.push(p.clone());
        }
        Ok(Self {
            cni_version: cni_version.to_string(),
            name: name.to_string(),
            disable_check,
            plugins: out,
        })
    }

    /// The binary name (`type`) of plugin `i`.
    pub fn plugin_type(&self, i: usize) -> &str {
        self.plugins[i]
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The capabilities plugin `i` declares (SPEC §1: `capabilities: {key: true}`).
    pub fn capabilities(&self, i: usize) -> Vec<&str> {
        self.plugins[i]
            .get("capabilities")
            .and_then(Value::as_object)
            .map(|c| {
                c.iter()
                    .filter(|(_, v)| v.as_bool() == Some(true))
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The runtime-config keys no plugin of the list declares as a capability: a runtime
    /// passes only declared keys (SPEC §3, "Deriving runtimeConfig"), so these would be
    /// silently dropped; callers refuse them.
    pub fn undeclared<'a>(&self, runtime_config: &'a Map<String, Value>) -> Vec<&'a str> {
        runtime_config
            .keys()
            .filter(|k| {
                (0..self.plugins.len()).all(|i| !self.capabilities(i).contains(&k.as_str()))
            })
            .map(String::as_str)
            .collect()
    }

    /// The configuration given on stdin to plugin `i` (SPEC §3): the plugin object with the
    /// list's `name` and `cniVersion`, `runtimeConfig` holding only the keys the plugin declares
    /// as capabilities (omitted when none), and `prevResult` when given (removed otherwise).
    pub fn plugin_config(
        &self,
        i: usize,
        runtime_config: &Map<String, Value>,
        prev_result: Option<&Value>,
    ) -> Value {
        let mut p = self.plugins[i].clone();
        p.insert("name".into(), Value::String(self.name.clone()));
        p.insert("cniVersion".into(), Value::String(self.cni_version.clone()));
        let caps = self.capabilities(i);
        let rc: Map<String, Value> = runtime_config
            .iter()
            .filter(|(k, _)| caps.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        p.remove("runtimeConfig");
        if !rc.is_empty() {
            p.insert("runtimeConfig".into(), Value::Object(rc));
        }
        p.remove("prevResult");
        if let Some(r) = prev_result {
            p.insert("prevResult".into(), r.clone());
        }
        Value::Object(p)
    }
}

/// A `type` that is a file name, not a path: it is looked up on `CNI_PATH` only.
fn valid_type(t: &str) -> bool {
    !t.is_empty()
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn macvlan() -> Value {
        json!({"cniVersion": "1.0.0", "name": "underlay", "plugins": [
            {"type": "macvlan", "master": "toswitch", "mode": "bridge",
             "ipam": {"type": "static", "addresses": [{"address": "192.168.11.3/24"}]}},
            {"type": "tuning", "capabilities": {"mac": true}}
        ]})
    }

    #[test]
    fn a_list_parses_and_each_plugin_gets_name_version_and_its_capabilities() {
        let l = NetworkConfigList::from_value(&macvlan()).unwrap();
        assert_eq!(l.name, "underlay");
        assert_eq!(l.plugin_type(0), "macvlan");
        assert_eq!(l.capabilities(1), vec!["mac"]);
        let rc = json!({"mac": "02:00:00:00:00:01", "ips": ["10.0.0.1/24"]});
        let rc = rc.as_object().unwrap();
        assert_eq!(l.undeclared(rc), vec!["ips"]);
        let p0 = l.plugin_config(0, rc, None);
        assert_eq!(p0["name"], "underlay");
        assert_eq!(p0["cniVersion"], "1.0.0");
        assert!(
            p0.get("runtimeConfig").is_none(),
            "macvlan declares nothing"
        );
        let prev = json!({"cniVersion": "1.0.0", "interfaces": []});
        let p1 = l.plugin_config(1, rc, Some(&prev));
        assert_eq!(p1["runtimeConfig"], json!({"mac": "02:00:00:00:00:01"}));
        assert_eq!(p1["prevResult"], prev);
    }

    #[test]
    fn bad_lists_are_refused_naming_the_field() {
        let cases = [
            (json!([]), "JSON object"),
            (
                json!({"name": "n", "plugins": [{"type": "x"}]}),
                "cniVersion must be set",
            ),
            (
                json!({"cniVersion": "0.4.0", "name": "n", "plugins": [{"type": "x"}]}),
                "not supported",
            ),
            (
                json!({"cniVersion": "1.x", "name": "n", "plugins": [{"type": "x"}]}),
                "MAJOR.MINOR.PATCH",
            ),
            (
                json!({"cniVersion": "1.0.0", "plugins": [{"type": "x"}]}),
                "name must be",
            ),
            (
                json!({"cniVersion": "1.0.0", "name": "n", "type": "macvlan"}),
                "plugins must be a list",
            ),
            (
                json!({"cniVersion": "1.0.0", "name": "n", "plugins": []}),
                "at least one",
            ),
            (
                json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{}]}),
                "plugins[0].type must be set",
            ),
            (
                json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../../bin/sh"}]}),
                "plain binary name",
            ),
            (
                json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "x", "capabilities": {"a": 1}}]}),
                "booleans",
            ),
            (
                json!({"cniVersion": "1.0.0", "name": "n", "disableCheck": "yes", "plugins": [{"type": "x"}]}),
                "disableCheck",
            ),
        ];
        for (v, want) in cases {
            let e = NetworkConfigList::from_value(&v).unwrap_err().to_string();
            assert!(e.contains(want), "{v}: {e}");
        }
        assert!(NetworkConfigList::from_value(
            &json!({"cniVersion": "1.1.0", "name": "n", "plugins": [{"type": "x"}]})
        )
        .is_ok());
    }
}

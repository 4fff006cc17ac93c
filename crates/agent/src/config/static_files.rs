//! OpenPERouter's static configuration files (systemd mode, upstream `api/static/config.go`).
//!
//! A directory (default `/var/lib/openperouter/`) holds `node-config.yaml` (which node this is)
//! and any number of `openpe_*.yaml` files, in `configs/` below it or in the directory itself; all of
//! them are merged. A file that does not parse is reported and skipped; the others still apply.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::resources::{Resource, ResourceKind, ResourceSet, Source};
use super::types::{L2VniSpec, L3PassthroughSpec, L3VniSpec, Named, UnderlaySpec};

/// The default configuration directory, as upstream's systemd units use it.
pub const DEFAULT_DIR: &str = "/var/lib/openperouter";

/// The node file's name inside the configuration directory.
pub const NODE_CONFIG_FILE: &str = "node-config.yaml";

/// One `openpe_*.yaml` file (`PERouterConfig`). Every list is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeRouterConfig {
    /// Underlays (at most one may apply to a node).
    #[serde(default)]
    pub underlays: Vec<UnderlaySpec>,
    /// L2VNIs, each with its name inline.
    #[serde(default)]
    pub l2vnis: Vec<Named<L2VniSpec>>,
    /// L3VNIs, each with its name inline.
    #[serde(default)]
    pub l3vnis: Vec<Named<L3VniSpec>>,
    /// L3VPNs (SRv6; upstream later scope). Accepted and reported as unsupported.
    #[serde(default)]
    pub l3vpns: Vec<serde_json::Value>,
    /// The passthrough host session, if any.
    #[serde(default)]
    pub bgppassthrough: Option<L3PassthroughSpec>,
    /// Raw FRR configuration snippets: meaningless without FRR; reported as ignored.
    #[serde(default)]
    pub rawfrrconfigs: Vec<serde_json::Value>,
}

/// `node-config.yaml`: who this node is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    /// How the node index is found.
    #[serde(default)]
    pub node_index: NodeIndexSource,
    /// The node's name (used in logs and status).
    #[serde(default)]
    pub node_name: String,
    /// `debug`, `info`, `warn` or `error`.
    #[serde(default)]
    pub log_level: String,
}

/// Where the node index comes from: given, or the host part of an interface's address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeIndexSource {
    /// The index itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// An interface whose address's host part is the index (IPv4 preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// With `interfaceName`: only an address inside this CIDR counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

/// A problem with a whole file (it could not be read or parsed); its resources are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong, with line and column where the parser gives them.
    pub message: String,
}

/// Everything read from a configuration directory.
#[derive(Debug, Clone, Default)]
pub struct StaticConfig {
    /// The node file, if present and valid.
    pub node: Option<NodeConfig>,
    /// The merged resources of every `openpe_*.yaml` that parsed.
    pub resources: ResourceSet,
    /// Files that could not be used, and why.
    pub file_errors: Vec<FileError>,
    /// Things accepted but not acted on (l3vpns, rawfrrconfigs), one line each.
    pub ignored: Vec<String>,
    /// The `openpe_*.yaml` files that were read, in merge order.
    pub files: Vec<PathBuf>,
}

/// Lists the `openpe_*.yaml` files of `dir` (in `dir/configs/` and `dir/`), sorted by name so
/// the merge order is stable.
pub fn config_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for d in [dir.join("configs"), dir.to_path_buf()] {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with("openpe_")
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
                && path.is_file()
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Parses one `openpe_*.yaml` document.
pub fn parse_config(text: &str) -> Result<PeRouterConfig, String> {
    if text.trim().is_empty() {
        return Ok(PeRouterConfig::default());
    }
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

/// Parses `node-config.yaml`.
pub fn parse_node_config(text: &str) -> Result<NodeConfig, String> {
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

/// Adds the resources of one parsed file to `set`, naming unnamed ones after the file.
pub fn merge_into(
    set: &mut ResourceSet,
    file: &Path,
    config: PeRouterConfig,
    ignored: &mut Vec<String>,
) {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("openpe")
        .to_string();
    let source = Source::File(file.to_path_buf());
    let many = config.underlays.len() > 1;
    for (i, spec) in config.underlays.into_iter().enumerate() {
        let name = if many {
            format!("{stem}-{i}")
        } else {
            stem.clone()
        };
        set.underlays.push(Resource::new(
            ResourceKind::Underlay,
            name,
            source.clone(),
            spec,
        ));
    }
    for named in config.l3vnis {
        set.l3vnis.push(Resource::new(
            ResourceKind::L3Vni,
            named.name,
            source.clone(),
            named.spec,
        ));
    }
    for named in config.l2vnis {
        set.l2vnis.push(Resource::new(
            ResourceKind::L2Vni,
            named.name,
            source.clone(),
            named.spec,
        ));
    }
    if let Some(spec) = config.bgppassthrough {
        if spec != L3PassthroughSpec::default() {
            set.passthroughs.push(Resource::new(
                ResourceKind::L3Passthrough,
                stem.clone(),
                source.clone(),
                spec,
            ));
        }
    }
    if !config.l3vpns.is_empty() {
        ignored.push(format!(
            "{}: {} l3vpns ignored: L3VPN (SRv6) is not supported yet",
            file.display(),
            config.l3vpns.len()
        ));
    }
    if !config.rawfrrconfigs.is_empty() {
        ignored.push(format!(
            "{}: {} rawfrrconfigs ignored: perouter runs no FRR",
            file.display(),
            config.rawfrrconfigs.len()
        ));
    }
}

/// Reads a whole configuration directory. Only a directory that cannot be listed is an error;
/// bad files are collected in [`StaticConfig::file_errors`].
pub fn load_dir(dir: &Path) -> std::io::Result<StaticConfig> {
    let mut out = StaticConfig::default();
    let node_path = dir.join(NODE_CONFIG_FILE);
    match std::fs::read_to_string(&node_path) {
        Ok(text) => match parse_node_config(&text) {
            Ok(node) => out.node = Some(node),
            Err(message) => out.file_errors.push(FileError {
                path: node_path,
                message,
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => out.file_errors.push(FileError {
            path: node_path,
            message: e.to_string(),
        }),
    }
    for file in config_files(dir)? {
        match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| parse_config(&t))
        {
            Ok(config) => {
                merge_into(&mut out.resources, &file, config, &mut out.ignored);
                out.files.push(file);
            }
            Err(message) => out.file_errors.push(FileError {
                path: file,
                message,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's canonical example (openperouter-upstream.md §1), split the way upstream splits it.
    const UNDERLAY: &str = r#"
underlays:
  - asn: 64514
    interfaces:
      - type: NetworkDevice
        networkDevice:
          interfaceName: toswitch1
    neighbors:
      - asn: 64512
        address: "192.168.11.2"
    tunnelEndpoint:
      cidrs: ["100.65.0.0/24"]
"#;
    const VNI: &str = r#"
l3vnis:
  - name: red
    vrf: red
    vni: 100
    hostSession:
      asn: 64514
      hostASN: 64515
      localCIDR: {ipv4: "192.169.10.0/24", ipv6: "2001:db8:1::/64"}
"#;

    #[test]
    fn parses_upstream_example() {
        let u = parse_config(UNDERLAY).unwrap();
        assert_eq!(u.underlays.len(), 1);
        assert_eq!(u.underlays[0].asn, 64514);
        assert_eq!(
            u.underlays[0].neighbors[0].address.as_deref(),
            Some("192.168.11.2")
        );
        assert_eq!(
            u.underlays[0].interfaces[0]
                .network_device
                .as_ref()
                .unwrap()
                .interface_name,
            "toswitch1"
        );
        let v = parse_config(VNI).unwrap();
        assert_eq!(v.l3vnis[0].name, "red");
        assert_eq!(v.l3vnis[0].spec.vni, 100);
        let hs = v.l3vnis[0].spec.host_session.as_ref().unwrap();
        assert_eq!(hs.host_asn, Some(64515));
        assert_eq!(hs.local_cidr.ipv6.as_deref(), Some("2001:db8:1::/64"));
    }

    #[test]
    fn node_config_forms() {
        let n =
            parse_node_config("nodeIndex: {index: 3}\nnodeName: node-a\nlogLevel: info\n").unwrap();
        assert_eq!(n.node_index.index, Some(3));
        assert_eq!(n.node_name, "node-a");
        let n = parse_node_config("nodeIndex:\n  interfaceName: eth0\n  cidr: 192.168.11.0/24\n")
            .unwrap();
        assert_eq!(n.node_index.interface_name.as_deref(), Some("eth0"));
        assert_eq!(n.node_index.cidr.as_deref(), Some("192.168.11.0/24"));
    }

    #[test]
    fn bad_file_is_reported_and_others_apply() {
        let dir = std::env::temp_dir().join(format!("perouter-static-{}", std::process::id()));
        let configs = dir.join("configs");
        std::fs::create_dir_all(&configs).unwrap();
        std::fs::write(configs.join("openpe_underlay.yaml"), UNDERLAY).unwrap();
        std::fs::write(configs.join("openpe_vni.yaml"), VNI).unwrap();
        std::fs::write(
            configs.join("openpe_broken.yaml"),
            "l3vnis: [ {name: x, vni: }",
        )
        .unwrap();
        std::fs::write(configs.join("unrelated.yaml"), "garbage: [").unwrap();
        std::fs::write(dir.join(NODE_CONFIG_FILE), "nodeIndex: {index: 1}\n").unwrap();
        let cfg = load_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cfg.node.unwrap().node_index.index, Some(1));
        assert_eq!(cfg.resources.underlays.len(), 1);
        assert_eq!(cfg.resources.l3vnis.len(), 1);
        assert_eq!(cfg.file_errors.len(), 1);
        assert!(cfg.file_errors[0].path.ends_with("openpe_broken.yaml"));
        assert_eq!(cfg.files.len(), 2);
    }

    #[test]
    fn unsupported_sections_are_reported_not_fatal() {
        let mut set = ResourceSet::default();
        let mut ignored = Vec::new();
        let cfg = parse_config(
            "rawfrrconfigs:\n  - {priority: 1, rawConfig: 'x'}\nl3vpns:\n  - {name: a}\n",
        )
        .unwrap();
        merge_into(&mut set, Path::new("/x/openpe_a.yaml"), cfg, &mut ignored);
        assert_eq!(ignored.len(), 2, "{ignored:?}");
    }
}

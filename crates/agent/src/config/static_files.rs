//! OpenPERouter's static configuration files (systemd mode, upstream `api/static/config.go`).
//!
//! A directory (default `/var/lib/openperouter/`) holds `node-config.yaml` (which node this is)
//! and any number of `openpe_*.yaml` files, in `configs/` below it or in the directory itself; all of
//! them are merged. A file that does not parse is reported (`file:line:column`) and skipped; the
//! others still apply (the daemon keeps what the bad file last gave, see
//! [`crate::runtime::node_config`]). Within a file each resource is read on its own: an unknown
//! field or a value of the wrong type fails that resource only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_yaml::Value as Yaml;

use super::resources::{
    FailedResource, FailureReason, Resource, ResourceKind, ResourceSet, Source,
};
use super::strict::{self, locate, render_path, strip_position, Pos, Seg};
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
    /// Resources of those files that could not be read (unknown fields, wrong types).
    pub failed_resources: Vec<FailedResource>,
    /// Deprecated spellings accepted, one line each.
    pub warnings: Vec<String>,
    /// Files changed too recently to be taken yet (see [`SETTLE`]).
    pub settling: Vec<PathBuf>,
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

/// The largest configuration file read (4 MiB): anything bigger is refused unread, so a
/// runaway generator cannot make the daemon allocate without bound.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// How long a file must have been left alone before a change to it is taken: editors and
/// `kubectl cp` write in several steps, and a half-written file must not replace a good one.
pub const SETTLE: Duration = Duration::from_secs(1);

/// The top-level sections of an `openpe_*.yaml` file.
const SECTIONS: [&str; 6] = [
    "underlays",
    "l3vnis",
    "l2vnis",
    "l3vpns",
    "bgppassthrough",
    "rawfrrconfigs",
];

/// Parses one `openpe_*.yaml` document leniently (every resource must read; unknown fields are
/// ignored). For tests and tools; the daemon and `check` use [`parse_file`].
pub fn parse_config(text: &str) -> Result<PeRouterConfig, String> {
    if text.trim().is_empty() {
        return Ok(PeRouterConfig::default());
    }
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

/// What one `openpe_*.yaml` file gives: its resources, the ones that could not be read (each
/// with `file:line:column`), deprecation warnings and the sections it ignores.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    /// The resources that read.
    pub resources: ResourceSet,
    /// Resources with unknown fields or values of the wrong type: skipped (or their last good
    /// version kept, see [`crate::runtime::node_config::apply_config`]).
    pub failed: Vec<FailedResource>,
    /// Deprecated spellings accepted, each with the new one.
    pub warnings: Vec<String>,
    /// Sections accepted but not acted on.
    pub ignored: Vec<String>,
}

fn at(file: &Path, pos: Option<Pos>) -> String {
    match pos {
        Some(p) => format!("{}:{}", file.display(), p),
        None => file.display().to_string(),
    }
}

fn unknown_message(
    file: &Path,
    text: &str,
    base: &[Seg],
    path: &[Seg],
    hint: &Option<String>,
) -> String {
    let mut full = base.to_vec();
    full.extend_from_slice(path);
    let field = match path.last() {
        Some(Seg::Key(k)) => k.clone(),
        _ => render_path(path),
    };
    let mut spec = vec![Seg::Key("spec".into())];
    spec.extend_from_slice(&path[..path.len().saturating_sub(1)]);
    let mut m = format!(
        "{}: unknown field `{field}` in {}",
        at(file, locate(text, &full)),
        render_path(&spec)
    );
    if let Some(h) = hint {
        m.push_str(&format!(", did you mean `{h}`?"));
    }
    m
}

/// Reads one resource of a file strictly: unknown fields and type errors make it a
/// [`FailedResource`] whose message points at the field (`file:line:column`).
fn read_item<T: DeserializeOwned + schemars::JsonSchema>(
    file: &Path,
    text: &str,
    base: Vec<Seg>,
    mut item: Yaml,
    kind: ResourceKind,
    default_name: String,
    out: &mut ParsedFile,
) -> Option<(String, T)> {
    let schema = strict::schema_of::<T>();
    let findings = strict::walk(&mut item, &schema, &schema, &["name"]);
    for (path, old, new) in &findings.deprecated {
        let mut full = base.clone();
        full.extend_from_slice(path);
        out.warnings.push(format!(
            "{}: `{old}` is the spelling used before OpenPERouter's 2026-07-30 rename; write `{new}`",
            at(file, locate(text, &full))
        ));
    }
    let name = match &item {
        Yaml::Mapping(m) => match m.get("name") {
            None => Ok(default_name.clone()),
            Some(Yaml::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("name must be a string, not {other:?}")),
        },
        _ => Ok(default_name.clone()),
    };
    let fail = |out: &mut ParsedFile, name: String, message: String| {
        out.failed.push(FailedResource {
            kind,
            name,
            reason: FailureReason::ValidationFailed,
            message,
        });
    };
    let name = match name {
        Ok(n) => n,
        Err(e) => {
            let mut p = base.clone();
            p.push(Seg::Key("name".into()));
            fail(
                out,
                default_name,
                format!("{}: {e}", at(file, locate(text, &p))),
            );
            return None;
        }
    };
    if !findings.unknown.is_empty() {
        let msgs: Vec<String> = findings
            .unknown
            .iter()
            .map(|(p, hint)| unknown_message(file, text, &base, p, hint))
            .collect();
        fail(out, name, msgs.join("; "));
        return None;
    }
    if !matches!(item, Yaml::Mapping(_)) {
        fail(
            out,
            name,
            format!(
                "{}: a {kind} must be a mapping of its fields",
                at(file, None)
            ),
        );
        return None;
    }
    if let Yaml::Mapping(m) = &item {
        if m.contains_key("nodeSelector") {
            // Upstream silently replaces it with the node's hostname; a selector that selects
            // nothing would be a setting that does nothing, so it is refused.
            let mut p = base.clone();
            p.push(Seg::Key("nodeSelector".into()));
            fail(
                out,
                name,
                format!(
                    "{}: nodeSelector has no meaning in a static file: the static files configure \
                     this node only (select nodes with API resources instead)",
                    at(file, locate(text, &p))
                ),
            );
            return None;
        }
    }
    if let Yaml::Mapping(m) = &mut item {
        m.remove("name");
    }
    match serde_yaml::from_value::<T>(item) {
        Ok(spec) => Some((name, spec)),
        Err(e) => {
            let message = match strict::probe_item::<T>(text, &base) {
                Some((pos, msg)) => {
                    let within = render_path(&base);
                    let msg = match msg.strip_prefix(&within) {
                        Some(rest) if rest.starts_with('.') || rest.starts_with(':') => {
                            format!("spec{rest}")
                        }
                        _ => msg,
                    };
                    format!("{}: {msg}", at(file, pos))
                }
                None => format!("{}: {}", at(file, None), strip_position(&e.to_string())),
            };
            fail(out, name, message);
            None
        }
    }
}

/// Parses one `openpe_*.yaml` file strictly. A YAML syntax error, a top level that is not a
/// mapping of the known sections, or a section of the wrong type is an error for the whole file
/// (`file:line:column: why`); a resource with an unknown field or a value of the wrong type fails
/// alone (see [`ParsedFile::failed`]). Unnamed resources are named after the file.
pub fn parse_file(file: &Path, text: &str) -> Result<ParsedFile, String> {
    let mut out = ParsedFile::default();
    if text.trim().is_empty() {
        return Ok(out);
    }
    let doc: Yaml = serde_yaml::from_str(text).map_err(|e| {
        let pos = e.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        });
        format!("{}: {}", at(file, pos), strip_position(&e.to_string()))
    })?;
    let map = match doc {
        Yaml::Null => return Ok(out),
        Yaml::Mapping(m) => m,
        _ => {
            return Err(format!(
                "{}: the top level must be a mapping of {}",
                at(file, Some(Pos { line: 1, column: 1 })),
                SECTIONS.join(", ")
            ))
        }
    };
    let mut unknown = Vec::new();
    for key in map.keys() {
        let k = key
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{key:?}"));
        if !SECTIONS.contains(&k.as_str()) {
            let hint = strict::closest(&k, SECTIONS)
                .map(|h| format!(", did you mean `{h}`?"))
                .unwrap_or_else(|| format!(" (known: {})", SECTIONS.join(", ")));
            unknown.push(format!(
                "{}: unknown top-level field `{k}`{hint}",
                at(file, locate(text, &[Seg::Key(k.clone())]))
            ));
        }
    }
    if !unknown.is_empty() {
        return Err(unknown.join("; "));
    }
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("openpe")
        .to_string();
    let source = Source::File(file.to_path_buf());
    let list = |key: &str| -> Result<Vec<Yaml>, String> {
        match map.get(key) {
            None | Some(Yaml::Null) => Ok(Vec::new()),
            Some(Yaml::Sequence(s)) => Ok(s.clone()),
            Some(_) => Err(format!(
                "{}: `{key}` must be a list",
                at(file, locate(text, &[Seg::Key(key.into())]))
            )),
        }
    };
    let underlays = list("underlays")?;
    let l3vnis = list("l3vnis")?;
    let l2vnis = list("l2vnis")?;
    let l3vpns = list("l3vpns")?;
    let raw = list("rawfrrconfigs")?;
    let many = underlays.len() > 1;
    for (i, item) in underlays.into_iter().enumerate() {
        let default = if many {
            format!("{stem}-{i}")
        } else {
            stem.clone()
        };
        let base = vec![Seg::Key("underlays".into()), Seg::Index(i)];
        if let Some((name, spec)) = read_item::<UnderlaySpec>(
            file,
            text,
            base,
            item,
            ResourceKind::Underlay,
            default,
            &mut out,
        ) {
            out.resources.underlays.push(Resource::new(
                ResourceKind::Underlay,
                name,
                source.clone(),
                spec,
            ));
        }
    }
    for (i, item) in l3vnis.into_iter().enumerate() {
        let base = vec![Seg::Key("l3vnis".into()), Seg::Index(i)];
        if let Some((name, spec)) = read_item::<L3VniSpec>(
            file,
            text,
            base,
            item,
            ResourceKind::L3Vni,
            format!("{stem}-l3vni-{i}"),
            &mut out,
        ) {
            out.resources.l3vnis.push(Resource::new(
                ResourceKind::L3Vni,
                name,
                source.clone(),
                spec,
            ));
        }
    }
    for (i, item) in l2vnis.into_iter().enumerate() {
        let base = vec![Seg::Key("l2vnis".into()), Seg::Index(i)];
        if let Some((name, spec)) = read_item::<L2VniSpec>(
            file,
            text,
            base,
            item,
            ResourceKind::L2Vni,
            format!("{stem}-l2vni-{i}"),
            &mut out,
        ) {
            out.resources.l2vnis.push(Resource::new(
                ResourceKind::L2Vni,
                name,
                source.clone(),
                spec,
            ));
        }
    }
    match map.get("bgppassthrough") {
        None | Some(Yaml::Null) => {}
        Some(item) => {
            let base = vec![Seg::Key("bgppassthrough".into())];
            if let Some((name, spec)) = read_item::<L3PassthroughSpec>(
                file,
                text,
                base,
                item.clone(),
                ResourceKind::L3Passthrough,
                stem.clone(),
                &mut out,
            ) {
                if spec != L3PassthroughSpec::default() {
                    out.resources.passthroughs.push(Resource::new(
                        ResourceKind::L3Passthrough,
                        name,
                        source.clone(),
                        spec,
                    ));
                }
            }
        }
    }
    if !l3vpns.is_empty() {
        out.ignored.push(format!(
            "{}: {} l3vpns ignored: L3VPN (SRv6) is not supported yet",
            file.display(),
            l3vpns.len()
        ));
    }
    if !raw.is_empty() {
        out.ignored.push(format!(
            "{}: {} rawfrrconfigs ignored: perouter runs no FRR",
            file.display(),
            raw.len()
        ));
    }
    Ok(out)
}

/// Parses `node-config.yaml`, strictly: unknown fields are an error; the pre-rename lowercase
/// spellings (`nodeindex`, `interfacename`, …) and the `nodeIndex: N` shorthand shown in
/// upstream's documentation are accepted, each with a warning naming the current form.
pub fn parse_node_config(text: &str) -> Result<(NodeConfig, Vec<String>), String> {
    let mut warnings = Vec::new();
    let doc: Yaml = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut map = match doc {
        Yaml::Null => return Ok((NodeConfig::default(), warnings)),
        Yaml::Mapping(m) => m,
        _ => return Err("the top level must be a mapping (nodeIndex, nodeName, logLevel)".into()),
    };
    fn respell(
        map: &mut serde_yaml::Mapping,
        known: &[&str],
        at: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(), String> {
        let keys: Vec<Yaml> = map.keys().cloned().collect();
        for key in keys {
            let k = key
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{key:?}"));
            if known.contains(&k.as_str()) {
                continue;
            }
            match known.iter().find(|n| n.eq_ignore_ascii_case(&k)) {
                Some(new) if k == k.to_ascii_lowercase() && !map.contains_key(*new) => {
                    warnings.push(format!(
                        "{at}`{k}` is the spelling used before OpenPERouter's 2026-07-30 rename; write `{new}`"
                    ));
                    if let Some(v) = map.remove(&key) {
                        map.insert(Yaml::String((*new).to_string()), v);
                    }
                }
                _ => {
                    let hint = strict::closest(&k, known.iter().copied())
                        .map(|h| format!(", did you mean `{h}`?"))
                        .unwrap_or_default();
                    return Err(format!("unknown field `{at}{k}`{hint}"));
                }
            }
        }
        Ok(())
    }
    respell(
        &mut map,
        &["nodeIndex", "nodeName", "logLevel"],
        "",
        &mut warnings,
    )?;
    match map.get_mut("nodeIndex") {
        Some(Yaml::Number(n)) => {
            let n = n.clone();
            warnings.push(format!(
                "`nodeIndex: {n}` is the older shorthand; write `nodeIndex: {{index: {n}}}`"
            ));
            let mut m = serde_yaml::Mapping::new();
            m.insert(Yaml::String("index".into()), Yaml::Number(n));
            map.insert(Yaml::String("nodeIndex".into()), Yaml::Mapping(m));
        }
        Some(Yaml::Mapping(m)) => {
            respell(
                m,
                &["index", "interfaceName", "cidr"],
                "nodeIndex.",
                &mut warnings,
            )?;
        }
        _ => {}
    }
    let node = serde_yaml::from_value(Yaml::Mapping(map)).map_err(|e| e.to_string())?;
    Ok((node, warnings))
}

/// What identifies one version of a file: a file whose stamp did not change is not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime: SystemTime,
    size: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            size: meta.len(),
            inode: meta.ino(),
        }
    }
}

/// The files read so far, by path: what each gave, for the stamp it had.
#[derive(Debug, Default)]
pub struct FileCache {
    entries: HashMap<PathBuf, (Stamp, Result<ParsedFile, String>)>,
    /// How many times a file was actually read and parsed (for tests and metrics).
    pub parses: u64,
}

/// Reads a whole configuration directory. Only a directory that cannot be listed is an error;
/// bad files are collected in [`StaticConfig::file_errors`], bad resources in
/// [`StaticConfig::failed_resources`].
pub fn load_dir(dir: &Path) -> std::io::Result<StaticConfig> {
    load_dir_cached(dir, &mut FileCache::default(), None)
}

/// [`load_dir`] for a running daemon: files whose (mtime, size, inode) did not change since the
/// last call are not read again, and with `settle = Some(now)` a file modified less than
/// [`SETTLE`] before `now` is taken as not changed yet (its previous version, if any, stays; a new
/// file waits for the next call).
pub fn load_dir_cached(
    dir: &Path,
    cache: &mut FileCache,
    settle: Option<SystemTime>,
) -> std::io::Result<StaticConfig> {
    let mut out = StaticConfig::default();
    let node_path = dir.join(NODE_CONFIG_FILE);
    match read_limited(&node_path) {
        Ok(text) => match parse_node_config(&text) {
            Ok((node, warnings)) => {
                out.node = Some(node);
                out.warnings.extend(
                    warnings
                        .into_iter()
                        .map(|w| format!("{}: {w}", node_path.display())),
                );
            }
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
    let files = config_files(dir)?;
    cache.entries.retain(|p, _| files.contains(p));
    for file in files {
        let parsed = match std::fs::metadata(&file) {
            Err(e) => Err(e.to_string()),
            Ok(meta) => {
                let stamp = Stamp::of(&meta);
                let cached = cache.entries.get(&file);
                let settling = settle.is_some_and(|now| {
                    now.duration_since(stamp.mtime)
                        .map_or(true, |age| age < SETTLE)
                });
                match cached {
                    Some((s, r)) if *s == stamp => r.clone(),
                    Some((_, r)) if settling => {
                        out.settling.push(file.clone());
                        r.clone()
                    }
                    None if settling => {
                        out.settling.push(file.clone());
                        continue;
                    }
                    _ => {
                        cache.parses += 1;
                        let r = read_limited(&file)
                            .map_err(|e| e.to_string())
                            .and_then(|t| parse_file(&file, &t));
                        cache.entries.insert(file.clone(), (stamp, r.clone()));
                        r
                    }
                }
            }
        };
        match parsed {
            Ok(p) => {
                out.resources.extend(p.resources);
                out.failed_resources.extend(p.failed);
                out.warnings.extend(p.warnings);
                out.ignored.extend(p.ignored);
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

/// Reads a file of at most [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is larger than {} MiB: refused unread",
                path.display(),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(text)
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
    fn node_selector_in_a_static_file_is_refused_where_it_is() {
        let text = "l3vnis:\n  - name: red\n    vrf: red\n    vni: 100\n    nodeSelector: {matchLabels: {rack: r9}}\n  - {name: blue, vrf: blue, vni: 200}\n";
        let f = parse_file(Path::new("/c/openpe_x.yaml"), text).unwrap();
        assert_eq!(f.failed.len(), 1, "{:?}", f.failed);
        assert_eq!(f.failed[0].name, "red");
        assert_eq!(f.failed[0].reason, FailureReason::ValidationFailed);
        assert!(
            f.failed[0].message.starts_with("/c/openpe_x.yaml:5:")
                && f.failed[0]
                    .message
                    .contains("nodeSelector has no meaning in a static file"),
            "{}",
            f.failed[0].message
        );
        let names: Vec<&str> = f.resources.l3vnis.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["blue"], "the rest of the file still applies");
    }

    #[test]
    fn node_config_forms() {
        let (n, w) =
            parse_node_config("nodeIndex: {index: 3}\nnodeName: node-a\nlogLevel: info\n").unwrap();
        assert!(w.is_empty());
        assert_eq!(n.node_index.index, Some(3));
        assert_eq!(n.node_name, "node-a");
        let (n, _) =
            parse_node_config("nodeIndex:\n  interfaceName: eth0\n  cidr: 192.168.11.0/24\n")
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
        let p = parse_file(
            Path::new("/x/openpe_a.yaml"),
            "rawfrrconfigs:\n  - {priority: 1, rawConfig: 'x'}\nl3vpns:\n  - {name: a}\n",
        )
        .unwrap();
        assert_eq!(p.ignored.len(), 2, "{:?}", p.ignored);
        assert!(p.resources.is_empty());
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("perouter-static-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn unknown_field_fails_its_resource_only_with_position_and_suggestion() {
        let text = "l3vnis:\n  - name: good\n    vrf: good\n    vni: 100\n  - name: typo\n    vrf: typo\n    vni: 101\n    hostSession: {asn: 1, hostASN: 2, localCIDR: {ipv4: 10.0.0.0/24}, hostAsn: 3}\n    vxlanPrt: 4790\n";
        let p = parse_file(Path::new("/c/openpe_x.yaml"), text).unwrap();
        assert_eq!(p.resources.l3vnis.len(), 1);
        assert_eq!(p.resources.l3vnis[0].name, "good");
        assert_eq!(p.failed.len(), 1, "{:?}", p.failed);
        let f = &p.failed[0];
        assert_eq!((f.kind, f.name.as_str()), (ResourceKind::L3Vni, "typo"));
        assert!(
            f.message.contains(
                "/c/openpe_x.yaml:9:5: unknown field `vxlanPrt` in spec, did you mean `vxlanPort`?"
            ),
            "{}",
            f.message
        );
        assert!(
            f.message
                .contains("unknown field `hostAsn` in spec.hostSession, did you mean `hostASN`?"),
            "{}",
            f.message
        );
    }

    #[test]
    fn type_error_fails_its_resource_only_and_points_at_the_field() {
        let text = "l2vnis:\n  - name: ok\n    vni: 200\n  - name: bad\n    vni: [100]\n";
        let p = parse_file(Path::new("/c/openpe_x.yaml"), text).unwrap();
        assert_eq!(p.resources.l2vnis.len(), 1);
        assert_eq!(p.failed.len(), 1);
        assert_eq!(p.failed[0].name, "bad");
        assert!(
            p.failed[0].message.starts_with("/c/openpe_x.yaml:5:10: "),
            "{}",
            p.failed[0].message
        );
        assert!(
            p.failed[0].message.contains("vni"),
            "{}",
            p.failed[0].message
        );
    }

    #[test]
    fn file_level_errors_have_positions() {
        let e = parse_file(Path::new("/c/openpe_x.yaml"), "underlay:\n  - asn: 1\n").unwrap_err();
        assert_eq!(
            e,
            "/c/openpe_x.yaml:1:1: unknown top-level field `underlay`, did you mean `underlays`?"
        );
        let e = parse_file(
            Path::new("/c/openpe_x.yaml"),
            "l3vnis:\n  - name: a\n    vni: 1\n  - [",
        )
        .unwrap_err();
        assert!(e.starts_with("/c/openpe_x.yaml:"), "{e}");
        assert!(e.contains(":4:") || e.contains(":5:"), "{e}");
        let e = parse_file(Path::new("/c/openpe_x.yaml"), "l3vnis: 3\n").unwrap_err();
        assert_eq!(e, "/c/openpe_x.yaml:1:1: `l3vnis` must be a list");
    }

    #[test]
    fn pre_rename_spellings_are_read_with_a_warning() {
        let text = "l2vnis:\n  - name: l2\n    vni: 110\n    vxlanport: 4790\n    hostmaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}\nl3vnis:\n  - name: red\n    vrf: red\n    vni: 100\n    hostsession: {asn: 64514, hostasn: 64515, localcidr: {ipv4: 192.169.10.0/24}}\n";
        let p = parse_file(Path::new("/c/openpe_old.yaml"), text).unwrap();
        assert!(p.failed.is_empty(), "{:?}", p.failed);
        let l2 = &p.resources.l2vnis[0].spec;
        assert_eq!(l2.vxlan_port, Some(4790));
        assert_eq!(l2.host_master.as_ref().unwrap().kind, "LinuxBridge");
        let hs = p.resources.l3vnis[0].spec.host_session.as_ref().unwrap();
        assert_eq!(hs.host_asn, Some(64515));
        assert_eq!(hs.local_cidr.ipv4.as_deref(), Some("192.169.10.0/24"));
        assert_eq!(p.warnings.len(), 5, "{:?}", p.warnings);
        assert!(
            p.warnings.iter().any(|w| w
                .starts_with("/c/openpe_old.yaml:4:5: `vxlanport` is the spelling used before")
                && w.ends_with("write `vxlanPort`")),
            "{:?}",
            p.warnings
        );
        let (n, w) = parse_node_config("nodeIndex: 0\nnodename: a\n").unwrap();
        assert_eq!(n.node_index.index, Some(0));
        assert_eq!(n.node_name, "a");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w.iter().any(|w| w.contains("nodeIndex: {index: 0}")),
            "{w:?}"
        );
        let e = parse_node_config("nodeIndx: {index: 1}\n").unwrap_err();
        assert!(e.contains("did you mean `nodeIndex`"), "{e}");
    }

    #[test]
    fn oversized_files_are_refused_unread() {
        let dir = tmpdir("big");
        let mut big = String::from("l3vnis: []\n");
        while big.len() as u64 <= MAX_FILE_BYTES {
            big.push_str("# padding padding padding padding padding padding padding padding\n");
        }
        std::fs::write(dir.join("openpe_big.yaml"), &big).unwrap();
        let cfg = load_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(cfg.file_errors.len(), 1);
        assert!(
            cfg.file_errors[0].message.contains("larger than 4 MiB"),
            "{:?}",
            cfg.file_errors
        );
    }

    #[test]
    fn unchanged_files_are_not_read_again_and_fresh_changes_settle() {
        let dir = tmpdir("cache");
        let f = dir.join("openpe_a.yaml");
        std::fs::write(&f, VNI).unwrap();
        let mut cache = FileCache::default();
        let far = SystemTime::now() + Duration::from_secs(10);
        let a = load_dir_cached(&dir, &mut cache, Some(far)).unwrap();
        assert_eq!((cache.parses, a.resources.l3vnis.len()), (1, 1));
        let b = load_dir_cached(&dir, &mut cache, Some(far)).unwrap();
        assert_eq!(
            cache.parses, 1,
            "same (mtime, size, inode): not parsed again"
        );
        assert_eq!(b.resources, a.resources);
        // A change seen within SETTLE of its mtime is not taken yet: the old version stays.
        std::fs::write(&f, "l3vnis: [ {name: red, vrf: red, vni: ").unwrap();
        let now = SystemTime::now();
        let c = load_dir_cached(&dir, &mut cache, Some(now)).unwrap();
        assert_eq!(cache.parses, 1);
        assert_eq!(c.resources, a.resources);
        assert_eq!(c.settling, vec![f.clone()]);
        assert!(c.file_errors.is_empty());
        // Once settled, it is read (and here found broken).
        let d = load_dir_cached(&dir, &mut cache, Some(now + SETTLE * 2)).unwrap();
        assert_eq!(cache.parses, 2);
        assert_eq!(d.file_errors.len(), 1);
        // A new file younger than SETTLE waits.
        std::fs::write(dir.join("openpe_b.yaml"), UNDERLAY).unwrap();
        let e = load_dir_cached(&dir, &mut cache, Some(SystemTime::now())).unwrap();
        assert!(e.resources.underlays.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest::proptest! {
        /// The strict reader never panics: arbitrary text, and valid files with bytes cut out
        /// or changed (what a half-written or mistyped file looks like).
        #[test]
        fn parse_file_never_panics(text in ".{0,400}", cut in 0usize..600, at in 0usize..600, b in 0u8..128) {
            let _ = parse_file(Path::new("/f/openpe_p.yaml"), &text);
            let _ = parse_node_config(&text);
            let whole = format!("{UNDERLAY}{VNI}l2vnis:\n  - {{name: l2, vni: 110, hostmaster: {{type: linux-bridge, linuxBridge: {{autoCreate: true}}}}}}\n");
            let mut bytes = whole.into_bytes();
            bytes.truncate(cut.min(bytes.len()));
            if at < bytes.len() {
                bytes[at] = b;
            }
            let t = String::from_utf8_lossy(&bytes).to_string();
            let _ = parse_file(Path::new("/f/openpe_p.yaml"), &t);
        }
    }
}

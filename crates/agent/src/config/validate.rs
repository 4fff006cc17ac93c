//! Validation of every rule of OpenPERouter's API (upstream's CRD schema, CEL rules and webhook
//! checks, `internal/conversion/validate_*.go`), producing the typed [`NodeIntent`].
//!
//! A bad resource is reported — naming the resource, the field and the rule — and skipped; the
//! rest applies. An L2VNI whose routing domain is missing or failed gets `DependencyFailed`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::IpNet;
use perouter_evpn::RouteTarget;

use super::model::*;
use super::resources::{FailedResource, FailureReason, Resource, ResourceKind, ResourceSet};
use super::types::*;

/// The outcome of validating a [`ResourceSet`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validated {
    /// What applies.
    pub intent: NodeIntent,
    /// What was skipped, and why.
    pub failed: Vec<FailedResource>,
    /// Set when an Underlay was present but invalid (or several applied): the caller keeps the
    /// running underlay (upstream's `UnderlayFailed`).
    pub underlay_failed: bool,
}

/// Default VXLAN UDP port (RFC 7348 §5).
pub const DEFAULT_VXLAN_PORT: u16 = 4789;
/// Default router-ID pool.
pub const DEFAULT_ROUTER_ID_CIDR: &str = "10.0.0.0/24";
/// Default route-reflector cluster ID.
pub const DEFAULT_CLUSTER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Default GR restart time (s).
pub const DEFAULT_RESTART_TIME: u16 = 120;
/// Default GR stale path time (s).
pub const DEFAULT_STALE_PATH_TIME: u16 = 360;

/// Collects the rules one resource breaks.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    fn range(&mut self, field: &str, value: i64, lo: i64, hi: i64) -> Option<i64> {
        if value < lo || value > hi {
            self.push(format!("{field} {value} is outside {lo}..{hi}"));
            None
        } else {
            Some(value)
        }
    }

    fn into_failure(
        self,
        kind: ResourceKind,
        name: &str,
        reason: FailureReason,
    ) -> Option<FailedResource> {
        if self.0.is_empty() {
            None
        } else {
            Some(FailedResource {
                kind,
                name: name.to_string(),
                reason,
                message: self.0.join("; "),
            })
        }
    }
}

/// Kernel interface names: 1–15 chars, not `.`/`..`, no `/`, `:` or whitespace (`dev_valid_name`),
/// and upstream's stricter pattern when `pattern` is set.
fn check_ifname(p: &mut Problems, field: &str, name: &str, pattern: Option<&str>) -> bool {
    let before = p.0.len();
    if name.is_empty() {
        p.push(format!("{field} must not be empty"));
    } else if name.len() > 15 {
        p.push(format!("{field} {name:?} is longer than 15 characters"));
    }
    if name == "." || name == ".." {
        p.push(format!("{field} cannot be . or .."));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        p.push(format!(
            "{field} {name:?} must not contain /, : or whitespace"
        ));
    }
    if let Some(extra) = pattern {
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        if !name.is_empty() && !ok {
            p.push(format!(
                "{field} {name:?} must match ^[a-zA-Z][a-zA-Z0-9{extra}]*$"
            ));
        }
    }
    p.0.len() == before
}

fn parse_cidr(p: &mut Problems, field: &str, s: &str) -> Option<IpNet> {
    match IpNet::from_str(s) {
        Ok(n) => Some(n),
        Err(_) => {
            p.push(format!("{field} {s:?} is not a valid CIDR"));
            None
        }
    }
}

fn peer_as(
    p: &mut Problems,
    field_asn: &str,
    asn: Option<i64>,
    field_type: &str,
    kind: Option<&str>,
) -> Option<PeerAs> {
    match (asn, kind) {
        (Some(_), Some(_)) => {
            p.push(format!(
                "{field_asn} and {field_type} cannot be set together"
            ));
            None
        }
        (None, None) => {
            p.push(format!("either {field_asn} or {field_type} must be set"));
            None
        }
        (Some(a), None) => p
            .range(field_asn, a, 1, u32::MAX as i64)
            .map(|a| PeerAs::Number(a as u32)),
        (None, Some("External")) => Some(PeerAs::External),
        (None, Some("Internal")) => Some(PeerAs::Internal),
        (None, Some(other)) => {
            p.push(format!(
                "{field_type} {other:?} must be External or Internal"
            ));
            None
        }
    }
}

/// The longest TCP-MD5 key the kernel takes (`TCP_MD5SIG_MAXKEYLEN`, RFC 2385): a longer
/// password would make the session fail at run time, so validation refuses it.
pub const MAX_TCP_MD5_KEY: usize = 80;

/// Parses a route target with upstream's rules (`ValidateRouteTargets`): `ASN:NN` (a 2-octet
/// ASN allows a 32-bit NN, a 4-octet ASN a 16-bit one) or `A.B.C.D:NN` (NN ≤ 65535) — exactly
/// what [`RouteTarget`]'s parser accepts (RFC 4360 §4, RFC 5668).
pub fn parse_route_target(rt: &str) -> Result<RouteTarget, String> {
    rt.parse::<RouteTarget>().map_err(|e| {
        format!(
            "RT {rt:?} must have one of the following formats: 'ASN:MN' or 'IPv4Address:MN' ({e})"
        )
    })
}

fn host_session(
    p: &mut Problems,
    prefix: &str,
    hs: &HostSession,
    forbid_same_as: bool,
) -> Option<HostSessionIntent> {
    let local = p.range(&format!("{prefix}.asn"), hs.asn, 1, u32::MAX as i64);
    let host = peer_as(
        p,
        &format!("{prefix}.hostASN"),
        hs.host_asn,
        &format!("{prefix}.hostType"),
        hs.host_type.as_deref(),
    );
    if forbid_same_as && hs.host_asn.is_some() && hs.host_asn == Some(hs.asn) {
        p.push(format!(
            "{prefix}.hostASN must be different from {prefix}.asn"
        ));
    }
    let mut v4 = None;
    let mut v6 = None;
    if hs.local_cidr.ipv4.is_none() && hs.local_cidr.ipv6.is_none() {
        p.push(format!(
            "{prefix}.localCIDR: at least one of ipv4 or ipv6 must be specified"
        ));
    }
    if let Some(s) = &hs.local_cidr.ipv4 {
        match parse_cidr(p, &format!("{prefix}.localCIDR.ipv4"), s) {
            Some(IpNet::V4(n)) => v4 = Some(n),
            Some(IpNet::V6(_)) => {
                p.push(format!("{prefix}.localCIDR.ipv4 {s:?} is not an IPv4 CIDR"))
            }
            None => {}
        }
    }
    if let Some(s) = &hs.local_cidr.ipv6 {
        match parse_cidr(p, &format!("{prefix}.localCIDR.ipv6"), s) {
            Some(IpNet::V6(n)) => v6 = Some(n),
            Some(IpNet::V4(_)) => {
                p.push(format!("{prefix}.localCIDR.ipv6 {s:?} is not an IPv6 CIDR"))
            }
            None => {}
        }
    }
    // The pools must leave room for the router side and at least one node.
    if v4.is_some_and(|n| n.prefix_len() > 30) {
        p.push(format!(
            "{prefix}.localCIDR.ipv4 must be /30 or larger to hold the router and host sides"
        ));
    }
    if v6.is_some_and(|n| n.prefix_len() > 126) {
        p.push(format!(
            "{prefix}.localCIDR.ipv6 must be /126 or larger to hold the router and host sides"
        ));
    }
    Some(HostSessionIntent {
        local_as: local? as u32,
        host_as: host?,
        v4,
        v6,
    })
}

fn vtep_family(p: &mut Problems, s: Option<&str>) -> Option<VtepFamily> {
    match s {
        None => None,
        Some("IPv4") => Some(VtepFamily::IPv4),
        Some("IPv6") => Some(VtepFamily::IPv6),
        Some(other) => {
            p.push(format!(
                "spec.underlayAddressFamily {other:?} must be IPv4 or IPv6"
            ));
            None
        }
    }
}

fn vxlan_port(p: &mut Problems, port: Option<i64>) -> u16 {
    port.and_then(|v| p.range("spec.vxlanPort", v, 1, 65535))
        .map(|v| v as u16)
        .unwrap_or(DEFAULT_VXLAN_PORT)
}

fn neighbor(p: &mut Problems, i: usize, n: &Neighbor) -> Option<NeighborIntent> {
    let f = |s: &str| format!("spec.neighbors[{i}].{s}");
    let remote_as = peer_as(p, &f("asn"), n.asn, &f("type"), n.kind.as_deref());
    let set = [
        n.address.is_some(),
        n.interface.is_some(),
        n.listen_range.is_some(),
    ];
    let target = match (&n.address, &n.interface, &n.listen_range) {
        _ if set.iter().filter(|x| **x).count() > 1 => {
            p.push(format!(
                "{}, {} and {} are mutually exclusive",
                f("address"),
                f("interface"),
                f("listenRange")
            ));
            None
        }
        (Some(a), _, _) => match a.parse::<IpAddr>() {
            Ok(ip) => Some(NeighborTarget::Address(ip)),
            Err(_) => {
                p.push(format!(
                    "{} {a:?} must be a valid IPv4 or IPv6 address",
                    f("address")
                ));
                None
            }
        },
        (_, Some(ifname), _) => check_ifname(p, &f("interface"), ifname, None)
            .then(|| NeighborTarget::Interface(ifname.clone())),
        (_, _, Some(range)) => match parse_cidr(p, &f("listenRange"), range) {
            Some(IpNet::V6(n)) if n.network().segments()[0] & 0xffc0 == 0xfe80 => {
                p.push(format!(
                    "{} {range:?} must not be an IPv6 link-local range",
                    f("listenRange")
                ));
                None
            }
            Some(net) => Some(NeighborTarget::ListenRange(net.trunc())),
            None => None,
        },
        (None, None, None) => {
            p.push(format!(
                "one of {}, {} or {} must be set",
                f("address"),
                f("interface"),
                f("listenRange")
            ));
            None
        }
    };
    let port = n
        .port
        .and_then(|v| p.range(&f("port"), v, 0, 16384))
        .map(|v| v as u16);
    if let Some(pw) = &n.password {
        if pw.len() > MAX_TCP_MD5_KEY {
            p.push(format!(
                "{} is {} bytes long; TCP-MD5 keys are at most {MAX_TCP_MD5_KEY} bytes (the kernel's TCP_MD5SIG_MAXKEYLEN)",
                f("password"),
                pw.len()
            ));
        }
        if pw.is_empty() || pw.chars().any(char::is_whitespace) {
            p.push(format!(
                "{} must be non-empty with no whitespace",
                f("password")
            ));
        }
        if n.password_secret.is_some() {
            p.push(format!(
                "{} and {} are mutually exclusive",
                f("password"),
                f("passwordSecret")
            ));
        }
    }
    let timers = match (n.hold_time_seconds, n.keepalive_time_seconds) {
        (None, None) => None,
        (Some(h), Some(k)) => {
            let mut ok = true;
            if h != 0 && !(3..=65535).contains(&h) {
                p.push(format!(
                    "{} {h} must be 0 or 3..65535",
                    f("holdTimeSeconds")
                ));
                ok = false;
            }
            if !(0..=65535).contains(&k) {
                p.push(format!(
                    "{} {k} is outside 0..65535",
                    f("keepaliveTimeSeconds")
                ));
                ok = false;
            } else if k > h {
                p.push(format!(
                    "{} {k} must be lower than or equal to holdTimeSeconds {h}",
                    f("keepaliveTimeSeconds")
                ));
                ok = false;
            }
            ok.then_some(Timers {
                hold: h as u16,
                keepalive: k as u16,
            })
        }
        _ => {
            p.push(format!(
                "{} and {} must be both set or both unset",
                f("holdTimeSeconds"),
                f("keepaliveTimeSeconds")
            ));
            None
        }
    };
    let connect_time = n
        .connect_time_seconds
        .and_then(|v| p.range(&f("connectTimeSeconds"), v, 1, 65535))
        .map(|v| v as u16);
    if n.properties.len() > 1 {
        p.push(format!(
            "{} has {} entries, at most 1 is allowed",
            f("properties"),
            n.properties.len()
        ));
    }
    let mut ebgp_multihop_ttl = None;
    for (j, prop) in n.properties.iter().enumerate() {
        if prop.kind != "ebgpMultiHop" {
            p.push(format!(
                "{}[{j}].type {:?} must be ebgpMultiHop",
                f("properties"),
                prop.kind
            ));
            continue;
        }
        let ttl = prop.ebgp_multi_hop.as_ref().and_then(|m| m.ttl);
        ebgp_multihop_ttl = match ttl {
            None => Some(255),
            Some(t) => p
                .range(
                    &format!("{}[{j}].ebgpMultiHop.ttl", f("properties")),
                    t,
                    1,
                    255,
                )
                .map(|t| t as u8),
        };
    }
    if n.bfd.is_some() {
        // The BFD driver needs the peer's address before the session exists (RFC 5881 §4: one
        // session per neighbour address); unnumbered and listen-range neighbours have none.
        if n.interface.is_some() || n.listen_range.is_some() {
            p.push(format!(
                "{} is not supported yet on {} neighbours (BFD needs a fixed neighbour address); remove bfd or use address",
                f("bfd"),
                if n.interface.is_some() { "interface (unnumbered)" } else { "listenRange" }
            ));
        }
        if n.bfd.as_ref().is_some_and(|b| b.minimum_ttl.is_some()) && n.properties.is_empty() {
            p.push(format!(
                "{} applies to multihop sessions only (set properties ebgpMultiHop); a single-hop session always requires TTL 255 (RFC 5881 §5)",
                f("bfd.minimumTTL")
            ));
        }
    }
    let bfd = n.bfd.as_ref().map(|b| Bfd {
        receive_interval_ms: b
            .receive_interval
            .and_then(|v| p.range(&f("bfd.receiveInterval"), v, 10, 60000))
            .map(|v| v as u16),
        transmit_interval_ms: b
            .transmit_interval
            .and_then(|v| p.range(&f("bfd.transmitInterval"), v, 10, 60000))
            .map(|v| v as u16),
        detect_multiplier: b
            .detect_multiplier
            .and_then(|v| p.range(&f("bfd.detectMultiplier"), v, 2, 255))
            .map(|v| v as u8),
        passive: match b.session_mode.as_deref() {
            None | Some("Active") => false,
            Some("Passive") => true,
            Some(other) => {
                p.push(format!(
                    "{} {other:?} must be Active or Passive",
                    f("bfd.sessionMode")
                ));
                false
            }
        },
        minimum_ttl: b
            .minimum_ttl
            .and_then(|v| p.range(&f("bfd.minimumTTL"), v, 1, 254))
            .map(|v| v as u8),
    });
    if n.address_families.len() > 4 {
        p.push(format!(
            "{} has {} entries, at most 4 are allowed",
            f("addressFamilies"),
            n.address_families.len()
        ));
    }
    let mut families = Vec::new();
    let mut seen = BTreeSet::new();
    for (j, af) in n.address_families.iter().enumerate() {
        let Some(fam) = AddressFamily::from_api(&af.kind) else {
            p.push(format!(
                "{}[{j}].type {:?} must be one of ipv4unicast, ipv6unicast, evpn, ipv4vpn, ipv6vpn",
                f("addressFamilies"),
                af.kind
            ));
            continue;
        };
        if !seen.insert(fam) {
            p.push(format!(
                "{}[{j}].type {:?} is listed twice",
                f("addressFamilies"),
                af.kind
            ));
        }
        let mut rr_client = false;
        for (k, prop) in af.properties.iter().enumerate() {
            if prop.kind == "routeReflectorClient" {
                rr_client = true;
            } else {
                p.push(format!(
                    "{}[{j}].properties[{k}].type {:?} must be routeReflectorClient",
                    f("addressFamilies"),
                    prop.kind
                ));
            }
        }
        if rr_client && n.kind.as_deref() != Some("Internal") {
            p.push(format!(
                "{}[{j}]: routeReflectorClient requires type Internal",
                f("addressFamilies")
            ));
        }
        families.push((fam, rr_client));
    }
    let has_vpn = seen.contains(&AddressFamily::Ipv4Vpn) || seen.contains(&AddressFamily::Ipv6Vpn);
    if seen.contains(&AddressFamily::Evpn) && has_vpn {
        p.push(format!(
            "{}: evpn and ipv4vpn/ipv6vpn are mutually exclusive",
            f("addressFamilies")
        ));
    }
    if has_vpn {
        match &target {
            Some(NeighborTarget::Interface(_)) => p.push(format!(
                "{}: ipv4vpn and ipv6vpn are not supported for unnumbered neighbors",
                f("addressFamilies")
            )),
            Some(NeighborTarget::Address(IpAddr::V4(_))) => p.push(format!(
                "{}: ipv4vpn and ipv6vpn require an IPv6 neighbor address",
                f("addressFamilies")
            )),
            _ => {}
        }
    }
    Some(NeighborIntent {
        target: target?,
        remote_as: remote_as?,
        port,
        password: n.password.clone(),
        password_secret: n.password_secret.clone(),
        timers,
        connect_time,
        ebgp_multihop_ttl,
        bfd,
        families,
    })
}

fn neighbor_key(t: &NeighborTarget) -> String {
    match t {
        NeighborTarget::Address(a) => format!("address {a}"),
        NeighborTarget::Interface(i) => format!("interface {i}"),
        NeighborTarget::ListenRange(r) => format!("listenRange {r}"),
    }
}

/// Validates a `cniDevice` (upstream: `type: RawConfig`, `rawConfig` a CNI ≥ 1.0.0 network
/// configuration list, `runtimeConfig` passed to the plugins that declare its keys as
/// capabilities). A `runtimeConfig` key that no plugin declares would be dropped by the runtime
/// (CNI SPEC §3) and so is refused rather than accepted and ignored.
fn cni_nic(
    p: &mut Problems,
    field: &str,
    cni: &super::types::CniDevice,
    name: String,
) -> Option<CniNic> {
    if cni.kind != "RawConfig" {
        p.push(format!("{field}.type {:?} must be RawConfig", cni.kind));
        return None;
    }
    let Some(raw) = &cni.raw_config else {
        p.push(format!(
            "{field}.rawConfig must be set when type is RawConfig"
        ));
        return None;
    };
    let list = match perouter_cni::NetworkConfigList::from_value(raw) {
        Ok(l) => l,
        Err(e) => {
            p.push(format!("{field}.rawConfig: {e}"));
            return None;
        }
    };
    let rc = match &cni.runtime_config {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(m)) => m.clone(),
        Some(_) => {
            p.push(format!("{field}.runtimeConfig must be an object"));
            return None;
        }
    };
    let undeclared = list.undeclared(&rc);
    if !undeclared.is_empty() {
        p.push(format!(
            "{field}.runtimeConfig: {} not declared in any plugin's capabilities, so no plugin would receive it (CNI SPEC §3)",
            undeclared.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
        ));
        return None;
    }
    // serde_json's Map is a BTreeMap here: serialization is canonical (sorted keys).
    Some(CniNic {
        name,
        config: serde_json::to_string(raw).unwrap_or_default(),
        runtime_config: serde_json::to_string(&rc).unwrap_or_default(),
    })
}

/// Validates one underlay.
pub fn validate_underlay(u: &Resource<UnderlaySpec>) -> Result<UnderlayIntent, FailedResource> {
    let mut p = Problems::default();
    let s = &u.spec;
    let asn = p.range("spec.asn", s.asn, 1, u32::MAX as i64);
    let rid_text = s
        .router_id_cidr
        .as_deref()
        .unwrap_or(DEFAULT_ROUTER_ID_CIDR);
    let router_id_cidr = match parse_cidr(&mut p, "spec.routerIDCIDR", rid_text) {
        Some(IpNet::V4(n)) => Some(n),
        Some(IpNet::V6(_)) => {
            p.push(format!(
                "spec.routerIDCIDR {rid_text:?} must be an IPv4 CIDR"
            ));
            None
        }
        None => None,
    };
    if s.neighbors.is_empty() {
        p.push("spec.neighbors must have at least one neighbor");
    } else if s.neighbors.len() > 128 {
        p.push(format!(
            "spec.neighbors has {} entries, at most 128 are allowed",
            s.neighbors.len()
        ));
    }
    let mut neighbors = Vec::new();
    let mut keys = BTreeMap::new();
    for (i, n) in s.neighbors.iter().enumerate() {
        if let Some(ni) = neighbor(&mut p, i, n) {
            let key = neighbor_key(&ni.target);
            if let Some(j) = keys.insert(key.clone(), i) {
                p.push(format!(
                    "spec.neighbors[{i}]: duplicate {key} (also spec.neighbors[{j}])"
                ));
            }
            neighbors.push(ni);
        }
    }
    let ranges: Vec<(usize, IpNet)> = neighbors
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match n.target {
            NeighborTarget::ListenRange(r) => Some((i, r)),
            _ => None,
        })
        .collect();
    for (a, (i, r1)) in ranges.iter().enumerate() {
        for (j, r2) in &ranges[a + 1..] {
            if r1.contains(r2) || r2.contains(r1) {
                p.push(format!("spec.neighbors[{i}].listenRange {r1} overlaps spec.neighbors[{j}].listenRange {r2}"));
            }
        }
    }
    if s.interfaces.is_empty() {
        p.push("spec.interfaces must have at least one interface");
    }
    let mut nics = Vec::new();
    for (i, ifc) in s.interfaces.iter().enumerate() {
        let field = format!("spec.interfaces[{i}]");
        if i > 0 && ifc.kind != s.interfaces[0].kind {
            p.push(format!("{field}.type: all interfaces must be of the same type, mixing NetworkDevice and CNIDevice is not supported"));
        }
        match (ifc.kind.as_str(), &ifc.network_device, &ifc.cni_device) {
            ("NetworkDevice", Some(nd), None) => {
                if check_ifname(&mut p, &format!("{field}.networkDevice.interfaceName"), &nd.interface_name, Some("._-")) {
                    nics.push(UnderlayNic::NetworkDevice(nd.interface_name.clone()));
                }
            }
            ("CNIDevice", None, Some(cni)) => {
                let name = cni.interface_name.clone().unwrap_or_else(|| "net1".to_string());
                let name_ok = check_ifname(&mut p, &format!("{field}.cniDevice.interfaceName"), &name, Some("._-"));
                if let Some(nic) = cni_nic(&mut p, &format!("{field}.cniDevice"), cni, name) {
                    if name_ok {
                        nics.push(UnderlayNic::CniDevice(nic));
                    }
                }
            }
            ("NetworkDevice" | "CNIDevice", _, _) => p.push(format!(
                "{field}: type/config mismatch: networkDevice must be set iff type is NetworkDevice, cniDevice iff CNIDevice"
            )),
            (other, _, _) => p.push(format!("{field}.type {other:?} must be NetworkDevice or CNIDevice")),
        }
    }
    let (mut tunnel_v4, mut tunnel_v6) = (None, None);
    match &s.tunnel_endpoint {
        None => p.push("spec.tunnelEndpoint must be specified"),
        Some(te) if te.cidrs.is_empty() || te.cidrs.len() > 2 => p.push(format!(
            "spec.tunnelEndpoint.cidrs must have 1 or 2 entries, has {}",
            te.cidrs.len()
        )),
        Some(te) => {
            for (i, c) in te.cidrs.iter().enumerate() {
                let field = format!("spec.tunnelEndpoint.cidrs[{i}]");
                match parse_cidr(&mut p, &field, c) {
                    Some(IpNet::V4(n)) if tunnel_v4.is_none() => tunnel_v4 = Some(n.trunc()),
                    Some(IpNet::V6(n)) if tunnel_v6.is_none() => tunnel_v6 = Some(n.trunc()),
                    Some(_) => p.push(format!(
                        "{field}: at most one IPv4 and one IPv6 CIDR are allowed"
                    )),
                    None => {}
                }
            }
        }
    }
    let gr = s.graceful_restart.clone().unwrap_or_default();
    let restart_time = gr
        .restart_time_seconds
        .and_then(|v| p.range("spec.gracefulRestart.restartTimeSeconds", v, 1, 4095))
        .map_or(DEFAULT_RESTART_TIME, |v| v as u16);
    let stale_path_time = gr
        .stale_path_time_seconds
        .and_then(|v| p.range("spec.gracefulRestart.stalePathTimeSeconds", v, 1, 4095))
        .map_or(DEFAULT_STALE_PATH_TIME, |v| v as u16);
    let cluster_id = match &s.route_reflector {
        None => None,
        Some(rr) => match rr.cluster_id.as_deref() {
            None => Some(DEFAULT_CLUSTER_ID),
            Some(c) => match c.parse::<Ipv4Addr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    p.push(format!(
                        "spec.routeReflector.clusterID {c:?} must be a valid IPv4 address"
                    ));
                    None
                }
            },
        },
    };
    if let (Some(cid), Some(rid)) = (cluster_id, router_id_cidr) {
        if rid.contains(&cid) {
            p.push(format!(
                "spec.routeReflector.clusterID {cid} must be outside the routerIDCIDR range {rid}"
            ));
        }
    }
    if s.isis.is_some() || s.srv6.is_some() {
        p.push("spec.isis/spec.srv6: SRv6 L3VPN is not supported by perouter yet");
    }
    if let Some(f) = p.into_failure(
        ResourceKind::Underlay,
        &u.name,
        FailureReason::ValidationFailed,
    ) {
        return Err(f);
    }
    match (asn, router_id_cidr) {
        (Some(asn), Some(router_id_cidr)) => Ok(UnderlayIntent {
            name: u.name.clone(),
            asn: asn as u32,
            router_id_cidr,
            neighbors,
            nics,
            tunnel_v4,
            tunnel_v6,
            restart_time,
            stale_path_time,
            cluster_id,
        }),
        _ => unreachable_failure(ResourceKind::Underlay, &u.name),
    }
}

/// Only reached if a field failed without recording a problem: still a failure, never a panic.
fn unreachable_failure<T>(kind: ResourceKind, name: &str) -> Result<T, FailedResource> {
    Err(FailedResource {
        kind,
        name: name.to_string(),
        reason: FailureReason::ValidationFailed,
        message: "invalid resource".to_string(),
    })
}

/// Validates one L3VNI on its own (cross-resource rules are in [`validate`]).
pub fn validate_l3vni(r: &Resource<L3VniSpec>) -> Result<L3VniIntent, FailedResource> {
    let mut p = Problems::default();
    let s = &r.spec;
    check_ifname(&mut p, "spec.vrf", &s.vrf, Some("_-"));
    let vni = p.range("spec.vni", s.vni, 1, 16_777_215);
    let vxlan_port = vxlan_port(&mut p, s.vxlan_port);
    let vtep_family = vtep_family(&mut p, s.underlay_address_family.as_deref());
    let host_session = s
        .host_session
        .as_ref()
        .and_then(|hs| host_session(&mut p, "spec.hostSession", hs, true));
    let mut rts = |field: &str, list: &[String]| -> Vec<RouteTarget> {
        if list.len() > 100 {
            p.push(format!(
                "spec.{field} has {} entries, at most 100 are allowed",
                list.len()
            ));
        }
        list.iter()
            .enumerate()
            .filter_map(|(i, rt)| match parse_route_target(rt) {
                Ok(v) => Some(v),
                Err(e) => {
                    p.push(format!("spec.{field}[{i}]: {e}"));
                    None
                }
            })
            .collect()
    };
    let export_rts = rts("exportRTs", &s.export_rts);
    let import_rts = rts("importRTs", &s.import_rts);
    if let Some(f) = p.into_failure(
        ResourceKind::L3Vni,
        &r.name,
        FailureReason::ValidationFailed,
    ) {
        return Err(f);
    }
    let Some(vni) = vni else {
        return unreachable_failure(ResourceKind::L3Vni, &r.name);
    };
    Ok(L3VniIntent {
        name: r.name.clone(),
        vrf: s.vrf.clone(),
        vni: vni as u32,
        vxlan_port,
        vtep_family,
        host_session,
        export_rts,
        import_rts,
    })
}

/// Validates one L2VNI on its own (the routing-domain reference is resolved in [`validate`]).
pub fn validate_l2vni(r: &Resource<L2VniSpec>) -> Result<L2VniIntent, FailedResource> {
    let mut p = Problems::default();
    let s = &r.spec;
    let vni = p.range("spec.vni", s.vni, 1, 16_777_215);
    let vxlan_port = vxlan_port(&mut p, s.vxlan_port);
    let vtep_family = vtep_family(&mut p, s.underlay_address_family.as_deref());
    let routing_domain = match &s.routing_domain {
        None => None,
        Some(rd) => match (rd.kind.as_str(), &rd.l3vni, &rd.l3vpn) {
            ("L3VNI", Some(n), None) if !n.name.is_empty() => Some(n.name.clone()),
            ("L3VNI", _, _) => {
                p.push("spec.routingDomain: type L3VNI requires l3vni.name to be set and l3vpn to be unset");
                None
            }
            ("L3VPN", _, _) => {
                p.push("spec.routingDomain: type L3VPN (SRv6) is not supported by perouter yet");
                None
            }
            (other, _, _) => {
                p.push(format!(
                    "spec.routingDomain.type {other:?} must be L3VNI or L3VPN"
                ));
                None
            }
        },
    };
    let host_leg = match &s.host_master {
        None => HostLeg::Bare,
        Some(hm) => {
            let (cfg, linux) = match (hm.kind.as_str(), &hm.linux_bridge, &hm.ovs_bridge) {
                ("LinuxBridge", Some(c), None) => (Some(c), true),
                ("OVSBridge", None, Some(c)) => (Some(c), false),
                ("LinuxBridge" | "OVSBridge", _, _) => {
                    p.push("spec.hostMaster: type/config mismatch: 'LinuxBridge' requires linuxBridge, 'OVSBridge' requires ovsBridge");
                    (None, true)
                }
                (other, _, _) => {
                    p.push(format!(
                        "spec.hostMaster.type {other:?} must be LinuxBridge or OVSBridge"
                    ));
                    (None, true)
                }
            };
            let field = if linux {
                "spec.hostMaster.linuxBridge"
            } else {
                "spec.hostMaster.ovsBridge"
            };
            match cfg.map(|c| {
                (
                    c.lifecycle.as_str(),
                    c.name.as_deref().filter(|n| !n.is_empty()),
                )
            }) {
                None => HostLeg::Bare,
                Some(("Managed", None)) => {
                    if linux {
                        HostLeg::ManagedLinuxBridge
                    } else {
                        HostLeg::ManagedOvsBridge
                    }
                }
                Some(("External", Some(name))) => {
                    check_ifname(&mut p, &format!("{field}.name"), name, Some("_-"));
                    if linux {
                        HostLeg::ExistingLinuxBridge(name.to_string())
                    } else {
                        HostLeg::ExistingOvsBridge(name.to_string())
                    }
                }
                Some(("Managed" | "External", _)) => {
                    p.push(format!("{field}: name must be set when lifecycle is External, and must not be set when it is Managed"));
                    HostLeg::Bare
                }
                Some((other, _)) => {
                    p.push(format!(
                        "{field}.lifecycle {other:?} must be Managed or External"
                    ));
                    HostLeg::Bare
                }
            }
        }
    };
    let (mut gateway_v4, mut gateway_v6) = (None, None);
    if s.gateway_ips.len() > 2 {
        p.push(format!(
            "spec.gatewayIPs has {} entries, at most 2 are allowed",
            s.gateway_ips.len()
        ));
    }
    if !s.gateway_ips.is_empty() && s.routing_domain.is_none() {
        p.push("spec.gatewayIPs cannot be set without routingDomain");
    }
    for (i, g) in s.gateway_ips.iter().enumerate() {
        let field = format!("spec.gatewayIPs[{i}]");
        match parse_cidr(&mut p, &field, g) {
            Some(IpNet::V4(n)) if gateway_v4.is_none() => gateway_v4 = Some(n),
            Some(IpNet::V6(n)) if gateway_v6.is_none() => gateway_v6 = Some(n),
            Some(_) => p.push(format!(
                "{field}: at most one IPv4 and one IPv6 gateway are allowed"
            )),
            None => {}
        }
    }
    if let Some(f) = p.into_failure(
        ResourceKind::L2Vni,
        &r.name,
        FailureReason::ValidationFailed,
    ) {
        return Err(f);
    }
    let Some(vni) = vni else {
        return unreachable_failure(ResourceKind::L2Vni, &r.name);
    };
    Ok(L2VniIntent {
        name: r.name.clone(),
        vni: vni as u32,
        vxlan_port,
        vtep_family,
        routing_domain,
        host_leg,
        gateway_v4,
        gateway_v6,
    })
}

/// Validates a passthrough on its own.
pub fn validate_passthrough(
    r: &Resource<L3PassthroughSpec>,
) -> Result<PassthroughIntent, FailedResource> {
    let mut p = Problems::default();
    let hs = host_session(&mut p, "spec.hostSession", &r.spec.host_session, false);
    if let Some(f) = p.into_failure(
        ResourceKind::L3Passthrough,
        &r.name,
        FailureReason::ValidationFailed,
    ) {
        return Err(f);
    }
    match hs {
        Some(host_session) => Ok(PassthroughIntent {
            name: r.name.clone(),
            host_session,
        }),
        None => unreachable_failure(ResourceKind::L3Passthrough, &r.name),
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn session_nets(hs: &HostSessionIntent) -> Vec<IpNet> {
    hs.v4
        .map(|n| IpNet::V4(n.trunc()))
        .into_iter()
        .chain(hs.v6.map(|n| IpNet::V6(n.trunc())))
        .collect()
}

/// Validates everything that applies to this node: each resource, then the rules that span
/// resources (one underlay; unique VNIs and VRFs; non-overlapping host-session pools and VRF
/// subnets; one passthrough; L2VNI routing domains that exist).
pub fn validate(set: &ResourceSet) -> Validated {
    let mut out = Validated::default();
    let fail = |out: &mut Validated, kind, name: &str, reason, message: String| {
        out.failed.push(FailedResource {
            kind,
            name: name.to_string(),
            reason,
            message,
        });
    };

    // Underlay: at most one per node.
    if set.underlays.len() > 1 {
        let names: Vec<_> = set.underlays.iter().map(|u| u.name.as_str()).collect();
        for u in &set.underlays {
            fail(
                &mut out,
                ResourceKind::Underlay,
                &u.name,
                FailureReason::ValidationFailed,
                format!(
                    "more than one Underlay applies to this node ({}); at most one is allowed",
                    names.join(", ")
                ),
            );
        }
        out.underlay_failed = true;
    } else if let Some(u) = set.underlays.first() {
        match validate_underlay(u) {
            Ok(v) => out.intent.underlay = Some(v),
            Err(f) => {
                out.failed.push(f);
                out.underlay_failed = true;
            }
        }
    }

    // Sorted by name so "first wins" is deterministic whatever the source order.
    let mut l3: Vec<&Resource<L3VniSpec>> = set.l3vnis.iter().collect();
    l3.sort_by(|a, b| a.name.cmp(&b.name));
    let mut l2: Vec<&Resource<L2VniSpec>> = set.l2vnis.iter().collect();
    l2.sort_by(|a, b| a.name.cmp(&b.name));

    let mut vnis: BTreeMap<u32, String> = BTreeMap::new();
    let mut vrfs: BTreeMap<String, String> = BTreeMap::new();
    let mut session_pools: Vec<(IpNet, String)> = Vec::new();
    let mut names = BTreeSet::new();
    let mut failed_l3 = BTreeSet::new();

    for r in l3 {
        if !names.insert((ResourceKind::L3Vni, r.name.clone())) {
            fail(
                &mut out,
                ResourceKind::L3Vni,
                &r.name,
                FailureReason::ValidationFailed,
                "duplicate L3VNI name".into(),
            );
            continue;
        }
        let v = match validate_l3vni(r) {
            Ok(v) => v,
            Err(f) => {
                failed_l3.insert(r.name.clone());
                out.failed.push(f);
                continue;
            }
        };
        let mut msgs = Vec::new();
        if let Some(other) = vnis.get(&v.vni) {
            msgs.push(format!("spec.vni {} is already used by {other}", v.vni));
        }
        if let Some(other) = vrfs.get(&v.vrf) {
            msgs.push(format!(
                "spec.vrf {:?} is already used by L3VNI {other}",
                v.vrf
            ));
        }
        if let Some(hs) = &v.host_session {
            for net in session_nets(hs) {
                if let Some((o, owner)) = session_pools.iter().find(|(o, _)| overlaps(o, &net)) {
                    msgs.push(format!(
                        "spec.hostSession.localCIDR {net} overlaps {o} of {owner}"
                    ));
                }
            }
        }
        if !msgs.is_empty() {
            failed_l3.insert(r.name.clone());
            fail(
                &mut out,
                ResourceKind::L3Vni,
                &r.name,
                FailureReason::ValidationFailed,
                msgs.join("; "),
            );
            continue;
        }
        vnis.insert(v.vni, format!("L3VNI {}", v.name));
        vrfs.insert(v.vrf.clone(), v.name.clone());
        if let Some(hs) = &v.host_session {
            for net in session_nets(hs) {
                session_pools.push((net, format!("L3VNI {}", v.name)));
            }
        }
        out.intent.l3vnis.push(v);
    }

    // Subnets per VRF: host-session pools of the L3VNI and gateway subnets of its L2VNIs.
    let mut vrf_subnets: BTreeMap<String, Vec<(IpNet, String)>> = BTreeMap::new();
    for v in &out.intent.l3vnis {
        if let Some(hs) = &v.host_session {
            for net in session_nets(hs) {
                vrf_subnets
                    .entry(v.name.clone())
                    .or_default()
                    .push((net, format!("L3VNI {}", v.name)));
            }
        }
    }
    for r in l2 {
        if !names.insert((ResourceKind::L2Vni, r.name.clone())) {
            fail(
                &mut out,
                ResourceKind::L2Vni,
                &r.name,
                FailureReason::ValidationFailed,
                "duplicate L2VNI name".into(),
            );
            continue;
        }
        let v = match validate_l2vni(r) {
            Ok(v) => v,
            Err(f) => {
                out.failed.push(f);
                continue;
            }
        };
        if let Some(other) = vnis.get(&v.vni) {
            let msg = format!("spec.vni {} is already used by {other}", v.vni);
            fail(
                &mut out,
                ResourceKind::L2Vni,
                &r.name,
                FailureReason::ValidationFailed,
                msg,
            );
            continue;
        }
        if let Some(rd) = &v.routing_domain {
            let exists = out.intent.l3vnis.iter().any(|l| &l.name == rd);
            if !exists {
                let why = if failed_l3.contains(rd) {
                    "is invalid"
                } else {
                    "does not exist"
                };
                let msg = format!("spec.routingDomain.l3vni.name: L3VNI {rd:?} {why}");
                fail(
                    &mut out,
                    ResourceKind::L2Vni,
                    &r.name,
                    FailureReason::DependencyFailed,
                    msg,
                );
                continue;
            }
            let gws: Vec<IpNet> = v
                .gateway_v4
                .map(|n| IpNet::V4(n.trunc()))
                .into_iter()
                .chain(v.gateway_v6.map(|n| IpNet::V6(n.trunc())))
                .collect();
            let subnets = vrf_subnets.entry(rd.clone()).or_default();
            let clash: Vec<String> = gws
                .iter()
                .filter_map(|g| {
                    subnets.iter().find(|(s, _)| overlaps(s, g)).map(|(s, o)| {
                        format!("spec.gatewayIPs {g} overlaps {s} of {o} in the same VRF")
                    })
                })
                .collect();
            if !clash.is_empty() {
                fail(
                    &mut out,
                    ResourceKind::L2Vni,
                    &r.name,
                    FailureReason::ValidationFailed,
                    clash.join("; "),
                );
                continue;
            }
            subnets.extend(gws.into_iter().map(|g| (g, format!("L2VNI {}", v.name))));
        }
        vnis.insert(v.vni, format!("L2VNI {}", v.name));
        out.intent.l2vnis.push(v);
    }

    // Passthrough: at most one per node; its pools must not overlap the L3VNIs'.
    if set.passthroughs.len() > 1 {
        let names: Vec<_> = set.passthroughs.iter().map(|r| r.name.as_str()).collect();
        for r in &set.passthroughs {
            fail(
                &mut out,
                ResourceKind::L3Passthrough,
                &r.name,
                FailureReason::ValidationFailed,
                format!(
                    "more than one L3Passthrough applies to this node ({}); at most one is allowed",
                    names.join(", ")
                ),
            );
        }
    } else if let Some(r) = set.passthroughs.first() {
        match validate_passthrough(r) {
            Ok(v) => {
                let clash: Vec<String> = session_nets(&v.host_session)
                    .iter()
                    .filter_map(|n| {
                        session_pools
                            .iter()
                            .find(|(o, _)| overlaps(o, n))
                            .map(|(o, owner)| {
                                format!("spec.hostSession.localCIDR {n} overlaps {o} of {owner}")
                            })
                    })
                    .collect();
                if clash.is_empty() {
                    out.intent.passthrough = Some(v);
                } else {
                    fail(
                        &mut out,
                        ResourceKind::L3Passthrough,
                        &r.name,
                        FailureReason::ValidationFailed,
                        clash.join("; "),
                    );
                }
            }
            Err(f) => out.failed.push(f),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::resources::Source;
    use super::*;

    fn src() -> Source {
        Source::File("/test/openpe_test.yaml".into())
    }

    fn underlay() -> UnderlaySpec {
        serde_yaml::from_str(
            r#"
asn: 64514
interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
neighbors: [{asn: 64512, address: "192.168.11.2"}, {asn: 64513, address: "192.168.12.2"}]
tunnelEndpoint: {cidrs: ["100.65.0.0/24"]}
"#,
        )
        .unwrap()
    }

    fn l3(name: &str, vni: i64, v4: &str) -> Resource<L3VniSpec> {
        let spec: L3VniSpec = serde_yaml::from_str(&format!(
            "vrf: {name}\nvni: {vni}\nhostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: \"{v4}\"}}}}\n"
        ))
        .unwrap();
        Resource::new(ResourceKind::L3Vni, name, src(), spec)
    }

    fn set_with(l3vnis: Vec<Resource<L3VniSpec>>) -> ResourceSet {
        ResourceSet {
            underlays: vec![Resource::new(
                ResourceKind::Underlay,
                "underlay",
                src(),
                underlay(),
            )],
            l3vnis,
            ..Default::default()
        }
    }

    #[test]
    fn canonical_node_is_valid() {
        let v = validate(&set_with(vec![
            l3("red", 100, "192.169.10.0/24"),
            l3("blue", 200, "192.169.11.0/24"),
        ]));
        assert!(v.failed.is_empty(), "{:?}", v.failed);
        let u = v.intent.underlay.unwrap();
        assert_eq!(u.asn, 64514);
        assert_eq!(u.router_id_cidr.to_string(), "10.0.0.0/24");
        assert_eq!(u.neighbors.len(), 2);
        assert_eq!(u.neighbors[0].remote_as, PeerAs::Number(64512));
        assert_eq!(u.restart_time, 120);
        assert_eq!(u.stale_path_time, 360);
        assert_eq!(
            v.intent
                .l3vnis
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
            ["blue", "red"]
        );
        assert_eq!(v.intent.l3vnis[1].vxlan_port, 4789);
    }

    #[test]
    fn bad_vni_names_resource_field_and_rule() {
        let v = validate(&set_with(vec![
            l3("red", 0, "192.169.10.0/24"),
            l3("blue", 200, "192.169.11.0/24"),
        ]));
        assert_eq!(v.failed.len(), 1);
        assert_eq!(
            v.failed[0].to_string(),
            "L3VNI red: spec.vni 0 is outside 1..16777215 (ValidationFailed)"
        );
        assert_eq!(v.intent.l3vnis.len(), 1, "the rest applies");
        assert!(!v.underlay_failed);
    }

    #[test]
    fn duplicate_vni_and_overlapping_pools() {
        let v = validate(&set_with(vec![
            l3("a", 100, "192.169.10.0/24"),
            l3("b", 100, "192.169.10.0/25"),
        ]));
        assert_eq!(v.failed.len(), 1);
        assert_eq!(v.failed[0].name, "b");
        assert!(
            v.failed[0]
                .message
                .contains("spec.vni 100 is already used by L3VNI a"),
            "{}",
            v.failed[0].message
        );
        assert!(
            v.failed[0]
                .message
                .contains("overlaps 192.169.10.0/24 of L3VNI a"),
            "{}",
            v.failed[0].message
        );
    }

    #[test]
    fn host_session_rules() {
        let mut r = l3("red", 100, "192.169.10.0/24");
        r.spec.host_session.as_mut().unwrap().host_asn = Some(64514);
        r.spec.host_session.as_mut().unwrap().host_type = Some("External".into());
        let e = validate_l3vni(&r).unwrap_err();
        assert!(
            e.message.contains(
                "spec.hostSession.hostASN and spec.hostSession.hostType cannot be set together"
            ),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("hostASN must be different from spec.hostSession.asn"),
            "{}",
            e.message
        );
        let mut r = l3("red", 100, "192.169.10.0/24");
        r.spec.host_session.as_mut().unwrap().local_cidr = LocalCidr::default();
        let e = validate_l3vni(&r).unwrap_err();
        assert!(
            e.message.contains("at least one of ipv4 or ipv6"),
            "{}",
            e.message
        );
        let mut r = l3("red", 100, "192.169.10.0/24");
        r.spec.host_session.as_mut().unwrap().local_cidr.ipv6 = Some("10.0.0.0/8".into());
        let e = validate_l3vni(&r).unwrap_err();
        assert!(
            e.message
                .contains("localCIDR.ipv6 \"10.0.0.0/8\" is not an IPv6 CIDR"),
            "{}",
            e.message
        );
    }

    #[test]
    fn vrf_name_rules() {
        for (vrf, ok) in [
            ("red", true),
            ("red_1-x", true),
            ("1red", false),
            ("", false),
            ("averyveryverylongname", false),
            ("re.d", false),
        ] {
            let mut r = l3("x", 100, "192.169.10.0/24");
            r.spec.vrf = vrf.into();
            assert_eq!(validate_l3vni(&r).is_ok(), ok, "vrf {vrf:?}");
        }
    }

    #[test]
    fn route_targets_follow_upstream_rules() {
        assert_eq!(
            parse_route_target("64512:100").unwrap(),
            RouteTarget::As2 {
                asn: 64512,
                number: 100
            }
        );
        assert_eq!(
            parse_route_target("64512:4294967295").unwrap(),
            RouteTarget::As2 {
                asn: 64512,
                number: u32::MAX
            }
        );
        assert_eq!(
            parse_route_target("4200000001:10").unwrap(),
            RouteTarget::As4 {
                asn: 4200000001,
                number: 10
            }
        );
        assert!(parse_route_target("4200000001:65536")
            .unwrap_err()
            .contains("65535"));
        assert_eq!(
            parse_route_target("10.0.0.1:5").unwrap(),
            RouteTarget::Ipv4 {
                addr: Ipv4Addr::new(10, 0, 0, 1),
                number: 5
            }
        );
        assert!(parse_route_target("10.0.0.1:70000")
            .unwrap_err()
            .contains("65535"));
        assert!(parse_route_target("10.0.0:5").is_err());
        assert!(parse_route_target("abc").unwrap_err().contains("formats"));
        assert!(parse_route_target("x:1").is_err());
        let mut r = l3("red", 100, "192.169.10.0/24");
        r.spec.import_rts = vec!["64512:100".into(), "bad".into()];
        let e = validate_l3vni(&r).unwrap_err();
        assert!(
            e.message.starts_with("spec.importRTs[1]: RT \"bad\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn neighbor_rules() {
        let cases: &[(&str, &str)] = &[
            ("{address: 1.2.3.4}", "either spec.neighbors[0].asn or spec.neighbors[0].type must be set"),
            ("{asn: 1, type: External, address: 1.2.3.4}", "cannot be set together"),
            ("{asn: 1}", "one of spec.neighbors[0].address"),
            ("{asn: 1, address: 1.2.3.4, interface: eth0}", "mutually exclusive"),
            ("{asn: 1, address: 1.2.3.400}", "must be a valid IPv4 or IPv6 address"),
            ("{asn: 1, listenRange: 'fe80::/64'}", "link-local"),
            ("{asn: 1, address: 1.2.3.4, port: 20000}", "port 20000 is outside 0..16384"),
            ("{asn: 1, address: 1.2.3.4, password: 'a b'}", "no whitespace"),
            ("{asn: 1, address: 1.2.3.4, password: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx}", "81 bytes long; TCP-MD5 keys are at most 80 bytes"),
            ("{asn: 1, address: 1.2.3.4, password: a, passwordSecret: s}", "mutually exclusive"),
            ("{asn: 1, address: 1.2.3.4, holdTimeSeconds: 9}", "both set or both unset"),
            ("{asn: 1, address: 1.2.3.4, holdTimeSeconds: 2, keepaliveTimeSeconds: 1}", "must be 0 or 3..65535"),
            ("{asn: 1, address: 1.2.3.4, holdTimeSeconds: 9, keepaliveTimeSeconds: 10}", "lower than or equal"),
            ("{asn: 1, address: 1.2.3.4, connectTimeSeconds: 0}", "outside 1..65535"),
            ("{asn: 1, address: 1.2.3.4, properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 0}}]}", "ttl 0 is outside 1..255"),
            ("{asn: 1, address: 1.2.3.4, bfd: {detectMultiplier: 1}}", "detectMultiplier 1 is outside 2..255"),
            ("{asn: 1, address: 1.2.3.4, addressFamilies: [{type: evpn}, {type: ipv4vpn}]}", "mutually exclusive"),
            ("{asn: 1, address: 1.2.3.4, addressFamilies: [{type: ipv4unicast, properties: [{type: routeReflectorClient}]}]}", "requires type Internal"),
            ("{asn: 1, address: 1.2.3.4, addressFamilies: [{type: l2vpn}]}", "must be one of"),
            ("{asn: 0, address: 1.2.3.4}", "asn 0 is outside"),
            ("{asn: 1, interface: eth0, bfd: {}}", "spec.neighbors[0].bfd is not supported yet on interface (unnumbered) neighbours"),
            ("{asn: 1, listenRange: 10.0.0.0/24, bfd: {receiveInterval: 100}}", "spec.neighbors[0].bfd is not supported yet on listenRange neighbours"),
            ("{asn: 1, address: 1.2.3.4, bfd: {minimumTTL: 250}}", "bfd.minimumTTL applies to multihop sessions only"),
        ];
        for (yaml, want) in cases {
            let mut u = underlay();
            u.neighbors = vec![serde_yaml::from_str(yaml).unwrap()];
            let e = validate_underlay(&Resource::new(ResourceKind::Underlay, "u", src(), u))
                .unwrap_err();
            assert!(
                e.message.contains(want),
                "{yaml}: got {:?}, want {want:?}",
                e.message
            );
        }
        let mut u = underlay();
        u.neighbors.push(u.neighbors[0].clone());
        let e =
            validate_underlay(&Resource::new(ResourceKind::Underlay, "u", src(), u)).unwrap_err();
        assert!(
            e.message.contains("duplicate address 192.168.11.2"),
            "{}",
            e.message
        );
        let mut u = underlay();
        u.neighbors = vec![
            serde_yaml::from_str("{asn: 1, listenRange: 10.0.0.0/16}").unwrap(),
            serde_yaml::from_str("{asn: 1, listenRange: 10.0.1.0/24}").unwrap(),
        ];
        let e =
            validate_underlay(&Resource::new(ResourceKind::Underlay, "u", src(), u)).unwrap_err();
        assert!(e.message.contains("overlaps"), "{}", e.message);
    }

    #[test]
    fn cni_devices_are_accepted_with_a_runnable_list_and_declared_runtime_config() {
        let cni = |ifc: &str| {
            let mut u = underlay();
            u.interfaces = vec![serde_yaml::from_str(ifc).unwrap()];
            validate_underlay(&Resource::new(ResourceKind::Underlay, "u", src(), u))
        };
        let ok = cni(r#"{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {cniVersion: "1.0.0", name: underlay, plugins: [{type: macvlan, master: toswitch, ipam: {type: static, addresses: [{address: 192.168.11.3/24}]}}, {type: tuning, capabilities: {mac: true}}]}, runtimeConfig: {mac: "02:00:00:00:00:01"}}}"#).unwrap();
        match &ok.nics[..] {
            [UnderlayNic::CniDevice(n)] => {
                assert_eq!(n.name, "net1", "upstream's default name");
                assert!(n.config.contains("\"macvlan\""), "{}", n.config);
                assert_eq!(n.runtime_config, r#"{"mac":"02:00:00:00:00:01"}"#);
            }
            other => panic!("{other:?}"),
        }
        let refused = [
            (
                r#"{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {cniVersion: "1.0.0", name: n, plugins: [{type: macvlan}]}, runtimeConfig: {ips: ["10.0.0.1/24"]}}}"#,
                "spec.interfaces[0].cniDevice.runtimeConfig: \"ips\" not declared",
            ),
            (
                r#"{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {cniVersion: "0.4.0", name: n, plugins: [{type: macvlan}]}}}"#,
                "spec.interfaces[0].cniDevice.rawConfig: cniVersion \"0.4.0\" is not supported",
            ),
            (
                r#"{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {cniVersion: "1.0.0", name: n, type: macvlan}}}"#,
                "spec.interfaces[0].cniDevice.rawConfig: plugins must be a list",
            ),
            (
                r#"{type: CNIDevice, cniDevice: {type: RawConfig}}"#,
                "rawConfig must be set",
            ),
            (
                r#"{type: CNIDevice, cniDevice: {type: Other, rawConfig: {}}}"#,
                "must be RawConfig",
            ),
            (
                r#"{type: CNIDevice, cniDevice: {type: RawConfig, interfaceName: "bad name", rawConfig: {cniVersion: "1.0.0", name: n, plugins: [{type: macvlan}]}}}"#,
                "interfaceName",
            ),
        ];
        for (ifc, want) in refused {
            let e = cni(ifc).unwrap_err();
            assert!(e.message.contains(want), "{ifc}: {}", e.message);
        }
    }

    #[test]
    fn underlay_rules() {
        let mut u = underlay();
        u.tunnel_endpoint.as_mut().unwrap().cidrs =
            vec!["100.65.0.0/24".into(), "100.66.0.0/24".into()];
        u.route_reflector = Some(RouteReflectorConfig {
            cluster_id: Some("10.0.0.9".into()),
        });
        u.interfaces.push(
            serde_yaml::from_str("{type: CNIDevice, cniDevice: {type: RawConfig, rawConfig: {}}}")
                .unwrap(),
        );
        let e =
            validate_underlay(&Resource::new(ResourceKind::Underlay, "u", src(), u)).unwrap_err();
        assert!(
            e.message.contains("at most one IPv4 and one IPv6 CIDR"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("must be outside the routerIDCIDR"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("mixing NetworkDevice and CNIDevice"),
            "{}",
            e.message
        );
        let mut u = underlay();
        u.tunnel_endpoint = None;
        u.neighbors.clear();
        let v = validate(&ResourceSet {
            underlays: vec![Resource::new(ResourceKind::Underlay, "u", src(), u)],
            ..Default::default()
        });
        assert!(v.underlay_failed);
        assert!(v.intent.underlay.is_none());
        assert!(v.failed[0]
            .message
            .contains("spec.tunnelEndpoint must be specified"));
        assert!(v.failed[0].message.contains("at least one neighbor"));
    }

    #[test]
    fn two_underlays_fail_both() {
        let mut set = set_with(vec![]);
        set.underlays.push(Resource::new(
            ResourceKind::Underlay,
            "second",
            src(),
            underlay(),
        ));
        let v = validate(&set);
        assert!(v.underlay_failed);
        assert_eq!(v.failed.len(), 2);
    }

    #[test]
    fn l2vni_dependency_and_gateway_rules() {
        let l2 = |yaml: &str| {
            Resource::new(
                ResourceKind::L2Vni,
                "l2",
                src(),
                serde_yaml::from_str::<L2VniSpec>(yaml).unwrap(),
            )
        };
        let mut set = set_with(vec![l3("red", 100, "192.169.10.0/24")]);
        set.l2vnis.push(l2(
            "{vni: 110, routingDomain: {type: L3VNI, l3vni: {name: missing}}}",
        ));
        let v = validate(&set);
        assert_eq!(v.failed[0].reason, FailureReason::DependencyFailed);
        assert!(v.failed[0]
            .message
            .contains("L3VNI \"missing\" does not exist"));

        set.l2vnis = vec![l2("{vni: 110, gatewayIPs: [192.168.1.1/24]}")];
        let v = validate(&set);
        assert!(v.failed[0]
            .message
            .contains("cannot be set without routingDomain"));

        set.l2vnis = vec![l2("{vni: 110, routingDomain: {type: L3VNI, l3vni: {name: red}}, gatewayIPs: [192.169.10.1/24]}")];
        let v = validate(&set);
        assert!(
            v.failed[0]
                .message
                .contains("overlaps 192.169.10.0/24 of L3VNI red in the same VRF"),
            "{}",
            v.failed[0].message
        );

        set.l2vnis = vec![l2("{vni: 100}")];
        let v = validate(&set);
        assert!(v.failed[0]
            .message
            .contains("spec.vni 100 is already used by L3VNI red"));

        set.l2vnis = vec![l2("{vni: 110, routingDomain: {type: L3VNI, l3vni: {name: red}}, gatewayIPs: [192.168.1.1/24, 'fd00::1/64'], hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}")];
        let v = validate(&set);
        assert!(v.failed.is_empty(), "{:?}", v.failed);
        let l = &v.intent.l2vnis[0];
        assert_eq!(l.host_leg, HostLeg::ManagedLinuxBridge);
        assert_eq!(l.gateway_v4.unwrap().to_string(), "192.168.1.1/24");
        assert_eq!(l.routing_domain.as_deref(), Some("red"));

        for (hm, want) in [
            (
                "{type: LinuxBridge, linuxBridge: {lifecycle: External}}",
                "name must be set",
            ),
            (
                "{type: LinuxBridge, linuxBridge: {lifecycle: Managed, name: br0}}",
                "must not be set",
            ),
            (
                "{type: LinuxBridge, ovsBridge: {lifecycle: Managed}}",
                "type/config mismatch",
            ),
            ("{type: Foo}", "must be LinuxBridge or OVSBridge"),
        ] {
            let e = validate_l2vni(&l2(&format!("{{vni: 5, hostMaster: {hm}}}"))).unwrap_err();
            assert!(e.message.contains(want), "{hm}: {}", e.message);
        }
    }

    #[test]
    fn passthrough_rules() {
        let pt = |name: &str, v4: &str| {
            Resource::new(
                ResourceKind::L3Passthrough,
                name,
                src(),
                serde_yaml::from_str::<L3PassthroughSpec>(&format!(
                    "hostSession: {{asn: 64514, hostASN: 64517, localCIDR: {{ipv4: \"{v4}\"}}}}"
                ))
                .unwrap(),
            )
        };
        let mut set = set_with(vec![l3("red", 100, "192.169.10.0/24")]);
        set.passthroughs.push(pt("p", "192.169.100.0/24"));
        let v = validate(&set);
        assert!(v.failed.is_empty());
        assert_eq!(
            v.intent.passthrough.as_ref().unwrap().host_session.host_as,
            PeerAs::Number(64517)
        );
        set.passthroughs = vec![pt("p", "192.169.10.0/26")];
        let v = validate(&set);
        assert!(v.intent.passthrough.is_none());
        assert!(v.failed[0]
            .message
            .contains("overlaps 192.169.10.0/24 of L3VNI red"));
        set.passthroughs = vec![pt("p", "192.169.100.0/24"), pt("q", "192.169.101.0/24")];
        let v = validate(&set);
        assert_eq!(v.failed.len(), 2);
    }
}

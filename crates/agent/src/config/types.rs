//! OpenPERouter's API types (`network.openperouter.io/v1alpha1`), field for field.
//!
//! These structs mirror upstream's Go types (`api/v1alpha1/*.go`) with the same lowerCamelCase JSON
//! names, so any resource or static file upstream accepts deserializes here unchanged. They are the
//! *spec layer*: numbers stay `i64` and enums stay strings, exactly as loose as upstream's wire
//! format, so that a bad value in one resource becomes a validation error naming that resource and
//! field (see [`super::validate`]) instead of a parse error that would reject the whole file.
//! Validation turns them into the typed model in [`super::model`].
//!
//! The same structs are the Kubernetes custom resources: `#[derive(CustomResource, JsonSchema)]`
//! generates `Underlay`, `L3VNI`, `L2VNI` and `L3Passthrough` and their CRDs (`perouter crds`), with
//! upstream's schema constraints (ranges, enums, patterns, lengths, defaults) and its CEL
//! `x-kubernetes-validations` rules written beside each field, so the API server refuses what
//! upstream's would.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::k8s::schema::{cel, preserve_unknown_object, required};

/// Declares one of the four configuration kinds (`Underlay`, `L3VNI`, `L2VNI`, `L3Passthrough`)
/// so that what they share is written once: the derives, the `#[kube]` settings (group, version,
/// namespaced, status, derives), camelCase names and the leading `nodeSelector` field; with
/// `vxlan(vni = "…")`, also the `vni`, `vxlanPort` and `underlayAddressFamily` fields of the two
/// overlay kinds, with their ranges, defaults and enums. The fields stay fields of the spec
/// (`spec.vni`), and the CRDs generated from them are what they were (the test
/// `committed_crds_match_generated` pins them). `#[serde(flatten)]` of a shared struct would
/// give the same schema but move every use to `spec.vxlan.vni`.
macro_rules! config_kind {
    (
        kube($($kube:tt)*),
        derive($($derive:path),*),
        $(vxlan(vni = $vni_doc:literal),)?
        $(#[$attr:meta])*
        pub struct $name:ident { $($fields:tt)* }
    ) => {
        #[derive(
            Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, CustomResource
            $(, $derive)*
        )]
        #[kube(
            group = "network.openperouter.io",
            version = "v1alpha1",
            namespaced,
            status = "ResourceStatus",
            derive = "PartialEq",
            derive = "Default",
            $($kube)*
        )]
        #[serde(rename_all = "camelCase")]
        $(#[$attr])*
        pub struct $name {
            /// Which nodes; empty = all.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub node_selector: Option<LabelSelector>,
            $(
                #[doc = $vni_doc]
                #[serde(default)]
                #[schemars(range(min = 1, max = 16777215))]
                pub vni: i64,
                /// VXLAN UDP port (default 4789).
                #[serde(default, skip_serializing_if = "Option::is_none")]
                #[schemars(extend("default" = 4789))]
                pub vxlan_port: Option<i64>,
                /// `IPv4` or `IPv6`: which VTEP family the VXLAN device uses.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                #[schemars(extend("enum" = ["IPv4", "IPv6"]))]
                pub underlay_address_family: Option<String>,
            )?
            $($fields)*
        }
    };
}

/// A Kubernetes label selector (`metav1.LabelSelector`); empty selects every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub struct LabelSelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["key", "operator"]))]
pub struct LabelSelectorRequirement {
    /// The label key the requirement applies to.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether a node with `labels` is selected (Kubernetes semantics: all `matchLabels` and all
    /// `matchExpressions` must hold; an unknown operator selects nothing).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|req| {
                let value = labels.get(&req.key);
                match req.operator.as_str() {
                    "In" => value.is_some_and(|v| req.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !req.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

config_kind! {
    kube(
        kind = "Underlay",
        doc = "Underlay is the Schema for the underlays API: the fabric side of the nodes it selects."
    ),
    derive(),
    /// The fabric side of the node (`UnderlaySpec`): our AS, the ToR neighbours, the NIC(s) that
    /// lead to them and the pool VTEP addresses are taken from.
    #[schemars(transform = required(&["asn", "neighbors", "interfaces"]))]
    #[schemars(transform = cel(&[
        ("!has(self.srv6) || has(self.isis)", "SRv6 can only be configured if isis is set"),
        ("!has(self.srv6) || (has(self.tunnelEndpoint) && has(self.tunnelEndpoint.cidrs) && self.tunnelEndpoint.cidrs.exists(c, cidr(c).ip().family() == 6))", "SRv6 requires at least one IPv6 CIDR in tunnelEndpoint.cidrs"),
        ("!has(self.routeReflector) || !has(self.routeReflector.clusterID) || !isIP(self.routeReflector.clusterID) || !has(self.routerIDCIDR) || !isCIDR(self.routerIDCIDR) || !cidr(self.routerIDCIDR).containsIP(self.routeReflector.clusterID)", "routeReflector.clusterID must be outside the routerIDCIDR range"),
    ]))]
    pub struct UnderlaySpec {
        /// The local AS number, 1–4294967295.
        #[serde(default)]
        #[schemars(range(min = 1, max = 4294967295_i64))]
        pub asn: i64,
        /// Pool router IDs are taken from (host #(index+1)); default `10.0.0.0/24`.
        #[serde(
            default,
            rename = "routerIDCIDR",
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(extend("default" = "10.0.0.0/24"))]
        pub router_id_cidr: Option<String>,
        /// The fabric neighbours, 1–128.
        #[serde(default)]
        #[schemars(length(min = 1, max = 128), extend("x-kubernetes-list-type" = "atomic"))]
        pub neighbors: Vec<Neighbor>,
        /// The underlay interfaces (all of the same type), at least one.
        #[serde(default)]
        #[schemars(length(min = 1), extend("x-kubernetes-list-type" = "atomic"))]
        #[schemars(transform = cel(&[("self.all(i, i.type == self[0].type)", "all interfaces must be of the same type, mixing NetworkDevice and CNIDevice is not supported")]))]
        pub interfaces: Vec<UnderlayInterface>,
        /// The pool(s) VTEP addresses are taken from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tunnel_endpoint: Option<TunnelEndpointConfig>,
        /// BGP graceful restart timers (RFC 4724).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub graceful_restart: Option<GracefulRestartConfig>,
        /// IS-IS for SRv6 (upstream later scope; accepted and reported as unsupported).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "preserve_unknown_object")]
        pub isis: Option<serde_json::Value>,
        /// SRv6 (upstream later scope; accepted and reported as unsupported).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "preserve_unknown_object")]
        pub srv6: Option<serde_json::Value>,
        /// Route reflector settings (RFC 4456).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub route_reflector: Option<RouteReflectorConfig>,
    }
}

/// One underlay interface: `type` selects which of the two sub-structs is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
#[schemars(transform = cel(&[
    ("has(self.networkDevice) == (self.type == 'NetworkDevice')", "type/config mismatch: networkDevice must be set if and only if type is 'NetworkDevice'"),
    ("has(self.cniDevice) == (self.type == 'CNIDevice')", "type/config mismatch: cniDevice must be set if and only if type is 'CNIDevice'"),
]))]
pub struct UnderlayInterface {
    /// `NetworkDevice` or `CNIDevice`.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = ["NetworkDevice", "CNIDevice"]))]
    pub kind: String,
    /// An existing host NIC moved into the router namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_device: Option<NetworkDevice>,
    /// A device created by a CNI plugin (Multus-style raw config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_device: Option<CniDevice>,
}

/// An existing host NIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["interfaceName"]))]
pub struct NetworkDevice {
    /// Its kernel name, `^[a-zA-Z][a-zA-Z0-9._-]*$`, at most 15 characters.
    #[serde(default)]
    #[schemars(
        length(min = 1, max = 15),
        regex(pattern = r"^[a-zA-Z][a-zA-Z0-9._-]*$")
    )]
    pub interface_name: String,
}

/// A CNI-created underlay device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
#[schemars(transform = cel(&[("has(self.rawConfig) == (self.type == 'RawConfig')", "type/config mismatch: rawConfig must be set if and only if type is 'RawConfig'")]))]
pub struct CniDevice {
    /// `RawConfig`.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = ["RawConfig"]))]
    pub kind: String,
    /// The CNI configuration, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub raw_config: Option<serde_json::Value>,
    /// The device name in the router namespace (default `net1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9._-]*$"), extend("default" = "net1"))]
    pub interface_name: Option<String>,
    /// CNI runtime configuration, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub runtime_config: Option<serde_json::Value>,
}

/// Tunnel endpoint pools: at most one IPv4 and one IPv6 CIDR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["cidrs"]))]
pub struct TunnelEndpointConfig {
    /// 1–2 CIDRs; node #i gets host #i of each as its VTEP.
    #[serde(default)]
    #[schemars(length(min = 1, max = 2), extend("x-kubernetes-list-type" = "atomic"))]
    #[schemars(transform = cel(&[
        ("self.all(c, isCIDR(c))", "all entries must be valid CIDRs"),
        ("self.filter(c, isCIDR(c) && cidr(c).ip().family() == 4).size() <= 1", "at most one IPv4 CIDR is allowed"),
        ("self.filter(c, isCIDR(c) && cidr(c).ip().family() == 6).size() <= 1", "at most one IPv6 CIDR is allowed"),
    ]))]
    pub cidrs: Vec<String>,
}

/// Graceful restart timers (RFC 4724 §3, §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartConfig {
    /// Restart time advertised in the GR capability, 1–4095 s (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4095), extend("default" = 120))]
    pub restart_time_seconds: Option<i64>,
    /// How long a restarting peer's routes are kept as stale, 1–4095 s (default 360).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4095), extend("default" = 360))]
    pub stale_path_time_seconds: Option<i64>,
}

/// Route reflector settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteReflectorConfig {
    /// The cluster ID (RFC 4456 §7), an IPv4 address outside `routerIDCIDR`; default `192.0.2.1`.
    #[serde(default, rename = "clusterID", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 7, max = 15), extend("default" = "192.0.2.1"))]
    #[schemars(transform = cel(&[("isIP(self) && ip(self).family() == 4", "clusterID must be a valid IPv4 address")]))]
    pub cluster_id: Option<String>,
}

/// A BGP neighbour of the underlay (`neighbor.go`).
// `Debug` is written by hand: it redacts `password` (in Kubernetes mode the value resolved from
// a Secret), so logs never show a key. (Not a doc comment: doc comments become CRD descriptions.)
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(&[
    ("has(self.asn) || has(self.type)", "either ASN or Type must be set"),
    ("!has(self.asn) || !has(self.type)", "ASN and Type cannot be set together"),
    ("has(self.holdTimeSeconds) == has(self.keepaliveTimeSeconds)", "holdTimeSeconds and keepaliveTimeSeconds must be both set or both unset"),
    ("!has(self.holdTimeSeconds) || self.holdTimeSeconds == 0 || self.holdTimeSeconds >= 3", "holdTimeSeconds must be 0 or >=3"),
    ("!has(self.holdTimeSeconds) || !has(self.keepaliveTimeSeconds) || self.keepaliveTimeSeconds <= self.holdTimeSeconds", "keepaliveTimeSeconds must be lower than or equal to holdTimeSeconds"),
    ("has(self.address) || has(self.interface) || has(self.listenRange)", "Either a valid Address, Interface name or ListenRange must be provided for Neighbor"),
    ("!has(self.address) || !has(self.interface)", "Address and Interface cannot be set together for Neighbor"),
    ("!has(self.interface) || !has(self.addressFamilies) || !self.addressFamilies.exists(f, f.type == 'ipv4vpn' || f.type == 'ipv6vpn')", "ipv4vpn and ipv6vpn address families are not supported for unnumbered (interface) neighbors"),
    ("!has(self.address) || !has(self.addressFamilies) || ip(self.address).family() != 4 || !self.addressFamilies.exists(f, f.type == 'ipv4vpn' || f.type == 'ipv6vpn')", "ipv4vpn and ipv6vpn address families require an IPv6 neighbor address"),
    ("!has(self.listenRange) || !has(self.address)", "listenRange and address are mutually exclusive"),
    ("!has(self.listenRange) || !has(self.interface)", "listenRange and interface are mutually exclusive"),
    ("!has(self.password) || !has(self.passwordSecret)", "password and passwordSecret are mutually exclusive"),
    ("!(has(self.addressFamilies) && self.addressFamilies.exists(af, has(af.properties) && af.properties.exists(o, o.type == 'routeReflectorClient'))) || (has(self.type) && self.type == 'Internal')", "routeReflectorClient requires type Internal"),
]))]
pub struct Neighbor {
    /// The neighbour's AS; exactly one of `asn` and `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295_i64))]
    pub asn: Option<i64>,
    /// `External` or `Internal`; exactly one of `asn` and `type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["External", "Internal"]))]
    pub kind: Option<String>,
    /// The neighbour's IP address; exactly one of `address`, `interface`, `listenRange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 39))]
    #[schemars(transform = cel(&[("isIP(self)", "Address must be a valid IPv4 or IPv6 address")]))]
    pub address: Option<String>,
    /// An interface for an unnumbered session over IPv6 link-local (RFC 8950).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    #[schemars(transform = cel(&[
        (r"self.matches('^[^\\/:\\s]+$')", "Interface must not contain /, :, or whitespace"),
        ("self != '.' && self != '..'", "Interface cannot be . or .."),
    ]))]
    pub interface: Option<String>,
    /// Accept sessions from any address in this CIDR (dynamic neighbours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 43))]
    #[schemars(transform = cel(&[
        ("isCIDR(self)", "listenRange must be a valid CIDR"),
        ("!isCIDR(self) || cidr(self).ip().family() != 6 || !cidr(self).ip().isLinkLocalUnicast()", "listenRange must not be an IPv6 link-local range"),
    ]))]
    pub listen_range: Option<String>,
    /// The TCP port to dial, 0–16384 (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 16384))]
    pub port: Option<i64>,
    /// TCP-MD5 password (RFC 2385), at most 128 characters, no whitespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), regex(pattern = r"^\S+$"))]
    pub password: Option<String>,
    /// Name of a `kubernetes.io/basic-auth` Secret holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// Requested hold time (RFC 4271 §4.2): 0 or ≥ 3; with `keepaliveTimeSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time_seconds: Option<i64>,
    /// Keepalive interval, ≤ hold time; with `holdTimeSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time_seconds: Option<i64>,
    /// Connect-retry interval, 1–65535 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub connect_time_seconds: Option<i64>,
    /// Session features; at most one (`ebgpMultiHop`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub properties: Vec<NeighborProperty>,
    /// BFD settings (RFC 5880).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<BfdSettings>,
    /// Address families to enable; at most 4; empty = derived defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    #[schemars(transform = cel(&[("!(self.exists(f, f.type == 'evpn') && self.exists(f, f.type == 'ipv4vpn' || f.type == 'ipv6vpn'))", "EVPN and IPv4VPN/IPv6VPN address families are mutually exclusive")]))]
    pub address_families: Vec<NeighborAddressFamily>,
}

/// How a password shows in `Debug` output: whether there is one, never its value.
pub(crate) fn redacted(password: &Option<String>) -> Option<&'static str> {
    password.as_ref().map(|_| "<redacted>")
}

impl std::fmt::Debug for Neighbor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neighbor")
            .field("asn", &self.asn)
            .field("kind", &self.kind)
            .field("address", &self.address)
            .field("interface", &self.interface)
            .field("listen_range", &self.listen_range)
            .field("port", &self.port)
            .field("password", &redacted(&self.password))
            .field("password_secret", &self.password_secret)
            .field("hold_time_seconds", &self.hold_time_seconds)
            .field("keepalive_time_seconds", &self.keepalive_time_seconds)
            .field("connect_time_seconds", &self.connect_time_seconds)
            .field("properties", &self.properties)
            .field("bfd", &self.bfd)
            .field("address_families", &self.address_families)
            .finish()
    }
}

/// An optional session feature of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
#[schemars(transform = cel(&[("!has(self.ebgpMultiHop) || self.type == 'ebgpMultiHop'", "ebgpMultiHop parameters can only be set when type is ebgpMultiHop")]))]
pub struct NeighborProperty {
    /// `ebgpMultiHop`.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = ["ebgpMultiHop"]))]
    pub kind: String,
    /// Parameters of `ebgpMultiHop`.
    #[serde(
        default,
        rename = "ebgpMultiHop",
        skip_serializing_if = "Option::is_none"
    )]
    pub ebgp_multi_hop: Option<EbgpMultiHop>,
}

/// Parameters of the `ebgpMultiHop` property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EbgpMultiHop {
    /// Maximum hop count, 1–255 (default 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub ttl: Option<i64>,
}

/// BFD settings of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BfdSettings {
    /// Required min RX interval, 10–60000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub receive_interval: Option<i64>,
    /// Desired min TX interval, 10–60000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub transmit_interval: Option<i64>,
    /// Detection multiplier, 2–255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 255))]
    pub detect_multiplier: Option<i64>,
    /// `Active` or `Passive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Active", "Passive"]))]
    pub session_mode: Option<String>,
    /// Minimum TTL for multihop sessions, 1–254.
    #[serde(
        default,
        rename = "minimumTTL",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 254))]
    pub minimum_ttl: Option<i64>,
}

/// One address family of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
pub struct NeighborAddressFamily {
    /// `ipv4unicast`, `ipv6unicast`, `evpn`, `ipv4vpn` or `ipv6vpn`.
    #[serde(default, rename = "type")]
    #[schemars(length(min = 1, max = 11), extend("enum" = ["ipv4unicast", "ipv6unicast", "evpn", "ipv4vpn", "ipv6vpn"]))]
    pub kind: String,
    /// Per-family features (`routeReflectorClient`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub properties: Vec<AddressFamilyProperty>,
}

/// A per-family feature of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
pub struct AddressFamilyProperty {
    /// `routeReflectorClient`.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = ["routeReflectorClient"]))]
    pub kind: String,
}

/// The BGP session between the router and a speaker on the host (`hostsession.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["asn", "localCIDR"]))]
#[schemars(transform = cel(&[
    ("has(self.hostASN) || has(self.hostType)", "either HostASN or HostType must be set"),
    ("!has(self.hostASN) || !has(self.hostType)", "HostASN and HostType cannot be set together"),
]))]
pub struct HostSession {
    /// Our AS on this session.
    #[serde(default)]
    #[schemars(range(min = 1, max = 4294967295_i64))]
    pub asn: i64,
    /// The host speaker's AS; exactly one of `hostASN` and `hostType`.
    #[serde(default, rename = "hostASN", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295_i64))]
    pub host_asn: Option<i64>,
    /// `External` or `Internal`; exactly one of `hostASN` and `hostType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["External", "Internal"]))]
    pub host_type: Option<String>,
    /// The veth pools (at least one family). Immutable upstream.
    #[serde(default, rename = "localCIDR")]
    #[schemars(transform = cel(&[("self == oldSelf", "LocalCIDR can't be changed")]))]
    pub local_cidr: LocalCidr,
}

/// The veth pools of a host session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cel(&[("has(self.ipv4) || has(self.ipv6)", "at least one of ipv4 or ipv6 must be specified")]))]
pub struct LocalCidr {
    /// IPv4 pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// IPv6 pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

config_kind! {
    kube(
        kind = "L3VNI",
        root = "L3Vni",
        doc = "L3VNI represents a VXLan L3VNI to receive EVPN type 5 routes from."
    ),
    derive(Eq),
    vxlan(vni = "The L3VNI, 1–16777215."),
    /// An L3 overlay: a VRF bound to a VXLAN VNI, with EVPN type-5 routes (`l3vni_types.go`).
    #[schemars(transform = required(&["vrf", "vni"]))]
    #[schemars(transform = cel(&[("!has(self.hostSession) || !has(self.hostSession.hostASN) || self.hostSession.hostASN != self.hostSession.asn", "hostASN must be different from asn")]))]
    pub struct L3VniSpec {
        /// The VRF's kernel name, 1–15 chars, `^[a-zA-Z][a-zA-Z0-9_-]*$`.
        #[serde(default)]
        #[schemars(
            length(min = 1, max = 15),
            regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$")
        )]
        pub vrf: String,
        /// The session with the host speaker in this VRF.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub host_session: Option<HostSession>,
        /// Route targets to export with (`ASN:NN` / `A.B.C.D:NN`), ≤ 100; empty = auto.
        #[serde(default, rename = "exportRTs", skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 100), inner(length(max = 21)), extend("x-kubernetes-list-type" = "atomic"))]
        pub export_rts: Vec<String>,
        /// Route targets to import, ≤ 100; empty = auto.
        #[serde(default, rename = "importRTs", skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 100), inner(length(max = 21)), extend("x-kubernetes-list-type" = "atomic"))]
        pub import_rts: Vec<String>,
    }
}

config_kind! {
    kube(
        kind = "L2VNI",
        root = "L2Vni",
        doc = "L2VNI represents a VXLan VNI to receive EVPN type 2 routes from."
    ),
    derive(Eq),
    vxlan(vni = "The L2VNI, 1–16777215."),
    /// An L2 overlay: a bridge stretched over VXLAN with EVPN type-2/3 (`l2vni_types.go`).
    #[schemars(transform = required(&["vni"]))]
    #[schemars(transform = cel(&[("!has(self.gatewayIPs) || size(self.gatewayIPs) == 0 || has(self.routingDomain)", "gatewayIPs cannot be set without routingDomain")]))]
    pub struct L2VniSpec {
        /// The routing domain (an L3VNI) this segment is attached to; none = pure L2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub routing_domain: Option<RoutingDomain>,
        /// Where the host leg of the veth is attached.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub host_master: Option<HostMaster>,
        /// Distributed anycast gateway addresses (CIDR), ≤ 2, one per family, only with a routing domain.
        #[serde(default, rename = "gatewayIPs", skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 2), extend("x-kubernetes-list-type" = "atomic"))]
        #[schemars(transform = cel(&[("self == oldSelf", "GatewayIPs cannot be changed")]))]
        pub gateway_ips: Vec<String>,
    }
}

/// A reference to the resource providing an L2VNI's routing domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
#[schemars(transform = cel(&[
    ("self.type != 'L3VNI' || (has(self.l3vni) && !has(self.l3vpn))", "type L3VNI requires l3vni to be set and l3vpn to be unset"),
    ("self.type != 'L3VPN' || (has(self.l3vpn) && !has(self.l3vni))", "type L3VPN requires l3vpn to be set and l3vni to be unset"),
]))]
pub struct RoutingDomain {
    /// `L3VNI` or `L3VPN`.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = ["L3VNI", "L3VPN"]))]
    pub kind: String,
    /// The L3VNI by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3vni: Option<NameRef>,
    /// The L3VPN by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3vpn: Option<NameRef>,
}

/// A reference by `metadata.name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = required(&["name"]))]
pub struct NameRef {
    /// The referenced resource's name.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Where an L2VNI's host leg is attached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type"]))]
#[schemars(transform = cel(&[("(self.type == 'LinuxBridge' && has(self.linuxBridge) && !has(self.ovsBridge)) || (self.type == 'OVSBridge' && has(self.ovsBridge) && !has(self.linuxBridge))", "type/config mismatch: 'LinuxBridge' requires linuxBridge field, 'OVSBridge' requires ovsBridge field")]))]
pub struct HostMaster {
    /// `LinuxBridge` or `OVSBridge`.
    #[serde(default, rename = "type")]
    #[schemars(extend("enum" = ["LinuxBridge", "OVSBridge"]))]
    pub kind: String,
    /// Linux bridge settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_bridge: Option<BridgeConfig>,
    /// OVS bridge settings.
    #[serde(default, rename = "ovsBridge", skip_serializing_if = "Option::is_none")]
    pub ovs_bridge: Option<BridgeConfig>,
}

/// A host bridge: managed (`br-hs-<vni>`, created and deleted by us) or external (named, existing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["lifecycle"]))]
// Upstream writes this rule with CEL optionals (`self.?name.orValue("")`); this is the same rule
// without them, so it also holds on API servers and client-side evaluators lacking that library.
#[schemars(transform = cel(&[(r#"(has(self.name) && self.name != "") != (self.lifecycle == 'Managed')"#, "name must be set when lifecycle is External, and must not be set when it is Managed.")]))]
pub struct BridgeConfig {
    /// `Managed` or `External`.
    #[serde(default)]
    #[schemars(extend("enum" = ["Managed", "External"]))]
    pub lifecycle: String,
    /// The bridge name; required iff `External`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$"))]
    pub name: Option<String>,
}

config_kind! {
    kube(
        kind = "L3Passthrough",
        doc = "L3Passthrough represents a session with the host which is not encapsulated and takes part to the BGP fabric."
    ),
    derive(Eq),
    /// A host session without encapsulation, in the default table (`l3passthrough_types.go`).
    #[schemars(transform = required(&["hostSession"]))]
    pub struct L3PassthroughSpec {
        /// The session with the host speaker.
        #[serde(default)]
        pub host_session: HostSession,
    }
}

/// A resource as the static files carry it: the spec inlined beside its `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named<T> {
    /// Becomes the resource's `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// The resource's spec.
    #[serde(flatten)]
    pub spec: T,
}

/// The `status` of the four configuration kinds: empty, as upstream's (`L3VNIStatus{}` …); the
/// per-node outcome lives in `RouterNodeConfigurationStatus` instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceStatus {}

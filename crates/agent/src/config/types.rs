//! OpenPERouter's API types (`network.openperouter.io/v1alpha1`), field for field.
//!
//! These structs mirror upstream's Go types (`api/v1alpha1/*.go`) with the same lowerCamelCase JSON
//! names, so any resource or static file upstream accepts deserializes here unchanged. They are the
//! *spec layer*: numbers stay `i64` and enums stay strings, exactly as loose as upstream's wire
//! format, so that a bad value in one resource becomes a validation error naming that resource and
//! field (see [`super::validate`]) instead of a parse error that would reject the whole file.
//! Validation turns them into the typed model in [`super::model`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A Kubernetes label selector (`metav1.LabelSelector`); empty selects every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key the requirement applies to.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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

/// The fabric side of the node (`UnderlaySpec`): our AS, the ToR neighbours, the NIC(s) that lead
/// to them and the pool VTEP addresses are taken from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnderlaySpec {
    /// Which nodes this underlay applies to; empty = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// The local AS number, 1–4294967295.
    #[serde(default)]
    pub asn: i64,
    /// Pool router IDs are taken from (host #(index+1)); default `10.0.0.0/24`.
    #[serde(default, rename = "routerIDCIDR", skip_serializing_if = "Option::is_none")]
    pub router_id_cidr: Option<String>,
    /// The fabric neighbours, 1–128.
    #[serde(default)]
    pub neighbors: Vec<Neighbor>,
    /// The underlay interfaces (all of the same type), at least one.
    #[serde(default)]
    pub interfaces: Vec<UnderlayInterface>,
    /// The pool(s) VTEP addresses are taken from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_endpoint: Option<TunnelEndpointConfig>,
    /// BGP graceful restart timers (RFC 4724).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// IS-IS for SRv6 (upstream later scope; accepted and reported as unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isis: Option<serde_json::Value>,
    /// SRv6 (upstream later scope; accepted and reported as unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srv6: Option<serde_json::Value>,
    /// Route reflector settings (RFC 4456).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_reflector: Option<RouteReflectorConfig>,
}

/// One underlay interface: `type` selects which of the two sub-structs is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnderlayInterface {
    /// `NetworkDevice` or `CNIDevice`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// An existing host NIC moved into the router namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_device: Option<NetworkDevice>,
    /// A device created by a CNI plugin (Multus-style raw config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_device: Option<CniDevice>,
}

/// An existing host NIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDevice {
    /// Its kernel name, `^[a-zA-Z][a-zA-Z0-9._-]*$`, at most 15 characters.
    #[serde(default)]
    pub interface_name: String,
}

/// A CNI-created underlay device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniDevice {
    /// `RawConfig`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The CNI configuration, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_config: Option<serde_json::Value>,
    /// The device name in the router namespace (default `net1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// CNI runtime configuration, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_config: Option<serde_json::Value>,
}

/// Tunnel endpoint pools: at most one IPv4 and one IPv6 CIDR.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelEndpointConfig {
    /// 1–2 CIDRs; node #i gets host #i of each as its VTEP.
    #[serde(default)]
    pub cidrs: Vec<String>,
}

/// Graceful restart timers (RFC 4724 §3, §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestartConfig {
    /// Restart time advertised in the GR capability, 1–4095 s (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_time_seconds: Option<i64>,
    /// How long a restarting peer's routes are kept as stale, 1–4095 s (default 360).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_path_time_seconds: Option<i64>,
}

/// Route reflector settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteReflectorConfig {
    /// The cluster ID (RFC 4456 §7), an IPv4 address outside `routerIDCIDR`; default `192.0.2.1`.
    #[serde(default, rename = "clusterID", skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// A BGP neighbour of the underlay (`neighbor.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Neighbor {
    /// The neighbour's AS; exactly one of `asn` and `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<i64>,
    /// `External` or `Internal`; exactly one of `asn` and `type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The neighbour's IP address; exactly one of `address`, `interface`, `listenRange`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// An interface for an unnumbered session over IPv6 link-local (RFC 8950).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Accept sessions from any address in this CIDR (dynamic neighbours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_range: Option<String>,
    /// The TCP port to dial, 0–16384 (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// TCP-MD5 password (RFC 2385), at most 128 characters, no whitespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub connect_time_seconds: Option<i64>,
    /// Session features; at most one (`ebgpMultiHop`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<NeighborProperty>,
    /// BFD settings (RFC 5880).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<BfdSettings>,
    /// Address families to enable; at most 4; empty = derived defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_families: Vec<NeighborAddressFamily>,
}

/// An optional session feature of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeighborProperty {
    /// `ebgpMultiHop`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Parameters of `ebgpMultiHop`.
    #[serde(default, rename = "ebgpMultiHop", skip_serializing_if = "Option::is_none")]
    pub ebgp_multi_hop: Option<EbgpMultiHop>,
}

/// Parameters of the `ebgpMultiHop` property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EbgpMultiHop {
    /// Maximum hop count, 1–255 (default 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// BFD settings of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BfdSettings {
    /// Required min RX interval, 10–60000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_interval: Option<i64>,
    /// Desired min TX interval, 10–60000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmit_interval: Option<i64>,
    /// Detection multiplier, 2–255.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect_multiplier: Option<i64>,
    /// `Active` or `Passive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_mode: Option<String>,
    /// Minimum TTL for multihop sessions, 1–254.
    #[serde(default, rename = "minimumTTL", skip_serializing_if = "Option::is_none")]
    pub minimum_ttl: Option<i64>,
}

/// One address family of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeighborAddressFamily {
    /// `ipv4unicast`, `ipv6unicast`, `evpn`, `ipv4vpn` or `ipv6vpn`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Per-family features (`routeReflectorClient`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<AddressFamilyProperty>,
}

/// A per-family feature of a neighbour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressFamilyProperty {
    /// `routeReflectorClient`.
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// The BGP session between the router and a speaker on the host (`hostsession.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSession {
    /// Our AS on this session.
    #[serde(default)]
    pub asn: i64,
    /// The host speaker's AS; exactly one of `hostASN` and `hostType`.
    #[serde(default, rename = "hostASN", skip_serializing_if = "Option::is_none")]
    pub host_asn: Option<i64>,
    /// `External` or `Internal`; exactly one of `hostASN` and `hostType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_type: Option<String>,
    /// The veth pools (at least one family). Immutable upstream.
    #[serde(default, rename = "localCIDR")]
    pub local_cidr: LocalCidr,
}

/// The veth pools of a host session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalCidr {
    /// IPv4 pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// IPv6 pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

/// An L3 overlay: a VRF bound to a VXLAN VNI, with EVPN type-5 routes (`l3vni_types.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L3VniSpec {
    /// Which nodes; empty = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// The VRF's kernel name, 1–15 chars, `^[a-zA-Z][a-zA-Z0-9_-]*$`.
    #[serde(default)]
    pub vrf: String,
    /// The L3VNI, 1–16777215.
    #[serde(default)]
    pub vni: i64,
    /// VXLAN UDP port (default 4789).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_port: Option<i64>,
    /// `IPv4` or `IPv6`: which VTEP family the VXLAN device uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_address_family: Option<String>,
    /// The session with the host speaker in this VRF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_session: Option<HostSession>,
    /// Route targets to export with (`ASN:NN` / `A.B.C.D:NN`), ≤ 100; empty = auto.
    #[serde(default, rename = "exportRTs", skip_serializing_if = "Vec::is_empty")]
    pub export_rts: Vec<String>,
    /// Route targets to import, ≤ 100; empty = auto.
    #[serde(default, rename = "importRTs", skip_serializing_if = "Vec::is_empty")]
    pub import_rts: Vec<String>,
}

/// An L2 overlay: a bridge stretched over VXLAN with EVPN type-2/3 (`l2vni_types.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L2VniSpec {
    /// Which nodes; empty = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// The routing domain (an L3VNI) this segment is attached to; none = pure L2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_domain: Option<RoutingDomain>,
    /// The L2VNI, 1–16777215.
    #[serde(default)]
    pub vni: i64,
    /// VXLAN UDP port (default 4789).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan_port: Option<i64>,
    /// `IPv4` or `IPv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_address_family: Option<String>,
    /// Where the host leg of the veth is attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_master: Option<HostMaster>,
    /// Distributed anycast gateway addresses (CIDR), ≤ 2, one per family, only with a routing domain.
    #[serde(default, rename = "gatewayIPs", skip_serializing_if = "Vec::is_empty")]
    pub gateway_ips: Vec<String>,
}

/// A reference to the resource providing an L2VNI's routing domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingDomain {
    /// `L3VNI` or `L3VPN`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The L3VNI by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3vni: Option<NameRef>,
    /// The L3VPN by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3vpn: Option<NameRef>,
}

/// A reference by `metadata.name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRef {
    /// The referenced resource's name.
    #[serde(default)]
    pub name: String,
}

/// Where an L2VNI's host leg is attached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostMaster {
    /// `LinuxBridge` or `OVSBridge`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Linux bridge settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_bridge: Option<BridgeConfig>,
    /// OVS bridge settings.
    #[serde(default, rename = "ovsBridge", skip_serializing_if = "Option::is_none")]
    pub ovs_bridge: Option<BridgeConfig>,
}

/// A host bridge: managed (`br-hs-<vni>`, created and deleted by us) or external (named, existing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeConfig {
    /// `Managed` or `External`.
    #[serde(default)]
    pub lifecycle: String,
    /// The bridge name; required iff `External`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A host session without encapsulation, in the default table (`l3passthrough_types.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L3PassthroughSpec {
    /// Which nodes; empty = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// The session with the host speaker.
    #[serde(default)]
    pub host_session: HostSession,
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

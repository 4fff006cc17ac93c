//! Configuration of the speaker and its neighbours, as plain serde values.
//!
//! A neighbour is reached by address, by interface (unnumbered: the peer's
//! IPv6 link-local address is learnt from the interface, RFC 8950 extended
//! next hop carries IPv4 over it) or accepted from a listen range (dynamic
//! neighbours). Every knob here maps to one behaviour of the FSM, the session
//! driver or the speaker.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The AS a neighbour must present in its OPEN: a number, or any AS other
/// than ours (`external`), or ours (`internal`) — FRR's `remote-as` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RemoteAs {
    /// Exactly this AS.
    Number(u32),
    /// `external` / `internal`.
    Kind(AsKind),
}

/// The symbolic forms of [`RemoteAs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AsKind {
    /// Any AS but ours: eBGP.
    External,
    /// Our AS: iBGP.
    Internal,
}

impl std::fmt::Display for RemoteAs {
    /// `65001`, `external` or `internal`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteAs::Number(n) => write!(f, "{n}"),
            RemoteAs::Kind(AsKind::External) => f.write_str("external"),
            RemoteAs::Kind(AsKind::Internal) => f.write_str("internal"),
        }
    }
}

impl RemoteAs {
    /// Whether the AS the peer presented (`peer_as`) is acceptable when our
    /// AS is `local_as` (RFC 4271 §6.2, Bad Peer AS otherwise).
    pub fn accepts(&self, local_as: u32, peer_as: u32) -> bool {
        match self {
            RemoteAs::Number(n) => *n == peer_as,
            RemoteAs::Kind(AsKind::External) => peer_as != local_as,
            RemoteAs::Kind(AsKind::Internal) => peer_as == local_as,
        }
    }

    /// The AS to expect for the purposes of sending our OPEN and choosing
    /// iBGP/eBGP before the peer's OPEN arrives, if it is known.
    pub fn is_internal(&self, local_as: u32) -> Option<bool> {
        match self {
            RemoteAs::Number(n) => Some(*n == local_as),
            RemoteAs::Kind(AsKind::External) => Some(false),
            RemoteAs::Kind(AsKind::Internal) => Some(true),
        }
    }
}

/// An address family a session carries, in configuration spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// AFI 1 / SAFI 1.
    Ipv4Unicast,
    /// AFI 2 / SAFI 1.
    Ipv6Unicast,
    /// AFI 25 / SAFI 70 (RFC 7432).
    L2vpnEvpn,
}

impl Family {
    /// (AFI, SAFI) numbers from the IANA registries.
    pub fn afi_safi(self) -> (u16, u8) {
        match self {
            Family::Ipv4Unicast => (1, 1),
            Family::Ipv6Unicast => (2, 1),
            Family::L2vpnEvpn => (25, 70),
        }
    }

    /// The family for (AFI, SAFI), if we support it.
    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Self> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            (25, 70) => Some(Family::L2vpnEvpn),
            _ => None,
        }
    }
}

/// ADD-PATH (RFC 7911) wishes for one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPathConfig {
    /// The family.
    pub family: Family,
    /// We want to receive multiple paths.
    #[serde(default)]
    pub receive: bool,
    /// We are able to send multiple paths.
    #[serde(default)]
    pub send: bool,
}

/// Graceful restart (RFC 4724) settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GracefulRestartConfig {
    /// Advertise the capability and act as helper for peers that restart.
    pub enabled: bool,
    /// Restart Time we advertise (seconds, 12 bits).
    pub restart_time: u16,
    /// How long a restarting peer's routes are kept as stale after the
    /// session comes back, waiting for its End-of-RIB (seconds).
    pub stale_time: u16,
    /// We preserved forwarding state across our own restart (F bit, RFC 4724
    /// §3): peers keep our routes as stale while we come back.
    pub forwarding_preserved: bool,
    /// This process is a restart (the agent found the datapath it left):
    /// the Restart State (R) bit is set in our OPENs until each session has
    /// been re-established once (RFC 4724 §4.1), and
    /// [`crate::fsm::SessionParams::local_restarting`] tells the RIB to
    /// defer best-path until the peers' End-of-RIBs.
    pub restarting: bool,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            restart_time: 120,
            stale_time: 360,
            forwarding_preserved: false,
            restarting: false,
        }
    }
}

fn default_port() -> u16 {
    179
}
fn default_hold() -> u16 {
    90
}
fn default_connect_retry() -> u16 {
    5
}
fn default_connect_retry_max() -> u16 {
    120
}
fn default_max_prefix_restart() -> u16 {
    60
}
fn default_families() -> Vec<Family> {
    vec![Family::Ipv4Unicast]
}
fn default_true() -> bool {
    true
}

/// Everything that shapes one neighbour's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The AS the peer must present.
    pub remote_as: RemoteAs,
    /// Our AS towards this peer, if not the speaker's.
    #[serde(default)]
    pub local_as: Option<u32>,
    /// Families to offer (MP-BGP, RFC 4760); the session carries the
    /// intersection with the peer's.
    #[serde(default = "default_families")]
    pub families: Vec<Family>,
    /// Hold time we propose (seconds; 0 = none, else >= 3).
    #[serde(default = "default_hold")]
    pub hold_time: u16,
    /// Keepalive interval; default hold/3.
    #[serde(default)]
    pub keepalive: Option<u16>,
    /// First connect-retry delay (seconds), doubling on failures.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u16,
    /// Cap of the connect-retry backoff (seconds).
    #[serde(default = "default_connect_retry_max")]
    pub connect_retry_max: u16,
    /// TCP port of the peer.
    #[serde(default = "default_port")]
    pub port: u16,
    /// TCP-MD5 password (RFC 2385).
    #[serde(default)]
    pub password: Option<String>,
    /// eBGP multihop: outgoing TTL.
    #[serde(default)]
    pub ebgp_multihop: Option<u8>,
    /// GTSM (RFC 5082): accept packets at most this many hops away.
    #[serde(default)]
    pub ttl_security_hops: Option<u8>,
    /// Never connect, only accept.
    #[serde(default)]
    pub passive: bool,
    /// Source address for the TCP connection.
    #[serde(default)]
    pub local_address: Option<IpAddr>,
    /// Maximum prefixes accepted; beyond it the session is closed with
    /// Cease / Maximum Number of Prefixes Reached (RFC 4486).
    #[serde(default)]
    pub max_prefix: Option<u32>,
    /// How long (seconds) after Cease / Maximum Number of Prefixes Reached
    /// the session stays down before it may come back.
    #[serde(default = "default_max_prefix_restart")]
    pub max_prefix_restart: u16,
    /// RFC 9687 SendHoldTimer (seconds): a peer that reads nothing of what
    /// is queued for it for this long is closed with Send Hold Timer
    /// Expired. `None`: the larger of 8 minutes and twice the hold time;
    /// 0: disabled.
    #[serde(default)]
    pub send_hold_time: Option<u32>,
    /// Accept routes with our AS in the path up to this many times (RIB policy).
    #[serde(default)]
    pub allowas_in: Option<u8>,
    /// Rewrite next hop to ourselves when advertising (RIB policy).
    #[serde(default)]
    pub next_hop_self: bool,
    /// The peer is a route-reflector client (RIB policy, RFC 4456).
    #[serde(default)]
    pub route_reflector_client: bool,
    /// Offer the extended message capability (RFC 8654).
    #[serde(default = "default_true")]
    pub extended_message: bool,
    /// Offer route refresh and enhanced route refresh (RFC 2918, RFC 7313).
    #[serde(default = "default_true")]
    pub route_refresh: bool,
    /// ADD-PATH wishes per family.
    #[serde(default)]
    pub add_path: Vec<AddPathConfig>,
    /// Graceful restart.
    #[serde(default)]
    pub graceful_restart: GracefulRestartConfig,
    /// Offer RFC 8950 extended next hop (IPv4 NLRI over an IPv6 next hop);
    /// always on for unnumbered neighbours.
    #[serde(default)]
    pub extended_next_hop: bool,
    /// Free text, for logs.
    #[serde(default)]
    pub description: Option<String>,
    /// The VRF (or any device) the session's socket is bound to (`SO_BINDTODEVICE`): host
    /// sessions of an L3VNI run inside its VRF. Incoming connections in a VRF are accepted by
    /// the default listener when `net.ipv4.tcp_l3mdev_accept` is 1.
    #[serde(default)]
    pub vrf: Option<String>,
}

impl PeerConfig {
    /// A peer with defaults for everything but the remote AS.
    pub fn new(remote_as: RemoteAs) -> Self {
        Self {
            remote_as,
            local_as: None,
            families: default_families(),
            hold_time: default_hold(),
            keepalive: None,
            connect_retry: default_connect_retry(),
            connect_retry_max: default_connect_retry_max(),
            port: default_port(),
            password: None,
            ebgp_multihop: None,
            ttl_security_hops: None,
            passive: false,
            local_address: None,
            max_prefix: None,
            max_prefix_restart: default_max_prefix_restart(),
            send_hold_time: None,
            allowas_in: None,
            next_hop_self: false,
            route_reflector_client: false,
            extended_message: true,
            route_refresh: true,
            add_path: Vec::new(),
            graceful_restart: GracefulRestartConfig::default(),
            extended_next_hop: false,
            description: None,
            vrf: None,
        }
    }

    /// The first connect-retry delay.
    pub fn connect_retry_duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.connect_retry.max(1)))
    }

    /// The cap of the connect-retry backoff.
    pub fn connect_retry_max_duration(&self) -> Duration {
        Duration::from_secs(u64::from(
            self.connect_retry_max.max(self.connect_retry).max(1),
        ))
    }

    /// Checks values the RFCs forbid (hold time 1 or 2, RFC 4271 §4.2).
    pub fn validate(&self) -> Result<(), String> {
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(format!(
                "hold-time {} is not allowed: 0 or at least 3",
                self.hold_time
            ));
        }
        if self.families.is_empty() {
            return Err("no address family configured".into());
        }
        if let Some(p) = &self.password {
            if p.len() > 80 {
                return Err("TCP-MD5 password longer than 80 bytes".into());
            }
        }
        Ok(())
    }
}

/// How a neighbour is found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeighborTarget {
    /// A numbered neighbour at this address.
    Address(IpAddr),
    /// An unnumbered neighbour on this interface (IPv6 link-local).
    Interface(String),
    /// Dynamic neighbours accepted from this prefix.
    ListenRange(IpNet),
}

impl std::fmt::Display for NeighborTarget {
    /// The address, `interface eth0`, or `range 10.0.0.0/24`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NeighborTarget::Address(a) => write!(f, "{a}"),
            NeighborTarget::Interface(i) => write!(f, "interface {i}"),
            NeighborTarget::ListenRange(n) => write!(f, "range {n}"),
        }
    }
}

/// One neighbour entry of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborConfig {
    /// Where the neighbour is.
    #[serde(flatten)]
    pub target: NeighborTarget,
    /// For listen ranges: the most sessions accepted at once.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The session settings.
    #[serde(flatten)]
    pub peer: PeerConfig,
}

/// The speaker as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeakerConfig {
    /// Our AS.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Addresses to listen on (port included); empty = do not listen.
    #[serde(default)]
    pub listen: Vec<std::net::SocketAddr>,
    /// Network namespace for every socket (`/var/run/netns/NAME`).
    #[serde(default)]
    pub netns: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_as_forms() {
        assert!(RemoteAs::Number(65001).accepts(65000, 65001));
        assert!(!RemoteAs::Number(65001).accepts(65000, 65002));
        let ext = RemoteAs::Kind(AsKind::External);
        assert!(ext.accepts(65000, 65001) && !ext.accepts(65000, 65000));
        let int = RemoteAs::Kind(AsKind::Internal);
        assert!(int.accepts(65000, 65000) && !int.accepts(65000, 1));
    }

    #[test]
    fn peer_config_from_json_with_defaults() {
        let p: PeerConfig =
            serde_json::from_str(r#"{"remote_as":"external","families":["l2vpn-evpn"]}"#).unwrap();
        assert_eq!(p.remote_as, RemoteAs::Kind(AsKind::External));
        assert_eq!(p.hold_time, 90);
        assert_eq!(p.families, vec![Family::L2vpnEvpn]);
        let n: NeighborConfig =
            serde_json::from_str(r#"{"address":"192.0.2.1","remote_as":4200000001}"#).unwrap();
        assert_eq!(
            n.target,
            NeighborTarget::Address("192.0.2.1".parse().unwrap())
        );
        assert_eq!(n.peer.remote_as, RemoteAs::Number(4_200_000_001));
        let bad = PeerConfig {
            hold_time: 2,
            ..PeerConfig::new(RemoteAs::Number(1))
        };
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<PeerConfig>(r#"{"remote_as":1,"bogus":1}"#).is_err());
    }

    #[test]
    fn families_map_to_iana_numbers() {
        for f in [Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn] {
            let (a, s) = f.afi_safi();
            assert_eq!(Family::from_afi_safi(a, s), Some(f));
        }
        assert_eq!(Family::from_afi_safi(1, 128), None);
    }
}

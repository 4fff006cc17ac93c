//! Building our OPEN and judging the peer's (RFC 4271 §6.2, RFC 5492):
//! capability negotiation into [`SessionParams`] and the NOTIFICATION to
//! send when the peer's OPEN is unacceptable.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::timers::{keepalive_interval, negotiate_hold_time};
use super::FsmConfig;
use crate::config::Family;
use crate::wire::{
    capability::code as cap, AddPathFamilies, AddPathMode, Afi, AfiSafi, Capability, ErrorCode,
    GracefulRestart, Notification, Open, OpenSubcode, WireContext,
};

/// The peer's graceful restart capability as it matters to a helper
/// (RFC 4724 §3, §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerGracefulRestart {
    /// How long to keep its routes after the session drops (seconds).
    pub restart_time: u16,
    /// The peer says it has just restarted (R bit).
    pub restarting: bool,
    /// Families for which it keeps forwarding state, with the F bit.
    pub families: Vec<(AfiSafi, bool)>,
}

/// Everything the OPEN exchange decided (RFC 4271 §4.2, RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionParams {
    /// Our AS on this session.
    pub local_as: u32,
    /// The peer's AS (from the 4-octet AS capability when present).
    pub peer_as: u32,
    /// Our BGP identifier.
    pub local_id: Ipv4Addr,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// Internal (same AS) session.
    pub ibgp: bool,
    /// Negotiated hold time in seconds (0 = none).
    pub hold_time: u16,
    /// Keepalive interval, if keepalives are sent.
    pub keepalive: Option<Duration>,
    /// Families both sides offered.
    pub families: Vec<AfiSafi>,
    /// 4-octet AS numbers (RFC 6793) both ways.
    pub four_octet_as: bool,
    /// Extended messages (RFC 8654) both ways.
    pub extended_message: bool,
    /// The peer accepts ROUTE-REFRESH (RFC 2918).
    pub route_refresh: bool,
    /// Enhanced route refresh (RFC 7313) on both sides.
    pub enhanced_route_refresh: bool,
    /// Families for which the peer may send us path ids.
    pub add_path_receive: Vec<AfiSafi>,
    /// Families for which we may send path ids.
    pub add_path_send: Vec<AfiSafi>,
    /// RFC 8950: (NLRI family, next-hop AFI) pairs both sides support.
    pub extended_next_hop: Vec<(AfiSafi, Afi)>,
    /// The peer's graceful restart capability (we act as helper), when we
    /// advertised GR too.
    pub graceful_restart: Option<PeerGracefulRestart>,
    /// We set the Restart State (R) bit in our OPEN on this session: we are
    /// the restarting speaker (RFC 4724 §4.1). The RIB then defers its
    /// best-path decisions until the peers' End-of-RIBs (or its own timer),
    /// and sends our End-of-RIB after the initial dump, as on every session.
    pub local_restarting: bool,
    /// The neighbour is configured as our route-reflector client
    /// ([`crate::config::PeerConfig::route_reflector_client`]), carried here so that
    /// whoever takes the session's routes applies the reflection rules (RFC 4456 §8).
    pub route_reflector_client: bool,
    /// Every capability the peer's OPEN carried, by [`Capability::name`] (RFC 5492), in its
    /// order: what it offered, whether or not we use it.
    pub peer_capabilities: Vec<String>,
    /// How we decode what the peer sends.
    #[serde(skip)]
    pub rx: WireContext,
    /// How we encode what we send.
    #[serde(skip)]
    pub tx: WireContext,
}

impl SessionParams {
    /// Whether `family` was negotiated.
    pub fn has_family(&self, family: AfiSafi) -> bool {
        self.families.contains(&family)
    }
}

/// Why the peer's OPEN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Version other than 4.
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    /// AS not the configured one.
    #[error("bad peer AS {got} (configured {expected})")]
    BadPeerAs {
        /// What the peer said.
        got: u32,
        /// What we wanted.
        expected: String,
    },
    /// Zero, or equal to ours on an iBGP session (RFC 6286 §2.2).
    #[error("bad BGP identifier {0}")]
    BadBgpId(Ipv4Addr),
    /// 1 or 2 seconds.
    #[error("unacceptable hold time {0}")]
    UnacceptableHoldTime(u16),
    /// No family in common.
    #[error("no common address family (we offer {ours:?}, peer offers {theirs:?})")]
    NoCommonFamily {
        /// Our families.
        ours: Vec<AfiSafi>,
        /// The peer's.
        theirs: Vec<AfiSafi>,
    },
}

impl OpenError {
    /// The NOTIFICATION that reports this error (RFC 4271 §6.2, RFC 5492 §5).
    pub fn notification(&self) -> Notification {
        let (sub, data) = match self {
            OpenError::UnsupportedVersion(_) => (
                OpenSubcode::UnsupportedVersionNumber,
                Bytes::from_static(&[0, 4]),
            ),
            OpenError::BadPeerAs { .. } => (OpenSubcode::BadPeerAs, Bytes::new()),
            OpenError::BadBgpId(_) => (OpenSubcode::BadBgpIdentifier, Bytes::new()),
            OpenError::UnacceptableHoldTime(_) => (OpenSubcode::UnacceptableHoldTime, Bytes::new()),
            OpenError::NoCommonFamily { ours, .. } => {
                // RFC 5492 §5: the data lists the capabilities we require.
                let mut b = BytesMut::new();
                for f in ours {
                    b.put_u8(cap::MULTIPROTOCOL);
                    b.put_u8(4);
                    b.put_u16(f.afi.to_u16());
                    b.put_u8(0);
                    b.put_u8(f.safi.to_u8());
                }
                (OpenSubcode::UnsupportedCapability, b.freeze())
            }
        };
        Notification::new(ErrorCode::Open(sub), data)
    }
}

/// The wire family of a configured one.
pub fn afi_safi(f: Family) -> AfiSafi {
    match f {
        Family::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
        Family::L2vpnEvpn => AfiSafi::L2VPN_EVPN,
    }
}

/// Our OPEN for this peer: MP for each configured family, route refresh and
/// enhanced route refresh, 4-octet AS, extended message, ADD-PATH, extended
/// next hop and graceful restart as configured. `restarting` sets the GR
/// Restart State bit (RFC 4724 §3): only in the OPENs sent after our own
/// restart, until the session has been re-established.
pub fn build_open(cfg: &FsmConfig, restarting: bool) -> Open {
    let p = &cfg.peer;
    let mut caps: Vec<Capability> = p
        .families
        .iter()
        .map(|f| Capability::MultiProtocol(afi_safi(*f)))
        .collect();
    if p.route_refresh {
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::EnhancedRouteRefresh);
    }
    caps.push(Capability::FourOctetAs(cfg.local_as));
    if p.extended_message {
        caps.push(Capability::ExtendedMessage);
    }
    if !p.add_path.is_empty() {
        let fams = p
            .add_path
            .iter()
            .filter(|a| a.send || a.receive)
            .map(|a| {
                let mode = match (a.send, a.receive) {
                    (true, true) => AddPathMode::Both,
                    (true, false) => AddPathMode::Send,
                    _ => AddPathMode::Receive,
                };
                (afi_safi(a.family), mode)
            })
            .collect::<Vec<_>>();
        if !fams.is_empty() {
            caps.push(Capability::AddPath(fams));
        }
    }
    if p.extended_next_hop && p.families.contains(&Family::Ipv4Unicast) {
        caps.push(Capability::ExtendedNextHop(vec![(
            AfiSafi::IPV4_UNICAST,
            Afi::Ipv6,
        )]));
    }
    let gr = &p.graceful_restart;
    if gr.enabled {
        let flags = if restarting { 0x80 } else { 0 };
        let fflags = if gr.forwarding_preserved { 0x80 } else { 0 };
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_flags: flags,
            restart_time: gr.restart_time.min(4095),
            families: p.families.iter().map(|f| (afi_safi(*f), fflags)).collect(),
        }));
    }
    Open::new(cfg.local_as, p.hold_time, cfg.router_id, caps)
}

/// Checks the peer's OPEN against our configuration and the OPEN we sent,
/// and negotiates the session (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 7911,
/// RFC 8654, RFC 4724, RFC 8950).
pub fn negotiate(cfg: &FsmConfig, ours: &Open, theirs: &Open) -> Result<SessionParams, OpenError> {
    if theirs.version != 4 {
        return Err(OpenError::UnsupportedVersion(theirs.version));
    }
    let peer_as = theirs.asn();
    if !cfg.peer.remote_as.accepts(cfg.local_as, peer_as) {
        return Err(OpenError::BadPeerAs {
            got: peer_as,
            expected: format!("{:?}", cfg.peer.remote_as),
        });
    }
    let ibgp = peer_as == cfg.local_as;
    if theirs.bgp_id.is_unspecified() || (ibgp && theirs.bgp_id == cfg.router_id) {
        return Err(OpenError::BadBgpId(theirs.bgp_id));
    }
    let hold_time = negotiate_hold_time(cfg.peer.hold_time, theirs.hold_time)
        .ok_or(OpenError::UnacceptableHoldTime(theirs.hold_time))?;
    let our_fams = ours.families();
    let their_fams = theirs.families();
    let families: Vec<AfiSafi> = our_fams
        .iter()
        .copied()
        .filter(|f| their_fams.contains(f))
        .collect();
    if families.is_empty() {
        return Err(OpenError::NoCommonFamily {
            ours: our_fams,
            theirs: their_fams,
        });
    }
    let mut rx = WireContext::negotiate(theirs, ours);
    let mut tx = WireContext::negotiate(ours, theirs);
    // ADD-PATH only matters for families the session carries.
    for ctx in [&mut rx, &mut tx] {
        let fams: Vec<AfiSafi> = ctx
            .add_path
            .iter()
            .filter(|f| families.contains(f))
            .collect();
        ctx.add_path = AddPathFamilies::of(&fams);
    }
    let both = |code: u8| ours.has_capability(code) && theirs.has_capability(code);
    let route_refresh = theirs.has_capability(cap::ROUTE_REFRESH)
        || theirs.has_capability(cap::ROUTE_REFRESH_CISCO);
    let ext_nh = |o: &Open| -> Vec<(AfiSafi, Afi)> {
        o.capabilities()
            .filter_map(|c| match c {
                Capability::ExtendedNextHop(v) => Some(v.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let their_enh = ext_nh(theirs);
    let extended_next_hop = ext_nh(ours)
        .into_iter()
        .filter(|e| their_enh.contains(e))
        .collect();
    let graceful_restart = match (ours.graceful_restart(), theirs.graceful_restart()) {
        (Some(_), Some(g)) => Some(PeerGracefulRestart {
            restart_time: g.restart_time,
            restarting: g.restart_state(),
            families: g
                .families
                .iter()
                .map(|(f, fl)| (*f, fl & 0x80 != 0))
                .collect(),
        }),
        _ => None,
    };
    Ok(SessionParams {
        peer_capabilities: theirs.capabilities().map(Capability::name).collect(),
        local_as: cfg.local_as,
        peer_as,
        local_id: cfg.router_id,
        peer_id: theirs.bgp_id,
        ibgp,
        hold_time,
        keepalive: keepalive_interval(hold_time, cfg.peer.keepalive),
        families,
        four_octet_as: rx.four_octet_as,
        extended_message: rx.extended_message,
        route_refresh,
        enhanced_route_refresh: both(cap::ENHANCED_ROUTE_REFRESH),
        add_path_receive: rx.add_path.iter().collect(),
        add_path_send: tx.add_path.iter().collect(),
        extended_next_hop,
        graceful_restart,
        local_restarting: ours.graceful_restart().is_some_and(|g| g.restart_state()),
        route_reflector_client: cfg.peer.route_reflector_client,
        rx,
        tx,
    })
}

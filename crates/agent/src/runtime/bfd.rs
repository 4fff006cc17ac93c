//! BFD towards the fabric neighbours and its coupling with BGP (RFC 5882).
//!
//! Every fabric neighbour with `bfd` settings and a fixed address gets one BFD
//! session ([`peer_specs`], pure). The sessions run in `perouter_bfd`'s driver
//! inside the router namespace; this task ([`run_coupling`]) consumes their
//! state changes:
//!
//! * a session that was Up going Down (detection time expired, or the peer
//!   saying Down) takes the BGP session down at once: an administrative stop
//!   (NOTIFICATION Cease), so the routes learned from the peer leave the RIB
//!   and the kernel without waiting for the hold timer, and no graceful-restart
//!   helper mode keeps them (perouter's BFD is control-plane dependent, C bit
//!   clear); then the session is started again, to reconnect when the peer is back;
//! * the peer going AdminDown does not touch BGP (RFC 5882 §3.2);
//! * BGP does not wait for BFD: a session may establish first, the coupling
//!   acts only on a BFD session that has been Up (as FRR does).
//!
//! Timer changes reach the driver as a new set of specs, which renegotiates
//! live sessions with a Poll sequence without touching BGP.
//!
//! Defaults for unset fields are FRR's (bfdd's default profile, which
//! upstream's rendering leaves in place): 300 ms receive and transmit
//! intervals, multiplier 3, minimum TTL 254 for multihop. A neighbour is
//! multihop when it has `ebgpMultiHop`.

use std::net::IpAddr;
use std::time::Duration;

use perouter_bfd::driver::{Event, Handle, Hop, PeerSpec};
use perouter_bfd::{Config, State};
use perouter_bgp::config::NeighborTarget;
use perouter_bgp::speaker::SpeakerCommand;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::model;
use crate::plan::NodePlan;

/// bfdd's default receive and transmit interval.
pub const DEFAULT_INTERVAL_MS: u16 = 300;
/// bfdd's default detection multiplier.
pub const DEFAULT_DETECT_MULT: u8 = 3;
/// bfdd's default minimum TTL of multihop sessions.
pub const DEFAULT_MIN_TTL: u8 = 254;

/// The BFD sessions the plan asks for. Neighbours without a fixed address (unnumbered, listen
/// ranges) never carry `bfd`: validation refuses it (`config::validate`), so the warning below
/// is a guard, not a path a configuration can take.
pub fn peer_specs(plan: &NodePlan) -> Vec<PeerSpec> {
    let mut out = Vec::new();
    for n in &plan.neighbors {
        let Some(b) = &n.intent.bfd else { continue };
        let peer = match &n.intent.target {
            model::NeighborTarget::Address(a) => *a,
            other => {
                warn!(neighbor = ?other, "bfd is only supported on neighbours with an address; this one runs without it");
                continue;
            }
        };
        let ms =
            |v: Option<u16>| Duration::from_millis(u64::from(v.unwrap_or(DEFAULT_INTERVAL_MS)));
        out.push(PeerSpec {
            peer,
            local: None,
            interface: None,
            hop: match n.intent.ebgp_multihop_ttl {
                Some(_) => Hop::Multi {
                    min_ttl: b.minimum_ttl.unwrap_or(DEFAULT_MIN_TTL),
                },
                None => Hop::Single,
            },
            config: Config {
                desired_min_tx: ms(b.transmit_interval_ms),
                required_min_rx: ms(b.receive_interval_ms),
                detect_mult: b.detect_multiplier.unwrap_or(DEFAULT_DETECT_MULT),
                passive: b.passive,
                admin_down: false,
            },
        });
    }
    out
}

/// What the coupling does with BGP on a BFD event (RFC 5882 §3.2, §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Stop the BGP session to this address now (Cease), then start it again.
    ResetBgp(IpAddr, String),
}

/// The decision for one event: only a session that was Up going Down for a
/// reason other than the peer's administrative shutdown resets BGP.
pub fn action(ev: &Event) -> Action {
    let c = &ev.change;
    if c.from == State::Up && c.to == State::Down && c.remote_state != State::AdminDown {
        Action::ResetBgp(ev.peer, format!("BFD down: {}", c.diag.as_str()))
    } else {
        Action::None
    }
}

/// Consumes the driver's events and applies [`action`] through the speaker.
pub async fn run_coupling(
    mut events: mpsc::Receiver<Event>,
    speaker: mpsc::Sender<SpeakerCommand>,
) {
    while let Some(ev) = events.recv().await {
        if let Action::ResetBgp(peer, why) = action(&ev) {
            info!(%peer, reason = %why, "BFD session down: tearing the BGP session down");
            let target = NeighborTarget::Address(peer);
            let _ = speaker
                .send(SpeakerCommand::AdminState {
                    target: target.clone(),
                    up: false,
                    message: Some(why),
                })
                .await;
            let _ = speaker
                .send(SpeakerCommand::AdminState {
                    target,
                    up: true,
                    message: None,
                })
                .await;
        }
    }
}

/// Starts the driver in the router namespace and the coupling task.
pub fn start(router_netns: &str, speaker: mpsc::Sender<SpeakerCommand>) -> Handle {
    let (handle, events) = perouter_bfd::driver::spawn(
        perouter_bgp::session::socket::NetnsTarget::Named(router_netns.to_string()),
    );
    tokio::spawn(run_coupling(events, speaker));
    handle
}

#[cfg(test)]
mod tests {
    use super::*;
    use perouter_bfd::{Diagnostic, StateChange};

    fn ev(from: State, to: State, remote: State, diag: Diagnostic) -> Event {
        Event {
            peer: "192.168.11.2".parse().unwrap(),
            change: StateChange {
                from,
                to,
                diag,
                remote_state: remote,
                remote_diag: Diagnostic::None,
            },
        }
    }

    #[test]
    fn specs_from_the_config_with_defaults() {
        let dir = std::env::temp_dir().join(format!("perouter-bfd-specs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openpe_all.yaml"),
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors:\n      - {asn: 64512, address: 192.168.11.2, bfd: {receiveInterval: 100, transmitInterval: 200, detectMultiplier: 5, sessionMode: Passive}}\n      - {asn: 64512, address: 10.0.0.9, properties: [{type: ebgpMultiHop, ebgpMultiHop: {ttl: 4}}], bfd: {minimumTTL: 250}}\n      - {asn: 64512, address: 10.0.0.10, properties: [{type: ebgpMultiHop}], bfd: {}}\n      - {asn: 64512, address: 192.168.12.2}\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n",
        )
        .unwrap();
        let r = crate::check::check_dir(&dir, Some(2), "perouter").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let specs = peer_specs(&r.plan.unwrap());
        assert_eq!(specs.len(), 3, "the neighbour without bfd has no session");
        let a = specs
            .iter()
            .find(|s| s.peer.to_string() == "192.168.11.2")
            .unwrap();
        assert_eq!(a.hop, Hop::Single);
        assert_eq!(
            a.config,
            Config {
                desired_min_tx: Duration::from_millis(200),
                required_min_rx: Duration::from_millis(100),
                detect_mult: 5,
                passive: true,
                admin_down: false
            }
        );
        let b = specs
            .iter()
            .find(|s| s.peer.to_string() == "10.0.0.9")
            .unwrap();
        assert_eq!(b.hop, Hop::Multi { min_ttl: 250 });
        assert_eq!(b.config.desired_min_tx, Duration::from_millis(300));
        assert_eq!(b.config.detect_mult, 3);
        assert!(!b.config.passive);
        let c = specs
            .iter()
            .find(|s| s.peer.to_string() == "10.0.0.10")
            .unwrap();
        assert_eq!(
            c.hop,
            Hop::Multi {
                min_ttl: DEFAULT_MIN_TTL
            }
        );
    }

    #[test]
    fn only_a_failure_after_up_resets_bgp() {
        let peer: IpAddr = "192.168.11.2".parse().unwrap();
        let expired = Diagnostic::ControlDetectionTimeExpired;
        let nsd = Diagnostic::NeighborSignaledSessionDown;
        assert!(
            matches!(action(&ev(State::Up, State::Down, State::Down, expired)), Action::ResetBgp(p, _) if p == peer)
        );
        assert!(matches!(
            action(&ev(State::Up, State::Down, State::Down, nsd)),
            Action::ResetBgp(..)
        ));
        // The peer's administrative shutdown does not (RFC 5882 §3.2).
        assert_eq!(
            action(&ev(State::Up, State::Down, State::AdminDown, nsd)),
            Action::None
        );
        // Never Up: BGP is not waiting for BFD.
        assert_eq!(
            action(&ev(State::Init, State::Down, State::Down, expired)),
            Action::None
        );
        assert_eq!(
            action(&ev(State::Down, State::Init, State::Down, Diagnostic::None)),
            Action::None
        );
        assert_eq!(
            action(&ev(State::Init, State::Up, State::Up, Diagnostic::None)),
            Action::None
        );
        // Our own AdminDown.
        assert_eq!(
            action(&ev(
                State::Up,
                State::AdminDown,
                State::Up,
                Diagnostic::AdministrativelyDown
            )),
            Action::None
        );
    }
}

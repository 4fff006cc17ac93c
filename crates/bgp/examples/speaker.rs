//! A stand-alone BGP speaker for interop tests and experiments:
//! `cargo run -p perouter-bgp --example speaker -- CONFIG.yaml`.
//!
//! It brings up the configured sessions, originates the configured IPv4 /
//! IPv6 prefixes to every peer that negotiated their family (followed by
//! End-of-RIB), and prints one JSON line per event on stdout: session up and
//! down, each received route (announce or withdraw, with its attributes),
//! End-of-RIB. Logs go to stderr (`RUST_LOG=debug` for more).
//!
//! ```yaml
//! local_as: 65000
//! router_id: 10.0.0.1
//! listen: ["0.0.0.0:179"]          # optional
//! netns: router                    # optional: sockets in /var/run/netns/router
//! neighbors:
//!   - address: 10.0.0.2
//!     remote_as: 65001             # or external / internal
//!     families: [ipv4-unicast, ipv6-unicast, l2vpn-evpn]
//!     password: secret             # TCP-MD5, optional
//!   - listen-range: 10.1.0.0/24
//!     remote_as: external
//!     limit: 10
//! originate:
//!   - prefix: 198.51.100.0/24
//! shutdown_message: "perouter going down"   # sent on SIGTERM / SIGINT
//! ```

use std::net::IpAddr;

use ipnet::IpNet;
use perouter_bgp::config::{NeighborConfig, SpeakerConfig};
use perouter_bgp::session::Outbound;
use perouter_bgp::speaker::{self, SpeakerEvent};
use perouter_bgp::wire::{
    AfiSafi, AsPath, AttributeValue, NextHop, Nlri, NlriList, Origin, PathAttributes, Update,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(flatten)]
    speaker: SpeakerConfig,
    #[serde(default)]
    neighbors: Vec<NeighborConfig>,
    #[serde(default)]
    originate: Vec<Originate>,
    #[serde(default)]
    shutdown_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Originate {
    prefix: IpNet,
    #[serde(default)]
    next_hop: Option<IpAddr>,
}

fn updates_for(
    cfg: &Config,
    params: &perouter_bgp::fsm::SessionParams,
    local: IpAddr,
) -> Vec<Update> {
    let mut out = Vec::new();
    for family in [AfiSafi::IPV4_UNICAST, AfiSafi::IPV6_UNICAST] {
        if !params.has_family(family) {
            continue;
        }
        let v6 = family == AfiSafi::IPV6_UNICAST;
        let group: Vec<&Originate> = cfg
            .originate
            .iter()
            .filter(|o| matches!(o.prefix, IpNet::V6(_)) == v6)
            .collect();
        let mut attrs = PathAttributes::new().with(AttributeValue::Origin(Origin::Igp));
        attrs = attrs.with(AttributeValue::AsPath(if params.ibgp {
            AsPath::empty()
        } else {
            AsPath::sequence([params.local_as])
        }));
        if params.ibgp {
            attrs = attrs.with(AttributeValue::LocalPref(100));
        }
        // Group by next hop (default: our address on the session).
        let mut by_nh: Vec<(IpAddr, Vec<Nlri>)> = Vec::new();
        for o in group {
            let nh = o.next_hop.unwrap_or(local);
            match by_nh.iter_mut().find(|(n, _)| *n == nh) {
                Some((_, v)) => v.push(Nlri::new(o.prefix)),
                None => by_nh.push((nh, vec![Nlri::new(o.prefix)])),
            }
        }
        for (nh, nlri) in by_nh {
            let next_hop = match nh {
                IpAddr::V4(a) => NextHop::V4(a),
                IpAddr::V6(a) => NextHop::V6 {
                    global: a,
                    link_local: None,
                },
            };
            match Update::pack_reach(
                &attrs,
                Some(next_hop),
                NlriList::Prefixes(family, &nlri),
                &params.tx,
            ) {
                Ok(u) => out.extend(u),
                Err(e) => eprintln!("cannot encode routes for {family:?}: {e}"),
            }
        }
    }
    for f in &params.families {
        out.push(Update::end_of_rib(*f));
    }
    out
}

fn print_update(peer: speaker::PeerId, u: &Update) {
    let attrs = serde_json::to_value(&u.attributes).unwrap_or(serde_json::Value::Null);
    for b in u.announced() {
        for n in b.iter() {
            println!(
                "{}",
                json!({"event": "announce", "peer": peer.0, "family": format!("{:?}", b.kind),
                "prefix": n.prefix.to_string(), "path_id": n.path_id, "attributes": attrs})
            );
        }
        for r in b.evpn_routes() {
            println!(
                "{}",
                json!({"event": "announce", "peer": peer.0, "family": "l2vpn-evpn",
                "route": r.route.to_string(), "path_id": r.path_id, "attributes": attrs})
            );
        }
    }
    for b in u.withdrawals() {
        for n in b.iter() {
            println!(
                "{}",
                json!({"event": "withdraw", "peer": peer.0, "prefix": n.prefix.to_string(),
                "treat_as_withdraw": u.treat_as_withdraw, "errors": u.attribute_errors,
                "attributes": if u.treat_as_withdraw { attrs.clone() } else { serde_json::Value::Null }})
            );
        }
        for r in b.evpn_routes() {
            println!(
                "{}",
                json!({"event": "withdraw", "peer": peer.0, "route": r.route.to_string(),
                "treat_as_withdraw": u.treat_as_withdraw})
            );
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: speaker CONFIG.yaml")?;
    let cfg: Config = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let sp = speaker::start(cfg.speaker.clone(), cfg.neighbors.clone(), tx).await?;
    for a in &sp.listening {
        println!(
            "{}",
            json!({"event": "listening", "address": a.to_string()})
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match ev {
                    SpeakerEvent::PeerUp { peer, remote, local, params, outbox } => {
                        println!("{}", json!({"event": "up", "peer": peer.0, "remote": remote.to_string(),
                            "local": local.to_string(), "params": *params}));
                        let updates = updates_for(&cfg, &params, local.ip());
                        if outbox.try_send(Outbound::Updates(updates)).is_err() {
                            eprintln!("peer {peer}: outbox full or closed, routes not sent");
                        }
                    }
                    SpeakerEvent::PeerDown { peer, reason, graceful } => {
                        println!("{}", json!({"event": "down", "peer": peer.0, "reason": format!("{reason:?}"), "graceful": graceful}));
                    }
                    SpeakerEvent::Updates { peer, updates } => {
                        for u in &updates {
                            print_update(peer, u);
                        }
                    }
                    SpeakerEvent::EndOfRib { peer, family } => {
                        println!("{}", json!({"event": "end-of-rib", "peer": peer.0, "family": format!("{family:?}")}));
                    }
                    SpeakerEvent::RouteRefresh { peer, request } => {
                        println!("{}", json!({"event": "route-refresh", "peer": peer.0, "family": format!("{:?}", request.family)}));
                    }
                    SpeakerEvent::StaleExpired { peer, family } => {
                        println!("{}", json!({"event": "stale-expired", "peer": peer.0, "family": format!("{family:?}")}));
                    }
                }
                use std::io::Write;
                let _ = std::io::stdout().flush();
            }
        }
    }
    for s in sp.status().await {
        println!(
            "{}",
            json!({"event": "status", "peer": s.peer.0, "status": s})
        );
    }
    sp.shutdown(cfg.shutdown_message.clone()).await;
    Ok(())
}

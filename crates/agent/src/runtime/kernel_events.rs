//! Kernel notifications from the router namespace, turned into inputs of their owners: MACs and
//! MAC+IPs learned on L2VNI bridges go to the routing task (type-2 origination, RFC 7432 §9.1);
//! drift (someone deleted our device or route) asks the datapath for a reconcile; a link that
//! stops running ends the BGP sessions over it at once (FRR's fast-external-failover), instead
//! of when their hold timer expires.

use perouter_bgp::speaker::SpeakerCommand;
use perouter_fib::reconcile::Command as FibCommand;
use perouter_fib::watch::{self, KernelEvent, WatchDecoder};
use perouter_fib::{Datapath, DatapathConfig, NodeDatapath};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::routing::RoutingCommand;
use crate::metrics::LiveMetrics;

/// Starts watching the router namespace (call once the namespace exists). The watch runs on its
/// own thread; a task forwards its events until either channel closes.
pub fn spawn(
    node: &NodeDatapath,
    host_netns: Option<String>,
    routing: mpsc::Sender<RoutingCommand>,
    fib: mpsc::Sender<FibCommand>,
    metrics: LiveMetrics,
    speaker: mpsc::Sender<SpeakerCommand>,
) -> Result<(), String> {
    let mut dp = Datapath::open(
        &node.router_netns,
        DatapathConfig {
            host_netns,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let observed = dp.observe(node).map_err(|e| e.to_string())?;
    let seed = observed
        .router
        .ok_or("the router namespace does not exist yet")?;
    let handle = dp
        .router_netns()
        .ok_or("the router namespace is not open")?;
    let (tx, mut rx) = mpsc::channel(1024);
    watch::spawn(handle, &seed, tx).map_err(|e| e.to_string())?;
    // What was learned before the watch subscribed (by the previous process, before a restart)
    // is announced by no notification: replay it from a second look taken after subscribing, so
    // nothing falls between the two (a later notification of the same entry only repeats it).
    let now = dp
        .observe(node)
        .map_err(|e| e.to_string())?
        .router
        .ok_or("the router namespace does not exist yet")?;
    let mut seeded = WatchDecoder::new(&now).seed_events(&now).into_iter();
    info!(netns = %node.router_netns, local_entries = seeded.len(), "watching the router namespace for local MACs, neighbours and drift");
    tokio::spawn(async move {
        loop {
            let ev = match seeded.next() {
                Some(ev) => ev,
                None => match rx.recv().await {
                    Some(ev) => ev,
                    None => return,
                },
            };
            metrics.kernel_notification(match &ev {
                KernelEvent::LocalMac { .. } => "local_mac",
                KernelEvent::LocalNeighbour { .. } => "local_neighbour",
                KernelEvent::Drift { .. } => "removal",
                KernelEvent::LinkDown { .. } => "link_down",
            });
            let sent = match ev {
                KernelEvent::LocalMac { vni, mac, present } => {
                    debug!(vni, %mac, present, "local MAC");
                    routing
                        .send(RoutingCommand::LocalMac {
                            vni,
                            mac,
                            ip: None,
                            present,
                        })
                        .await
                        .is_ok()
                }
                KernelEvent::LocalNeighbour {
                    vni,
                    ip,
                    mac: Some(mac),
                    present,
                } => {
                    debug!(vni, %ip, %mac, present, "local neighbour");
                    routing
                        .send(RoutingCommand::LocalMac {
                            vni,
                            mac,
                            ip: Some(ip),
                            present,
                        })
                        .await
                        .is_ok()
                }
                KernelEvent::LocalNeighbour { mac: None, .. } => true,
                KernelEvent::Drift { what } => {
                    // Our own reconcile passes remove objects too: this is not drift until a
                    // pass finds something to repair (it logs what it changed).
                    debug!(%what, "kernel object removed: reconciling to check");
                    fib.send(FibCommand::Reconcile).await.is_ok()
                }
                KernelEvent::LinkDown { name, addresses } => {
                    warn!(link = %name, ?addresses, "link down: ending the BGP sessions over it");
                    speaker
                        .send(SpeakerCommand::LinkDown {
                            interface: name,
                            addresses,
                        })
                        .await
                        .is_ok()
                }
            };
            if !sent {
                return;
            }
        }
    });
    Ok(())
}

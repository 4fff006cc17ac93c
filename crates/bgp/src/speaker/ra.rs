//! IPv6 Router Advertisements on the interfaces of unnumbered neighbours.
//!
//! An unnumbered BGP neighbour (FRR's `neighbor swp1 interface`) has no configured address: it
//! learns ours from the Router Advertisements it receives on the link (the source address of an
//! RA is the sender's link-local address, RFC 4861 §4.2) and connects to it. So for every
//! interface neighbour we send unsolicited RAs (RFC 4861 §6.2.4) to all-nodes, with a router
//! lifetime of 0: we announce our address, not a default route (§6.2.5 semantics: "not a
//! default router") nor any prefix.
//!
//! Sans-IO core ([`advertisement`], [`Schedule`]) and a thin driver ([`run`]) on a raw ICMPv6
//! socket created in the router namespace. Written by hand: the message is 16 fixed bytes, no
//! maintained crate sends RAs as a library.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::{debug, warn};

use crate::session::socket::{in_netns, NetnsTarget};

/// ICMPv6 type of a Router Advertisement (RFC 4861 §4.2).
pub const ROUTER_ADVERTISEMENT: u8 = 134;

/// The all-nodes link-local multicast group (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Unsolicited RAs sent fast after start (RFC 4861 §10 MAX_INITIAL_RTR_ADVERTISEMENTS).
pub const INITIAL_ADVERTISEMENTS: u32 = 3;

/// Spacing of the initial RAs: a neighbour that starts with us learns our address within
/// seconds (FRR's unnumbered peers use a similarly short interval).
pub const INITIAL_INTERVAL: Duration = Duration::from_secs(1);

/// Spacing of the periodic RAs afterwards (FRR's default `ipv6 nd ra-interval` for unnumbered
/// BGP interfaces is 10 s; RFC 4861 §6.2.1 allows 4 s to 1800 s).
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The Router Advertisement we send (RFC 4861 §4.2): hop limit unspecified (0), no M/O
/// flags, router lifetime 0 (not a default router), reachable time and retrans timer
/// unspecified, no options. The checksum is left 0: the kernel computes it on ICMPv6 raw
/// sockets (RFC 3542 §3.1).
pub fn advertisement() -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = ROUTER_ADVERTISEMENT;
    m
}

/// When to send the next RA: [`INITIAL_ADVERTISEMENTS`] at [`INITIAL_INTERVAL`], then every
/// [`INTERVAL`].
#[derive(Debug, Default, Clone)]
pub struct Schedule {
    sent: u32,
}

impl Schedule {
    /// Records one RA sent and returns how long to wait before the next.
    pub fn sent(&mut self) -> Duration {
        self.sent = self.sent.saturating_add(1);
        if self.sent < INITIAL_ADVERTISEMENTS {
            INITIAL_INTERVAL
        } else {
            INTERVAL
        }
    }
}

/// A raw ICMPv6 socket in `netns`, bound to `interface`, sending to all-nodes with hop limit
/// 255 (RFC 4861 §6.1.2: receivers drop RAs with any other hop limit).
fn ra_socket(netns: &NetnsTarget, interface: &str) -> io::Result<(Socket, u32)> {
    let ifname = interface.to_string();
    in_netns(netns, move || {
        let index = nix::net::if_::if_nametoindex(ifname.as_str()).map_err(io::Error::from)?;
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        s.bind_device(Some(ifname.as_bytes()))?;
        s.set_multicast_if_v6(index)?;
        s.set_multicast_hops_v6(255)?;
        s.set_unicast_hops_v6(255)?;
        s.set_multicast_loop_v6(false)?;
        s.set_nonblocking(true)?;
        Ok((s, index))
    })
}

/// Sends RAs on `interface` (in `netns`) until the task is aborted. An interface that does
/// not exist yet (or lost its link-local address) is retried every [`INTERVAL`].
pub async fn run(netns: NetnsTarget, interface: String) {
    let msg = advertisement();
    let mut schedule = Schedule::default();
    let mut socket: Option<(Socket, u32)> = None;
    loop {
        if socket.is_none() {
            let (ns, ifname) = (netns.clone(), interface.clone());
            match tokio::task::spawn_blocking(move || ra_socket(&ns, &ifname)).await {
                Ok(Ok(s)) => socket = Some(s),
                Ok(Err(e)) => {
                    debug!(%interface, error = %e, "router advertisements: interface not ready");
                }
                Err(e) => warn!(%interface, error = %e, "router advertisements: socket task"),
            }
        }
        let wait = match &socket {
            Some((s, index)) => {
                let to = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, *index));
                match s.send_to(&msg, &to) {
                    Ok(_) => schedule.sent(),
                    Err(e) => {
                        // The interface went away or down: make a new socket next time.
                        debug!(%interface, error = %e, "router advertisement not sent");
                        socket = None;
                        Duration::from_secs(2)
                    }
                }
            }
            None => Duration::from_secs(2),
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertisement_is_a_router_advertisement_without_lifetime_or_options() {
        let m = advertisement();
        assert_eq!(m.len(), 16, "RFC 4861 §4.2 fixed part, no options");
        assert_eq!((m[0], m[1]), (134, 0), "type 134 code 0");
        assert_eq!(u16::from_be_bytes([m[6], m[7]]), 0, "router lifetime 0");
        assert_eq!(m[5], 0, "no M/O flags");
    }

    #[test]
    fn three_fast_advertisements_then_the_period() {
        let mut s = Schedule::default();
        let waits: Vec<Duration> = (0..5).map(|_| s.sent()).collect();
        assert_eq!(
            waits,
            [
                INITIAL_INTERVAL,
                INITIAL_INTERVAL,
                INTERVAL,
                INTERVAL,
                INTERVAL
            ]
        );
    }
}

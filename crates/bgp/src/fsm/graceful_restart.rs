//! Graceful restart helper timers (RFC 4724 §4.2), sans-IO.
//!
//! When an Established session with a GR-capable peer ends without a
//! NOTIFICATION (the TCP connection simply went away), the peer is presumed
//! to be restarting: its routes are kept, marked stale, instead of being
//! withdrawn. [`GrHelper`] decides, family by family, how long they are kept
//! and tells its owner (the session driver, which reports to the RIB) when
//! the stale routes of a family are to be purged ([`GrEvent::Expired`]):
//!
//! - at the session's end, families that the peer did not list in its GR
//!   capability are purged at once; the others are kept and the **restart
//!   timer** (the Restart Time the peer advertised) starts;
//! - if the session does not come back before the restart timer expires,
//!   every stale family is purged;
//! - when it comes back, the restart timer stops; families that the new
//!   OPEN does not list with the Forwarding State (F) bit set, or that the
//!   new session does not carry, are purged at once; for the others the
//!   **stale timer** (local configuration, like FRR's `stalepath-time`)
//!   starts;
//! - the peer's End-of-RIB for a family ends that family's stale state (the
//!   RIB replaces stale routes with what the peer re-advertised; see
//!   [`GrHelper::handle_end_of_rib`]); if the stale timer expires first, the
//!   remaining stale families are purged;
//! - a session that ends with a NOTIFICATION, or with a peer that did not
//!   negotiate GR, removes every route of the peer: no stale state remains.
//!
//! The helper is a pure function of its inputs and the times it is given.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use tracing::info;

use super::open::SessionParams;
use crate::wire::AfiSafi;

/// What the helper asks of its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrEvent {
    /// Purge the peer's routes of this family that are still stale.
    Expired(AfiSafi),
}

/// Which timer of RFC 4724 §4.2 is running, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrTimer {
    /// Waiting for the session to come back (the peer's Restart Time).
    Restart(Instant),
    /// Waiting for the peer's End-of-RIBs after it came back.
    Stale(Instant),
}

/// The RFC 4724 receiving-speaker ("helper") state of one peering, across
/// its sessions.
#[derive(Debug, Clone)]
pub struct GrHelper {
    stale_time: Duration,
    stale: BTreeSet<AfiSafi>,
    timer: Option<GrTimer>,
    events: VecDeque<GrEvent>,
}

impl GrHelper {
    /// A helper with nothing stale; `stale_time` bounds the wait for the
    /// End-of-RIBs after the peer has come back.
    pub fn new(stale_time: Duration) -> Self {
        Self {
            stale_time,
            stale: BTreeSet::new(),
            timer: None,
            events: VecDeque::new(),
        }
    }

    /// Families whose routes are currently kept as stale.
    pub fn stale_families(&self) -> impl Iterator<Item = AfiSafi> + '_ {
        self.stale.iter().copied()
    }

    /// The running timer, if any.
    pub fn timer(&self) -> Option<GrTimer> {
        self.timer
    }

    /// The Established session described by `params` ended; `notification`
    /// says whether a NOTIFICATION was sent or received (RFC 4724 §4.2 only
    /// applies when the TCP session ends without one). Returns whether the
    /// peer's routes are to be kept as stale (the `graceful` flag of the
    /// down event). Families not kept are purged through [`GrEvent`]s.
    pub fn handle_session_down(
        &mut self,
        now: Instant,
        params: &SessionParams,
        notification: bool,
    ) -> bool {
        let gr = match &params.graceful_restart {
            Some(gr) if !notification && gr.restart_time > 0 => gr,
            _ => {
                // Every route of the peer goes (the RIB does it on a
                // non-graceful down): nothing stays stale.
                self.stale.clear();
                self.timer = None;
                return false;
            }
        };
        let kept: BTreeSet<AfiSafi> = params
            .families
            .iter()
            .copied()
            .filter(|f| gr.families.iter().any(|(g, _)| g == f))
            .collect();
        if kept.is_empty() {
            self.stale.clear();
            self.timer = None;
            return false;
        }
        let dropped: Vec<AfiSafi> = params
            .families
            .iter()
            .chain(self.stale.iter())
            .copied()
            .filter(|f| !kept.contains(f))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for f in dropped {
            self.events.push_back(GrEvent::Expired(f));
        }
        let restart = Duration::from_secs(u64::from(gr.restart_time));
        info!(restart_time = gr.restart_time, families = ?kept,
            "peer restarting (RFC 4724 helper): keeping its routes as stale");
        self.stale = kept;
        self.timer = Some(GrTimer::Restart(now + restart));
        true
    }

    /// A new session with the peer reached Established. Stale families the
    /// peer no longer preserves (F bit clear or family absent, RFC 4724
    /// §4.2) or that the session does not carry are purged; the others wait
    /// for their End-of-RIB under the stale timer.
    pub fn handle_session_up(&mut self, now: Instant, params: &SessionParams) {
        self.timer = None;
        if self.stale.is_empty() {
            return;
        }
        let preserved = |f: &AfiSafi| {
            params.has_family(*f)
                && params
                    .graceful_restart
                    .as_ref()
                    .is_some_and(|g| g.families.iter().any(|(gf, fbit)| gf == f && *fbit))
        };
        let (keep, drop): (BTreeSet<AfiSafi>, BTreeSet<AfiSafi>) =
            self.stale.iter().copied().partition(preserved);
        for f in drop {
            info!(family = ?f, "peer did not preserve forwarding state: purging stale routes");
            self.events.push_back(GrEvent::Expired(f));
        }
        self.stale = keep;
        if !self.stale.is_empty() {
            self.timer = Some(GrTimer::Stale(now + self.stale_time));
        }
    }

    /// The peer's End-of-RIB for `family` arrived: the RIB replaces that
    /// family's stale routes (those not re-advertised are removed), so it
    /// is no longer stale here.
    pub fn handle_end_of_rib(&mut self, family: AfiSafi) {
        if self.stale.remove(&family) && self.stale.is_empty() {
            self.timer = None;
        }
    }

    /// The peering is being removed: whatever is still stale is purged.
    pub fn handle_removed(&mut self) {
        self.expire_all();
    }

    /// Processes the timer if its deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.timer {
            Some(GrTimer::Restart(t)) if t <= now => {
                info!(families = ?self.stale, "peer did not come back within its restart time: purging stale routes");
                self.expire_all();
            }
            Some(GrTimer::Stale(t)) if t <= now => {
                info!(families = ?self.stale, "no End-of-RIB before the stale timer: purging stale routes");
                self.expire_all();
            }
            _ => {}
        }
    }

    /// The next deadline: call [`GrHelper::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.timer {
            Some(GrTimer::Restart(t) | GrTimer::Stale(t)) => Some(t),
            None => None,
        }
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<GrEvent> {
        self.events.pop_front()
    }

    fn expire_all(&mut self) {
        for f in std::mem::take(&mut self.stale) {
            self.events.push_back(GrEvent::Expired(f));
        }
        self.timer = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsm::open::PeerGracefulRestart;
    use crate::wire::WireContext;
    use std::net::Ipv4Addr;

    const V4: AfiSafi = AfiSafi::IPV4_UNICAST;
    const V6: AfiSafi = AfiSafi::IPV6_UNICAST;
    const EVPN: AfiSafi = AfiSafi::L2VPN_EVPN;

    fn params(families: &[AfiSafi], gr: Option<(u16, &[(AfiSafi, bool)])>) -> SessionParams {
        SessionParams {
            peer_capabilities: Vec::new(),
            local_as: 65000,
            peer_as: 65001,
            local_id: Ipv4Addr::new(10, 0, 0, 1),
            peer_id: Ipv4Addr::new(10, 0, 0, 2),
            ibgp: false,
            hold_time: 9,
            keepalive: Some(Duration::from_secs(3)),
            families: families.to_vec(),
            four_octet_as: true,
            extended_message: false,
            route_refresh: true,
            enhanced_route_refresh: false,
            add_path_receive: vec![],
            add_path_send: vec![],
            extended_next_hop: vec![],
            route_reflector_client: false,
            graceful_restart: gr.map(|(t, f)| PeerGracefulRestart {
                restart_time: t,
                restarting: false,
                families: f.to_vec(),
            }),
            local_restarting: false,
            rx: WireContext::default(),
            tx: WireContext::default(),
        }
    }

    fn events(h: &mut GrHelper) -> Vec<GrEvent> {
        std::iter::from_fn(|| h.poll_event()).collect()
    }

    #[test]
    fn restart_timer_purges_when_the_peer_does_not_come_back() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(360));
        let p = params(&[V4, V6], Some((120, &[(V4, true), (V6, false)])));
        assert!(h.handle_session_down(t0, &p, false));
        assert!(events(&mut h).is_empty(), "both families listed: both kept");
        assert_eq!(h.poll_timeout(), Some(t0 + Duration::from_secs(120)));
        h.handle_timeout(t0 + Duration::from_secs(119));
        assert!(events(&mut h).is_empty());
        h.handle_timeout(t0 + Duration::from_secs(120));
        assert_eq!(
            events(&mut h),
            vec![GrEvent::Expired(V4), GrEvent::Expired(V6)]
        );
        assert_eq!(h.poll_timeout(), None);
        assert_eq!(h.stale_families().count(), 0);
    }

    #[test]
    fn families_missing_from_the_capability_are_purged_at_once() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(360));
        let p = params(&[V4, EVPN], Some((30, &[(EVPN, true)])));
        assert!(h.handle_session_down(t0, &p, false));
        assert_eq!(events(&mut h), vec![GrEvent::Expired(V4)]);
        assert_eq!(h.stale_families().collect::<Vec<_>>(), vec![EVPN]);
    }

    #[test]
    fn notification_or_no_capability_or_zero_restart_time_is_not_graceful() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(360));
        let gr = params(&[V4], Some((120, &[(V4, true)])));
        assert!(!h.handle_session_down(t0, &gr, true));
        assert!(!h.handle_session_down(t0, &params(&[V4], None), false));
        assert!(!h.handle_session_down(t0, &params(&[V4], Some((0, &[(V4, true)]))), false));
        assert!(!h.handle_session_down(t0, &params(&[V4], Some((120, &[]))), false));
        assert_eq!(h.poll_timeout(), None);
        assert!(events(&mut h).is_empty());
    }

    #[test]
    fn end_of_rib_after_the_return_ends_the_stale_state() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(60));
        let p = params(&[V4, V6], Some((120, &[(V4, true), (V6, true)])));
        assert!(h.handle_session_down(t0, &p, false));
        let t1 = t0 + Duration::from_secs(10);
        h.handle_session_up(t1, &p);
        assert_eq!(
            h.timer(),
            Some(GrTimer::Stale(t1 + Duration::from_secs(60)))
        );
        h.handle_end_of_rib(V4);
        assert!(h.poll_timeout().is_some(), "V6 still stale");
        h.handle_end_of_rib(V6);
        assert_eq!(h.poll_timeout(), None);
        h.handle_timeout(t1 + Duration::from_secs(3600));
        assert!(events(&mut h).is_empty(), "nothing left to purge");
    }

    #[test]
    fn stale_timer_purges_what_has_no_end_of_rib() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(60));
        let p = params(&[V4, V6], Some((120, &[(V4, true), (V6, true)])));
        h.handle_session_down(t0, &p, false);
        h.handle_session_up(t0, &p);
        h.handle_end_of_rib(V6);
        h.handle_timeout(t0 + Duration::from_secs(60));
        assert_eq!(events(&mut h), vec![GrEvent::Expired(V4)]);
    }

    #[test]
    fn forwarding_state_not_preserved_purges_on_return() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(60));
        let before = params(
            &[V4, V6, EVPN],
            Some((120, &[(V4, true), (V6, true), (EVPN, true)])),
        );
        h.handle_session_down(t0, &before, false);
        // Back with V4 preserved, V6's F bit clear, EVPN no longer carried.
        let after = params(
            &[V4, V6],
            Some((120, &[(V4, true), (V6, false), (EVPN, true)])),
        );
        h.handle_session_up(t0, &after);
        assert_eq!(
            events(&mut h),
            vec![GrEvent::Expired(V6), GrEvent::Expired(EVPN)]
        );
        assert_eq!(h.stale_families().collect::<Vec<_>>(), vec![V4]);
        // Back without the capability at all: everything goes.
        let mut h = GrHelper::new(Duration::from_secs(60));
        h.handle_session_down(t0, &before, false);
        h.handle_session_up(t0, &params(&[V4, V6, EVPN], None));
        assert_eq!(events(&mut h).len(), 3);
        assert_eq!(h.poll_timeout(), None);
    }

    #[test]
    fn a_second_restart_restarts_the_restart_timer_and_keeps_stale_routes() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(60));
        let p = params(&[V4], Some((120, &[(V4, true)])));
        h.handle_session_down(t0, &p, false);
        let t1 = t0 + Duration::from_secs(5);
        h.handle_session_up(t1, &p);
        let t2 = t1 + Duration::from_secs(5);
        assert!(h.handle_session_down(t2, &p, false));
        assert_eq!(
            h.timer(),
            Some(GrTimer::Restart(t2 + Duration::from_secs(120)))
        );
        assert!(events(&mut h).is_empty());
        // A NOTIFICATION now ends it all (the RIB flushes on a non-graceful down).
        h.handle_session_up(t2, &p);
        assert!(!h.handle_session_down(t2, &p, true));
        assert_eq!(h.stale_families().count(), 0);
        assert_eq!(h.poll_timeout(), None);
    }

    #[test]
    fn removal_purges_whatever_is_stale() {
        let t0 = Instant::now();
        let mut h = GrHelper::new(Duration::from_secs(60));
        h.handle_session_down(t0, &params(&[V4], Some((120, &[(V4, false)]))), false);
        h.handle_removed();
        assert_eq!(events(&mut h), vec![GrEvent::Expired(V4)]);
        assert_eq!(h.poll_timeout(), None);
    }
}

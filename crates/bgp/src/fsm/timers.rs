//! Pure timer arithmetic for the session FSM: RFC 4271 §10 jitter, the
//! connect-retry backoff, and hold/keepalive negotiation.
//!
//! Randomness comes from an injected seed (a SplitMix64 generator), never from
//! a clock or the OS, so the FSM stays a pure function of its inputs.

use std::time::Duration;

/// A tiny deterministic pseudo-random generator (SplitMix64). Seeded by the
/// caller; good enough to de-synchronise timers, not for cryptography.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The generator's state: `Jitter::new(j.state())` continues the same
    /// sequence (session handoff).
    pub fn state(&self) -> u64 {
        self.state
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// RFC 4271 §10: "each time the timer is started, its initial value
    /// [is multiplied by] a random factor in the range 0.75 to 1.0".
    pub fn apply(&mut self, d: Duration) -> Duration {
        // factor = 0.75 + 0.25 * u, u in [0, 1), in 1/1024 steps.
        let u = self.next_u64() % 1024;
        let nanos = d.as_nanos();
        let scaled = nanos * (768 + u as u128 / 4) / 1024;
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
    }
}

/// Connect-retry backoff: the delay before the next connection attempt starts
/// at `initial`, doubles after each failure up to `max`, and is reset when a
/// session reaches Established. Every value handed out is jittered.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max` (`max >= initial`
    /// is enforced by taking the larger of the two).
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            current: initial,
        }
    }

    /// The next delay (jittered), and doubles the base for the following one.
    pub fn next_delay(&mut self, jitter: &mut Jitter) -> Duration {
        let d = jitter.apply(self.current);
        self.current = self.current.saturating_mul(2).min(self.max);
        d
    }

    /// Back to the initial delay (after a session has been Established).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }

    /// The un-jittered base of the next delay.
    pub fn current(&self) -> Duration {
        self.current
    }
}

/// Negotiated hold time (RFC 4271 §4.2): the smaller of ours and the peer's;
/// 0 means no hold timer and no keepalives. Returns `None` for a proposal of
/// 1 or 2 seconds, which must be rejected (Unacceptable Hold Time).
pub fn negotiate_hold_time(local: u16, remote: u16) -> Option<u16> {
    if remote == 1 || remote == 2 {
        return None;
    }
    Some(local.min(remote))
}

/// The keepalive interval for a negotiated hold time: the configured value if
/// any (never above hold time), otherwise one third of the hold time
/// (RFC 4271 §10 suggests this ratio). Zero hold time: no keepalives.
pub fn keepalive_interval(hold: u16, configured: Option<u16>) -> Option<Duration> {
    if hold == 0 {
        return None;
    }
    let ka = match configured {
        Some(0) => return None,
        Some(k) => k.min(hold),
        None => (hold / 3).max(1),
    };
    Some(Duration::from_secs(u64::from(ka)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_between_three_quarters_and_one() {
        let mut j = Jitter::new(42);
        let base = Duration::from_secs(120);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..10_000 {
            let d = j.apply(base);
            assert!(d >= Duration::from_secs(90) && d <= base, "{d:?}");
            seen_low |= d < Duration::from_secs(95);
            seen_high |= d > Duration::from_secs(115);
        }
        assert!(seen_low && seen_high, "jitter should spread over the range");
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Jitter::new(7), Jitter::new(7));
        for _ in 0..100 {
            assert_eq!(
                a.apply(Duration::from_secs(30)),
                b.apply(Duration::from_secs(30))
            );
        }
        assert_ne!(Jitter::new(1).next_u64(), Jitter::new(2).next_u64());
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut j = Jitter::new(0);
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        let bases: Vec<u64> = (0..6)
            .map(|_| {
                let base = b.current().as_secs();
                let d = b.next_delay(&mut j);
                assert!(d <= Duration::from_secs(base));
                base
            })
            .collect();
        assert_eq!(bases, vec![5, 10, 20, 40, 60, 60]);
        b.reset();
        assert_eq!(b.current(), Duration::from_secs(5));
    }

    #[test]
    fn hold_time_negotiation() {
        assert_eq!(negotiate_hold_time(90, 180), Some(90));
        assert_eq!(negotiate_hold_time(90, 3), Some(3));
        assert_eq!(negotiate_hold_time(90, 0), Some(0));
        assert_eq!(negotiate_hold_time(0, 90), Some(0));
        assert_eq!(negotiate_hold_time(90, 1), None);
        assert_eq!(negotiate_hold_time(90, 2), None);
    }

    #[test]
    fn keepalive_is_a_third_of_hold_unless_configured() {
        assert_eq!(keepalive_interval(90, None), Some(Duration::from_secs(30)));
        assert_eq!(keepalive_interval(3, None), Some(Duration::from_secs(1)));
        assert_eq!(keepalive_interval(0, None), None);
        assert_eq!(
            keepalive_interval(90, Some(10)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            keepalive_interval(9, Some(60)),
            Some(Duration::from_secs(9))
        );
    }
}

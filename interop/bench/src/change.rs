//! One-change latency (issue 16): with the whole table installed, one route's next hop changes
//! at the blaster, and the time until the DUT's kernel holds the route via the new next hop is
//! measured, route after route.
//!
//! The kernel side is read from `ip monitor route` in the DUT's namespace (iproute2 flushes one
//! line per notification), timestamped by the harness's own clock when the line arrives: the
//! same clock that timed the write of the UPDATE. Parsing the monitor's lines is pure
//! ([`matches_route`]); [`KernelMonitor`] is the thin driver around the child process.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use serde::Serialize;

/// Whether a line of `ip monitor route` announces `prefix` via `gateway` (an addition or a
/// replacement, not a deletion).
pub fn matches_route(line: &str, prefix: Ipv4Net, gateway: Ipv4Addr) -> bool {
    let mut words = line.split_whitespace();
    if words.next() != Some(&prefix.to_string()) {
        return false;
    }
    let rest: Vec<&str> = words.collect();
    rest.windows(2)
        .any(|w| w[0] == "via" && w[1].parse::<Ipv4Addr>() == Ok(gateway))
}

/// `ip monitor route` in a namespace, its lines timestamped (nanoseconds since `base`) as they
/// arrive.
pub struct KernelMonitor {
    child: Child,
    lines: mpsc::Receiver<(String, u64)>,
}

impl KernelMonitor {
    /// Starts `ip -n NETNS monitor route`.
    pub fn start(netns: &str, base: Instant) -> std::io::Result<KernelMonitor> {
        let mut child = Command::new("ip")
            .args(["-n", netns, "monitor", "route"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let out = child.stdout.take().expect("piped");
        // Unbounded: the monitor may print the tail of a million-route install before the
        // changes start; the reader drains it while waiting for quiet, so it never piles up.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let at = base.elapsed().as_nanos() as u64;
                if tx.send((line, at)).is_err() {
                    break;
                }
            }
        });
        Ok(KernelMonitor { child, lines: rx })
    }

    /// Waits until no route notification arrived for `quiet` (the DUT finished installing),
    /// at most `limit`. Returns how many lines were drained and whether it went quiet.
    pub fn wait_quiet(&self, quiet: Duration, limit: Duration) -> (u64, bool) {
        let end = Instant::now() + limit;
        let mut n = 0;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (n, false);
            }
            match self.lines.recv_timeout(quiet.min(left)) {
                Ok(_) => n += 1,
                Err(mpsc::RecvTimeoutError::Timeout) if quiet <= left => return (n, true),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return (n, false),
            }
        }
    }

    /// The arrival time of the first line announcing `prefix` via `gateway`, within `limit`.
    pub fn wait_route(&self, prefix: Ipv4Net, gateway: Ipv4Addr, limit: Duration) -> Option<u64> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let (line, at) = self.lines.recv_timeout(left).ok()?;
            if matches_route(&line, prefix, gateway) {
                return Some(at);
            }
        }
    }
}

impl Drop for KernelMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one-change latencies of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChangeReport {
    /// Changes sent.
    pub sent: usize,
    /// Changes seen in the kernel within the limit.
    pub seen: usize,
    /// Median of (kernel notification − UPDATE written), milliseconds.
    pub median_ms: f64,
    /// 90th percentile, milliseconds.
    pub p90_ms: f64,
    /// Largest, milliseconds.
    pub max_ms: f64,
    /// Route notifications drained while waiting for the DUT to finish installing.
    pub settle_lines: u64,
}

impl ChangeReport {
    /// Summarises latencies in nanoseconds (`None`: not seen in time).
    pub fn of(latencies_ns: &[Option<u64>], settle_lines: u64) -> ChangeReport {
        let mut v: Vec<u64> = latencies_ns.iter().flatten().copied().collect();
        v.sort_unstable();
        let at = |q: f64| {
            v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
                .map_or(0.0, |&ns| ns as f64 / 1e6)
        };
        ChangeReport {
            sent: latencies_ns.len(),
            seen: v.len(),
            median_ms: at(0.5),
            p90_ms: at(0.9),
            max_ms: v.last().map_or(0.0, |&ns| ns as f64 / 1e6),
            settle_lines,
        }
    }
}

/// Which routes change: `n` indexes spread evenly over a table of `routes`.
pub fn spread(routes: usize, n: usize) -> Vec<usize> {
    (0..n)
        .map(|k| ((2 * k + 1) * routes) / (2 * n.max(1)))
        .filter(|&i| i < routes)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_match_the_route_via_the_new_gateway_only() {
        let p: Ipv4Net = "16.0.5.0/24".parse().unwrap();
        let gw: Ipv4Addr = "192.168.11.5".parse().unwrap();
        assert!(matches_route(
            "16.0.5.0/24 via 192.168.11.5 dev toswitch1 proto 196",
            p,
            gw
        ));
        assert!(matches_route(
            "16.0.5.0/24 via 192.168.11.5 dev eth0 table 100 proto bird metric 32",
            p,
            gw
        ));
        // ECMP lines name each gateway after `nexthop via`.
        assert!(matches_route(
            "16.0.5.0/24 proto bgp metric 20 \tnexthop via 192.168.11.5 dev eth0 weight 1",
            p,
            gw
        ));
        assert!(!matches_route(
            "Deleted 16.0.5.0/24 via 192.168.11.5 dev eth0",
            p,
            gw
        ));
        assert!(!matches_route(
            "16.0.5.0/24 via 192.168.11.2 dev eth0",
            p,
            gw
        ));
        assert!(!matches_route(
            "16.0.50.0/24 via 192.168.11.5 dev eth0",
            p,
            gw
        ));
        assert!(!matches_route("", p, gw));
    }

    #[test]
    fn the_report_takes_percentiles_of_what_was_seen() {
        let ms = |m: u64| Some(m * 1_000_000);
        let r = ChangeReport::of(&[ms(3), None, ms(1), ms(2), ms(10)], 7);
        assert_eq!((r.sent, r.seen, r.settle_lines), (5, 4, 7));
        assert_eq!(r.max_ms, 10.0);
        assert!(r.median_ms == 2.0 || r.median_ms == 3.0);
        assert_eq!(ChangeReport::of(&[None], 0).median_ms, 0.0);
    }

    #[test]
    fn changed_routes_are_spread_over_the_table() {
        let s = spread(1000, 10);
        assert_eq!(s, [50, 150, 250, 350, 450, 550, 650, 750, 850, 950]);
        assert_eq!(spread(3, 5).len(), 5);
        assert!(spread(3, 5).iter().all(|&i| i < 3));
    }
}

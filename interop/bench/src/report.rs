//! The figures of one run and their two renderings: one JSON line, one human line.

use serde::Serialize;

use crate::change::ChangeReport;
use crate::sink::Sink;
use crate::table::Family;

/// Per-route latency figures, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median of (first seen at the sink − its UPDATE written by the blaster).
    pub median_s: f64,
    /// 99th percentile of the same.
    pub p99_s: f64,
}

/// Latencies of every route the sink saw: `first_seen_ns[i] − written_ns[message_of[i]]`.
pub fn latencies(sink: &Sink, message_of: &[u32], written_ns: &[u64]) -> Latency {
    let mut v: Vec<u64> = (0..message_of.len())
        .filter(|&i| sink.bitmap().get(i))
        .map(|i| sink.first_seen_ns[i].saturating_sub(written_ns[message_of[i] as usize]))
        .collect();
    if v.is_empty() {
        return Latency::default();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1e9;
    Latency {
        median_s: at(0.5),
        p99_s: at(0.99),
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The DUT's name as given (`--label`), "none" for the calibration.
    pub dut: String,
    /// The family.
    pub family: Family,
    /// Routes sent.
    pub routes: usize,
    /// Distinct attribute sets.
    pub sets: usize,
    /// UPDATE messages sent.
    pub messages: usize,
    /// Bytes sent (whole messages).
    pub bytes: usize,
    /// Seconds spent encoding (before t0, not in any figure).
    pub encode_s: f64,
    /// Seconds the blaster took to write everything (t0 → last write returned).
    pub blast_s: f64,
    /// Distinct routes of the table seen at the sink.
    pub received: usize,
    /// Every route arrived.
    pub complete: bool,
    /// t0 → the last new route seen at the sink, seconds.
    pub convergence_s: f64,
    /// routes / convergence.
    pub routes_per_s: f64,
    /// Per-route latency.
    pub latency: Latency,
    /// Announcements of routes already seen (duplicates).
    pub repeated: u64,
    /// Announced NLRI outside the table.
    pub foreign: u64,
    /// Sum of the DUT's RSS at idle (just before t0), bytes; 0 without PIDs.
    pub idle_rss: u64,
    /// Sum of the DUT's VmHWM at the end, bytes (HWM reset at idle when allowed).
    pub peak_hwm: u64,
    /// peak_hwm − idle_rss, bytes.
    pub mem_delta: u64,
    /// mem_delta / routes.
    pub bytes_per_route: f64,
    /// The DUT's utime + stime from t0 until its CPU went quiet, seconds.
    pub cpu_s: f64,
    /// The DUT's CPU went quiet this long after t0 (end of the CPU window), seconds.
    pub cpu_window_s: f64,
    /// End-of-RIB was received from the DUT on both sessions before t0.
    pub eor_before_t0: bool,
    /// Number of DUT processes measured.
    pub dut_pids: usize,
    /// One-change latencies to the DUT's kernel (`--changes`), after the table converged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangeReport>,
    /// `--kernel-table`: t0 → the DUT's kernel table held every route, seconds (None: it did
    /// not within the timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_s: Option<f64>,
    /// `--kernel-table`: routes the table gained from t0 to the end of the watch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_routes: Option<u64>,
}

impl RunReport {
    /// The human line.
    pub fn human(&self) -> String {
        let mem = if self.dut_pids > 0 {
            format!(
                ", mem +{:.1} MB ({:.0} B/route), cpu {:.2} s",
                self.mem_delta as f64 / 1e6,
                self.bytes_per_route,
                self.cpu_s
            )
        } else {
            String::new()
        };
        let changes = match &self.changes {
            Some(c) => format!(
                "; one change to the kernel: {}/{} seen, median {:.2} ms p90 {:.2} ms max {:.2} ms",
                c.seen, c.sent, c.median_ms, c.p90_ms, c.max_ms
            ),
            None => String::new(),
        };
        let kernel = match (self.kernel_s, self.kernel_routes) {
            (Some(s), _) => format!("; all in the kernel table after {s:.3} s"),
            (None, Some(n)) => format!("; kernel table INCOMPLETE: {n}/{} routes", self.routes),
            _ => String::new(),
        };
        format!(
            "{dut}: {fam:?} {routes} routes / {sets} sets: {recv}/{routes} received{incomplete}, \
             convergence {conv:.3} s ({rate:.0} routes/s), latency median {med:.3} s p99 {p99:.3} s{mem}{changes}{kernel}",
            dut = self.dut,
            fam = self.family,
            routes = self.routes,
            sets = self.sets,
            recv = self.received,
            incomplete = if self.complete { "" } else { " INCOMPLETE" },
            conv = self.convergence_s,
            rate = self.routes_per_s,
            med = self.latency.median_s,
            p99 = self.latency.p99_s,
        )
    }
}

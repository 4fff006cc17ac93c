//! The DUT's cost from /proc: resident memory (VmRSS, VmHWM) and CPU time (utime + stime),
//! summed over its processes.

use std::fs;

/// One reading of the DUT's processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reading {
    /// Sum of VmRSS, bytes.
    pub rss: u64,
    /// Sum of VmHWM (peak resident set), bytes.
    pub hwm: u64,
    /// Sum of utime + stime, clock ticks.
    pub cpu_ticks: u64,
    /// Processes that could not be read (exited).
    pub missing: usize,
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// A `Vm...:   N kB` field of /proc/PID/status, in bytes.
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// utime + stime (ticks) from the text of /proc/PID/stat (fields 14 and 15; the command name
/// in parentheses may hold spaces, so count from the last ')').
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After ')': field 3 (state) is f[0], so field N is f[N - 3].
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Reads every process in `pids`.
pub fn read(pids: &[u32]) -> Reading {
    let mut r = Reading::default();
    for pid in pids {
        let status = fs::read_to_string(format!("/proc/{pid}/status"));
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"));
        match (status, stat) {
            (Ok(status), Ok(stat)) => {
                r.rss += status_field(&status, "VmRSS").unwrap_or(0);
                r.hwm += status_field(&status, "VmHWM").unwrap_or(0);
                r.cpu_ticks += stat_cpu_ticks(&stat).unwrap_or(0);
            }
            _ => r.missing += 1,
        }
    }
    r
}

/// Resets each process' VmHWM to its current RSS (`echo 5 > /proc/PID/clear_refs`), so that
/// the peak read later is the peak of the run. Returns how many could not be reset.
pub fn reset_hwm(pids: &[u32]) -> usize {
    pids.iter()
        .filter(|pid| fs::write(format!("/proc/{pid}/clear_refs"), "5").is_err())
        .count()
}

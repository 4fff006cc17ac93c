//! How many prefixes one kernel routing table holds, read cheaply from the kernel's FIB trie
//! statistics (`/proc/net/fib_triestat`: one section per table, with its `Prefixes:` count)
//! rather than by dumping every route. The PE job times t0 → every route in the VRF's table
//! with it, on the harness' clock.

use std::io;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The heading of table `table`'s section in `fib_triestat`: `Main:` (254), `Local:` (255),
/// else `Id N:`.
fn heading(table: u32) -> String {
    match table {
        254 => "Main:".into(),
        255 => "Local:".into(),
        t => format!("Id {t}:"),
    }
}

/// The `Prefixes:` count of table `table` in the text of `fib_triestat`; `None` when the
/// namespace has no such table (yet: the kernel creates a table with its first route).
pub fn prefixes_in(triestat: &str, table: u32) -> Option<u64> {
    let want = heading(table);
    let mut lines = triestat.lines();
    lines.find(|l| l.trim_end() == want)?;
    for l in lines {
        let t = l.trim();
        if let Some(v) = t.strip_prefix("Prefixes:") {
            return v.trim().parse().ok();
        }
        // The next table's section started without a count.
        if !l.starts_with(char::is_whitespace) && t.ends_with(':') {
            return None;
        }
    }
    None
}

/// Reads the calling thread's namespace's `fib_triestat` (`/proc/thread-self`: the thread may
/// have entered another namespace than the process').
fn read_count(table: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/fib_triestat")?;
    Ok(prefixes_in(&text, table).unwrap_or(0))
}

/// A thread in the DUT's namespace polling one table until it holds `want` more prefixes
/// than when it started.
pub struct TableWatch {
    /// The table's prefixes when the watch started (routes the DUT had before t0).
    pub baseline: u64,
    done: mpsc::Receiver<(Option<u64>, u64)>,
}

impl TableWatch {
    /// Enters `netns` (see [`crate::session::enter_netns`]) in a new thread, reads the baseline,
    /// then polls every `every` until the table holds `baseline + want` prefixes (noting the
    /// time on `base`'s clock, in nanoseconds) or `timeout` passed.
    pub fn start(
        netns: &str,
        table: u32,
        want: u64,
        base: Instant,
        every: Duration,
        timeout: Duration,
    ) -> io::Result<TableWatch> {
        let (btx, brx) = mpsc::channel();
        let (dtx, drx) = mpsc::channel();
        let ns = netns.to_string();
        thread::spawn(move || {
            let baseline = match crate::session::enter_netns(&ns).and_then(|()| read_count(table)) {
                Ok(b) => b,
                Err(e) => {
                    let _ = btx.send(Err(e));
                    return;
                }
            };
            let _ = btx.send(Ok(baseline));
            let deadline = Instant::now() + timeout;
            let mut last = baseline;
            loop {
                let n = read_count(table).unwrap_or(last);
                last = n;
                if n >= baseline + want {
                    let _ = dtx.send((Some(base.elapsed().as_nanos() as u64), n - baseline));
                    return;
                }
                if Instant::now() >= deadline {
                    let _ = dtx.send((None, n.saturating_sub(baseline)));
                    return;
                }
                thread::sleep(every);
            }
        });
        let baseline = brx
            .recv()
            .map_err(|_| io::Error::other("the table watch thread ended"))??;
        Ok(TableWatch {
            baseline,
            done: drx,
        })
    }

    /// Waits for the watch: (when the table was full, on the run's clock in ns, if it was; the
    /// prefixes added since the baseline when it ended).
    pub fn wait(self) -> (Option<u64>, u64) {
        self.done.recv().unwrap_or((None, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.
Local:
\tAver depth:     2.33
\tMax depth:      3
\tLeaves:         6
\tPrefixes:       7
\tInternal nodes: 4
\t  1: 2  2: 2
\tPointers: 8
Null ptrs: 1
Total size: 1  kB
Main:
\tAver depth:     1.50
\tLeaves:         2
\tPrefixes:       2
Id 1100:
\tAver depth:     18.10
\tLeaves:         100003
\tPrefixes:       100004
";

    #[test]
    fn each_tables_prefix_count_is_read_from_its_section() {
        assert_eq!(prefixes_in(SAMPLE, 255), Some(7));
        assert_eq!(prefixes_in(SAMPLE, 254), Some(2));
        assert_eq!(prefixes_in(SAMPLE, 1100), Some(100_004));
        assert_eq!(prefixes_in(SAMPLE, 1101), None);
        assert_eq!(prefixes_in(SAMPLE, 110), None);
    }

    #[test]
    fn a_section_without_a_count_is_none() {
        assert_eq!(prefixes_in("Id 7:\nId 8:\n\tPrefixes: 3\n", 7), None);
        assert_eq!(prefixes_in("Id 7:\nId 8:\n\tPrefixes: 3\n", 8), Some(3));
    }

    /// The real kernel: this process' own namespace has a local table with prefixes.
    #[test]
    fn the_kernels_local_table_is_counted() {
        let text = std::fs::read_to_string("/proc/thread-self/net/fib_triestat").unwrap();
        assert!(prefixes_in(&text, 255).unwrap() >= 1, "{text}");
    }
}

//! perouter-bench: a BGP propagation bench after the method of bgperf2's critics.
//!
//! One process opens two sessions to the device under test (DUT): a *blaster* that writes
//! UPDATEs all encoded before t0, and a *sink* that counts first-time announcements per route
//! in a bitmap. Both sessions are Established and End-of-RIB is exchanged both ways before
//! t0; one monotonic clock times everything. See `interop/bench/README.md`.

#![warn(missing_docs)]

pub mod change;
pub mod fibcount;
pub mod procstat;
pub mod report;
pub mod session;
pub mod sink;
pub mod table;

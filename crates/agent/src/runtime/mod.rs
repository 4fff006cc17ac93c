//! `perouter run`: the daemon. Config sources feed a node plan; the plan drives the datapath
//! (fib), the RIB and the BGP sessions; their outputs feed each other through bounded channels.

pub mod datapath;
pub mod node_config;
pub mod routing;
pub mod sessions;

//! `perouter run`: turn this node into a PE router from OpenPERouter's static files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::api::DEFAULT_SOCKET;
use crate::plan::DEFAULT_ROUTER_NETNS;
use crate::runtime::{self, RunOptions};

/// Arguments of `perouter run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Builds the router namespace (VRFs, br-pe-<vni> bridges, vni<vni> VXLAN devices, host-e/pe-e veths,
the underlay NIC moved in), holds the BGP sessions with the fabric and the host speakers, translates
host routes to EVPN type-5 and back, and keeps the kernel converged. The configuration directory is
re-read every --config-poll seconds; changes apply live, touching only what changed.

Stopping perouter leaves the namespace and forwarding in place; peers keep our routes through
graceful restart until it is back.

Examples:
  perouter run --config-dir /var/lib/openperouter
  perouter run --config-dir examples/static --router-netns node1-pe --host-netns node1 \\
      --api-socket /run/perouter/node1.sock --metrics-addr 127.0.0.1:9120")]
pub struct RunArgs {
    /// The static configuration directory (node-config.yaml, openpe_*.yaml).
    #[arg(long, default_value = "/var/lib/openperouter")]
    pub config_dir: PathBuf,
    /// The router network namespace (several nodes on one machine need distinct names).
    #[arg(long, default_value = DEFAULT_ROUTER_NETNS)]
    pub router_netns: String,
    /// A named namespace standing for the host (labs); default: the namespace perouter runs in.
    #[arg(long)]
    pub host_netns: Option<String>,
    /// Use this node index instead of node-config.yaml's.
    #[arg(long)]
    pub node_index: Option<u32>,
    /// The local API socket used by `perouter show`.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    pub api_socket: PathBuf,
    /// Serve /metrics, /healthz and /readyz on this address.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Seconds between re-reads of the configuration directory.
    #[arg(long, default_value_t = 2)]
    pub config_poll: u64,
    /// Seconds between periodic datapath reconciles.
    #[arg(long, default_value_t = 60)]
    pub reconcile_period: u64,
    /// BGP port to listen on in the router namespace.
    #[arg(long, default_value_t = 179)]
    pub bgp_port: u16,
}

/// Runs `perouter run`.
pub fn run(args: &RunArgs) -> ExitCode {
    let opts = RunOptions {
        config_dir: args.config_dir.clone(),
        router_netns: args.router_netns.clone(),
        node_index: args.node_index,
        host_netns: args.host_netns.clone(),
        api_socket: args.api_socket.clone(),
        metrics_addr: args.metrics_addr,
        config_poll: Duration::from_secs(args.config_poll.max(1)),
        reconcile_period: Duration::from_secs(args.reconcile_period.max(1)),
        bgp_port: args.bgp_port,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("perouter run: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(runtime::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("perouter run: {e}");
            ExitCode::from(1)
        }
    }
}

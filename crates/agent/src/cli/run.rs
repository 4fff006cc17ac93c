//! `perouter run`: turn this node into a PE router from OpenPERouter's static files, and in
//! Kubernetes mode (`--kubernetes`) from the API's resources merged with them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::api::DEFAULT_SOCKET;
use crate::k8s::mode::KubernetesArgs;
use crate::plan::DEFAULT_ROUTER_NETNS;
use crate::runtime::{self, RunOptions};

/// Arguments of `perouter run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Builds the router namespace (VRFs, br-pe-<vni> bridges, vni<vni> VXLAN devices, host-e/pe-e veths,
the underlay NIC moved in), holds the BGP sessions with the fabric and the host speakers, translates
host routes to EVPN type-5 and back, and keeps the kernel converged. The configuration directory is
re-read every --config-poll seconds; changes apply live, touching only what changed.

With --kubernetes (the DaemonSet in deploy/), the Underlay, L3VNI, L2VNI and L3Passthrough
resources that select this node are merged with the static files (which apply first, without
waiting for the API), passwordSecret references become TCP-MD5 keys (re-keyed when the Secret
changes), the node index comes from the openpe.io/nodeindex annotation (allocated when missing;
--node-index overrides it), and the node's RouterNodeConfigurationStatus is written after every
change and every --status-period seconds.

Stopping perouter leaves the namespace and forwarding in place; peers keep our routes through
graceful restart until it is back.

Upgrades without a session flap: a perouter started while another runs the node (same router
namespace) asks it over --handoff-socket for its live BGP sessions. The running one freezes them,
passes each TCP socket with its state (negotiated OPENs, timers, unread bytes, counters, the routes
received), the new one resumes them at once (a KEEPALIVE goes out) and the old one exits without
tearing anything down: the peers see one session throughout. When a handoff is not possible (BFD
sessions configured, another handoff version, the old process dies mid-way) the old process stops
the ordinary way and the new one starts as a restart with graceful restart. --no-handoff turns
both sides off.

Examples:
  perouter run --config-dir /var/lib/openperouter
  perouter run --config-dir examples/static --router-netns node1-pe --host-netns node1 \\
      --api-socket /run/perouter/node1.sock --metrics-addr 127.0.0.1:9120
  perouter run --kubernetes --node-name $NODE_NAME --namespace openperouter-system")]
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
    /// The session-handoff socket (root only, mode 0600): asked at start for the running
    /// perouter's sessions, then offered to the next one (upgrades without a session flap).
    /// Default: handoff.sock beside --api-socket (/run/perouter/handoff.sock), so that several
    /// nodes on one machine (labs) each have their own.
    #[arg(long)]
    pub handoff_socket: Option<PathBuf>,
    /// Neither take sessions over from a running perouter nor offer ours: every restart closes
    /// the sessions (peers keep our routes only through graceful restart).
    #[arg(long)]
    pub no_handoff: bool,
    /// Serve /metrics, /healthz and /readyz on this address.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Seconds between re-reads of the configuration directory.
    #[arg(long, default_value_t = 2)]
    pub config_poll: u64,
    /// Seconds between periodic datapath reconciles.
    #[arg(long, default_value_t = 60)]
    pub reconcile_period: u64,
    /// Seconds between probes of the STALE neighbours on the L2VNI bridges (the refresher that
    /// keeps a silent workload's MAC in the FDB, so its type-2 MAC+IP route stays; upstream's
    /// bridge refresher probes every 30 s). It must stay below the bridge's FDB ageing time.
    #[arg(long, default_value_t = 30)]
    pub stale_probe_period: u64,
    /// BGP port to listen on in the router namespace.
    #[arg(long, default_value_t = 179)]
    pub bgp_port: u16,
    /// Seconds between refreshes of the node status (Kubernetes mode).
    #[arg(long, default_value_t = 30)]
    pub status_period: u64,
    /// Most prefixes accepted from any one BGP neighbour (perouter extension; default: no
    /// limit). Beyond it the session is closed with Cease / Maximum Number of Prefixes Reached
    /// (RFC 4486) and stays down for --max-prefix-restart seconds.
    #[arg(long)]
    pub max_prefix: Option<u32>,
    /// Seconds a neighbour that exceeded --max-prefix stays down before it may come back.
    #[arg(long, default_value_t = 60)]
    pub max_prefix_restart: u16,
    /// RFC 9687 SendHoldTimer in seconds: a neighbour that reads nothing we send for this long
    /// is closed (NOTIFICATION 8); default max(480, 2 × hold time); 0 turns it off.
    #[arg(long)]
    pub send_hold_time: Option<u32>,
    /// Most sessions accepted at once from one listen range (FRR's `bgp listen limit`).
    #[arg(long, default_value_t = crate::runtime::sessions::DEFAULT_LISTEN_LIMIT)]
    pub listen_limit: usize,
    /// The ovsdb-server socket, for L2VNI host legs on OVS bridges (`hostMaster.type:
    /// OVSBridge`).
    #[arg(long, default_value = crate::runtime::ovs::DEFAULT_SOCKET)]
    pub ovsdb_socket: PathBuf,
    /// `datapath_type` of the OVS bridges perouter creates: `netdev` for Open vSwitch's
    /// userspace datapath (hosts without the openvswitch kernel module); default: OVS's own
    /// (`system`, the kernel datapath). Existing (External) bridges are never changed.
    #[arg(long)]
    pub ovs_datapath_type: Option<String>,
    /// Where CNI plugins are found for `CNIDevice` underlays (`CNI_PATH`, colon-separated).
    #[arg(long, default_value = "/opt/cni/bin:/usr/lib/cni")]
    pub cni_path: String,
    /// The CNI attachment cache (kept across restarts so that interfaces are adopted, not
    /// re-added); default: `cni-ROUTER_NETNS/` beside --api-socket.
    #[arg(long)]
    pub cni_state_dir: Option<PathBuf>,
    /// Seconds a CNI plugin may run before it is killed.
    #[arg(long, default_value_t = 60)]
    pub cni_timeout: u64,
    /// Kubernetes mode.
    #[command(flatten)]
    pub k8s: KubernetesArgs,
}

/// The node name of Kubernetes mode: `--node-name`, else `$NODE_NAME` (what the DaemonSet's
/// downward API sets).
fn kubernetes_node(
    args: &KubernetesArgs,
) -> Result<Option<crate::k8s::controller::ControllerConfig>, String> {
    if !args.kubernetes {
        return Ok(None);
    }
    let mut args = args.clone();
    if args.node_name.is_none() {
        args.node_name = std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty());
    }
    args.controller_config()
        .map(Some)
        .ok_or_else(|| "--kubernetes needs --node-name (or $NODE_NAME)".to_string())
}

/// The handoff socket: `explicit` (`--handoff-socket`), else handoff.sock beside the API socket
/// (`perouter run` and `perouter upgrade` derive it alike).
pub fn handoff_socket(api_socket: &std::path::Path, explicit: Option<&PathBuf>) -> PathBuf {
    explicit.cloned().unwrap_or_else(|| {
        api_socket
            .parent()
            .map(|d| d.join("handoff.sock"))
            .unwrap_or_else(|| PathBuf::from(crate::runtime::handoff::DEFAULT_SOCKET))
    })
}

/// Runs `perouter run`.
pub fn run(args: &RunArgs) -> ExitCode {
    let kubernetes = match kubernetes_node(&args.k8s) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("perouter run: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = RunOptions {
        config_dir: args.config_dir.clone(),
        router_netns: args.router_netns.clone(),
        node_index: args.node_index,
        host_netns: args.host_netns.clone(),
        api_socket: args.api_socket.clone(),
        metrics_addr: args.metrics_addr,
        config_poll: Duration::from_secs(args.config_poll.max(1)),
        reconcile_period: Duration::from_secs(args.reconcile_period.max(1)),
        stale_probe_period: Duration::from_secs(args.stale_probe_period.max(1)),
        bgp_port: args.bgp_port,
        handoff: (!args.no_handoff)
            .then(|| handoff_socket(&args.api_socket, args.handoff_socket.as_ref())),
        kubernetes: kubernetes.clone(),
        status_period: Duration::from_secs(args.status_period.max(1)),
        limits: crate::runtime::sessions::SessionLimits {
            max_prefix: args.max_prefix,
            max_prefix_restart: args.max_prefix_restart,
            send_hold_time: args.send_hold_time,
            listen_limit: args.listen_limit.max(1),
        },
        ovsdb_socket: args.ovsdb_socket.clone(),
        ovs_datapath_type: args.ovs_datapath_type.clone().filter(|t| !t.is_empty()),
        cni: crate::runtime::cni::CniSettings {
            path: std::env::split_paths(&args.cni_path).collect(),
            state_dir: args.cni_state_dir.clone().unwrap_or_else(|| {
                args.api_socket
                    .parent()
                    .unwrap_or_else(|| std::path::Path::new("/run/perouter"))
                    .join(format!("cni-{}", args.router_netns))
            }),
            timeout: Duration::from_secs(args.cni_timeout.max(1)),
            node: kubernetes.as_ref().map(|k| k.node_name.clone()),
        },
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

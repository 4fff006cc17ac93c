//! The `perouter` command line: one module per subcommand.
//!
//! `main.rs` parses [`Cli`] and dispatches to the subcommand's `run`.

pub mod check;
pub mod decode;
pub mod run;
pub mod show;
pub mod upgrade;

use clap::{Parser, Subcommand};

/// perouter: an EVPN provider-edge router for Kubernetes nodes.
#[derive(Debug, Parser)]
#[command(
    name = "perouter",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PEROUTER_GIT_COMMIT"), ")"),
    about,
    propagate_version = true
)]
pub struct Cli {
    /// Log line format on standard error (`RUST_LOG` sets the level; for `run`, node-config.yaml's
    /// `logLevel` does, live).
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the PE router from OpenPERouter's static files (the daemon).
    Run(Box<run::RunArgs>),
    /// Ask a running daemon: BGP sessions, EVPN, VRF routes, VNIs, status.
    Show(show::ShowArgs),
    /// Validate a static configuration directory offline and print this node's plan.
    Check(check::CheckArgs),
    /// Decode BGP messages from a pcap/pcapng capture, hex lines or a raw stream, as JSON.
    Decode(decode::DecodeArgs),
    /// Upgrade the running perouter in place: start a new binary that takes its BGP sessions
    /// over without a flap (systemd: `systemctl reload perouter`).
    Upgrade(upgrade::UpgradeArgs),
    /// Print the CustomResourceDefinitions of network.openperouter.io/v1alpha1 as YAML.
    Crds,
    /// What a perouter that handed its sessions over becomes in Kubernetes mode: it waits for
    /// SIGTERM and exits 0 (a container that exited would be restarted beside its successor).
    #[command(hide = true)]
    Park,
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(&self) -> std::process::ExitCode {
        if !matches!(self.command, Command::Run(_)) {
            restore_sigpipe();
        }
        match &self.command {
            Command::Check(args) => check::run(args),
            Command::Run(args) => run::run(args),
            Command::Show(args) => show::run(args),
            Command::Decode(args) => decode::run(args),
            Command::Upgrade(args) => upgrade::run(args),
            Command::Crds => crate::k8s::crd::print_crds(),
            Command::Park => park(),
        }
    }
}

/// Waits for SIGTERM or SIGINT, then exits 0 (see [`Command::Park`]).
fn park() -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return std::process::ExitCode::SUCCESS,
    };
    rt.block_on(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    std::process::ExitCode::SUCCESS
}

/// The one-shot commands print to stdout, often into `head` or `grep -q`: like other Unix tools
/// they should end quietly when the reader goes away, instead of panicking on EPIPE (Rust
/// ignores SIGPIPE by default). The daemon keeps SIGPIPE ignored: a peer closing a socket must
/// never kill it.
fn restore_sigpipe() {
    // SAFETY: called before any other thread exists in these commands; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

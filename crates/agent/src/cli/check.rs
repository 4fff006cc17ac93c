//! `perouter check DIR`: validate OpenPERouter static files offline and print the node plan.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::check::{check_dir, render_text};
use crate::plan::DEFAULT_ROUTER_NETNS;

/// Arguments of `perouter check`.
#[derive(Debug, Args)]
#[command(after_help = "\
Reads node-config.yaml and every openpe_*.yaml (in DIR/configs/ and DIR/), validates every resource
against OpenPERouter's rules and prints what this node would run: VTEP, router ID, devices, veth
addresses, BGP sessions, RDs and RTs. Touches nothing on the host.

Exit status: 0 when everything is valid, 1 when a file or resource was skipped or no plan could be
made, 2 when DIR cannot be read.

Examples:
  perouter check /var/lib/openperouter
  perouter check examples/static --node-index 3 -o json")]
pub struct CheckArgs {
    /// The configuration directory.
    #[arg(default_value = "/var/lib/openperouter")]
    pub dir: PathBuf,
    /// Use this node index instead of node-config.yaml's.
    #[arg(long)]
    pub node_index: Option<u32>,
    /// The router namespace name.
    #[arg(long, default_value = DEFAULT_ROUTER_NETNS)]
    pub router_netns: String,
    /// Output format.
    #[arg(short = 'o', long, value_parser = ["text", "json"], default_value = "text")]
    pub output: String,
}

/// Runs `perouter check`.
pub fn run(args: &CheckArgs) -> ExitCode {
    let report = match check_dir(&args.dir, args.node_index, &args.router_netns) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("perouter check: cannot read {}: {e}", args.dir.display());
            return ExitCode::from(2);
        }
    };
    if args.output == "json" {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("perouter check: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", render_text(&report));
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

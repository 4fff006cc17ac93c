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

Applies exactly the reading and validation `perouter run` applies (strict fields, runtime limits
such as the 80-byte TCP-MD5 key) and prints the plan `run` would start with.

Exit status:
  0  everything is valid
  1  some files or resources would be skipped; the rest would run (perouter run starts)
  2  unusable: no plan can be made (no valid Underlay, no node index) or DIR cannot be read

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
    ExitCode::from(report.exit_status())
}

//! The `perouter` binary: parses the command line and runs a subcommand (see
//! [`perouter_agent::cli`]). Logs go to standard error, filtered by `RUST_LOG` (default `warn`).

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    perouter_agent::cli::Cli::parse().run()
}

//! The `perouter` binary: parses the command line, sets up logging (see
//! [`perouter_agent::logging`]) and runs a subcommand (see [`perouter_agent::cli`]).
//!
//! **Inputs.** The command line and the environment. **Outputs.** The subcommand's effect and its
//! exit code. **Must not.** Hold logic of its own: everything it runs lives in the library
//! ([`perouter_agent`]), where it is tested.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = perouter_agent::cli::Cli::parse();
    // The daemon tells its story at info; the one-shot commands only warn.
    let default = match cli.command {
        perouter_agent::cli::Command::Run(_) => perouter_agent::logging::DEFAULT_LEVEL,
        _ => "warn",
    };
    perouter_agent::logging::init(cli.log_format, default);
    cli.run()
}

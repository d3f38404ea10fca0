//! The `quant` binary: parse the command line and hand over to [`quant::cli::run`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    quant::cli::run(quant::cli::Cli::parse())
}

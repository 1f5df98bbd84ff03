//! The `invigilator` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    invigilator::cli::run(invigilator::cli::Cli::parse()).await
}

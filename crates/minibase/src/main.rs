//! The `minibase` binary: command-line parsing and wiring, nothing else. Every command is a
//! function in [`cli`]; outcomes map to exit codes here (0 ok, 1 failure, 2 bad usage or
//! configuration), errors printed with their whole chain, as ripgrep does.

mod cli;
mod doctor;
mod init;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

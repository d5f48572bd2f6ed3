//! The `minibase` binary: command-line parsing and wiring, nothing else. Every command is a
//! function in [`cli`]; outcomes map to exit codes here (0 ok, 1 failure, 2 bad usage or
//! configuration), errors printed with their whole chain, as ripgrep does.

mod admin;
mod cli;
mod doctor;
mod init;

use clap::Parser;
use std::process::ExitCode;

/// jemalloc instead of glibc's malloc: the request path allocates on one thread and frees on
/// another (HTTP tasks, SQLite readers, function instances), which glibc's arenas handle poorly.
/// Measured in docs/benchmarks.md.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at start (the environment variable `_RJEM_MALLOC_CONF` overrides
/// them): one arena and a small thread cache keep the idle footprint of a 2-core server small;
/// freed pages go back to the system after a second.
#[cfg(feature = "jemalloc")]
#[allow(non_upper_case_globals, unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8; 64] =
    b"narenas:1,tcache_max:4096,dirty_decay_ms:1000,muzzy_decay_ms:0\0\0";

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

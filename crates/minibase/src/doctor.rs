//! `minibase doctor <https-url>`: checks a request legal domain (request合法域名) the way WeChat
//! and phones will (API.md §9, docs/https.md). The checks live in `edge::doctor`; this prints
//! them as text or JSON and sets the exit code (0: nothing failed, 1: something failed).

use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `minibase doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The request legal domain to check, e.g. https://api.example.com
    #[arg(value_name = "HTTPS-URL")]
    url: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also trust this root certificate (PEM): private CAs, tests.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The plain HTTP port that must redirect to HTTPS.
    #[arg(long, value_name = "N", default_value_t = 80)]
    http_port: u16,
    /// Connect to this IP address instead of resolving the domain (check a new server before
    /// DNS points at it).
    #[arg(long, value_name = "IP")]
    resolve: Option<IpAddr>,
    /// Seconds each network step may take.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    timeout: u64,
}

/// Runs the checks and prints the report.
pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut opts = edge::doctor::DoctorOptions::new(args.url);
    opts.ca_file = args.ca_file;
    opts.http_port = args.http_port;
    opts.resolve = args.resolve;
    opts.timeout = Duration::from_secs(args.timeout.max(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(edge::doctor::run(&opts));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

//! The commands: `serve`, `init`, `doctor`, `version` (and more in the same style).

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Minibase: the whole backend of a mini program in one binary.
#[derive(Parser, Debug)]
#[command(name = "minibase", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (HTTP/HTTPS API, realtime, functions, background jobs).
    Serve {
        /// Configuration file (default: ./minibase.toml when it exists).
        #[arg(long, short = 'c', value_name = "PATH", env = "MINIBASE_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (overrides server.data_dir).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Write a commented minibase.toml and .env.example into the current directory.
    Init {
        /// Directory to write into.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Check a request legal domain the way WeChat and phones will (HTTPS, chain, TLS 1.2,
    /// redirect…); exits non-zero when a check fails.
    Doctor(crate::doctor::DoctorArgs),
    /// Manage the admins of the console at /_/ (docs/console.md).
    Admin {
        #[command(subcommand)]
        command: crate::admin::AdminCommand,
        /// Configuration file (default: ./minibase.toml when it exists).
        #[arg(
            long,
            short = 'c',
            value_name = "PATH",
            env = "MINIBASE_CONFIG",
            global = true
        )]
        config: Option<PathBuf>,
        /// Data directory (overrides server.data_dir).
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Print the version.
    Version,
    /// Development helpers (never for production).
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DevCommand {
    /// Run a fake WeChat API server, to try the whole login flow and the open APIs locally:
    /// point `wechat.api_base` at it (see docs/wechat.md).
    FakeWechat {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9100")]
        addr: std::net::SocketAddr,
        /// The AppID it answers for (set the same `wechat.appid`).
        #[arg(long, default_value = testkit::fake_wechat::FAKE_APPID)]
        appid: String,
        /// The AppSecret it expects (set the same `wechat.secret`).
        #[arg(long, default_value = testkit::fake_wechat::FAKE_SECRET)]
        secret: String,
        /// Accept only login codes created through `POST /_fake/codes` (as the tests do),
        /// instead of any code once.
        #[arg(long)]
        strict: bool,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config, data_dir } => serve(config, data_dir),
        Command::Init { dir, force } => crate::init::run(&dir, force),
        Command::Doctor(args) => crate::doctor::run(args),
        Command::Admin {
            command,
            config,
            data_dir,
        } => crate::admin::run(command, config, data_dir),
        Command::Dev {
            command:
                DevCommand::FakeWechat {
                    addr,
                    appid,
                    secret,
                    strict,
                },
        } => fake_wechat(addr, appid, secret, strict),
        Command::Version => {
            println!("minibase {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(config: &config::Config) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&config.server.log_level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.server.log_format == "pretty" {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}

fn serve(config_path: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match config::load(config_path, data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let signals = ShutdownSignal::listen();
        let stats = Arc::new(edge::EdgeStats::default());
        let app = server::build(config.clone(), stats.clone()).await?;
        let edge = edge::Edge::bind(&config, stats).await?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            http = ?edge.http_addr(),
            https = ?edge.https_addr(),
            redirect = ?edge.redirect_addr(),
            data_dir = %config.server.data_dir.display(),
            "minibase is serving"
        );
        let realtime = app.state.realtime().clone();
        let shutdown = {
            let realtime = realtime.clone();
            async move {
                signals.recv().await;
                // WebSocket connections are not requests the edge drains: tell them to go.
                realtime.shutdown().await;
            }
        };
        edge.serve(app.router, shutdown).await?;
        if !realtime.closed(std::time::Duration::from_secs(5)).await {
            tracing::info!("realtime connections still open at exit");
        }
        // In-flight requests are done: let the database finish its writes and checkpoint.
        let state = app.state;
        tokio::task::spawn_blocking(move || state.db().close()).await?;
        tracing::info!("minibase stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Listens for SIGTERM and SIGINT (Ctrl-C) from the moment it is made: made before the
/// listeners are bound, so a signal that arrives as soon as the first request is served is
/// never lost (nor does it kill the process with the default action).
struct ShutdownSignal {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignal {
    fn listen() -> ShutdownSignal {
        use tokio::signal::unix::{SignalKind, signal};
        let open = |kind: SignalKind, name: &str| {
            signal(kind)
                .map_err(|e| tracing::error!(error = %e, "cannot listen for {name}"))
                .ok()
        };
        ShutdownSignal {
            term: open(SignalKind::terminate(), "SIGTERM"),
            int: open(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves on the first SIGTERM or SIGINT.
    async fn recv(mut self) {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.term) => tracing::info!("SIGTERM: draining in-flight requests"),
            _ = next(&mut self.int) => tracing::info!("SIGINT: draining in-flight requests"),
        }
    }
}

fn fake_wechat(
    addr: std::net::SocketAddr,
    appid: String,
    secret: String,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let signals = ShutdownSignal::listen();
        let opts = testkit::FakeWechatOptions { appid: appid.clone(), secret, lenient: !strict, ..Default::default() };
        let fake = testkit::FakeWechat::start_on(addr, opts)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        eprintln!("fake WeChat API listening on {} (AppID {appid})", fake.url());
        eprintln!("  MINIBASE_WECHAT__API_BASE={} MINIBASE_WECHAT__APPID={appid} MINIBASE_WECHAT__SECRET=… minibase serve", fake.url());
        if !strict {
            eprintln!("  any login code is accepted once; the code openid:NAME signs in as NAME");
        }
        signals.recv().await;
        fake.stop().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

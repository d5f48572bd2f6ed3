//! `minibase admin create|list|delete|reset-password|totp`: the console's admins, written
//! straight into the database of the configuration (the server may be running: SQLite
//! serialises the writes). Passwords are asked on the terminal without echo, or read from
//! standard input with `--password-stdin` (scripts); they never appear in arguments, where
//! other users of the machine could see them. Every change is written to the audit log.

use clap::Subcommand;
use console::admins::Admins;
use console::audit::{self, Change, RequestMeta};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an admin (asks for a password).
    Create {
        /// The admin's name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the admins.
    List,
    /// Delete an admin (their console sessions end).
    Delete {
        /// The admin's name.
        name: String,
    },
    /// Set a new password (unlocks the admin; their console sessions end).
    ResetPassword {
        /// The admin's name.
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn the one-time-code second factor on (prints the secret to add to an
    /// authenticator app) or off.
    Totp {
        /// The admin's name.
        name: String,
        /// Turn it off.
        #[arg(long)]
        disable: bool,
    },
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password (again): ")?;
    if first != again {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

/// Runs an admin command against the database of the configuration.
pub fn run(
    command: AdminCommand,
    config_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let config = match config::load(config_path, data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // The password first, before anything is opened.
    let password = match &command {
        AdminCommand::Create { password_stdin, .. }
        | AdminCommand::ResetPassword { password_stdin, .. } => {
            Some(read_password(*password_stdin)?)
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&config.server.data_dir)?;
        let url = config.database_url();
        let db = docdb::Database::open(&url, docdb::DbOptions::from_config(&config))
            .map_err(|e| anyhow::anyhow!("cannot open the database ({url}): {e}"))?;
        let admins = Admins::new(db.clone());
        let who = format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "?".into())
        );
        let meta = RequestMeta::default();
        let log = |action: &'static str, target: String| {
            let (db, who, meta) = (db.clone(), who.clone(), meta.clone());
            async move {
                audit::record(
                    &db,
                    &who,
                    &meta,
                    Change {
                        action,
                        target: &target,
                        before: None,
                        after: None,
                    },
                )
                .await;
            }
        };
        let code = match command {
            AdminCommand::Create { name, .. } => {
                admins
                    .create(&name, password.as_deref().unwrap_or(""))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                log("admin.create", name.clone()).await;
                println!("admin {name} created; sign in at /_/");
                ExitCode::SUCCESS
            }
            AdminCommand::List => {
                let list = admins
                    .list()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                if list.is_empty() {
                    println!("no admins yet: create one with `minibase admin create <name>`");
                }
                for a in list {
                    let when = |ms: i64| {
                        if ms == 0 {
                            "never".to_string()
                        } else {
                            chrono::DateTime::from_timestamp_millis(ms)
                                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                                .unwrap_or_default()
                        }
                    };
                    println!(
                        "{:<24} created {}  last sign-in {}{}{}",
                        a.name,
                        when(a.created_at),
                        when(a.last_login_at),
                        if a.totp { "  [one-time codes]" } else { "" },
                        if a.locked_until.is_some() {
                            "  [locked]"
                        } else {
                            ""
                        },
                    );
                }
                ExitCode::SUCCESS
            }
            AdminCommand::Delete { name } => {
                if admins
                    .delete(&name)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?
                {
                    log("admin.delete", name.clone()).await;
                    println!("admin {name} deleted");
                    ExitCode::SUCCESS
                } else {
                    eprintln!("error: no admin named {name}");
                    ExitCode::from(1)
                }
            }
            AdminCommand::ResetPassword { name, .. } => {
                let done = admins
                    .reset_password(&name, password.as_deref().unwrap_or(""))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
                if done {
                    log("admin.reset_password", name.clone()).await;
                    println!("password of {name} changed; their console sessions ended");
                    ExitCode::SUCCESS
                } else {
                    eprintln!("error: no admin named {name}");
                    ExitCode::from(1)
                }
            }
            AdminCommand::Totp { name, disable } => {
                match admins
                    .set_totp(&name, !disable)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?
                {
                    None => {
                        eprintln!("error: no admin named {name}");
                        ExitCode::from(1)
                    }
                    Some(_) if disable => {
                        log("admin.totp_off", name.clone()).await;
                        println!("one-time codes turned off for {name}");
                        ExitCode::SUCCESS
                    }
                    Some(secret) => {
                        log("admin.totp_on", name.clone()).await;
                        println!(
                            "one-time codes turned on for {name}; add this to an authenticator app:"
                        );
                        println!("  secret: {secret}");
                        println!("  {}", console::totp::uri("Minibase", &name, &secret));
                        ExitCode::SUCCESS
                    }
                }
            }
        };
        let closing = db.clone();
        tokio::task::spawn_blocking(move || closing.close()).await?;
        anyhow::Ok(code)
    })
}

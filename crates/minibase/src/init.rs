//! `minibase init`: writes a commented `minibase.toml` and a `.env.example` (never secrets),
//! refusing to overwrite either without `--force`.

use std::path::Path;
use std::process::ExitCode;

/// The commented configuration written by `minibase init`.
pub const CONFIG_TEMPLATE: &str = include_str!("templates/minibase.toml");
/// The `.env.example` written by `minibase init`.
pub const ENV_TEMPLATE: &str = include_str!("templates/env.example");

/// Writes both files into `dir`.
pub fn run(dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let files = [
        ("minibase.toml", CONFIG_TEMPLATE),
        (".env.example", ENV_TEMPLATE),
    ];
    if !force {
        for (name, _) in files {
            let path = dir.join(name);
            if path.exists() {
                eprintln!(
                    "error: {} already exists; use --force to overwrite it",
                    path.display()
                );
                return Ok(ExitCode::from(2));
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!("next: put your secrets in .env (see .env.example), then run `minibase serve`");
    Ok(ExitCode::SUCCESS)
}

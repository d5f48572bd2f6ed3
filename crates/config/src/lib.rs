//! Minibase configuration (API.md §1): `minibase.toml`, overridden by `MINIBASE_<SECTION>__<KEY>`
//! environment variables and a `.env` file beside the config.
//!
//! Two phases, as ripgrep does with its flags: [`load::Sources`] are merged into one TOML table
//! and deserialised into the [`Config`] model (unknown keys and bad values refused, with the
//! key's name), then [`validate`] checks what spans keys and resolves relative paths against
//! the config file's directory. Secrets are [`Secret`]s: they print as `[redacted]`.
//!
//! ```
//! let cfg = minibase_config::load_from(minibase_config::Sources::default(), None).unwrap();
//! assert_eq!(cfg.server.http_addr, "127.0.0.1:8090");
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod generated;
pub mod keys;
pub mod load;
mod model;
mod secret;
pub mod units;
mod validate;

pub use load::Sources;
pub use model::*;
pub use secret::Secret;
pub use units::{ByteSize, HumanDuration};
pub use validate::{valid_collection_name, validate};

use std::path::{Path, PathBuf};

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key has a bad value or is unknown.
    #[error("config key `{key}`: {message}")]
    Key {
        /// Dotted key path, e.g. `server.http_addr`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Loads, validates and resolves the configuration. `data_dir` (from `--data-dir`) overrides
/// `server.data_dir`.
pub fn load_from(sources: Sources, data_dir: Option<PathBuf>) -> Result<Config, ConfigError> {
    let base: PathBuf = sources
        .file
        .as_ref()
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let table = load::merged_table(&sources)?;
    let mut config = load::deserialize(table)?;
    config.origins = load::origins(&sources);
    if let Some(dir) = data_dir {
        config.server.data_dir = dir;
        config
            .origins
            .insert("server.data_dir".into(), "--data-dir".into());
    }
    validate::validate(&config)?;
    validate::resolve_paths(&mut config, &base);
    Ok(config)
}

/// Loads the configuration from the process: `--config` file (or `./minibase.toml`), `.env`
/// and environment.
pub fn load(file: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Config, ConfigError> {
    load_from(Sources::from_process(file)?, data_dir)
}

#[cfg(test)]
mod tests;

//! Console administrators: the internal collection `_admins`, written by the CLI
//! (`minibase admin create/list/delete/reset-password/totp`) and read by sign-ins.
//!
//! - Passwords are hashed with Argon2id (19 MiB, 2 passes, 1 lane: OWASP's minimum), a random
//!   16-byte salt each, stored as PHC strings; hashing and checking run on blocking threads.
//! - A sign-in of an unknown name checks the password against a dummy hash, so the answer
//!   takes as long as for a real admin.
//! - `console.max_failed_logins` failures in a row lock the admin for `console.lockout`
//!   (`reset-password` unlocks); the count survives restarts, being in the document.
//! - With a TOTP secret set, a sign-in also needs the current 6-digit code; a code's step is
//!   accepted once (no replay within its 90-second window).

use crate::error::ConsoleError;
use crate::totp;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use docdb::Database;
use mb_core::{ApiError, Caller, now_ms};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;

/// Administrators (internal).
pub const ADMINS: &str = "_admins";
/// Console sessions (internal).
pub const SESSIONS: &str = "_admin_sessions";
/// The audit log (internal: the console shows it).
pub const AUDIT: &str = "_audit";

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// Longest password accepted (bytes): hashing cost must not depend on the attacker.
pub const MAX_PASSWORD: usize = 1024;

/// Declares the console's collections internal: never served by the user API, whoever asks.
pub fn declare(db: &Database) {
    db.declare_internal(ADMINS);
    db.declare_internal(SESSIONS);
    db.declare_internal(AUDIT);
    db.declare_internal(crate::api::doctor::DOCTOR);
}

/// Whether `name` can name an admin: 1 to 64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(ApiError::invalid(format!(
            "the password must be at least {MIN_PASSWORD} characters"
        )));
    }
    if password.len() > MAX_PASSWORD {
        return Err(ApiError::invalid(format!(
            "the password must be at most {MAX_PASSWORD} bytes"
        )));
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// An Argon2id PHC string of `password` (blocking: ~20–50 ms).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use rand::RngCore;
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches a PHC string (blocking). Malformed hashes never match.
pub fn password_matches(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password(&mb_core::ids::random_hex(16)).unwrap_or_else(|_| String::from("-"))
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("password hashing task: {e}")))
}

/// An admin as listed (never the hash or the TOTP secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdminView {
    /// The name.
    pub name: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
    /// Last successful sign-in, ms since the epoch (0 = never).
    pub last_login_at: i64,
    /// Whether sign-ins need a one-time code.
    pub totp: bool,
    /// Locked until (ms since the epoch), when locked now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
}

/// Lockout policy (`console.max_failed_logins`, `console.lockout`).
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    /// Failures in a row that lock.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub duration: Duration,
}

impl Lockout {
    /// From `[console]`.
    pub fn from_config(c: &config::ConsoleConfig) -> Lockout {
        Lockout {
            max_failures: c.max_failed_logins.max(1),
            duration: c.lockout.get(),
        }
    }
}

/// The admin store. Cheap to clone.
#[derive(Clone)]
pub struct Admins {
    db: Database,
}

fn int(doc: &Value, key: &str) -> i64 {
    doc.get(key).and_then(Value::as_i64).unwrap_or(0)
}

impl Admins {
    /// The store over a database (declares the console's collections internal).
    pub fn new(db: Database) -> Admins {
        declare(&db);
        Admins { db }
    }

    async fn get(&self, name: &str) -> Result<Option<Value>, ApiError> {
        if !valid_name(name) {
            return Ok(None);
        }
        Ok(self.db.get(&Caller::System, ADMINS, name).await?)
    }

    /// Creates an admin; 409 when the name is taken.
    pub async fn create(&self, name: &str, password: &str) -> Result<(), ApiError> {
        if !valid_name(name) {
            return Err(ApiError::invalid(
                "an admin name is 1 to 64 letters, digits, '.', '_', '-' or '@'",
            ));
        }
        check_password(password)?;
        let pw = password.to_string();
        let hash = blocking(move || hash_password(&pw)).await??;
        let now = now_ms();
        self.db
            .create(
                &Caller::System,
                ADMINS,
                json!({
                    "_id": name, "password": hash, "failed": 0, "locked_until": 0,
                    "totp": "", "totp_step": 0, "created_at": now, "updated_at": now,
                    "last_login_at": 0,
                }),
            )
            .await
            .map_err(|e| match e {
                docdb::DbError::Conflict(_) => {
                    ApiError::conflict(format!("an admin named {name} already exists"))
                }
                other => other.into(),
            })?;
        Ok(())
    }

    /// Every admin, by name.
    pub async fn list(&self) -> Result<Vec<AdminView>, ApiError> {
        let docs = self
            .db
            .query(
                &Caller::System,
                ADMINS,
                &docdb::QueryRequest {
                    order_by: json!([["_id", "asc"]]),
                    limit: json!(1000),
                    ..Default::default()
                },
            )
            .await?;
        let now = now_ms();
        Ok(docs
            .iter()
            .map(|d| AdminView {
                name: d.get("_id").and_then(Value::as_str).unwrap_or("").into(),
                created_at: int(d, "created_at"),
                last_login_at: int(d, "last_login_at"),
                totp: d
                    .get("totp")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty()),
                locked_until: Some(int(d, "locked_until")).filter(|t| *t > now),
            })
            .collect())
    }

    /// Deletes an admin and ends their sessions; `false` when there was none.
    pub async fn delete(&self, name: &str) -> Result<bool, ApiError> {
        if !valid_name(name) {
            return Ok(false);
        }
        let n = self.db.delete_by_id(&Caller::System, ADMINS, name).await?;
        self.db
            .remove_where(&Caller::System, SESSIONS, &json!({ "admin": name }))
            .await?;
        Ok(n == 1)
    }

    /// Sets a new password, unlocks, and ends the admin's sessions; `false` when there is no
    /// such admin.
    pub async fn reset_password(&self, name: &str, password: &str) -> Result<bool, ApiError> {
        check_password(password)?;
        if self.get(name).await?.is_none() {
            return Ok(false);
        }
        let pw = password.to_string();
        let hash = blocking(move || hash_password(&pw)).await??;
        let n = self
            .db
            .update_by_id(
                &Caller::System,
                ADMINS,
                name,
                &json!({ "password": hash, "failed": 0, "locked_until": 0, "updated_at": now_ms() }),
            )
            .await?;
        self.db
            .remove_where(&Caller::System, SESSIONS, &json!({ "admin": name }))
            .await?;
        Ok(n == 1)
    }

    /// Turns the second factor on (a new secret, returned) or off; `None` when there is no
    /// such admin.
    pub async fn set_totp(&self, name: &str, enable: bool) -> Result<Option<String>, ApiError> {
        if self.get(name).await?.is_none() {
            return Ok(None);
        }
        let secret = if enable {
            totp::new_secret()
        } else {
            String::new()
        };
        self.db
            .update_by_id(
                &Caller::System,
                ADMINS,
                name,
                &json!({ "totp": secret, "totp_step": 0, "updated_at": now_ms() }),
            )
            .await?;
        Ok(Some(secret))
    }

    /// Checks a sign-in. Refusals: [`ConsoleError::BadCredentials`] (whatever was wrong) or
    /// [`ConsoleError::LockedOut`]. Each failure counts towards the lockout.
    pub async fn verify(
        &self,
        name: &str,
        password: &str,
        code: Option<&str>,
        policy: Lockout,
    ) -> Result<(), ApiError> {
        let doc = self.get(name).await?;
        let now = now_ms();
        let Some(doc) = doc else {
            // As long as a real check, so a name's existence does not show in the timing.
            let pw = password.chars().take(MAX_PASSWORD).collect::<String>();
            blocking(move || password_matches(&pw, dummy_hash())).await?;
            return Err(ConsoleError::BadCredentials.into());
        };
        let locked_until = int(&doc, "locked_until");
        if locked_until > now {
            return Err(ConsoleError::LockedOut {
                retry_after: ((locked_until - now) as u64).div_ceil(1000),
            }
            .into());
        }
        let ok = if password.len() > MAX_PASSWORD {
            false
        } else {
            let pw = password.to_string();
            let phc = doc
                .get("password")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            blocking(move || password_matches(&pw, &phc)).await?
        };
        let secret = doc.get("totp").and_then(Value::as_str).unwrap_or("");
        let ok = ok && (secret.is_empty() || self.accept_code(name, secret, code).await?);
        if !ok {
            self.failed(name, policy).await?;
            return Err(ConsoleError::BadCredentials.into());
        }
        self.db
            .update_by_id(
                &Caller::System,
                ADMINS,
                name,
                &json!({ "failed": 0, "last_login_at": now }),
            )
            .await?;
        Ok(())
    }

    /// Whether `code` is the current one and its step was not used before (marked used).
    async fn accept_code(
        &self,
        name: &str,
        secret: &str,
        code: Option<&str>,
    ) -> Result<bool, ApiError> {
        let Some(step) = code.and_then(|c| totp::verify(secret, c, now_ms() / 1000)) else {
            return Ok(false);
        };
        let n = self
            .db
            .update_where(
                &Caller::System,
                ADMINS,
                &json!({ "_id": name, "totp_step": { "$lt": step } }),
                &json!({ "totp_step": step }),
            )
            .await?;
        Ok(n == 1)
    }

    async fn failed(&self, name: &str, policy: Lockout) -> Result<(), ApiError> {
        self.db
            .update_by_id(
                &Caller::System,
                ADMINS,
                name,
                &json!({ "failed": { "$inc": 1 } }),
            )
            .await?;
        let failures = self
            .get(name)
            .await?
            .map(|d| int(&d, "failed"))
            .unwrap_or(0);
        if failures >= policy.max_failures as i64 {
            let until = now_ms() + policy.duration.as_millis() as i64;
            self.db
                .update_by_id(
                    &Caller::System,
                    ADMINS,
                    name,
                    &json!({ "failed": 0, "locked_until": until }),
                )
                .await?;
            tracing::warn!(
                admin = name,
                "console: admin locked out after repeated failed sign-ins"
            );
        }
        Ok(())
    }
}

//! Users, login sessions and tokens (API.md §0, §2).
//!
//! - **Users** live in the system collection `_users`, one document per platform account. The
//!   user id is derived from `(platform, openid)`, so concurrent first logins of one person
//!   can never create two users. Platform login flows (WeChat in the `wechat` area; later
//!   Alipay, Douyin, QQ) verify the person with their platform and then call
//!   [`Identity::sign_in`].
//! - **Access tokens** are HS256 JWTs ([`jwt`]) carrying uid, openid, unionid, platform and the
//!   session id; verified without I/O on every request ([`Identity::verify_access`]).
//! - **Refresh tokens** are `<session id>.<secret>`; only a SHA-256 of the secret is stored, in
//!   the internal collection `_sessions`. Each refresh rotates the secret (sliding lifetime of
//!   `auth.refresh_ttl`); presenting an already-rotated secret is reuse — the whole session is
//!   revoked, and with it every access token issued under it.
//! - **Platform secrets** (WeChat `session_key`) are sealed with AES-256-GCM ([`seal`]) in the
//!   internal collection `_user_secrets` and never leave the server.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod jwt;
pub mod seal;

use docdb::Database;
use mb_core::{ApiError, Caller, UserIdentity, now_ms};
use parking_lot::RwLock;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Collection of users (system: readable by service callers).
pub const USERS: &str = "_users";
/// Collection of login sessions (internal: never served over HTTP).
pub const SESSIONS: &str = "_sessions";
/// Collection of sealed platform secrets (internal).
pub const USER_SECRETS: &str = "_user_secrets";

/// How many rotated refresh secrets of a session are remembered for reuse detection.
const REMEMBERED_ROTATIONS: usize = 16;

/// A person verified by a platform, about to be signed in.
#[derive(Debug, Clone)]
pub struct PlatformLogin {
    /// `wechat`, …
    pub platform: String,
    /// The platform's openid (per app).
    pub openid: String,
    /// The platform's unionid, when it gave one.
    pub unionid: Option<String>,
    /// The platform session secret (WeChat `session_key`), sealed at rest.
    pub session_key: Option<String>,
}

/// A user as answered to clients (`user` in API.md §2).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserView {
    /// User id.
    pub id: String,
    /// Platform openid.
    pub openid: String,
    /// Platform unionid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Platform.
    pub platform: String,
    /// Phone number with country code, once the user shared it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// The answer of every login endpoint and of refresh.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    /// The JWT access token.
    pub access_token: String,
    /// The refresh token (rotates on every refresh).
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Who signed in.
    pub user: UserView,
}

/// A phone number as WeChat returns it (`phone_info`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhoneNumber {
    /// With country code, e.g. `+86 13800138000`.
    pub phone_number: String,
    /// Without country code.
    pub pure_phone_number: String,
    /// e.g. `86`.
    pub country_code: String,
}

/// The identity service. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    keys: jwt::JwtKeys,
    sealer: seal::Sealer,
    access_ttl_secs: i64,
    refresh_ttl_ms: i64,
    /// Sessions revoked while their access tokens may still be alive: sid → until (ms).
    revoked: RwLock<HashMap<String, i64>>,
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The user id of a platform account.
pub fn user_id(platform: &str, openid: &str) -> String {
    let digest = Sha256::digest(format!("{platform}:{openid}").as_bytes());
    hex::encode(&digest[..16])
}

fn unauthorized(msg: &'static str) -> ApiError {
    ApiError::unauthenticated(msg)
}

fn str_field(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Identity {
    /// Opens the identity service: the JWT secret comes from `auth.jwt_secret` or is generated
    /// into `data_dir`; revoked sessions whose tokens may still be alive are loaded.
    pub async fn open(config: &config::Config, db: Database) -> anyhow::Result<Identity> {
        let secret = if config.auth.jwt_secret.is_empty() {
            config::generated::load_or_generate(&config.server.data_dir, "jwt_secret").map_err(
                |e| {
                    anyhow::anyhow!(
                        "cannot create the JWT secret in {}: {e}",
                        config::generated::secret_path(&config.server.data_dir, "jwt_secret")
                            .display()
                    )
                },
            )?
        } else {
            config.auth.jwt_secret.expose().to_string()
        };
        db.declare_internal(SESSIONS);
        db.declare_internal(USER_SECRETS);
        let identity = Identity {
            inner: Arc::new(Inner {
                db,
                keys: jwt::JwtKeys::new(secret.as_bytes()),
                sealer: seal::Sealer::derive(secret.as_bytes(), "minibase/user-secrets/v1"),
                access_ttl_secs: config.auth.access_ttl.get().as_secs().max(1) as i64,
                refresh_ttl_ms: config.auth.refresh_ttl.get().as_millis() as i64,
                revoked: RwLock::new(HashMap::new()),
            }),
        };
        identity.load_revoked().await?;
        Ok(identity)
    }

    async fn load_revoked(&self) -> anyhow::Result<()> {
        let ttl_ms = self.inner.access_ttl_secs * 1000;
        let cutoff = now_ms() - ttl_ms;
        let page = 1000u64;
        let mut skip = 0u64;
        loop {
            let docs = self
                .inner
                .db
                .query(
                    &Caller::System,
                    SESSIONS,
                    &docdb::QueryRequest {
                        where_: json!({ "revoked": true, "revoked_at": { "$gt": cutoff } }),
                        order_by: json!([["_id", "asc"]]),
                        skip: json!(skip),
                        limit: json!(page),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("cannot load revoked sessions: {e}"))?;
            let n = docs.len() as u64;
            let mut revoked = self.inner.revoked.write();
            for d in docs {
                if let (Some(id), Some(at)) = (
                    str_field(&d, "_id"),
                    d.get("revoked_at").and_then(Value::as_i64),
                ) {
                    revoked.insert(id, at + ttl_ms);
                }
            }
            if n < page {
                return Ok(());
            }
            skip += page;
        }
    }

    /// The document database this service stores into.
    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// Verifies an access token (no I/O). 401 when malformed, forged, expired or revoked.
    pub fn verify_access(&self, token: &str) -> Result<UserIdentity, ApiError> {
        let now = now_ms();
        let claims = self
            .inner
            .keys
            .decode(token, now / 1000)
            .map_err(|e| match e {
                jwt::JwtError::Expired => unauthorized("access token expired: refresh it"),
                _ => unauthorized("invalid access token"),
            })?;
        if let Some(until) = self.inner.revoked.read().get(&claims.sid) {
            if *until > now {
                return Err(unauthorized("session signed out"));
            }
        }
        Ok(UserIdentity {
            uid: claims.sub,
            openid: claims.oid,
            unionid: claims.uni,
            platform: claims.plt,
            session_id: claims.sid,
        })
    }

    /// Creates or finds the user of a verified platform account and opens a session.
    pub async fn sign_in(&self, login: PlatformLogin) -> Result<SignedIn, ApiError> {
        if login.openid.is_empty() || login.openid.len() > 128 {
            return Err(ApiError::invalid("openid must be 1 to 128 characters"));
        }
        let uid = user_id(&login.platform, &login.openid);
        let user = self.upsert_user(&uid, &login).await?;
        if let Some(key) = &login.session_key {
            let sealed = self.inner.sealer.seal(key.as_bytes(), &uid);
            self.inner
                .db
                .set(
                    &Caller::System,
                    USER_SECRETS,
                    &uid,
                    json!({ "session_key": sealed, "updated_at": now_ms() }),
                )
                .await
                .map_err(ApiError::from)?;
        }
        let sid = mb_core::ids::random_hex(16);
        let secret = mb_core::ids::random_hex(32);
        let now = now_ms();
        let session = json!({
            "uid": uid,
            "platform": login.platform,
            "openid": login.openid,
            "unionid": user.unionid,
            "current": hash_secret(&secret),
            "previous": [],
            "generation": 1,
            "created_at": now,
            "refreshed_at": now,
            "expires_at": now + self.inner.refresh_ttl_ms,
            "revoked": false,
        });
        self.inner
            .db
            .set(&Caller::System, SESSIONS, &sid, session)
            .await
            .map_err(ApiError::from)?;
        Ok(self.tokens(&sid, &secret, user))
    }

    async fn upsert_user(&self, uid: &str, login: &PlatformLogin) -> Result<UserView, ApiError> {
        let db = &self.inner.db;
        let now = json!({ "$date": now_ms() });
        match db
            .get(&Caller::System, USERS, uid)
            .await
            .map_err(ApiError::from)?
        {
            Some(existing) => {
                let mut update = serde_json::Map::new();
                update.insert("last_login_at".into(), now);
                if let Some(u) = &login.unionid {
                    if str_field(&existing, "unionid").as_deref() != Some(u) {
                        update.insert("unionid".into(), json!(u));
                    }
                }
                db.update_by_id(&Caller::System, USERS, uid, &Value::Object(update))
                    .await
                    .map_err(ApiError::from)?;
                let mut view = user_view(&existing);
                if login.unionid.is_some() {
                    view.unionid = login.unionid.clone();
                }
                Ok(view)
            }
            None => {
                let mut doc = json!({
                    "_id": uid,
                    "platform": login.platform,
                    "openid": login.openid,
                    "created_at": now.clone(),
                    "last_login_at": now,
                });
                if let Some(u) = &login.unionid {
                    doc["unionid"] = json!(u);
                }
                match db.create(&Caller::System, USERS, doc.clone()).await {
                    Ok(_) => Ok(user_view(&doc)),
                    // Another login of the same person won the race: that user is ours.
                    Err(docdb::DbError::Conflict(_)) => {
                        let existing = db
                            .get(&Caller::System, USERS, uid)
                            .await
                            .map_err(ApiError::from)?
                            .ok_or_else(|| {
                                ApiError::internal("user vanished after a create conflict")
                            })?;
                        Ok(user_view(&existing))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    fn tokens(&self, sid: &str, secret: &str, user: UserView) -> SignedIn {
        let now = now_ms() / 1000;
        let claims = jwt::claims(
            &user.id,
            sid,
            &user.openid,
            user.unionid.as_deref(),
            &user.platform,
            now,
            self.inner.access_ttl_secs,
        );
        SignedIn {
            access_token: self.inner.keys.encode(&claims),
            refresh_token: format!("{sid}.{secret}"),
            expires_in: self.inner.access_ttl_secs,
            user,
        }
    }

    fn parse_refresh(token: &str) -> Result<(&str, &str), ApiError> {
        let (sid, secret) = token
            .split_once('.')
            .ok_or_else(|| unauthorized("invalid refresh token"))?;
        let hexish = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hexish(sid, 32) || !hexish(secret, 64) {
            return Err(unauthorized("invalid refresh token"));
        }
        Ok((sid, secret))
    }

    /// Exchanges a refresh token for a new pair, rotating it. Reuse of a rotated token revokes
    /// the whole session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<SignedIn, ApiError> {
        let (sid, secret) = Self::parse_refresh(refresh_token)?;
        let db = &self.inner.db;
        let session = db
            .get(&Caller::System, SESSIONS, sid)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| unauthorized("invalid refresh token"))?;
        if session.get("revoked").and_then(Value::as_bool) == Some(true) {
            return Err(unauthorized("session signed out"));
        }
        let now = now_ms();
        if session
            .get("expires_at")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            <= now
        {
            return Err(unauthorized("refresh token expired: sign in again"));
        }
        let presented = hash_secret(secret);
        let current = str_field(&session, "current").unwrap_or_default();
        let previous: Vec<String> = session
            .get("previous")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if presented != current {
            if previous.contains(&presented) {
                tracing::warn!(session = %sid, "refresh token reuse detected; revoking the session");
                self.revoke(sid, "refresh token reuse").await?;
                return Err(unauthorized(
                    "refresh token already used: the session was revoked, sign in again",
                ));
            }
            return Err(unauthorized("invalid refresh token"));
        }
        let new_secret = mb_core::ids::random_hex(32);
        let mut remembered = previous;
        remembered.push(presented.clone());
        if remembered.len() > REMEMBERED_ROTATIONS {
            let drop = remembered.len() - REMEMBERED_ROTATIONS;
            remembered.drain(..drop);
        }
        let changed = db
            .update_where(
                &Caller::System,
                SESSIONS,
                &json!({ "_id": sid, "current": presented, "revoked": false }),
                &json!({
                    "current": hash_secret(&new_secret),
                    "previous": remembered,
                    "generation": session.get("generation").and_then(Value::as_i64).unwrap_or(1) + 1,
                    "refreshed_at": now,
                    "expires_at": now + self.inner.refresh_ttl_ms,
                }),
            )
            .await
            .map_err(ApiError::from)?;
        if changed == 0 {
            // Someone rotated this very secret at the same moment: one of the two is a replay.
            tracing::warn!(session = %sid, "concurrent refresh with one token; revoking the session");
            self.revoke(sid, "concurrent refresh").await?;
            return Err(unauthorized(
                "refresh token already used: the session was revoked, sign in again",
            ));
        }
        let uid = str_field(&session, "uid").unwrap_or_default();
        let user = match db
            .get(&Caller::System, USERS, &uid)
            .await
            .map_err(ApiError::from)?
        {
            Some(u) => user_view(&u),
            None => return Err(unauthorized("user no longer exists")),
        };
        Ok(self.tokens(sid, &new_secret, user))
    }

    /// Signs out the session of a refresh token (its current or an earlier secret). Idempotent.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ApiError> {
        let (sid, secret) = Self::parse_refresh(refresh_token)?;
        let Some(session) = self
            .inner
            .db
            .get(&Caller::System, SESSIONS, sid)
            .await
            .map_err(ApiError::from)?
        else {
            return Err(unauthorized("invalid refresh token"));
        };
        let presented = hash_secret(secret);
        let known = str_field(&session, "current").as_deref() == Some(presented.as_str())
            || session
                .get("previous")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(presented.as_str())));
        if !known {
            return Err(unauthorized("invalid refresh token"));
        }
        self.revoke(sid, "logout").await
    }

    async fn revoke(&self, sid: &str, reason: &str) -> Result<(), ApiError> {
        let now = now_ms();
        self.inner
            .revoked
            .write()
            .insert(sid.to_string(), now + self.inner.access_ttl_secs * 1000);
        self.inner
            .db
            .update_by_id(
                &Caller::System,
                SESSIONS,
                sid,
                &json!({ "revoked": true, "revoked_at": now, "revoked_reason": reason }),
            )
            .await
            .map_err(ApiError::from)?;
        Ok(())
    }

    /// The user with this id.
    pub async fn user(&self, uid: &str) -> Result<Option<UserView>, ApiError> {
        Ok(self
            .inner
            .db
            .get(&Caller::System, USERS, uid)
            .await
            .map_err(ApiError::from)?
            .map(|d| user_view(&d)))
    }

    /// The user's platform session secret (WeChat `session_key`), unsealed. For server-side
    /// use only (decrypting user data, checking signatures); never answer it.
    pub async fn session_key(&self, uid: &str) -> Result<Option<String>, ApiError> {
        let Some(doc) = self
            .inner
            .db
            .get(&Caller::System, USER_SECRETS, uid)
            .await
            .map_err(ApiError::from)?
        else {
            return Ok(None);
        };
        let Some(sealed) = doc.get("session_key").and_then(Value::as_str) else {
            return Ok(None);
        };
        match self.inner.sealer.unseal(sealed, uid) {
            Some(bytes) => Ok(String::from_utf8(bytes).ok()),
            None => Err(ApiError::internal(format!(
                "sealed session_key of user {uid} does not open"
            ))),
        }
    }

    /// Stores the user's phone number.
    pub async fn set_phone(&self, uid: &str, phone: &PhoneNumber) -> Result<(), ApiError> {
        self.inner
            .db
            .update_by_id(
                &Caller::System,
                USERS,
                uid,
                &json!({
                    "phone_number": phone.phone_number,
                    "pure_phone_number": phone.pure_phone_number,
                    "country_code": phone.country_code,
                }),
            )
            .await
            .map_err(ApiError::from)?;
        Ok(())
    }
}

/// A login session as shown to operators (never the refresh secret or its hashes).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Platform signed in with.
    pub platform: String,
    /// When it was opened, ms since the epoch.
    pub created_at: i64,
    /// Last refresh, ms since the epoch.
    pub refreshed_at: i64,
    /// When its refresh token expires, ms since the epoch.
    pub expires_at: i64,
    /// Whether it was signed out or revoked.
    pub revoked: bool,
    /// Why it was revoked (`logout`, `refresh token reuse`, `console: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
}

impl Identity {
    /// The latest login sessions of a user (at most `limit`), newest first.
    pub async fn sessions_of(&self, uid: &str, limit: u64) -> Result<Vec<SessionView>, ApiError> {
        let docs = self
            .inner
            .db
            .query(
                &Caller::System,
                SESSIONS,
                &docdb::QueryRequest {
                    where_: json!({ "uid": uid }),
                    order_by: json!([["created_at", "desc"]]),
                    limit: json!(limit),
                    ..Default::default()
                },
            )
            .await
            .map_err(ApiError::from)?;
        let int = |d: &Value, k: &str| d.get(k).and_then(Value::as_i64).unwrap_or(0);
        Ok(docs
            .iter()
            .map(|d| SessionView {
                id: str_field(d, "_id").unwrap_or_default(),
                platform: str_field(d, "platform").unwrap_or_default(),
                created_at: int(d, "created_at"),
                refreshed_at: int(d, "refreshed_at"),
                expires_at: int(d, "expires_at"),
                revoked: d.get("revoked").and_then(Value::as_bool) == Some(true),
                revoked_reason: str_field(d, "revoked_reason"),
            })
            .collect())
    }

    /// Revokes a session of `uid` by id (an operator's decision): its refresh token stops
    /// working at once, its access tokens on their next check. `false` when `uid` has no such
    /// session.
    pub async fn revoke_session(
        &self,
        uid: &str,
        sid: &str,
        reason: &str,
    ) -> Result<bool, ApiError> {
        let Some(session) = self
            .inner
            .db
            .get(&Caller::System, SESSIONS, sid)
            .await
            .map_err(ApiError::from)?
        else {
            return Ok(false);
        };
        if str_field(&session, "uid").as_deref() != Some(uid) {
            return Ok(false);
        }
        self.revoke(sid, reason).await?;
        Ok(true)
    }
}

fn user_view(doc: &Value) -> UserView {
    UserView {
        id: str_field(doc, "_id").unwrap_or_default(),
        openid: str_field(doc, "openid").unwrap_or_default(),
        unionid: str_field(doc, "unionid"),
        platform: str_field(doc, "platform").unwrap_or_default(),
        phone_number: str_field(doc, "phone_number"),
    }
}

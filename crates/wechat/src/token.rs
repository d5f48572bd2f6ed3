//! The one shared access token (`cgi-bin/stable_token`) every open-API call uses.
//!
//! - **Single-flight**: however many callers need a token at once, one fetch happens; the rest
//!   wait for it (a `tokio` mutex around refreshing, with the cache re-checked inside).
//! - **Proactive**: WeChat rotates a stable token in the last 5 minutes of its life (both the
//!   old and the new one work meanwhile), so a token is refreshed [`REFRESH_BEFORE`] before it
//!   expires: by [`AccessTokenManager::spawn_refresher`] in the background, or by the first
//!   caller who finds it due.
//! - **Persisted and shared**: the token lives in a [`KvStore`] (the document database's
//!   internal `_kv` collection in the server), so a restart reuses it and several instances
//!   share it. One instance at a time refreshes, holding a lease (a compare-and-set record with
//!   an expiry); the others wait for the new token to appear in the store. If the lease holder
//!   vanishes, its lease expires; as a last resort a waiter fetches in normal mode, which is
//!   harmless (normal mode never invalidates the current token).
//! - **Rejected tokens**: on 40001/42001 [`AccessTokenManager::call`] asks for a new token once
//!   (force-refresh mode, at most once per [`FORCE_INTERVAL`] across all instances, since WeChat
//!   allows 20 a day, 30 s apart) and retries the call once.

use crate::client::WechatClient;
use crate::error::WechatError;
use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Refresh this long before expiry (inside WeChat's 5-minute rotation window).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(240);
/// Never use a token with less than this left.
pub const USABLE_MARGIN: Duration = Duration::from_secs(30);
/// Force refreshes at most this often (WeChat: 30 s apart, 20 a day).
pub const FORCE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a refresh lease is held at most.
const LEASE_TTL_MS: i64 = 30_000;

/// A value with a revision, as stored in a [`KvStore`].
#[derive(Debug, Clone, PartialEq)]
pub struct KvEntry {
    /// The stored JSON.
    pub value: Value,
    /// Incremented by every write; what [`KvStore::put_if`] compares.
    pub rev: u64,
}

/// A small key-value store with compare-and-set: where the token and its lease persist.
/// The server implements it over the document database's `_kv` collection.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The entry under `key`.
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, String>;
    /// Writes `value` (with revision `expected_rev + 1`, or 1 when creating) only when the
    /// entry's revision is still `expected_rev`, `None` meaning "the key must be absent".
    /// Returns whether it wrote.
    async fn put_if(
        &self,
        key: &str,
        expected_rev: Option<u64>,
        value: Value,
    ) -> Result<bool, String>;
}

/// A [`KvStore`] in memory (tests, and single instances without a database).
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<String, KvEntry>>,
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<KvEntry>, String> {
        Ok(self.map.lock().get(key).cloned())
    }
    async fn put_if(
        &self,
        key: &str,
        expected_rev: Option<u64>,
        value: Value,
    ) -> Result<bool, String> {
        let mut m = self.map.lock();
        let current = m.get(key).map(|e| e.rev);
        if current != expected_rev {
            return Ok(false);
        }
        m.insert(
            key.to_string(),
            KvEntry {
                value,
                rev: expected_rev.unwrap_or(0) + 1,
            },
        );
        Ok(true)
    }
}

/// The persisted token record.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct TokenRecord {
    access_token: String,
    /// Unix ms at which WeChat stops accepting it.
    expires_at_ms: i64,
    /// Unix ms from which it should be replaced.
    #[serde(default)]
    refresh_at_ms: i64,
    /// Unix ms of the last force refresh (shared throttle).
    #[serde(default)]
    forced_at_ms: i64,
}

impl TokenRecord {
    fn new(access_token: String, now_ms: i64, lifetime_ms: i64, forced_at_ms: i64) -> Self {
        let before = (REFRESH_BEFORE.as_millis() as i64).min(lifetime_ms / 2);
        TokenRecord {
            access_token,
            expires_at_ms: now_ms + lifetime_ms,
            refresh_at_ms: now_ms + lifetime_ms - before,
            forced_at_ms,
        }
    }
    fn refresh_at(&self) -> i64 {
        if self.refresh_at_ms > 0 {
            self.refresh_at_ms.min(self.expires_at_ms)
        } else {
            self.expires_at_ms - REFRESH_BEFORE.as_millis() as i64
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Lease {
    holder: String,
    until_ms: i64,
}

#[derive(Clone)]
struct Cached {
    record: TokenRecord,
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct TokenStats {
    /// stable_token calls made by this instance (normal + forced).
    pub fetches: AtomicU64,
    /// Of which force refreshes.
    pub forced: AtomicU64,
    /// Tokens adopted from the store (written by another instance or before a restart).
    pub adopted: AtomicU64,
}

/// See the module docs. Share it as `Arc<AccessTokenManager>`.
pub struct AccessTokenManager {
    client: WechatClient,
    store: Arc<dyn KvStore>,
    holder: String,
    token_key: String,
    lease_key: String,
    cached: Mutex<Option<Cached>>,
    refreshing: tokio::sync::Mutex<()>,
    stats: TokenStats,
    now: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for AccessTokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenManager")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl AccessTokenManager {
    /// A manager fetching with `client` and persisting in `store`.
    pub fn new(client: WechatClient, store: Arc<dyn KvStore>) -> Self {
        let appid = client.appid().to_string();
        AccessTokenManager {
            client,
            store,
            holder: mb_core::ids::random_hex(8),
            token_key: format!("wechat.access_token.{appid}"),
            lease_key: format!("wechat.access_token_lease.{appid}"),
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            stats: TokenStats::default(),
            now: Box::new(mb_core::now_ms),
        }
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now = Box::new(now);
        self
    }

    /// Counters.
    pub fn stats(&self) -> &TokenStats {
        &self.stats
    }

    /// The client this manager fetches with.
    pub fn client(&self) -> &WechatClient {
        &self.client
    }

    fn now(&self) -> i64 {
        (self.now)()
    }

    fn fresh_cached(&self) -> Option<String> {
        let now = self.now();
        let g = self.cached.lock();
        g.as_ref()
            .filter(|c| now < c.record.refresh_at())
            .map(|c| c.record.access_token.clone())
    }

    fn usable_cached(&self) -> Option<String> {
        let now = self.now();
        let g = self.cached.lock();
        g.as_ref()
            .filter(|c| now + USABLE_MARGIN.as_millis() as i64 <= c.record.expires_at_ms)
            .map(|c| c.record.access_token.clone())
    }

    fn adopt(&self, record: TokenRecord) -> String {
        let token = record.access_token.clone();
        *self.cached.lock() = Some(Cached { record });
        token
    }

    /// A valid access token: cached, from the store, or fetched (once, however many callers).
    pub async fn token(&self) -> Result<String, WechatError> {
        if let Some(t) = self.fresh_cached() {
            return Ok(t);
        }
        self.refresh(None).await
    }

    /// Runs `f` with a token; when WeChat rejects the token (40001/42001), gets a new one once
    /// and runs `f` once more.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, WechatError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let token = self.token().await?;
        match f(token.clone()).await {
            Err(e) if e.is_token_rejected() => {
                tracing::info!(
                    errcode = e.errcode(),
                    "WeChat rejected the access token; refreshing once"
                );
                let fresh = self.refresh(Some(&token)).await?;
                f(fresh).await
            }
            other => other,
        }
    }

    /// Refreshes now (the background refresher and tests). `rejected` is a token WeChat refused.
    pub async fn refresh(&self, rejected: Option<&str>) -> Result<String, WechatError> {
        let _guard = self.refreshing.lock().await;
        // Someone refreshed while we waited?
        match rejected {
            None => {
                if let Some(t) = self.fresh_cached() {
                    return Ok(t);
                }
            }
            Some(bad) => {
                if let Some(t) = self.usable_cached().filter(|t| t != bad) {
                    return Ok(t);
                }
            }
        }
        let deadline = self.now() + 3 * LEASE_TTL_MS / 2;
        loop {
            // Another instance (or our previous life) may have stored a good token.
            let stored = self.load().await;
            if let Some((rec, _)) = &stored {
                let now = self.now();
                let fresh = now < rec.refresh_at();
                let acceptable = match rejected {
                    None => fresh,
                    Some(bad) => {
                        rec.access_token != bad
                            && now + (USABLE_MARGIN.as_millis() as i64) < rec.expires_at_ms
                    }
                };
                if acceptable {
                    self.stats.adopted.fetch_add(1, Ordering::Relaxed);
                    return Ok(self.adopt(rec.clone()));
                }
            }
            match self.try_lease().await {
                Ok(Some(lease_rev)) => {
                    let result = self.fetch_and_store(stored, rejected).await;
                    self.release_lease(lease_rev).await;
                    return result;
                }
                Ok(None) if self.now() < deadline => {
                    // Another instance is refreshing: wait for its token to appear.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(None) => {
                    tracing::warn!(
                        "access token lease held too long by another instance; fetching ourselves"
                    );
                    return self.fetch_and_store(stored, None).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "access token store unavailable; fetching without it");
                    return self.fetch_and_store(None, rejected).await;
                }
            }
        }
    }

    async fn fetch_and_store(
        &self,
        stored: Option<(TokenRecord, u64)>,
        rejected: Option<&str>,
    ) -> Result<String, WechatError> {
        let now = self.now();
        let forced_at_ms = stored.as_ref().map(|(r, _)| r.forced_at_ms).unwrap_or(0);
        let force = rejected.is_some() && now - forced_at_ms >= FORCE_INTERVAL.as_millis() as i64;
        if rejected.is_some() && !force {
            tracing::info!("a force refresh happened less than 30 s ago; fetching in normal mode");
        }
        self.stats.fetches.fetch_add(1, Ordering::Relaxed);
        if force {
            self.stats.forced.fetch_add(1, Ordering::Relaxed);
        }
        let fetched = self.client.stable_token(force).await?;
        let now = self.now();
        let lifetime_ms = (fetched.expires_in as i64).saturating_mul(1000).max(1000);
        let record = TokenRecord::new(
            fetched.access_token,
            now,
            lifetime_ms,
            if force { now } else { forced_at_ms },
        );
        self.save(&record).await;
        Ok(self.adopt(record))
    }

    async fn load(&self) -> Option<(TokenRecord, u64)> {
        match self.store.get(&self.token_key).await {
            Ok(Some(e)) => serde_json::from_value(e.value).ok().map(|r| (r, e.rev)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the stored access token");
                None
            }
        }
    }

    async fn save(&self, record: &TokenRecord) {
        let value = match serde_json::to_value(record) {
            Ok(v) => v,
            Err(_) => return,
        };
        for _ in 0..3 {
            let rev = match self.store.get(&self.token_key).await {
                Ok(e) => e.map(|e| e.rev),
                Err(e) => {
                    tracing::warn!(error = %e, "could not persist the access token");
                    return;
                }
            };
            match self.store.put_if(&self.token_key, rev, value.clone()).await {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not persist the access token");
                    return;
                }
            }
        }
    }

    /// `Some(rev)` of our lease when we hold it now.
    async fn try_lease(&self) -> Result<Option<u64>, String> {
        let now = self.now();
        let entry = self.store.get(&self.lease_key).await?;
        let expected = match &entry {
            None => None,
            Some(e) => {
                let lease: Option<Lease> = serde_json::from_value(e.value.clone()).ok();
                match lease {
                    Some(l) if l.until_ms > now && l.holder != self.holder => return Ok(None),
                    _ => Some(e.rev),
                }
            }
        };
        let mine = serde_json::json!({ "holder": self.holder, "until_ms": now + LEASE_TTL_MS });
        if self.store.put_if(&self.lease_key, expected, mine).await? {
            Ok(Some(expected.unwrap_or(0) + 1))
        } else {
            Ok(None)
        }
    }

    async fn release_lease(&self, rev: u64) {
        let free = serde_json::json!({ "holder": "", "until_ms": 0 });
        if let Err(e) = self.store.put_if(&self.lease_key, Some(rev), free).await {
            tracing::warn!(error = %e, "could not release the access token lease (it expires by itself)");
        }
    }

    /// When the next proactive refresh is due (Unix ms), if a token is known.
    async fn next_refresh_ms(&self) -> Option<i64> {
        if let Some(c) = self.cached.lock().as_ref() {
            return Some(c.record.refresh_at());
        }
        let (rec, _) = self.load().await?;
        Some(rec.refresh_at())
    }

    /// Starts the background refresher: it wakes shortly before the token is due and refreshes
    /// it (one instance at a time, through the lease). It stays idle until a token has been
    /// fetched once, so a server that never calls an open API never asks for a token.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(5);
            loop {
                let Some(this) = weak.upgrade() else { return };
                let wait = match this.next_refresh_ms().await {
                    None => Some(Duration::from_secs(60)),
                    Some(at) if at > this.now() => {
                        // a little jitter so instances do not all wake at once
                        let ms = (at - this.now()) as u64 + rand::random::<u64>() % 5_000;
                        Some(Duration::from_millis(ms.min(600_000)))
                    }
                    Some(_) => None,
                };
                let wait = match wait {
                    Some(w) => w,
                    None => match this.refresh(None).await {
                        Ok(_) => {
                            backoff = Duration::from_secs(5);
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "proactive access token refresh failed");
                            let b = backoff;
                            backoff = (backoff * 2).min(Duration::from_secs(60));
                            b
                        }
                    },
                };
                drop(this);
                tokio::time::sleep(wait).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_kv_compare_and_set() {
        let kv = MemoryKv::default();
        assert!(kv.put_if("a", None, Value::from(1)).await.unwrap());
        assert!(!kv.put_if("a", None, Value::from(2)).await.unwrap());
        assert!(!kv.put_if("a", Some(7), Value::from(2)).await.unwrap());
        assert!(kv.put_if("a", Some(1), Value::from(3)).await.unwrap());
        assert_eq!(
            kv.get("a").await.unwrap(),
            Some(KvEntry {
                value: Value::from(3),
                rev: 2
            })
        );
    }

    #[test]
    fn refresh_time() {
        let r = TokenRecord::new("t".into(), 0, 7_200_000, 0);
        assert_eq!(r.expires_at_ms, 7_200_000);
        assert_eq!(r.refresh_at(), 7_200_000 - 240_000);
        // short lifetimes refresh at half-life
        let r = TokenRecord::new("t".into(), 1000, 100_000, 0);
        assert_eq!(r.refresh_at(), 1000 + 50_000);
        // records without refresh_at_ms (older writers) still work
        let r: TokenRecord =
            serde_json::from_value(serde_json::json!({"access_token":"t","expires_at_ms":300_000}))
                .unwrap();
        assert_eq!(r.refresh_at(), 60_000);
    }
}

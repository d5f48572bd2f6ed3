//! The recent-requests log behind the console's Logs page: the last `console.recent_requests`
//! requests (request id, method, path, status, duration, client IP, caller), fed by the
//! server's access-log middleware.
//!
//! Cheap on the hot path: a slot is picked with one atomic increment and filled under that
//! slot's own lock (never contended in practice: writers spread over the ring), so requests
//! never queue behind each other or behind a reader. The console's own requests (`/_/…`) are
//! not recorded. Query strings never are (they may hold signatures).

use mb_core::Caller;
use parking_lot::Mutex;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One request.
#[derive(Debug, Clone, Serialize)]
pub struct RequestEntry {
    /// Order of arrival in the log.
    pub seq: u64,
    /// When it finished, ms since the epoch.
    pub at: i64,
    /// Its request id.
    pub request_id: String,
    /// HTTP method.
    pub method: String,
    /// Path (no query string).
    pub path: String,
    /// Status answered.
    pub status: u16,
    /// Milliseconds taken.
    pub duration_ms: f64,
    /// Client IP.
    pub ip: IpAddr,
    /// `user`, `service`, `admin`, `system`, `anonymous`, or `-` when the caller was never
    /// established (no handler asked, or the credentials were refused).
    pub caller: &'static str,
    /// A user caller's openid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// A user caller's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// What to look for (all given conditions must hold).
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    /// The request id starts with this.
    pub request_id: Option<String>,
    /// The path contains this.
    pub path: Option<String>,
    /// The status: `404`, or a class `4xx`/`5xx`.
    pub status: Option<String>,
    /// The user's openid or uid contains this.
    pub user: Option<String>,
    /// Only errors (status ≥ 400).
    pub errors: bool,
    /// Most entries answered.
    pub limit: usize,
}

impl RequestQuery {
    fn matches(&self, e: &RequestEntry) -> bool {
        if self.errors && e.status < 400 {
            return false;
        }
        if let Some(id) = &self.request_id {
            if !e.request_id.starts_with(id.as_str()) {
                return false;
            }
        }
        if let Some(p) = &self.path {
            if !e.path.contains(p.as_str()) {
                return false;
            }
        }
        if let Some(s) = &self.status {
            let s = s.trim().to_ascii_lowercase();
            let ok = match s.strip_suffix("xx") {
                Some(class) => class.parse::<u16>().is_ok_and(|c| e.status / 100 == c),
                None => s.parse::<u16>().is_ok_and(|c| e.status == c),
            };
            if !ok {
                return false;
            }
        }
        if let Some(u) = &self.user {
            let hit = |v: &Option<String>| v.as_deref().is_some_and(|v| v.contains(u.as_str()));
            if !(hit(&e.openid) || hit(&e.uid) || e.caller == u.as_str()) {
                return false;
            }
        }
        true
    }
}

/// The ring. Cheap to clone.
#[derive(Clone)]
pub struct RecentRequests {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Box<[Mutex<Option<RequestEntry>>]>,
    next: AtomicU64,
}

/// What the middleware knows about a finished request.
pub struct Finished<'a> {
    /// Request id.
    pub request_id: &'a str,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Status.
    pub status: u16,
    /// Time taken.
    pub elapsed: std::time::Duration,
    /// Client IP.
    pub ip: IpAddr,
    /// The caller, when one was established.
    pub caller: Option<&'a Caller>,
}

impl RecentRequests {
    /// A ring of `capacity` entries; `None` for 0 (nothing kept).
    pub fn new(capacity: usize) -> Option<RecentRequests> {
        (capacity > 0).then(|| RecentRequests {
            inner: Arc::new(Inner {
                slots: (0..capacity).map(|_| Mutex::new(None)).collect(),
                next: AtomicU64::new(0),
            }),
        })
    }

    /// Whether a path is recorded at all (the console's own requests are not).
    pub fn wants(path: &str) -> bool {
        !(path == "/_" || path.starts_with("/_/"))
    }

    /// Records a finished request.
    pub fn record(&self, f: Finished<'_>) {
        let seq = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let slot = &self.inner.slots[(seq % self.inner.slots.len() as u64) as usize];
        let user = f.caller.and_then(Caller::user);
        let entry = RequestEntry {
            seq,
            at: mb_core::now_ms(),
            request_id: f.request_id.to_owned(),
            method: f.method.to_owned(),
            path: f.path.to_owned(),
            status: f.status,
            duration_ms: f.elapsed.as_secs_f64() * 1000.0,
            ip: f.ip,
            caller: f.caller.map_or("-", Caller::kind),
            openid: user.map(|u| u.openid.clone()),
            uid: user.map(|u| u.uid.clone()),
        };
        *slot.lock() = Some(entry);
    }

    /// Matching entries, newest first.
    pub fn query(&self, q: &RequestQuery) -> Vec<RequestEntry> {
        let mut out: Vec<RequestEntry> = self
            .inner
            .slots
            .iter()
            .filter_map(|s| s.lock().as_ref().filter(|e| q.matches(e)).cloned())
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.seq));
        out.truncate(q.limit.max(1));
        out
    }

    /// How many entries the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.inner.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fin(path: &str, status: u16) -> Finished<'_> {
        Finished {
            request_id: "abc",
            method: "GET",
            path,
            status,
            elapsed: std::time::Duration::from_millis(3),
            ip: IpAddr::from([127, 0, 0, 1]),
            caller: None,
        }
    }

    #[test]
    fn ring_keeps_the_latest_and_filters() {
        let r = RecentRequests::new(3).unwrap();
        for (i, s) in [200, 404, 500, 200].iter().enumerate() {
            let p = format!("/api/x{i}");
            r.record(fin(&p, *s));
        }
        let all = r.query(&RequestQuery {
            limit: 10,
            ..Default::default()
        });
        assert_eq!(
            all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/api/x3", "/api/x2", "/api/x1"]
        );
        let errors = r.query(&RequestQuery {
            errors: true,
            limit: 10,
            ..Default::default()
        });
        assert_eq!(errors.len(), 2);
        let five = r.query(&RequestQuery {
            status: Some("5xx".into()),
            limit: 10,
            ..Default::default()
        });
        assert_eq!(five.len(), 1);
        assert_eq!(five[0].status, 500);
        assert!(RecentRequests::new(0).is_none());
        assert!(!RecentRequests::wants("/_/api/logs"));
        assert!(RecentRequests::wants("/api/db/x/query"));
    }
}

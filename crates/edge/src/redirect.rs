//! The redirect listener (`server.redirect_addr`, usually port 80): answers ACME http-01
//! challenges and sends everything else to `https://<host><path>?<query>` with a 301 — but
//! only for the hosts in `server.domains`, so it cannot be used as an open redirect. Other
//! hosts get a plain 421 refusal.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// Key authorizations of pending ACME http-01 challenges, by token.
#[derive(Debug, Default)]
pub struct Http01Challenges {
    tokens: RwLock<HashMap<String, String>>,
}

impl Http01Challenges {
    /// Starts answering `GET /.well-known/acme-challenge/<token>` with `key_authorization`.
    pub fn insert(&self, token: &str, key_authorization: &str) {
        self.tokens
            .write()
            .insert(token.to_string(), key_authorization.to_string());
    }

    /// Stops answering for `token`.
    pub fn remove(&self, token: &str) {
        self.tokens.write().remove(token);
    }

    fn get(&self, token: &str) -> Option<String> {
        self.tokens.read().get(token).cloned()
    }
}

/// Which hosts are redirected, and where.
#[derive(Debug, Clone)]
pub(crate) struct RedirectTarget {
    /// Lower-case names from `server.domains`; `*.example.com` matches one label.
    pub domains: Vec<String>,
    /// Also redirect `localhost` and IP literals (self-signed development setups).
    pub allow_local: bool,
    /// The HTTPS port written into `Location` (omitted when 443).
    pub https_port: u16,
}

impl RedirectTarget {
    fn allows(&self, host: &str) -> bool {
        if self.allow_local && (host == "localhost" || host.parse::<std::net::IpAddr>().is_ok()) {
            return true;
        }
        self.domains.iter().any(|d| match d.strip_prefix("*.") {
            Some(parent) => host
                .strip_suffix(parent)
                .and_then(|l| l.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            None => d == host,
        })
    }
}

#[derive(Clone)]
struct RedirectState {
    target: Arc<RedirectTarget>,
    challenges: Arc<Http01Challenges>,
}

/// The router served on the redirect listener.
pub(crate) fn router(target: RedirectTarget, challenges: Arc<Http01Challenges>) -> Router {
    Router::new().fallback(handle).with_state(RedirectState {
        target: Arc::new(target),
        challenges,
    })
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    let mut res = Response::new(Body::from(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// Splits `host[:port]` / `[v6]:port`, lower-cases and drops a trailing dot.
fn host_without_port(authority: &str) -> Option<String> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        &authority[..end + 2]
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':' | '*'))
    {
        return None;
    }
    Some(host)
}

async fn handle(State(st): State<RedirectState>, req: Request) -> Response {
    let path = req.uri().path();
    if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
        return match st.challenges.get(token) {
            Some(ka) => plain(StatusCode::OK, ka),
            None => plain(StatusCode::NOT_FOUND, "no such ACME challenge\n"),
        };
    }
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let Some(host) = authority.as_deref().and_then(host_without_port) else {
        return plain(StatusCode::BAD_REQUEST, "missing or invalid Host header\n");
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if !st.target.allows(bare) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not redirect this host (not in server.domains)\n",
        );
    }
    let port = match st.target.https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let pq = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let location = format!("https://{host}{port}{pq}");
    let Ok(value) = HeaderValue::from_str(&location) else {
        return plain(StatusCode::BAD_REQUEST, "invalid request target\n");
    };
    let mut res = plain(
        StatusCode::MOVED_PERMANENTLY,
        format!("Moved to {location}\n"),
    );
    res.headers_mut().insert(header::LOCATION, value);
    res
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_matched_exactly_or_by_one_wildcard_label() {
        let t = RedirectTarget {
            domains: vec!["api.example.com".into(), "*.apps.example.com".into()],
            allow_local: false,
            https_port: 443,
        };
        assert!(t.allows("api.example.com"));
        assert!(t.allows("a.apps.example.com"));
        assert!(!t.allows("apps.example.com"));
        assert!(!t.allows("a.b.apps.example.com"));
        assert!(!t.allows("evil.com"));
        assert!(!t.allows("api.example.com.evil.com"));
        assert!(!t.allows("127.0.0.1"));
        assert!(!t.allows("xapps.example.com"));
    }

    #[test]
    fn ports_and_trailing_dots_are_dropped() {
        assert_eq!(
            host_without_port("API.Example.com:80").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(
            host_without_port("api.example.com.").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(host_without_port("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(host_without_port("evil.com/x"), None);
        assert_eq!(host_without_port(""), None);
    }
}

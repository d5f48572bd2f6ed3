//! Request metrics in Prometheus text format, without a metrics library: counters by
//! (method, route template, status) and a latency histogram by (method, route), lock-free on
//! the request path once a route has been seen. Routes are labelled by their template
//! (`/api/db/{coll}/docs/{id}`), never by the raw path, so cardinality stays bounded;
//! unmatched paths share the label `unmatched`.

use axum::http::Method;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

struct MethodStats {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    statuses: Box<[AtomicU64]>, // index: status - 100
}

impl MethodStats {
    fn new() -> Self {
        MethodStats {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            statuses: (100..600).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

#[derive(Default)]
struct RouteStats {
    methods: [OnceLock<MethodStats>; 8],
}

impl RouteStats {
    fn record(&self, method: &Method, status: u16, elapsed: Duration) {
        let m = self.methods[method_index(method)].get_or_init(MethodStats::new);
        // One increment per request (the bucket the latency falls in); rendering makes the
        // counts cumulative as Prometheus wants them.
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            m.buckets[i].fetch_add(1, Relaxed);
        }
        m.count.fetch_add(1, Relaxed);
        m.sum_micros.fetch_add(elapsed.as_micros() as u64, Relaxed);
        if (100..600).contains(&status) {
            m.statuses[(status - 100) as usize].fetch_add(1, Relaxed);
        }
    }
}

/// FNV-1a: route templates are few, short and ours (never a raw client path), so a fast
/// non-keyed hash is safe here and cheaper than SipHash on every request.
#[derive(Default, Clone, Copy)]
struct RouteHasher(u64);

impl std::hash::Hasher for RouteHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type RouteMap = HashMap<String, Arc<RouteStats>, std::hash::BuildHasherDefault<RouteHasher>>;

/// The registry.
#[derive(Default, Clone)]
pub struct Metrics {
    routes: Arc<RwLock<RouteMap>>,
    in_flight: Arc<AtomicI64>,
}

impl Metrics {
    /// Records one finished request: a shared lock and a short hash to find the route, then
    /// atomic increments (the lock is taken for writing once per route, when it is new).
    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        {
            let map = self.routes.read();
            if let Some(stats) = map.get(route) {
                stats.record(method, status, elapsed);
                return;
            }
        }
        let stats = self
            .routes
            .write()
            .entry(route.to_string())
            .or_default()
            .clone();
        stats.record(method, status, elapsed);
    }

    /// A request started; the guard marks it finished when dropped.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.in_flight.clone())
    }

    /// Renders the request metrics (Prometheus text exposition format).
    pub fn render(&self, out: &mut String) {
        let routes = self.routes.read();
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        let _ = writeln!(
            out,
            "# HELP minibase_http_requests_total HTTP requests by method, route and status."
        );
        let _ = writeln!(out, "# TYPE minibase_http_requests_total counter");
        for name in &names {
            let r = &routes[*name];
            for (mi, slot) in r.methods.iter().enumerate() {
                let Some(m) = slot.get() else { continue };
                for (si, c) in m.statuses.iter().enumerate() {
                    let n = c.load(Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "minibase_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {n}",
                            METHODS[mi],
                            escape(name),
                            si + 100
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP minibase_http_request_duration_seconds HTTP request latency by method and route."
        );
        let _ = writeln!(
            out,
            "# TYPE minibase_http_request_duration_seconds histogram"
        );
        for name in &names {
            let r = &routes[*name];
            for (mi, slot) in r.methods.iter().enumerate() {
                let Some(m) = slot.get() else { continue };
                let labels = format!("method=\"{}\",route=\"{}\"", METHODS[mi], escape(name));
                let mut cumulative = 0;
                for (i, le) in BUCKETS.iter().enumerate() {
                    cumulative += m.buckets[i].load(Relaxed);
                    let _ = writeln!(
                        out,
                        "minibase_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                    );
                }
                let count = m.count.load(Relaxed);
                let _ = writeln!(
                    out,
                    "minibase_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(
                    out,
                    "minibase_http_request_duration_seconds_sum{{{labels}}} {}",
                    m.sum_micros.load(Relaxed) as f64 / 1e6
                );
                let _ = writeln!(
                    out,
                    "minibase_http_request_duration_seconds_count{{{labels}}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP minibase_http_requests_in_flight Requests being handled."
        );
        let _ = writeln!(out, "# TYPE minibase_http_requests_in_flight gauge");
        let _ = writeln!(
            out,
            "minibase_http_requests_in_flight {}",
            self.in_flight.load(Relaxed)
        );
    }
}

impl Metrics {
    /// Every route's counters added up: requests, 5xx answers, and the latency histogram
    /// (per bucket, not cumulative), for the console's charts.
    pub fn totals(&self) -> console::RequestTotals {
        let routes = self.routes.read();
        let mut t = console::RequestTotals {
            buckets: BUCKETS.iter().map(|le| (*le, 0)).collect(),
            ..Default::default()
        };
        for r in routes.values() {
            for m in r.methods.iter().filter_map(OnceLock::get) {
                t.count += m.count.load(Relaxed);
                t.errors += m.statuses[400..500]
                    .iter()
                    .map(|c| c.load(Relaxed))
                    .sum::<u64>();
                for (i, b) in m.buckets.iter().enumerate() {
                    t.buckets[i].1 += b.load(Relaxed);
                }
            }
        }
        // Requests slower than the largest bucket are counted only in `count`.
        let bucketed: u64 = t.buckets.iter().map(|b| b.1).sum();
        t.buckets
            .push((f64::INFINITY, t.count.saturating_sub(bucketed)));
        t
    }
}

/// What the console reads from the server: request counters, open sockets.
pub struct ConsoleHost {
    /// The request metrics.
    pub metrics: Metrics,
    /// The listeners' counters.
    pub edge: Arc<edge::EdgeStats>,
    /// Realtime (open WebSockets).
    pub realtime: realtime::Realtime,
}

impl console::Host for ConsoleHost {
    fn request_totals(&self) -> console::RequestTotals {
        self.metrics.totals()
    }
    fn open_websockets(&self) -> u64 {
        self.realtime.stats().connections.load(Relaxed)
    }
    fn open_connections(&self) -> u64 {
        self.edge.open_connections()
    }
}

/// Renders the listeners' connection counters.
pub fn render_edge(stats: &edge::EdgeStats, out: &mut String) {
    use edge::ListenerKind;
    let _ = writeln!(
        out,
        "# HELP minibase_open_connections Connections open now, by listener."
    );
    let _ = writeln!(out, "# TYPE minibase_open_connections gauge");
    for kind in ListenerKind::ALL {
        let _ = writeln!(
            out,
            "minibase_open_connections{{listener=\"{}\"}} {}",
            kind.as_str(),
            stats.listener(kind).open.load(Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP minibase_connections_accepted_total Connections accepted, by listener."
    );
    let _ = writeln!(out, "# TYPE minibase_connections_accepted_total counter");
    for kind in ListenerKind::ALL {
        let _ = writeln!(
            out,
            "minibase_connections_accepted_total{{listener=\"{}\"}} {}",
            kind.as_str(),
            stats.listener(kind).accepted.load(Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP minibase_header_timeouts_total Connections cut for sending headers too slowly."
    );
    let _ = writeln!(out, "# TYPE minibase_header_timeouts_total counter");
    for kind in ListenerKind::ALL {
        let _ = writeln!(
            out,
            "minibase_header_timeouts_total{{listener=\"{}\"}} {}",
            kind.as_str(),
            stats.listener(kind).header_timeouts.load(Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP minibase_tls_handshakes_total TLS handshakes by result."
    );
    let _ = writeln!(out, "# TYPE minibase_tls_handshakes_total counter");
    let _ = writeln!(
        out,
        "minibase_tls_handshakes_total{{result=\"ok\"}} {}",
        stats.tls_handshakes_ok.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "minibase_tls_handshakes_total{{result=\"failed\"}} {}",
        stats.tls_handshakes_failed.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP minibase_certificate_reloads_total Certificate reloads by result."
    );
    let _ = writeln!(out, "# TYPE minibase_certificate_reloads_total counter");
    let _ = writeln!(
        out,
        "minibase_certificate_reloads_total{{result=\"ok\"}} {}",
        stats.cert_reloads_ok.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "minibase_certificate_reloads_total{{result=\"failed\"}} {}",
        stats.cert_reloads_failed.load(Relaxed)
    );
}

/// Marks a request in flight until dropped.
pub struct InFlight(Arc<AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.record(&Method::GET, "/api/health", 200, Duration::from_millis(2));
        m.record(&Method::GET, "/api/health", 200, Duration::from_millis(20));
        m.record(&Method::POST, "unmatched", 404, Duration::from_micros(50));
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "minibase_http_requests_total{method=\"GET\",route=\"/api/health\",status=\"200\"} 2"
        ));
        assert!(out.contains(
            "minibase_http_requests_total{method=\"POST\",route=\"unmatched\",status=\"404\"} 1"
        ));
        assert!(out.contains("minibase_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/health\",le=\"0.0025\"} 1"));
        assert!(out.contains(
            "minibase_http_request_duration_seconds_count{method=\"GET\",route=\"/api/health\"} 2"
        ));
    }
}

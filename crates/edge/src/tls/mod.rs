//! HTTPS: the rustls server configuration (TLS 1.2/1.3 per `tls.min_version`, ALPN h2 and
//! http/1.1, session tickets), where certificates come from (`tls.mode`), and reloading them on
//! SIGHUP or when the files change — without touching established connections, and keeping the
//! old certificates when the new ones are bad.

pub(crate) mod pem;
pub(crate) mod selfsigned;
pub(crate) mod store;
pub mod x509;

use crate::acme::Acme;
use crate::redirect::Http01Challenges;
use crate::{EdgeError, EdgeStats};
use config::{Config, TlsMode};
use pem::PairFiles;
use rustls::ServerConfig;
use rustls::server::ServerSessionMemoryCache;
use selfsigned::SelfSigned;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};
use store::{CertSet, CertStore};
use tokio_util::sync::CancellationToken;

/// Where the served certificates come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// `tls.mode = "files"`: `tls.cert_file`/`key_file`/`chain_file` and `tls.certificates`.
    Files(Vec<PairFiles>),
    /// `tls.mode = "self-signed"`.
    SelfSigned(SelfSigned),
    /// `tls.mode = "acme"`.
    Acme(Arc<Acme>),
}

/// The HTTPS side of the edge: acceptor, certificate store and where certificates come from.
pub(crate) struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub store: Arc<CertStore>,
    source: Source,
    domains: Vec<String>,
    reload_interval: Duration,
}

fn pairs(config: &Config) -> Vec<PairFiles> {
    let t = &config.tls;
    let opt = |p: &PathBuf| (!p.as_os_str().is_empty()).then(|| p.clone());
    let mut out = Vec::new();
    if !t.cert_file.as_os_str().is_empty() {
        out.push(PairFiles {
            cert: t.cert_file.clone(),
            key: t.key_file.clone(),
            chain: opt(&t.chain_file),
            key_prefix: "tls".into(),
        });
    }
    for (i, c) in t.certificates.iter().enumerate() {
        out.push(PairFiles {
            cert: c.cert_file.clone(),
            key: c.key_file.clone(),
            chain: opt(&c.chain_file),
            key_prefix: format!("tls.certificates[{i}]"),
        });
    }
    out
}

/// The rustls configuration every HTTPS connection uses.
pub(crate) fn server_config(
    min_version: &str,
    store: Arc<CertStore>,
    acme_alpn: bool,
) -> Result<Arc<ServerConfig>, EdgeError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if min_version == "1.3" {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| EdgeError::Tls(format!("tls.min_version: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if acme_alpn {
        cfg.alpn_protocols.push(store::ACME_TLS_ALPN.to_vec());
    }
    // Resumption: stateless tickets (keys rotate every 6 hours) plus a session cache, so a
    // returning phone skips the full handshake.
    cfg.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| EdgeError::Tls(format!("cannot set up TLS session tickets: {e}")))?;
    cfg.session_storage = ServerSessionMemoryCache::new(16 * 1024);
    Ok(Arc::new(cfg))
}

impl Tls {
    /// Loads (or generates) the certificates of `tls.mode` and builds the acceptor.
    pub(crate) async fn setup(
        config: &Config,
        http01: Arc<Http01Challenges>,
    ) -> Result<Tls, EdgeError> {
        let store = Arc::new(CertStore::default());
        let source = match config.tls.mode {
            TlsMode::Files => Source::Files(pairs(config)),
            TlsMode::SelfSigned => Source::SelfSigned(SelfSigned::new(
                &config.server.data_dir,
                &config.server.domains,
            )),
            TlsMode::Acme => Source::Acme(Arc::new(Acme::new(config, store.clone(), http01)?)),
            TlsMode::Off => {
                return Err(EdgeError::Tls(
                    "tls.mode = \"off\" has no HTTPS listener".into(),
                ));
            }
        };
        let domains: Vec<String> = config
            .server
            .domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        let set = {
            let (source, domains) = (source.clone(), domains.clone());
            tokio::task::spawn_blocking(move || load(&source, &domains, true))
                .await
                .map_err(|e| EdgeError::Tls(format!("loading certificates panicked: {e}")))??
        };
        if let Source::SelfSigned(s) = &source {
            tracing::info!(ca_file = %s.ca_file().display(), "{}", s.trust_instructions());
        }
        store.replace(set);
        let acme_alpn = matches!(&source, Source::Acme(a) if a.uses_tls_alpn());
        let cfg = server_config(&config.tls.min_version, store.clone(), acme_alpn)?;
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(cfg),
            store,
            source,
            domains,
            reload_interval: config.tls.reload_interval.get(),
        })
    }

    /// Starts the background work: the ACME manager, and the reload watcher.
    pub(crate) fn spawn(self: &Arc<Self>, stats: Arc<EdgeStats>, stop: CancellationToken) {
        if let Source::Acme(acme) = &self.source {
            tokio::spawn(acme.clone().run(stats.clone(), stop.clone()));
        }
        tokio::spawn(self.clone().watch(stats, stop));
    }

    /// The development CA certificate (self-signed mode).
    pub(crate) fn dev_ca_file(&self) -> Option<PathBuf> {
        match &self.source {
            Source::SelfSigned(s) => Some(s.ca_file()),
            Source::Files(_) | Source::Acme(_) => None,
        }
    }

    /// Reloads now; on failure the current certificates keep serving.
    pub(crate) async fn reload(&self, why: &str, stats: &EdgeStats) -> Result<(), EdgeError> {
        if matches!(self.source, Source::Acme(_)) {
            tracing::info!(
                reason = why,
                "ACME certificates are renewed automatically; nothing to reload"
            );
            return Ok(());
        }
        let (source, domains) = (self.source.clone(), self.domains.clone());
        let result = tokio::task::spawn_blocking(move || load(&source, &domains, false))
            .await
            .map_err(|e| EdgeError::Tls(format!("loading certificates panicked: {e}")))
            .and_then(|r| r);
        match result {
            Ok(set) => {
                log_set(&set, why);
                self.store.replace(set);
                stats.cert_reloads_ok.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::error!(reason = why, error = %e, "certificate reload refused; still serving the previous certificates");
                stats.cert_reloads_failed.fetch_add(1, Relaxed);
                Err(e)
            }
        }
    }

    /// Reloads on SIGHUP and whenever the files change (checked every `tls.reload_interval`),
    /// until `stop`.
    pub(crate) async fn watch(self: Arc<Self>, stats: Arc<EdgeStats>, stop: CancellationToken) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut last = fingerprint(&self.source);
        let period = if self.reload_interval.is_zero() {
            Duration::from_secs(3600)
        } else {
            self.reload_interval
        };
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = hangup => {
                    last = fingerprint(&self.source);
                    let _ = self.reload("SIGHUP", &stats).await;
                }
                _ = tick.tick() => {
                    let now = fingerprint(&self.source);
                    let expiring = self.store.current().certs.iter().any(|c| {
                        matches!(self.source, Source::SelfSigned(_)) && c.not_after - x509::now_unix() < 30 * 86400
                    });
                    if (now != last && !self.reload_interval.is_zero()) || expiring {
                        last = now;
                        let _ = self.reload("certificate files changed", &stats).await;
                    }
                }
            }
        }
    }
}

type Fingerprint = Vec<Option<(SystemTime, u64, u64)>>;

/// What identifies the current contents of the certificate files without reading them.
fn fingerprint(source: &Source) -> Fingerprint {
    let files: Vec<PathBuf> = match source {
        Source::Files(pairs) => pairs
            .iter()
            .flat_map(|p| [Some(p.cert.clone()), Some(p.key.clone()), p.chain.clone()])
            .flatten()
            .collect(),
        Source::SelfSigned(_) | Source::Acme(_) => Vec::new(),
    };
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&m);
            #[cfg(not(unix))]
            let ino = 0;
            Some((m.modified().ok()?, m.len(), ino))
        })
        .collect()
}

/// Loads every certificate of `source` (blocking: file IO and key generation).
fn load(source: &Source, domains: &[String], startup: bool) -> Result<CertSet, EdgeError> {
    let now = x509::now_unix();
    let mut served = Vec::new();
    match source {
        Source::Files(pairs) => {
            if pairs.is_empty() {
                return Err(EdgeError::Tls(
                    "tls.mode = \"files\" needs tls.cert_file and tls.key_file (or a tls.certificates list)".into(),
                ));
            }
            for p in pairs {
                let loaded = pem::load_files(p, now)?;
                for w in &loaded.warnings {
                    tracing::warn!("{w}");
                }
                served.push(loaded.cert);
            }
        }
        Source::SelfSigned(s) => {
            let (loaded, generated) = s.ensure()?;
            if generated {
                tracing::info!(names = ?s.names, dir = %s.dir.display(), "generated a development certificate");
            }
            served.push(loaded.cert);
        }
        Source::Acme(acme) => return acme.initial(),
    }
    let set = CertSet::new(served);
    for d in domains {
        if !set.covers(d) {
            tracing::warn!(
                domain = %d,
                "server.domains lists {d}, but no certificate covers it: clients will see a name mismatch; add a certificate for it (tls.certificates)"
            );
        }
    }
    if startup {
        log_set(&set, "startup");
    }
    Ok(set)
}

fn log_set(set: &CertSet, why: &str) {
    for c in &set.certs {
        tracing::info!(
            reason = why,
            names = ?c.names,
            expires = %x509::format_time(c.not_after),
            origin = %c.origin,
            "serving certificate"
        );
    }
}

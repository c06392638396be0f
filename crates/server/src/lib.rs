//! `tessera serve`: configuration (defaults, then a TOML file, then `TESSERA_*` variables, then flags), the
//! database and its migrations, the first administrator, and the HTTP server with graceful shutdown.
//!
//! **Architecture Invariant:** only `server` and `cli` read configuration; everything below receives plain values.

mod config;
mod notices;
mod request_line;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use authority::{Authority, AuthorityConfig, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use config::{Config, ConfigOverrides, KNOWN_ENV};

/// A running server: its address, the administrator token printed at first start, and a way to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests and closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.context("server task failed")?
    }

    /// Waits until the server stops by itself (Ctrl-C or SIGTERM).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task failed")?
    }
}

/// Starts Tessera with `config`. On a database without users it creates the first administrator and returns
/// its token (the caller prints it once).
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// As `start`, with a clock of the caller's (tests move time with it).
pub async fn start_with_clock(config: &Config, clock: Arc<dyn authority::Clock>) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    restrict_permissions(&config.data_dir, 0o700);
    let keys = config::digest_keys(config)?;
    let digester = tokens::Digester::new(&keys).map_err(|e| anyhow::anyhow!("{e}"))?;
    let database_url = config.database_url();
    let exclusive = store::ExclusiveUse::acquire(&database_url)?;
    let store = store::SqlStore::connect(&database_url, config.max_connections).await?;
    let backend = store.backend();
    let store = Arc::new(store);
    let catalog = catalog::Catalog::builtin().map_err(|e| anyhow::anyhow!("the permission catalog is invalid: {e}"))?;
    let pat_prefix = tokens::Prefix::new(&config.token_prefix, config.instance_prefix.as_deref(), "glpat-");
    let listener =
        TcpListener::bind(&config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let issuer = match &config.external_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{addr}"),
    };
    let authority = Arc::new(Authority::new(
        store.clone(),
        AuthorityConfig {
            digester,
            pat_prefix,
            cell_id: config.cell_id,
            catalog,
            cache_capacity: config.cache_capacity,
            ci: authority::CiConfig {
                issuer,
                algorithm: config.job_token_algorithm,
                max_token_lifetime_s: config.job_token_max_lifetime,
            },
        },
        clock,
    ));
    let feed = match backend {
        store::Backend::Sqlite => {
            authority.cache().enable();
            None
        }
        store::Backend::Postgres => Some(tokio::spawn(follow_changes(database_url.clone(), authority.cache().clone()))),
    };
    let usage_writer = spawn_usage_writer(&authority);
    let admin_token = match authority.bootstrap(&config.admin_email).await {
        Ok(Some((_user, token))) => Some(token),
        Ok(None) => None,
        Err(e) => anyhow::bail!("cannot create the first administrator: {e:?}"),
    };
    authority.prepare_signing_keys().await.map_err(|e| anyhow::anyhow!("cannot prepare the CI signing keys: {e:?}"))?;
    let mailer = Arc::new(notices::Mailer {
        smtp: config.smtp.clone(),
        from: config.smtp_from.clone(),
        webhook: config.expiry_webhook_url.clone(),
    });
    notices::spawn_schedule(&authority, mailer.clone(), config.expiry_check_interval);
    let state = api::AppState {
        authority,
        external_url: config.external_url.clone(),
        limits: Arc::default(),
        notices: mailer,
        shell_secret: Arc::new(config::gitlab_shell_secret(config)?),
    };
    let app = api::app(state).into_make_service();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            tokio::select! {
                _ = rx => {}
                _ = terminate() => {}
            }
        };
        // Every connection's request lines are guarded (see `request_line`); `tap_io` lends axum's connect info.
        let listener = axum::serve::ListenerExt::tap_io(request_line::GuardedListener(listener), |_| {});
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        if let Some(feed) = feed {
            feed.abort();
        }
        usage_writer.finish().await;
        store.close().await;
        drop(exclusive);
        served.context("server failed")
    });
    tracing::info!(%addr, "Tessera is listening");
    Ok(Running { addr, admin_token, shutdown: Some(tx), task })
}

/// The least time between two batches of token uses.
const WRITE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Writes token uses (`last_used_at`, last addresses) off the request path: a request records its use in
/// memory and wakes this task, which writes whatever has gathered since its last write.
pub struct UsageWriter {
    wake: Arc<tokio::sync::Notify>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    stopping: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
    usage: Arc<authority::UsageBuffer>,
}

pub fn spawn_usage_writer(authority: &Arc<Authority>) -> UsageWriter {
    let wake = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = Arc::new(tokio::sync::Notify::new());
    let usage = authority.usage().clone();
    usage.write_in_background({
        let wake = wake.clone();
        move || wake.notify_one()
    });
    let task = tokio::spawn({
        let (wake, stop, stopping, usage) = (wake.clone(), stop.clone(), stopping.clone(), usage.clone());
        async move {
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                wake.notified().await;
                // Failures are logged by `flush`; the next use of those tokens records them again.
                usage.flush().await.ok();
                // Under steady load every request finds its pair freshly taken and wakes the writer again: a
                // pause between batches keeps that to a few writes a second (reads flush first anyway).
                tokio::select! {
                    () = tokio::time::sleep(WRITE_PAUSE) => {}
                    () = stopping.notified() => {}
                }
            }
        }
    });
    UsageWriter { wake, stop, stopping, task, usage }
}

impl UsageWriter {
    /// Lets a write under way finish (never cut off mid-batch), then writes what is left.
    pub async fn finish(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
        self.stopping.notify_one();
        self.task.await.ok();
        if let Err(e) = self.usage.flush().await {
            tracing::warn!(error = ?e, "token uses made just before shutdown could not be recorded");
        }
    }
}

/// Keeps the fact cache in step with other nodes: it serves from memory only while the change feed is up, and
/// starts from empty each time the feed (re)connects, so that nothing missed while it was down survives.
async fn follow_changes(database_url: String, cache: Arc<authority::FactCache>) {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match store::ChangeFeed::connect(&database_url).await {
            Ok(mut feed) => {
                cache.enable();
                delay = std::time::Duration::from_millis(100);
                while let Some(change) = feed.next().await {
                    cache.forget(authority::Change::decode(&change));
                }
                cache.disable();
                tracing::warn!("the change feed was lost; reading every fact from the database until it is back");
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot follow changes; the fact cache stays off"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

async fn terminate() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path, _mode: u32) {}

/// Sets up structured logs on stderr, filtered by `TESSERA_LOG` (default `info`).
pub fn init_logging(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

//! The one wiring place: every service is built here once — stores, event hub, cluster,
//! market, runtime, simulation registry and worker, credential cache and its revocation
//! follower, rate limiter — and each part is handed what it uses; then the listener.
//!
//! Nothing else builds a service: the API receives [`crate::api::Services`] whole, and a
//! service that follows events or runs a worker is started here, before the first request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{ApiConfig, AuthCache, Limiter, Services};
use crate::capabilities::Shared;
use crate::cluster::Cluster;
use crate::cluster::bus::Bus;
use crate::config::Config;
use crate::events::EventHub;
use crate::manifest::Manifest;
use crate::market::journal::Journal;
use crate::market::{Market, MarketConfig, default_symbols};
use crate::runtime::{LoadFailure, Platform, Runtime, RuntimeConfig, Watcher};
use crate::simulation::{Delegation, RunLimits, Simulations};
use crate::store::kv::KeyValue;
use crate::store::sql::Sql;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// SQL backend unreachable or migrations failed.
    #[error("SQL ({backend}): {source}")]
    Sql {
        backend: &'static str,
        source: crate::store::StoreError,
    },
    /// Key-value backend unreachable.
    #[error("key-value ({backend}): {source}")]
    KeyValue {
        backend: &'static str,
        source: crate::store::StoreError,
    },
    /// The market could not start (bad symbol table, unreadable journal).
    #[error("market: {0}")]
    Market(#[from] crate::market::MarketError),
    /// The journal could not be opened.
    #[error("market journal: {0}")]
    Journal(#[from] crate::market::journal::JournalError),
    /// Engine could not be built.
    #[error("wasmtime: {0}")]
    Engine(String),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A host ready to serve.
pub struct Host {
    /// The runtime (for typed calls and the registry).
    pub runtime: Arc<Runtime>,
    /// Components that failed to load.
    pub failures: Vec<LoadFailure>,
    api: ApiConfig,
    services: Services,
    shared: Arc<Platform>,
    shutdown_timeout: Duration,
    _watcher: Option<Watcher>,
}

impl Host {
    /// Connects the stores and loads every component of `manifest`.
    pub async fn start(config: &Config, manifest: Manifest) -> Result<Host, StartError> {
        let sql_backend = if config.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        let sql = Sql::connect(config.database_url.as_deref(), &config.data_dir)
            .await
            .map_err(|source| StartError::Sql {
                backend: sql_backend,
                source,
            })?;
        let kv_backend = if config.redis_url.is_some() {
            "redis"
        } else {
            "memory"
        };
        let kv = KeyValue::connect(config.redis_url.as_deref())
            .await
            .map_err(|source| StartError::KeyValue {
                backend: kv_backend,
                source,
            })?;
        let symbols = match &manifest.application.tool.bourse().symbols {
            s if s.is_empty() => default_symbols(),
            s => s.clone(),
        };
        let events = Arc::new(EventHub::new(
            crate::events::DEFAULT_CAPACITY,
            config.event_retain as usize,
            Duration::from_secs(config.event_retain_secs),
        ));
        events.spawn_pruner();
        // Replicas sharing Redis share events; those sharing Postgres too share the books,
        // each shard running on the replica that holds its lease.
        let cluster = match &config.redis_url {
            Some(url) => {
                let name = config.cluster.clone().unwrap_or_else(|| {
                    crate::cluster::default_name(config.database_url.as_deref(), &config.data_dir)
                });
                let cluster = Cluster::join(
                    url,
                    &name,
                    config.replica_id.clone(),
                    config.role,
                    Duration::from_millis(config.lease_ms),
                )
                .await
                .map_err(|e| StartError::KeyValue {
                    backend: kv_backend,
                    source: crate::store::StoreError::Redis(e.0),
                })?;
                events.attach(Bus::start(cluster.clone(), config.event_retain as usize));
                cluster.listen(events.clone());
                Some(cluster)
            }
            None => None,
        };
        let symbol_names: Vec<String> = symbols
            .iter()
            .map(|s| format!("{}:{}:{}", s.symbol, s.tick_size, s.lot_size))
            .collect();
        let journal = Journal::open(
            sql.main().clone(),
            config.database_url.is_some(),
            config.matching_shards,
            &symbol_names.join(","),
        )
        .await?;
        let market = Market::start(
            &symbols,
            MarketConfig {
                shards: config.matching_shards,
                snapshot_every: config.snapshot_every,
                max_open_orders: config.max_open_orders,
                client_ids: bourse_matching::venue::ClientIdRetention {
                    ms: config.client_order_id_retain_secs * 1000,
                    ..Default::default()
                },
                journal: Some(Arc::new(journal)),
                events: Some(events.clone()),
                cluster: cluster.clone().filter(|_| config.database_url.is_some()),
            },
        )
        .await?;
        let platform = Arc::new(Platform {
            kv,
            sql,
            events,
            market,
            redis_clients: Default::default(),
            postgres_clients: Default::default(),
        });
        let runtime = Runtime::new(
            manifest,
            platform.clone(),
            RuntimeConfig {
                timeout: Duration::from_millis(config.request_timeout_ms),
                memory_mb: config.instance_memory_mb,
                data_dir: config.data_dir.clone(),
                retain_versions: config.retain_versions,
                role: config.role,
                memory_limit_bytes: (config.memory_limit_mb > 0)
                    .then_some(config.memory_limit_mb << 20),
                spin_compat: config.spin_compat,
            },
        )
        .map_err(|e| StartError::Engine(format!("{e:#}")))?;
        let failures = runtime.load_all().await;
        // Versions ops put live through the API outlive restarts and reach every replica.
        match runtime.sync_shared().await {
            Ok(swapped) => {
                for name in swapped {
                    tracing::info!(component = %name, "serving the version put live through the API");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the shared component versions"),
        }
        let runtime = Arc::new(runtime);
        if config.database_url.is_some() {
            runtime.spawn_sync();
        }
        spawn_memory_monitor(config.memory_limit_mb);
        let watcher = if config.watch {
            match Watcher::start(runtime.clone()) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch component files; hot swap by upload still works");
                    None
                }
            }
        } else {
            None
        };
        let simulations = Arc::new(Simulations::new(
            runtime.clone(),
            Shared::project(platform.clone(), |p| &p.market),
            platform.events.clone(),
            platform.kv.redis(),
            config.sim_queue.clone(),
            Delegation {
                local_max_rate: config.sim_local_max_rate as f64,
                handoff: Duration::from_millis(config.sim_handoff_ms),
                worker: config.role == crate::config::Role::Simulation,
                limits: RunLimits {
                    per_principal: config.sim_max_runs_per_principal as usize,
                    total: config.sim_max_runs as usize,
                    kept: config.sim_keep_runs as usize,
                },
            },
        ));
        simulations.spawn_worker();
        let auth_cache = Arc::new(AuthCache::new(Duration::from_millis(config.auth_cache_ms)));
        auth_cache.follow_revocations(&platform.events);
        let limiter = Limiter::new(
            crate::api::RateLimits {
                principal: crate::api::rate_limit(config.rate_limit_principal),
                ip: crate::api::rate_limit(config.rate_limit_ip),
            },
            config.trusted_proxies,
            &platform.kv,
        );
        Ok(Host {
            services: Services {
                runtime: runtime.clone(),
                simulations,
                auth_cache,
                limiter,
                shared: platform.clone(),
            },
            shared: platform,
            runtime,
            failures,
            api: ApiConfig {
                admin_token: config.admin_token.clone(),
                allowed_origins: config.allowed_origins.clone(),
                body_limit: (config.body_limit_mb as usize) << 20,
                request_timeout: Duration::from_millis(config.request_timeout_ms + 5_000),
                role: config.role,
                trusted_proxies: config.trusted_proxies,
                ws_limits: crate::api::ConnectionLimits {
                    per_ip: config.ws_max_per_ip,
                    per_principal: config.ws_max_per_principal,
                },
            },
            shutdown_timeout: Duration::from_millis(config.shutdown_timeout_ms),
            _watcher: watcher,
        })
    }

    /// Binds `addr` and serves until `shutdown` resolves; returns the bound address through
    /// `bound` as soon as it is known.
    pub async fn serve(
        self,
        addr: SocketAddr,
        bound: impl FnOnce(SocketAddr),
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        bound(local);
        let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
        let app = crate::api::router(self.services, self.api, closing_rx);
        let _watcher = self._watcher;
        // Graceful: stop accepting, let in-flight requests finish — but not for longer than
        // the shutdown deadline.
        let (begun_tx, begun_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            // WebSocket sessions are long-lived: they close now rather than hold the drain.
            let _ = closing_tx.send(true);
            let _ = begun_tx.send(());
        };
        // Without TCP_NODELAY a response's last partial segment waits for the client's
        // delayed ACK: about 40 ms added to one response in four with bodies of ~100 KB.
        let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
            }
        });
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let deadline = self.shutdown_timeout;
        let drained = tokio::select! {
            result = server => result.map(|()| true),
            () = async {
                if begun_rx.await.is_ok() {
                    tokio::time::sleep(deadline).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => Ok(false),
        };
        match drained.map_err(|source| StartError::Bind { addr, source })? {
            true => tracing::info!("drained"),
            false => tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "shutdown deadline passed with requests still running"
            ),
        }
        // Handed over now rather than when the leases expire.
        self.shared.market.release().await;
        self.shared.sql.main().close().await;
        Ok(())
    }
}

/// Logs resident memory every 30 s (and keeps the gauge current); warns above the bound.
fn spawn_memory_monitor(limit_mb: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            crate::telemetry::release_free_memory();
            let rss_mb = crate::telemetry::resident_bytes() >> 20;
            metrics::gauge!("process_resident_memory_bytes").set((rss_mb << 20) as f64);
            let (heap_used, heap_free) = crate::telemetry::heap_bytes().unwrap_or((0, 0));
            if limit_mb > 0 && rss_mb > limit_mb {
                tracing::warn!(
                    rss_mb,
                    limit_mb,
                    "memory above the bound: refusing new simulation work"
                );
            } else {
                tracing::info!(
                    rss_mb,
                    heap_used_mb = heap_used >> 20,
                    heap_free_mb = heap_free >> 20,
                    limit_mb,
                    "memory"
                );
            }
        }
    });
}

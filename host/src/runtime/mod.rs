//! The component runtime: compiles and links the manifest's components, keeps the registry
//! of what is loaded (or why not), and runs calls into them with deadlines and limits.

pub mod contract;
mod engine;
mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub use engine::EPOCH_TICK;
pub use state::{ComponentContext, HostState, Platform};

use crate::bindings::bourse::platform::types::{OrderRequest, OrderResult, Principal};
use crate::bindings::exports::bourse::platform::{
    authenticator, generator, indicator, order_handling,
};
use crate::manifest::{Manifest, Variables};

/// A call into a component that did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No component of that name in the manifest.
    #[error("no component named {0:?}")]
    UnknownComponent(String),
    /// The component exists but is not loaded.
    #[error("component {name} is not available: {reason}")]
    Unavailable { name: String, reason: String },
    /// The component does not export what the call needs.
    #[error("component {name} does not export {export}")]
    MissingExport { name: String, export: &'static str },
    /// The guest trapped (panic, out-of-bounds, out of memory...).
    #[error("component {name} failed: {message}")]
    Trap { name: String, message: String },
    /// The guest ran past its deadline and was stopped.
    #[error("component {name} did not finish within {timeout_ms} ms")]
    Timeout { name: String, timeout_ms: u64 },
}

/// Why a component could not be loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadFailure {
    /// Component id.
    pub name: String,
    /// The `.wasm` path.
    pub source: PathBuf,
    /// What went wrong.
    pub error: String,
}

/// Typed export accessors, present when the component exports the interface.
#[derive(Clone, Default)]
struct Exports {
    authenticator: Option<authenticator::GuestIndices>,
    order_handling: Option<order_handling::GuestIndices>,
    generator: Option<generator::GuestIndices>,
    indicator: Option<indicator::GuestIndices>,
}

/// A compiled, linked component ready to instantiate.
pub struct LoadedComponent {
    /// Component id.
    pub name: String,
    /// The world it was checked against, if the manifest names one.
    pub world: Option<String>,
    /// `sha256:<hex>` of the `.wasm`.
    pub digest: String,
    /// The `.wasm` path.
    pub source: PathBuf,
    /// Milliseconds it took to compile (or load from the cache) and link.
    pub load_ms: u64,
    context: Arc<ComponentContext>,
    pre: InstancePre<HostState>,
    proxy: Option<ProxyPre<HostState>>,
    exports: Exports,
}

/// Public description of a component, for `/api/components`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInfo {
    pub name: String,
    pub status: &'static str,
    pub world: Option<String>,
    pub digest: Option<String>,
    pub source: PathBuf,
    pub http: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    platform: Arc<Platform>,
    manifest: Manifest,
    timeout: Duration,
    memory_bytes: usize,
    components: RwLock<BTreeMap<String, Result<Arc<LoadedComponent>, LoadFailure>>>,
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Runtime {
    /// An engine and linker for `manifest`; components are loaded by [`Runtime::load_all`].
    pub fn new(
        manifest: Manifest,
        platform: Arc<Platform>,
        timeout: Duration,
        memory_mb: u64,
    ) -> wasmtime::Result<Runtime> {
        let engine = engine::build(memory_mb)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::bindings::BourseHost::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;
        Ok(Runtime {
            engine,
            linker,
            platform,
            manifest,
            timeout,
            memory_bytes: (memory_mb as usize) << 20,
            components: RwLock::new(BTreeMap::new()),
        })
    }

    /// The manifest being served.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Shared platform services.
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    /// Loads every component of the manifest; a failure is recorded against that component
    /// and the others still load. Returns the failures.
    pub async fn load_all(&self) -> Vec<LoadFailure> {
        let names: Vec<String> = self.manifest.components.keys().cloned().collect();
        let mut failures = Vec::new();
        for name in names {
            let started = Instant::now();
            let result = self.load(&name).await;
            match &result {
                Ok(c) => {
                    tracing::info!(component = %name, digest = %c.digest, ms = started.elapsed().as_millis() as u64, "component loaded")
                }
                Err(f) => {
                    tracing::error!(component = %name, source = %f.source.display(), error = %f.error, "component failed to load");
                    failures.push(f.clone());
                }
            }
            self.record_load(&name, &result).await;
            self.write().insert(name, result);
        }
        failures
    }

    fn write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Result<Arc<LoadedComponent>, LoadFailure>>>
    {
        // Entries are replaced whole, so a panic elsewhere cannot leave one half-written.
        self.components
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Result<Arc<LoadedComponent>, LoadFailure>>>
    {
        self.components
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn record_load(&self, name: &str, result: &Result<Arc<LoadedComponent>, LoadFailure>) {
        let (digest, source, outcome, detail) = match result {
            Ok(c) => (
                c.digest.clone(),
                c.source.display().to_string(),
                "loaded",
                String::new(),
            ),
            Err(f) => (
                String::new(),
                f.source.display().to_string(),
                "failed",
                f.error.clone(),
            ),
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let insert = sqlx::query(
            "INSERT INTO component_loads (component, digest, source, outcome, detail, loaded_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(name.to_string())
        .bind(digest)
        .bind(source)
        .bind(outcome.to_string())
        .bind(detail)
        .bind(now_ms)
        .execute(self.platform.sql.main())
        .await;
        if let Err(e) = insert {
            tracing::warn!(component = %name, error = %e, "could not record the component load");
        }
    }

    async fn load(&self, name: &str) -> Result<Arc<LoadedComponent>, LoadFailure> {
        let started = Instant::now();
        let decl = self
            .manifest
            .components
            .get(name)
            .ok_or_else(|| LoadFailure {
                name: name.to_string(),
                source: PathBuf::new(),
                error: "not in the manifest".into(),
            })?;
        let source = self.manifest.resolve(&decl.source);
        let fail = |error: String| LoadFailure {
            name: name.to_string(),
            source: source.clone(),
            error,
        };
        let bytes = tokio::fs::read(&source).await.map_err(|e| {
            fail(match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "component file {} does not exist (run `bourse build` first)",
                    source.display()
                ),
                _ => format!("cannot read {}: {e}", source.display()),
            })
        })?;
        let world = decl.tool.bourse.world.clone();
        if let Some(world) = &world {
            let wit_dir = self.manifest.wit_dir();
            if wit_dir.is_dir() {
                contract::check(&bytes, &wit_dir, world).map_err(|e| fail(e.to_string()))?;
            }
        }
        let digest = digest(&bytes);
        let engine = self.engine.clone();
        // Compilation is CPU-bound and can take seconds: keep it off the async workers.
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &bytes))
            .await
            .map_err(|e| fail(format!("compile task failed: {e}")))?
            .map_err(|e| fail(format!("not a valid component: {e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("cannot link: {e:#}")))?;
        let proxy = ProxyPre::new(pre.clone()).ok();
        let exports = Exports {
            authenticator: authenticator::GuestIndices::new(&pre).ok(),
            order_handling: order_handling::GuestIndices::new(&pre).ok(),
            generator: generator::GuestIndices::new(&pre).ok(),
            indicator: indicator::GuestIndices::new(&pre).ok(),
        };
        let variables = Variables::resolve(&decl.variables, &self.manifest.variables, |k| {
            std::env::var(k).ok()
        });
        let context = Arc::new(ComponentContext {
            name: name.to_string(),
            key_value_stores: decl.key_value_stores.clone(),
            sqlite_databases: decl.sqlite_databases.clone(),
            variables,
        });
        Ok(Arc::new(LoadedComponent {
            name: name.to_string(),
            world,
            digest,
            source,
            load_ms: started.elapsed().as_millis() as u64,
            context,
            pre,
            proxy,
            exports,
        }))
    }

    /// What is loaded and what failed.
    pub fn components(&self) -> Vec<ComponentInfo> {
        self.read()
            .values()
            .map(|entry| match entry {
                Ok(c) => ComponentInfo {
                    name: c.name.clone(),
                    status: "loaded",
                    world: c.world.clone(),
                    digest: Some(c.digest.clone()),
                    source: c.source.clone(),
                    http: c.proxy.is_some(),
                    error: None,
                },
                Err(f) => ComponentInfo {
                    name: f.name.clone(),
                    status: "failed",
                    world: self
                        .manifest
                        .components
                        .get(&f.name)
                        .and_then(|d| d.tool.bourse.world.clone()),
                    digest: None,
                    source: f.source.clone(),
                    http: false,
                    error: Some(f.error.clone()),
                },
            })
            .collect()
    }

    /// The loaded component `name`.
    pub fn component(&self, name: &str) -> Result<Arc<LoadedComponent>, CallError> {
        match self.read().get(name) {
            Some(Ok(c)) => Ok(c.clone()),
            Some(Err(f)) => Err(CallError::Unavailable {
                name: name.to_string(),
                reason: f.error.clone(),
            }),
            None => Err(CallError::UnknownComponent(name.to_string())),
        }
    }

    fn store(&self, component: &LoadedComponent) -> Store<HostState> {
        let state = HostState::new(
            component.context.clone(),
            self.platform.clone(),
            self.memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (self.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    fn classify(&self, name: &str, error: wasmtime::Error) -> CallError {
        if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            return CallError::Timeout {
                name: name.to_string(),
                timeout_ms: self.timeout.as_millis() as u64,
            };
        }
        CallError::Trap {
            name: name.to_string(),
            message: format!("{error:#}")
                .lines()
                .next()
                .unwrap_or("trap")
                .to_string(),
        }
    }

    /// Serves one HTTP request with component `name`'s `wasi:http/incoming-handler`.
    pub async fn handle_http<B>(
        &self,
        name: &str,
        request: hyper::Request<B>,
    ) -> Result<hyper::Response<HyperOutgoingBody>, CallError>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let component = self.component(name)?;
        let proxy = component
            .proxy
            .clone()
            .ok_or_else(|| CallError::MissingExport {
                name: name.to_string(),
                export: "wasi:http/incoming-handler",
            })?;
        let mut store = self.store(&component);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = (|| {
            let req = store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, request)?;
            let out = store.data_mut().http().new_response_outparam(sender)?;
            Ok::<_, wasmtime::Error>((req, out))
        })();
        let (req, out) = prepared.map_err(|e| self.classify(name, e))?;
        // The guest keeps running after it sets the response (it streams the body), so it runs
        // in its own task.
        let task = tokio::task::spawn(async move {
            let proxy = proxy.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(CallError::Trap {
                name: name.to_string(),
                message: format!("component answered with error code {code:?}"),
            }),
            Err(_) => Err(match task.await {
                Ok(Ok(())) => CallError::Trap {
                    name: name.to_string(),
                    message: "component returned without setting a response".into(),
                },
                Ok(Err(e)) => self.classify(name, e),
                Err(e) => CallError::Trap {
                    name: name.to_string(),
                    message: format!("component task failed: {e}"),
                },
            }),
        }
    }

    /// Calls `authenticate` on component `name`.
    pub async fn authenticate(
        &self,
        name: &str,
        headers: Vec<(String, String)>,
    ) -> Result<Result<Principal, authenticator::AuthError>, CallError> {
        let component = self.component(name)?;
        let indices =
            component
                .exports
                .authenticator
                .clone()
                .ok_or_else(|| CallError::MissingExport {
                    name: name.to_string(),
                    export: "bourse:platform/authenticator",
                })?;
        let mut store = self.store(&component);
        let result = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            guest.call_authenticate(&mut store, &headers).await
        }
        .await;
        result.map_err(|e| self.classify(name, e))
    }

    /// Calls `handle` on order-handler component `name`.
    pub async fn place_order(
        &self,
        name: &str,
        principal: &Principal,
        order: &order_handling::NewOrder,
    ) -> Result<Result<OrderResult, order_handling::OrderError>, CallError> {
        let component = self.component(name)?;
        let indices =
            component
                .exports
                .order_handling
                .clone()
                .ok_or_else(|| CallError::MissingExport {
                    name: name.to_string(),
                    export: "bourse:platform/order-handling",
                })?;
        let mut store = self.store(&component);
        let result = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            guest.call_handle(&mut store, principal, order).await
        }
        .await;
        result.map_err(|e| self.classify(name, e))
    }

    /// Calls `compute` on signals component `name`.
    pub async fn compute_signal(
        &self,
        name: &str,
        input: &indicator::RatioInput,
    ) -> Result<Result<indicator::SignalValue, indicator::SignalError>, CallError> {
        let component = self.component(name)?;
        let indices =
            component
                .exports
                .indicator
                .clone()
                .ok_or_else(|| CallError::MissingExport {
                    name: name.to_string(),
                    export: "bourse:platform/indicator",
                })?;
        let mut store = self.store(&component);
        let result = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            guest.call_compute(&mut store, input).await
        }
        .await;
        result.map_err(|e| self.classify(name, e))
    }

    /// Starts a generator session on simulation component `name`: one instance that keeps its
    /// state across `next-batch` calls.
    pub async fn start_simulation(
        &self,
        name: &str,
        scenario: &generator::Scenario,
    ) -> Result<Result<Simulation<'_>, String>, CallError> {
        let component = self.component(name)?;
        let indices =
            component
                .exports
                .generator
                .clone()
                .ok_or_else(|| CallError::MissingExport {
                    name: name.to_string(),
                    export: "bourse:platform/generator",
                })?;
        let mut store = self.store(&component);
        let result = async {
            let instance = component.pre.instantiate_async(&mut store).await?;
            let guest = indices.load(&mut store, &instance)?;
            let started = guest.call_start(&mut store, scenario).await?;
            Ok::<_, wasmtime::Error>((guest, started))
        }
        .await;
        match result {
            Ok((guest, Ok(()))) => Ok(Ok(Simulation {
                runtime: self,
                name: name.to_string(),
                store,
                guest,
            })),
            Ok((_, Err(message))) => Ok(Err(message)),
            Err(e) => Err(self.classify(name, e)),
        }
    }
}

/// A running generator instance.
pub struct Simulation<'a> {
    runtime: &'a Runtime,
    name: String,
    store: Store<HostState>,
    guest: generator::Guest,
}

impl Simulation<'_> {
    /// The next at most `max` orders.
    pub async fn next_batch(&mut self, max: u32) -> Result<Vec<OrderRequest>, CallError> {
        // Each batch gets a fresh deadline: the session as a whole may run long.
        let ticks = (self.runtime.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        self.store.set_epoch_deadline(ticks);
        self.guest
            .call_next_batch(&mut self.store, max)
            .await
            .map_err(|e| self.runtime.classify(&self.name, e))
    }
}

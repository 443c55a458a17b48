//! The component runtime: compiles and links the manifest's components, keeps the registry
//! of what is live (or why not), swaps versions in and out, and runs calls into components
//! with deadlines, memory caps and concurrency limits.
//!
//! The runtime knows capabilities only through [`crate::capabilities`]: it links the list
//! [`capabilities::link`] gives, builds each version's [`Capabilities`] from its manifest
//! entry at load, and every store comes from one constructor, `new_store`.

pub mod componentize;
pub mod compose;
pub mod contract;
pub mod description;
mod engine;
mod guest_log;
mod http;
mod shared;
mod smoke;
mod state;
pub mod unhosted;
mod versions;
mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Engine, Store};

pub use engine::EPOCH_TICK;
pub use http::{ComponentBody, DEFAULT_IDLE_INSTANCE_TIMEOUT_MS, Reuse};
pub use state::{HostState, Platform};
pub use versions::{
    DeployError, DeployReport, HistoryEntry, MAX_COMPONENT_BYTES, VersionInfo, precompile,
};
pub use watch::Watcher;

use crate::capabilities::{self, Capabilities, Services};
use crate::manifest::Manifest;

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
    /// The host is above its memory bound and refuses new simulation work.
    #[error("{0}")]
    Overloaded(String),
    /// Every allowed instance is busy.
    #[error("component {name} is at its limit of {limit} concurrent instances")]
    Busy { name: String, limit: u32 },
}

/// Why a component has no live version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadFailure {
    /// Component id.
    pub name: String,
    /// The `.wasm` path.
    pub source: PathBuf,
    /// What went wrong.
    pub error: String,
}

/// Per-component resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Limits {
    /// Linear-memory cap per instance, bytes.
    pub memory_bytes: usize,
    /// Deadline of one call.
    pub timeout_ms: u64,
    /// Most instances at once.
    pub max_concurrency: u32,
    /// Most HTTP requests at once, when the manifest sets it (each also takes an instance
    /// permit); requests past it queue up to the deadline instead of getting `Busy` at 2 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_concurrency: Option<u32>,
    /// How its instances are reused for HTTP requests.
    pub reuse: Reuse,
}

/// Default for `max_concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 256;

/// A compiled, linked, checked component version ready to instantiate.
pub struct LoadedComponent {
    /// Component id.
    pub name: String,
    /// The world it was checked against, if the manifest names one.
    pub world: Option<String>,
    /// `sha256:<hex>` of the `.wasm`.
    pub digest: String,
    /// Where the bytes came from (a path, or `upload`).
    pub source: PathBuf,
    /// Size of the `.wasm`.
    pub size: usize,
    /// Its limits.
    pub limits: Limits,
    /// Its capabilities, grants checked; each instance gets a clone.
    capabilities: Capabilities,
    pre: InstancePre<HostState>,
    /// Its HTTP requests' handler, when it exports `wasi:http/incoming-handler`.
    http: Option<http::Handler>,
    /// The OpenAPI description of its routes it carries, if any.
    pub openapi: Option<Arc<serde_json::Value>>,
    permits: Arc<tokio::sync::Semaphore>,
    http_permits: Option<Arc<tokio::sync::Semaphore>>,
}

/// Public description of a component, for `/api/components`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ComponentInfo {
    /// Component id.
    pub name: String,
    /// `loaded` or `failed`.
    #[schema(value_type = String, examples("loaded", "failed"))]
    pub status: &'static str,
    /// The world it was checked against.
    pub world: Option<String>,
    /// The live version's `sha256:<hex>`.
    pub digest: Option<String>,
    /// Where its `.wasm` came from.
    #[schema(value_type = String)]
    pub source: PathBuf,
    /// Whether it serves HTTP requests.
    pub http: bool,
    /// Its limits (loaded components).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Why it failed to load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One component's registry entry.
struct Slot {
    live: Result<Arc<LoadedComponent>, LoadFailure>,
    /// Retained versions, newest first (the live one included).
    versions: Vec<VersionInfo>,
}

/// Runtime settings that come from the environment.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Default deadline of one call.
    pub timeout: Duration,
    /// Default linear-memory cap in MiB.
    pub memory_mb: u64,
    /// Where versions and compiled artifacts are kept.
    pub data_dir: PathBuf,
    /// How many versions of each component are kept for rollback.
    pub retain_versions: usize,
    /// What this instance runs: components whose roles do not include it are not loaded.
    pub role: crate::config::Role,
    /// Resident memory above which new simulation work is refused (None: no bound).
    pub memory_limit_bytes: Option<u64>,
    /// Run as Spin would: only Spin's platform interfaces are linked, and each component's
    /// declared dependencies are composed into it.
    pub spin_compat: bool,
}

/// The runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    platform: Arc<Platform>,
    /// The capabilities' handles on `platform`'s services.
    services: Services,
    manifest: Manifest,
    config: RuntimeConfig,
    components: RwLock<BTreeMap<String, Slot>>,
    /// One deploy at a time per host: versions and audit stay in order.
    deploy_lock: tokio::sync::Mutex<()>,
    /// Digest of each component's file as this replica last read it (see [`shared`]).
    bases: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Shared versions this replica refused.
    refused: shared::Refused,
}

impl Runtime {
    /// An engine and linker for `manifest`; components are loaded by [`Runtime::load_all`].
    pub fn new(
        manifest: Manifest,
        platform: Arc<Platform>,
        config: RuntimeConfig,
    ) -> wasmtime::Result<Runtime> {
        let engine = engine_for(&manifest, &config)?;
        let mut linker = Linker::<HostState>::new(&engine);
        let set = if config.spin_compat {
            capabilities::Set::Spin
        } else {
            capabilities::Set::Bourse
        };
        capabilities::link(&mut linker, set)?;
        Ok(Runtime {
            engine,
            linker,
            services: platform.services(),
            platform,
            manifest,
            config,
            components: RwLock::new(BTreeMap::new()),
            deploy_lock: tokio::sync::Mutex::new(()),
            bases: Default::default(),
            refused: Default::default(),
        })
    }

    /// Whether this runtime runs the manifest as Spin would.
    pub fn spin_compat(&self) -> bool {
        self.config.spin_compat
    }

    /// Whether HTTP requests are served as Spin serves them (`--spin-compat`, or a plain Spin
    /// application): no platform headers, Spin's own answers where no component answers.
    pub fn spin_dialect(&self) -> bool {
        self.config.spin_compat || self.manifest.is_spin_app()
    }

    /// The manifest being served.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Shared platform services.
    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Slot>> {
        // Slots are replaced whole, so a panic elsewhere cannot leave one half-written.
        self.components
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Slot>> {
        self.components
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The roles that run component `name`.
    pub fn roles_of(&self, name: &str) -> Vec<String> {
        self.manifest
            .components
            .get(name)
            .map(|c| c.tool.bourse.roles())
            .unwrap_or_default()
    }

    /// Whether this instance runs a component with `roles`.
    pub fn runs_roles(&self, roles: &[String]) -> bool {
        self.config.role == crate::config::Role::All
            || roles.iter().any(|r| r == self.config.role.as_str())
    }

    /// Whether this instance runs component `name`.
    pub fn runs(&self, name: &str) -> bool {
        self.runs_roles(&self.roles_of(name))
    }

    /// Refuses new simulation work while resident memory is above the configured bound.
    pub fn check_memory(&self) -> Result<(), CallError> {
        let Some(limit) = self.config.memory_limit_bytes else {
            return Ok(());
        };
        let rss = crate::telemetry::resident_bytes();
        if rss > limit {
            metrics::counter!("simulation_refused_total", "reason" => "memory").increment(1);
            return Err(CallError::Overloaded(format!(
                "this instance uses {} MB, above its bound of {} MB; new simulation work is refused until it drops",
                rss >> 20,
                limit >> 20
            )));
        }
        Ok(())
    }

    /// The limits of component `name` from its manifest entry and the defaults.
    pub fn limits(&self, name: &str) -> Limits {
        let tool = self
            .manifest
            .components
            .get(name)
            .map(|c| c.tool.bourse.clone())
            .unwrap_or_default();
        let max_concurrency = tool
            .max_concurrency
            .unwrap_or(DEFAULT_MAX_CONCURRENCY)
            .max(1);
        Limits {
            memory_bytes: (tool.memory_mb.unwrap_or(self.config.memory_mb) as usize) << 20,
            timeout_ms: tool
                .timeout_ms
                .unwrap_or(self.config.timeout.as_millis() as u64),
            max_concurrency,
            http_concurrency: tool.http_concurrency.map(|n| n.clamp(1, max_concurrency)),
            // Spin serves each request with a fresh instance unless its command line says
            // otherwise, and components written for it may rely on that.
            reuse: if self.config.spin_compat {
                Reuse::default()
            } else {
                Reuse {
                    requests: tool.instance_reuse.unwrap_or(1).max(1),
                    concurrent: tool.instance_reuse_concurrency.unwrap_or(1).max(1),
                    idle_timeout_ms: tool
                        .idle_instance_timeout_ms
                        .unwrap_or(DEFAULT_IDLE_INSTANCE_TIMEOUT_MS),
                }
            },
        }
    }

    /// What is live and what failed.
    pub fn components(&self) -> Vec<ComponentInfo> {
        self.read()
            .values()
            .map(|slot| match &slot.live {
                Ok(c) => ComponentInfo {
                    name: c.name.clone(),
                    status: "loaded",
                    world: c.world.clone(),
                    digest: Some(c.digest.clone()),
                    source: c.source.clone(),
                    http: c.http.is_some(),
                    limits: Some(c.limits),
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
                    limits: None,
                    error: Some(f.error.clone()),
                },
            })
            .collect()
    }

    /// Each live component's id and digest, and the OpenAPI description it carries.
    pub fn live_descriptions(&self) -> Vec<(String, String, Option<Arc<serde_json::Value>>)> {
        self.read()
            .values()
            .filter_map(|slot| slot.live.as_ref().ok())
            .map(|c| (c.name.clone(), c.digest.clone(), c.openapi.clone()))
            .collect()
    }

    /// The live version of component `name`.
    pub fn component(&self, name: &str) -> Result<Arc<LoadedComponent>, CallError> {
        match self.read().get(name).map(|s| &s.live) {
            Some(Ok(c)) => Ok(c.clone()),
            Some(Err(f)) => Err(CallError::Unavailable {
                name: name.to_string(),
                reason: f.error.clone(),
            }),
            None => Err(CallError::UnknownComponent(name.to_string())),
        }
    }

    /// A permit of `permits`, waited for at most `wait`; `Busy` after that.
    async fn wait_for(
        component: &LoadedComponent,
        permits: &Arc<tokio::sync::Semaphore>,
        limit: u32,
        wait: Duration,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, CallError> {
        match tokio::time::timeout(wait, permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("component_calls_total", "component" => component.name.clone(), "outcome" => "busy").increment(1);
                Err(CallError::Busy {
                    name: component.name.clone(),
                    limit,
                })
            }
        }
    }

    fn classify(component: &LoadedComponent, error: wasmtime::Error) -> CallError {
        let error = Self::classify_inner(component, error);
        let outcome = match &error {
            CallError::Timeout { .. } => "timeout",
            _ => "trap",
        };
        metrics::counter!("component_calls_total", "component" => component.name.clone(), "outcome" => outcome).increment(1);
        if let CallError::Trap { message, .. } = &error {
            tracing::warn!(component = %component.name, digest = %component.digest, %message, "component trapped");
        }
        error
    }

    fn classify_inner(component: &LoadedComponent, error: wasmtime::Error) -> CallError {
        if is_interrupt(&error) {
            return CallError::Timeout {
                name: component.name.clone(),
                timeout_ms: component.limits.timeout_ms,
            };
        }
        CallError::Trap {
            name: component.name.clone(),
            message: format!("{error:#}")
                .lines()
                .next()
                .unwrap_or("trap")
                .to_string(),
        }
    }
}

/// The engine for `manifest`: the pool's slots must fit the largest per-component memory cap.
/// Precompiled artifacts are only valid for an engine built the same way.
fn engine_for(manifest: &Manifest, config: &RuntimeConfig) -> wasmtime::Result<Engine> {
    let largest = manifest
        .components
        .values()
        .filter_map(|c| c.tool.bourse.memory_mb)
        .chain([config.memory_mb])
        .max()
        .unwrap_or(config.memory_mb);
    engine::build(largest)
}

/// The one store constructor: HTTP requests, typed calls and simulations each get a store of
/// `component`'s engine with its own copy of the component's capabilities, its memory cap and
/// its call deadline. Guest output is tagged with `request_id`.
fn new_store(component: &LoadedComponent, request_id: &str) -> Store<HostState> {
    let state = HostState::new(
        &component.name,
        &component.capabilities,
        component.limits.memory_bytes,
        request_id,
    );
    let mut store = Store::new(component.pre.engine(), state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(deadline_ticks(component.limits.timeout_ms));
    store.epoch_deadline_trap();
    store
}

/// Whether `error` is the epoch deadline stopping the guest.
fn is_interrupt(error: &wasmtime::Error) -> bool {
    matches!(
        error.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    )
}

fn deadline_ticks(timeout_ms: u64) -> u64 {
    (timeout_ms / EPOCH_TICK.as_millis() as u64).max(1)
}

/// How long an [`Instance`] lives, which decides what bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// One call and done: it holds one of the component's instance permits.
    Call,
    /// A session that calls the instance many times (a simulation's generator): its owner
    /// bounds sessions, and checks [`Runtime::check_memory`] before it starts one.
    Session,
}

/// A fresh instance of one component version. It keeps that version while it lives, even
/// if a newer one goes live meanwhile.
pub struct Instance {
    store: Store<HostState>,
    instance: wasmtime::component::Instance,
    component: Arc<LoadedComponent>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Instance {
    /// The store and the instance, to load a world's exports from and call them with.
    pub fn parts(&mut self) -> (&mut Store<HostState>, &wasmtime::component::Instance) {
        (&mut self.store, &self.instance)
    }

    /// A fresh deadline for the next call: a session as a whole may run long, each call
    /// may not.
    pub fn renew_deadline(&mut self) {
        self.store
            .set_epoch_deadline(deadline_ticks(self.component.limits.timeout_ms));
    }

    /// What a failed call on this instance means to its caller (a trap, a timeout), counted
    /// and logged as every component failure is.
    pub fn classify(&self, error: wasmtime::Error) -> CallError {
        Runtime::classify(&self.component, error)
    }
}

impl LoadedComponent {
    /// The compiled, linked component, to look a world's exports up in.
    pub fn pre(&self) -> &InstancePre<HostState> {
        &self.pre
    }

    /// A fresh instance of this version under its limits, its output tagged `tag`.
    pub async fn instantiate(
        self: &Arc<Self>,
        tag: &str,
        hold: Hold,
    ) -> Result<Instance, CallError> {
        let permit = match hold {
            Hold::Call => Some(self.permit().await?),
            Hold::Session => None,
        };
        metrics::counter!("component_instantiations_total", "component" => self.name.clone())
            .increment(1);
        let mut store = new_store(self, tag);
        match self.pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok(Instance {
                store,
                instance,
                component: self.clone(),
                _permit: permit,
            }),
            Err(e) => Err(Runtime::classify(self, e)),
        }
    }

    /// Waits briefly for an instance permit: a burst queues, a flood gets 503.
    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, CallError> {
        Runtime::wait_for(
            self,
            &self.permits,
            self.limits.max_concurrency,
            Duration::from_secs(2),
        )
        .await
    }
}

impl Drop for LoadedComponent {
    /// The version is out of the registry and no call holds it: its idle HTTP instances go.
    fn drop(&mut self) {
        if let Some(handler) = &self.http {
            handler.state().retire();
        }
    }
}

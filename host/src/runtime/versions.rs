//! Versions and hot swap. Every way a component version goes live — start-up, the file
//! watcher, an upload, a rollback — runs one pipeline: check the bytes, check the contract,
//! compile (or load the cached artifact) off the async workers, link, run the smoke cases,
//! then swap the live `Arc` under a short write lock. Calls already running hold the old
//! `Arc` and finish on it; the next call gets the new one. Any failed step leaves the live
//! version as it was. Every attempt is audited in SQL and published on the `components` room.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{CallError, LoadFailure, LoadedComponent, Runtime, Slot};
use crate::capabilities::{Capabilities, Declared, GrantError};
use crate::manifest::Manifest;
use crate::runtime::RuntimeConfig;

/// Largest component accepted (uploads are refused above this with 413).
pub const MAX_COMPONENT_BYTES: usize = 50 << 20;

/// A retained version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: usize,
    /// When it was first deployed (ms since the epoch).
    pub deployed_at_ms: i64,
}

/// A successful deploy.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeployReport {
    /// Component id.
    pub component: String,
    /// The digest now live.
    pub digest: String,
    /// The digest it replaced.
    pub previous: Option<String>,
    /// Whether it had to be compiled (false: loaded from the artifact cache).
    pub compiled: bool,
    /// Milliseconds from bytes received to live.
    pub duration_ms: u64,
}

/// One audit row: a deploy, a rollback or a refusal.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Component id.
    pub component: String,
    /// The version's `sha256:<hex>`.
    pub digest: String,
    /// Who: the principal, `operator` for ADMIN_TOKEN, `host` for startup and the watcher.
    pub actor: String,
    /// How it came: `upload`, `rollback`, `watch`, `startup`, ...
    pub via: String,
    /// `live`, or why it was refused.
    pub outcome: String,
    /// What the refusal said, or what changed.
    pub detail: String,
    /// Milliseconds from bytes received to live (or refused).
    pub duration_ms: i64,
    /// When (ms since the epoch).
    pub at_ms: i64,
}

/// Why a version was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No component of that name in the manifest.
    #[error("no component named {0:?} in the manifest")]
    UnknownComponent(String),
    /// Over [`MAX_COMPONENT_BYTES`].
    #[error("component is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly binary (it does not start with \\0asm)")]
    NotWasm,
    /// A core module that cannot be made into a component.
    #[error("{0}")]
    CoreModule(super::componentize::ComponentizeError),
    /// Does not honour its world.
    #[error("{0}")]
    Contract(String),
    /// Carries an OpenAPI description that is not one.
    #[error("{0}")]
    Description(#[from] super::description::SectionError),
    /// Wasmtime refused to compile it.
    #[error("does not compile: {0}")]
    Compile(String),
    /// It imports something the host does not provide.
    #[error("cannot be linked: {0}")]
    Link(String),
    /// It traps or misbehaves on its smoke cases.
    #[error("failed its smoke check: {0}")]
    Smoke(String),
    /// Rollback to a digest that is not retained.
    #[error("component {component} has no retained version {digest}")]
    UnknownVersion { component: String, digest: String },
    /// The version store on disk failed.
    #[error("version store: {0}")]
    Storage(String),
    /// Its `allowed_outbound_hosts` do not resolve to valid destinations.
    #[error("allowed_outbound_hosts: {0}")]
    Outbound(String),
    /// The database that shares versions between replicas could not record it, so it was
    /// not put live anywhere.
    #[error("the shared version store is unavailable, so the version was not put live: {0}")]
    Unavailable(String),
}

impl DeployError {
    /// Machine-readable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            DeployError::UnknownComponent(_) => "unknown_component",
            DeployError::TooLarge { .. } => "component_too_large",
            DeployError::NotWasm => "not_wasm",
            DeployError::CoreModule(_) => "core_module",
            DeployError::Contract(_) => "contract_mismatch",
            DeployError::Description(_) => "invalid_description",
            DeployError::Compile(_) => "compile_failed",
            DeployError::Link(_) => "link_failed",
            DeployError::Smoke(_) => "smoke_failed",
            DeployError::UnknownVersion { .. } => "unknown_version",
            DeployError::Storage(_) => "storage_failed",
            DeployError::Outbound(_) => "invalid_outbound_hosts",
            DeployError::Unavailable(_) => "version_store_unavailable",
        }
    }
}

impl From<GrantError> for DeployError {
    fn from(e: GrantError) -> DeployError {
        match e {
            GrantError::Outbound(m) => DeployError::Outbound(m),
        }
    }
}

fn artifact_path(engine: &Engine, data_dir: &Path, digest: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    data_dir
        .join("artifacts")
        .join(format!("{}-{:016x}.cwasm", hex_of(digest), hasher.finish()))
}

/// Compiles `bytes`, or loads the artifact compiled earlier for the same digest and the same
/// engine (its compatibility hash is in the file name); returns whether it compiled.
async fn compile_cached(
    engine: &Engine,
    data_dir: &Path,
    bytes: Arc<Vec<u8>>,
    digest: &str,
) -> Result<(Component, bool), DeployError> {
    let artifact = artifact_path(engine, data_dir, digest);
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || {
        if artifact.is_file() {
            // SAFETY: the artifact was written by this host from `Component::serialize` for
            // this digest, and its name includes the engine's compatibility hash.
            match unsafe { Component::deserialize_file(&engine, &artifact) } {
                Ok(component) => return Ok((component, false)),
                Err(e) => tracing::warn!(artifact = %artifact.display(), error = %e, "stale artifact, recompiling"),
            }
        }
        let component = Component::new(&engine, bytes.as_slice()).map_err(|e| DeployError::Compile(format!("{e:#}")))?;
        if let Some(dir) = artifact.parent() {
            let written = std::fs::create_dir_all(dir).and_then(|()| {
                let serialized = component.serialize().map_err(std::io::Error::other)?;
                let tmp = artifact.with_extension("tmp");
                std::fs::write(&tmp, serialized)?;
                std::fs::rename(&tmp, &artifact)
            });
            if let Err(e) = written {
                tracing::warn!(artifact = %artifact.display(), error = %e, "could not cache the compiled artifact");
            }
        }
        Ok((component, true))
    })
    .await
    .map_err(|e| DeployError::Compile(format!("compile task failed: {e}")))?
}

/// Compiles every component of `manifest` into the artifact cache under `config.data_dir`
/// without starting a host (for images: the first start then loads without compiling).
/// Returns, per component, its digest and whether it was compiled now, or why not.
pub async fn precompile(
    manifest: &Manifest,
    config: &RuntimeConfig,
) -> Vec<(String, Result<(String, bool), String>)> {
    let engine = match super::engine_for(manifest, config) {
        Ok(e) => e,
        Err(e) => return vec![("*".into(), Err(format!("engine: {e:#}")))],
    };
    let mut out = Vec::new();
    for (name, decl) in &manifest.components {
        let source = manifest.resolve(&decl.source);
        let result = match tokio::fs::read(&source).await {
            Ok(bytes) => {
                let digest = digest(&bytes);
                compile_cached(&engine, &config.data_dir, Arc::new(bytes), &digest)
                    .await
                    .map(|(_, compiled)| (digest, compiled))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("cannot read {}: {e}", source.display())),
        };
        out.push((name.clone(), result));
    }
    out
}

/// One audit record.
struct Audit<'a> {
    name: &'a str,
    digest: &'a str,
    actor: &'a str,
    via: &'a str,
    outcome: &'a str,
    detail: &'a str,
    duration_ms: i64,
}

pub(super) fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Checks the binary header, and makes a core module a component as Spin would (see
/// `componentize`).
fn as_component(bytes: Arc<Vec<u8>>) -> Result<Arc<Vec<u8>>, DeployError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(DeployError::NotWasm);
    }
    if !super::componentize::is_core_module(&bytes) {
        return Ok(bytes);
    }
    super::componentize::componentize(&bytes)
        .map(Arc::new)
        .map_err(DeployError::CoreModule)
}

impl Runtime {
    fn versions_dir(&self, name: &str) -> PathBuf {
        self.config.data_dir.join("versions").join(name)
    }

    /// Compiles `bytes`, or loads the artifact compiled earlier for the same digest and the
    /// same engine; returns whether it compiled.
    async fn compile(
        &self,
        bytes: Arc<Vec<u8>>,
        digest: &str,
    ) -> Result<(Component, bool), DeployError> {
        compile_cached(&self.engine, &self.config.data_dir, bytes, digest).await
    }

    /// Everything up to, not including, the swap.
    async fn prepare(
        &self,
        name: &str,
        bytes: Arc<Vec<u8>>,
        digest: &str,
        source: &Path,
    ) -> Result<(Arc<LoadedComponent>, bool), DeployError> {
        let decl = self
            .manifest
            .components
            .get(name)
            .ok_or_else(|| DeployError::UnknownComponent(name.to_string()))?;
        if bytes.len() > MAX_COMPONENT_BYTES {
            return Err(DeployError::TooLarge {
                size: bytes.len(),
                limit: MAX_COMPONENT_BYTES,
            });
        }
        let uploaded = bytes.clone();
        let bytes = as_component(bytes)?;
        // The compiled artifact is keyed by what compiles: a module's component, not the module.
        let digest_of_component = if Arc::ptr_eq(&uploaded, &bytes) {
            digest.to_string()
        } else {
            self::digest(&bytes)
        };
        let world = decl.tool.bourse.world.clone();
        // A component that names a world is checked against it or refused: a missing WIT
        // directory is an error, never a reason to load it unchecked.
        if let Some(world) = &world {
            super::contract::check(&bytes, &self.manifest.wit_dir_of(decl), world)
                .map_err(|e| DeployError::Contract(e.to_string()))?;
        }
        // Spin composes a component's declared dependencies into it; so does this mode. The
        // compiled artifact is keyed by the composition, so a changed dependency recompiles.
        let (bytes, compile_digest) = if self.config.spin_compat && !decl.dependencies.is_empty() {
            let dependencies = super::compose::dependencies(&self.manifest, decl)
                .map_err(|e| DeployError::Link(e.to_string()))?;
            let composed = super::compose::compose(&bytes, &dependencies)
                .map_err(|e| DeployError::Link(e.to_string()))?;
            let composed_digest = self::digest(&composed);
            (Arc::new(composed), composed_digest)
        } else {
            (bytes, digest_of_component)
        };
        let (component, compiled) = self.compile(bytes.clone(), &compile_digest).await?;
        // After the compile, which is what names a malformed binary.
        let openapi = super::description::section(&bytes)?.map(Arc::new);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| DeployError::Link(format!("{e:#}")))?;
        let capabilities = Capabilities::grant(
            &Declared {
                name,
                decl,
                manifest: &self.manifest,
                env: |k| std::env::var(k).ok(),
            },
            &self.services,
        )?;
        let limits = self.limits(name);
        let loaded = Arc::new_cyclic(|version| LoadedComponent {
            name: name.to_string(),
            world,
            digest: digest.to_string(),
            source: source.to_path_buf(),
            size: bytes.len(),
            limits,
            capabilities,
            http: super::http::handler(version.clone(), &pre),
            openapi,
            pre,
            permits: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrency as usize)),
            http_permits: limits
                .http_concurrency
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize))),
        });
        self.smoke(&loaded).await.map_err(DeployError::Smoke)?;
        Ok((loaded, compiled))
    }

    /// Loads every component of the manifest from its source path; a failure is recorded
    /// against that component and the others still load. Returns the failures.
    pub async fn load_all(&self) -> Vec<LoadFailure> {
        let mut failures = Vec::new();
        for (name, decl) in &self.manifest.components {
            if !self.runs(name) {
                continue;
            }
            let source = self.manifest.resolve(&decl.source);
            let outcome = match tokio::fs::read(&source).await {
                Ok(bytes) => {
                    self.set_base(name, &digest(&bytes));
                    self.deploy_inner(name, Arc::new(bytes), &source, "host", "startup")
                        .await
                        .map(|_| ())
                }
                Err(e) => {
                    let error = match e.kind() {
                        std::io::ErrorKind::NotFound => format!(
                            "component file {} does not exist (run `bourse build` first)",
                            source.display()
                        ),
                        _ => format!("cannot read {}: {e}", source.display()),
                    };
                    self.record(Audit {
                        name,
                        digest: "",
                        actor: "host",
                        via: "startup",
                        outcome: "failed",
                        detail: &error,
                        duration_ms: 0,
                    })
                    .await;
                    Err(DeployError::Storage(error))
                }
            };
            if let Err(e) = outcome {
                let failure = LoadFailure {
                    name: name.clone(),
                    source: source.clone(),
                    error: match &e {
                        DeployError::Storage(m) => m.clone(),
                        other => other.to_string(),
                    },
                };
                tracing::error!(component = %name, error = %failure.error, "component failed to load");
                let mut components = self.write();
                let versions = components
                    .get(name)
                    .map(|s| s.versions.clone())
                    .unwrap_or_default();
                components.insert(
                    name.clone(),
                    Slot {
                        live: Err(failure.clone()),
                        versions,
                    },
                );
                failures.push(failure);
            }
        }
        failures
    }

    /// Puts `bytes` live as component `name`, on behalf of `actor`, arriving `via` a path.
    pub async fn deploy(
        &self,
        name: &str,
        bytes: Vec<u8>,
        actor: &str,
        via: &str,
    ) -> Result<DeployReport, DeployError> {
        if via == "watch" {
            // The file changed: this replica's base for shared versions is the new file.
            self.set_base(name, &digest(&bytes));
        }
        self.deploy_inner(name, Arc::new(bytes), Path::new(via), actor, via)
            .await
    }

    pub(super) async fn deploy_inner(
        &self,
        name: &str,
        bytes: Arc<Vec<u8>>,
        source: &Path,
        actor: &str,
        via: &str,
    ) -> Result<DeployReport, DeployError> {
        let _one_at_a_time = self.deploy_lock.lock().await;
        let started = Instant::now();
        let digest = digest(&bytes);
        let live = self.component(name).ok().map(|c| c.digest.clone());
        if via == "cluster" && live.as_deref() == Some(digest.as_str()) {
            // Put live here by the deploy that shared it, while this one waited for the lock.
            return Ok(DeployReport {
                component: name.to_string(),
                digest,
                previous: live,
                compiled: false,
                duration_ms: 0,
            });
        }
        let prepared = self.prepare(name, bytes.clone(), &digest, source).await;
        let elapsed = started.elapsed().as_millis() as i64;
        let (loaded, compiled) = match prepared {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(component = %name, %digest, %actor, %via, error = %e, "version refused");
                return Err(self.refused(name, &digest, actor, via, e, elapsed).await);
            }
        };
        self.retain_bytes(name, &digest, &bytes)?;
        if super::shared::is_shared(via)
            && let Err(e) = self.share(name, &digest, &bytes).await
        {
            tracing::warn!(component = %name, %digest, error = %e, "version not shared; not put live");
            let elapsed = started.elapsed().as_millis() as i64;
            return Err(self.refused(name, &digest, actor, via, e, elapsed).await);
        }
        let previous = {
            let mut components = self.write();
            let slot = components.entry(name.to_string()).or_insert_with(|| Slot {
                live: Err(LoadFailure {
                    name: name.to_string(),
                    source: PathBuf::new(),
                    error: "not loaded".into(),
                }),
                versions: Vec::new(),
            });
            let previous = slot.live.as_ref().ok().map(|c| c.digest.clone());
            slot.live = Ok(loaded);
            let deployed_at_ms = slot
                .versions
                .iter()
                .find(|v| v.digest == digest)
                .map_or_else(now_ms, |v| v.deployed_at_ms);
            slot.versions.retain(|v| v.digest != digest);
            slot.versions.insert(
                0,
                VersionInfo {
                    digest: digest.clone(),
                    size: bytes.len(),
                    deployed_at_ms,
                },
            );
            let evicted: Vec<VersionInfo> = slot
                .versions
                .split_off(slot.versions.len().min(self.config.retain_versions.max(1)));
            for v in evicted {
                let _ = std::fs::remove_file(
                    self.versions_dir(name)
                        .join(format!("{}.wasm", hex_of(&v.digest))),
                );
            }
            previous
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let detail = match &previous {
            Some(p) if *p == digest => "already live".to_string(),
            Some(p) => format!("replaced {p}"),
            None => "first version".to_string(),
        };
        tracing::info!(component = %name, %digest, %actor, %via, compiled, duration_ms, "version live");
        self.record(Audit {
            name,
            digest: &digest,
            actor,
            via,
            outcome: "live",
            detail: &detail,
            duration_ms: duration_ms as i64,
        })
        .await;
        Ok(DeployReport {
            component: name.to_string(),
            digest,
            previous,
            compiled,
            duration_ms,
        })
    }

    /// Audits a refused version; gives the error back.
    async fn refused(
        &self,
        name: &str,
        digest: &str,
        actor: &str,
        via: &str,
        error: DeployError,
        duration_ms: i64,
    ) -> DeployError {
        self.record(Audit {
            name,
            digest,
            actor,
            via,
            outcome: "refused",
            detail: &error.to_string(),
            duration_ms,
        })
        .await;
        error
    }

    fn retain_bytes(&self, name: &str, digest: &str, bytes: &[u8]) -> Result<(), DeployError> {
        let dir = self.versions_dir(name);
        let path = dir.join(format!("{}.wasm", hex_of(digest)));
        if path.is_file() {
            return Ok(());
        }
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|e| DeployError::Storage(format!("{}: {e}", path.display())))
    }

    /// Retained versions of `name`, newest first.
    pub fn versions(&self, name: &str) -> Result<Vec<VersionInfo>, DeployError> {
        if !self.manifest.components.contains_key(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        Ok(self
            .read()
            .get(name)
            .map(|s| s.versions.clone())
            .unwrap_or_default())
    }

    /// Puts a retained version live again: `digest`, or the one before the live one.
    pub async fn rollback(
        &self,
        name: &str,
        digest: Option<&str>,
        actor: &str,
    ) -> Result<DeployReport, DeployError> {
        let versions = self.versions(name)?;
        let live = self.component(name).ok().map(|c| c.digest.clone());
        let target = match digest {
            Some(d) => {
                let wanted = if d.starts_with("sha256:") {
                    d.to_string()
                } else {
                    format!("sha256:{d}")
                };
                versions.iter().find(|v| v.digest == wanted).cloned()
            }
            None => versions
                .iter()
                .find(|v| Some(&v.digest) != live.as_ref())
                .cloned(),
        }
        .ok_or_else(|| DeployError::UnknownVersion {
            component: name.to_string(),
            digest: digest.unwrap_or("(previous)").to_string(),
        })?;
        let path = self
            .versions_dir(name)
            .join(format!("{}.wasm", hex_of(&target.digest)));
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| DeployError::Storage(format!("{}: {e}", path.display())))?;
        self.deploy_inner(name, Arc::new(bytes), &path, actor, "rollback")
            .await
    }

    async fn record(
        &self,
        Audit {
            name,
            digest,
            actor,
            via,
            outcome,
            detail,
            duration_ms,
        }: Audit<'_>,
    ) {
        let at_ms = now_ms();
        let insert = sqlx::query(
            "INSERT INTO component_events (component, digest, actor, via, outcome, detail, duration_ms, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(name.to_string())
        .bind(digest.to_string())
        .bind(actor.to_string())
        .bind(via.to_string())
        .bind(outcome.to_string())
        .bind(detail.to_string())
        .bind(duration_ms)
        .bind(at_ms)
        .execute(self.platform.sql.main())
        .await;
        if let Err(e) = insert {
            tracing::warn!(component = %name, error = %e, "could not record the component event");
        }
        let payload = serde_json::json!({
            "component": name, "digest": digest, "actor": actor, "via": via,
            "outcome": outcome, "detail": detail, "duration_ms": duration_ms, "at_ms": at_ms,
        });
        let _ = self
            .platform
            .events
            .publish("host", "components", &payload.to_string())
            .await;
    }

    /// The audit trail of `name`, newest first.
    pub async fn history(&self, name: &str, limit: i64) -> Result<Vec<HistoryEntry>, DeployError> {
        if !self.manifest.components.contains_key(name) {
            return Err(DeployError::UnknownComponent(name.to_string()));
        }
        sqlx::query_as::<_, HistoryEntry>(
            "SELECT component, digest, actor, via, outcome, detail, duration_ms, at_ms FROM component_events WHERE component = $1 ORDER BY at_ms DESC LIMIT $2",
        )
        .bind(name.to_string())
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.platform.sql.main())
        .await
        .map_err(|e| DeployError::Storage(e.to_string()))
    }

    /// Exposed for the smoke module: a typed call on a candidate that is not live yet.
    pub(super) fn candidate_error(component: &LoadedComponent, e: CallError) -> String {
        format!("{} ({}): {e}", component.name, component.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tells_components_from_modules_and_garbage() {
        let of = |b: &[u8]| as_component(Arc::new(b.to_vec()));
        assert!(matches!(of(b"hello world"), Err(DeployError::NotWasm)));
        // A module with nothing saying what it exports cannot be adapted.
        assert!(matches!(
            of(b"\0asm\x01\x00\x00\x00"),
            Err(DeployError::CoreModule(_))
        ));
        assert!(of(b"\0asm\x0d\x00\x01\x00").is_ok());
    }
}

//! The file watcher: a rebuilt `.wasm` at a component's manifest path goes live by itself
//! through the same pipeline as an upload (and is refused the same way if it is bad).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};

use super::Runtime;

/// How long a file must be quiet before it is read: build tools write in several steps.
const SETTLE: Duration = Duration::from_millis(250);

/// Keeps the OS watch alive; dropping it stops watching.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
}

impl Watcher {
    /// Watches every component source of `runtime`'s manifest.
    pub fn start(runtime: Arc<Runtime>) -> notify::Result<Watcher> {
        let sources: HashMap<PathBuf, String> = runtime
            .manifest()
            .components
            .iter()
            .map(|(name, decl)| {
                let path = runtime.manifest().resolve(&decl.source);
                (std::path::absolute(&path).unwrap_or(path), name.clone())
            })
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let mut inner =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
            })?;
        let mut dirs: Vec<PathBuf> = sources
            .keys()
            .filter_map(|p| p.parent().map(PathBuf::from))
            .collect();
        dirs.sort();
        dirs.dedup();
        for dir in &dirs {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create a watched directory");
                continue;
            }
            inner.watch(dir, RecursiveMode::NonRecursive)?;
        }
        let count = sources.len();
        tokio::spawn(async move {
            let mut pending: HashMap<String, PathBuf> = HashMap::new();
            // The digest last tried per component, so a refused file is not retried (and
            // audited) on every further event until its contents change.
            let mut tried: HashMap<String, String> = HashMap::new();
            loop {
                let next = if pending.is_empty() {
                    rx.recv().await
                } else {
                    match tokio::time::timeout(SETTLE, rx.recv()).await {
                        Ok(next) => next,
                        Err(_) => {
                            for (name, path) in pending.drain() {
                                redeploy(&runtime, &name, &path, &mut tried).await;
                            }
                            continue;
                        }
                    }
                };
                let Some(path) = next else { break };
                if let Some(name) = sources.get(&path) {
                    pending.insert(name.clone(), path);
                }
            }
        });
        tracing::info!(components = count, "watching component files");
        Ok(Watcher { _inner: inner })
    }
}

async fn redeploy(
    runtime: &Runtime,
    name: &str,
    path: &PathBuf,
    tried: &mut HashMap<String, String>,
) {
    let Ok(bytes) = tokio::fs::read(path).await else {
        return;
    };
    let digest = super::versions::digest(&bytes);
    if runtime.component(name).is_ok_and(|c| c.digest == digest) || tried.get(name) == Some(&digest)
    {
        return;
    }
    tried.insert(name.to_string(), digest);
    match runtime.deploy(name, bytes, "file-watcher", "watch").await {
        Ok(report) => {
            tracing::info!(component = %name, digest = %report.digest, ms = report.duration_ms, "watched file is live")
        }
        Err(e) => {
            tracing::warn!(component = %name, error = %e, "watched file refused; the previous version keeps serving")
        }
    }
}

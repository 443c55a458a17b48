//! Versions shared by every replica of one database. An upload or a rollback on any replica
//! is written to the `component_live` table (with its bytes) before it goes live there; every
//! replica serves what that table says at start and, while running, within a second of the
//! change ([`Runtime::sync_shared`] on a timer). A replica killed in the middle of a deploy
//! therefore leaves the cluster on one version: the old one if the write had not happened,
//! the new one (on every replica, itself included once restarted) if it had.
//!
//! A shared version replaces one file (`base`: the digest of the component's file in the image
//! that served when it was uploaded). A replica whose file differs — a new image — keeps its
//! file: deploying an image wins over versions uploaded for the previous one.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use super::versions::{DeployError, digest};

/// How often a running replica looks for versions put live elsewhere.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Ways a version arrives that are shared with every replica.
pub(super) fn is_shared(via: &str) -> bool {
    matches!(via, "upload" | "rollback")
}

impl Runtime {
    /// Records the digest of `name`'s file as this replica's base for it.
    pub(super) fn set_base(&self, name: &str, file_digest: &str) {
        if let Ok(mut bases) = self.bases.lock() {
            bases.insert(name.to_string(), file_digest.to_string());
        }
    }

    fn base(&self, name: &str) -> Option<String> {
        self.bases.lock().ok()?.get(name).cloned()
    }

    /// Makes `digest` (`bytes`) the version of `name` every replica serves.
    pub(super) async fn share(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), DeployError> {
        let unavailable = |e: sqlx::Error| DeployError::Unavailable(e.to_string());
        let Some(base) = self.base(name) else {
            // Never loaded from a file here: nothing to replace for other replicas.
            return Ok(());
        };
        let pool = self.platform.sql.main();
        let mut tx = pool.begin().await.map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO component_blobs (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.to_string())
        .bind(bytes.to_vec())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO component_live (component, base, digest, at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (component) DO UPDATE SET base = excluded.base, digest = excluded.digest, \
             at_ms = excluded.at_ms",
        )
        .bind(name.to_string())
        .bind(base)
        .bind(digest.to_string())
        .bind(super::versions::now_ms())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "DELETE FROM component_blobs WHERE digest NOT IN (SELECT digest FROM component_live)",
        )
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    /// Puts live here every shared version that replaces this replica's file and is not live
    /// yet; returns the components swapped. A version refused here (its checks failed on this
    /// replica) is not tried again until another one is shared.
    pub async fn sync_shared(&self) -> Result<Vec<String>, sqlx::Error> {
        let pool = self.platform.sql.main();
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT component, base, digest FROM component_live")
                .fetch_all(pool)
                .await?;
        let mut swapped = Vec::new();
        for (name, base, wanted) in rows {
            let live = self.component(&name).ok().map(|c| c.digest.clone());
            if !self.manifest.components.contains_key(&name)
                || !self.runs(&name)
                || self.base(&name).as_deref() != Some(base.as_str())
                || live.as_deref() == Some(wanted.as_str())
                || self.refused_shared(&wanted)
            {
                continue;
            }
            let bytes: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT bytes FROM component_blobs WHERE digest = $1")
                    .bind(wanted.clone())
                    .fetch_optional(pool)
                    .await?;
            // Replaced again in the meantime: the next look finds the newer one.
            let Some(bytes) = bytes else { continue };
            if digest(&bytes) != wanted {
                tracing::error!(component = %name, digest = %wanted, "shared version's bytes do not match their digest; not served");
                self.refuse_shared(&wanted);
                continue;
            }
            match self
                .deploy_inner(
                    &name,
                    Arc::new(bytes),
                    Path::new("cluster"),
                    "cluster",
                    "cluster",
                )
                .await
            {
                Ok(_) => swapped.push(name),
                Err(e) => {
                    tracing::error!(component = %name, digest = %wanted, error = %e, "a version live on other replicas is refused here; this replica keeps its own");
                    self.refuse_shared(&wanted);
                }
            }
        }
        Ok(swapped)
    }

    fn refused_shared(&self, digest: &str) -> bool {
        self.refused
            .lock()
            .is_ok_and(|refused| refused.contains(digest))
    }

    fn refuse_shared(&self, digest: &str) {
        if let Ok(mut refused) = self.refused.lock() {
            // Bounded: versions are few, but a loop of bad uploads must not grow this forever.
            if refused.len() >= 64 {
                refused.clear();
            }
            refused.insert(digest.to_string());
        }
    }

    /// Keeps this replica on the shared versions for as long as the process lives.
    pub fn spawn_sync(self: &Arc<Self>) {
        let runtime = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(SYNC_EVERY).await;
                let Some(runtime) = runtime.upgrade() else {
                    return;
                };
                match runtime.sync_shared().await {
                    Ok(swapped) => {
                        failing = false;
                        for name in swapped {
                            tracing::info!(component = %name, "serving the version other replicas put live");
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot read the shared component versions; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
    }
}

/// The digests refused here, kept by the runtime.
pub(super) type Refused = std::sync::Mutex<HashSet<String>>;

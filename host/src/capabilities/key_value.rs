//! Key-value storage for components: Spin's `fermyon:spin/key-value@2.0.0` here, and
//! `wasi:keyvalue` in [`super::wasi_keyvalue`], over the same per-component stores. Stores are
//! granted by label in the manifest and namespaced `bourse:kv:<component>:<label>:` in the
//! backend, so one component never sees another's keys.
//!
//! Grant: the labels in `key_value_stores`. State: the grant and the key-value backend.
//! Resources: open stores ([`KvStore`]) and, for `wasi:keyvalue`, compare-and-swap handles.

use std::sync::Arc;

use wasmtime::component::{Linker, Resource};

use super::base::{Declared, HasView, Names, Shared, View};
use crate::bindings::fermyon::spin::key_value::{self, Error, Host, HostStore};
use crate::store::kv::KeyValue;

/// Longest key.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// An open store: the backend prefix of its keys.
pub struct KvStore {
    prefix: String,
}

/// Why a store operation failed, before each interface puts it in its own error type.
pub(crate) enum KvFailure {
    /// The manifest does not grant the label.
    Denied,
    /// The instance holds too many open handles.
    TableFull,
    /// A key or value over the limits, or a backend failure.
    Other(String),
}

/// The key-value capability of one instance: the labels of the stores the manifest grants,
/// over the backend.
#[derive(Clone)]
pub struct KeyValueState {
    grant: Arc<Names>,
    pub(super) backend: Shared<KeyValue>,
}

impl KeyValueState {
    /// The grant of `declared` over `backend`.
    pub fn new(declared: &Declared<'_>, backend: Shared<KeyValue>) -> KeyValueState {
        let grant = Names::new(declared.name, &declared.decl.key_value_stores);
        KeyValueState { grant, backend }
    }
}

/// What the key-value traits (Spin's and `wasi:keyvalue`'s) are implemented on.
pub type KeyValueView<'a> = View<'a, KeyValueState>;

/// Links `fermyon:spin/key-value@2.0.0`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    key_value::add_to_linker::<T, HasView<KeyValueState>>(linker, get)
}

impl KeyValueView<'_> {
    /// Opens the store `label` if the manifest grants it to this component.
    pub(crate) fn kv_open(&mut self, label: &str) -> Result<Resource<KvStore>, KvFailure> {
        let grant = &self.state.grant;
        if !grant.allows(label) {
            return Err(KvFailure::Denied);
        }
        let prefix = format!("bourse:kv:{}:{label}:", grant.component());
        self.table
            .push(KvStore { prefix })
            .map_err(|_| KvFailure::TableFull)
    }

    /// The backend key of `key` in `store`, checked against the limits.
    pub(crate) fn kv_key(
        &self,
        store: &Resource<KvStore>,
        key: &str,
    ) -> wasmtime::Result<Result<String, KvFailure>> {
        let store = self.table.get(store)?;
        if key.len() > MAX_KEY_BYTES {
            return Ok(Err(KvFailure::Other(format!(
                "key is {} bytes; the limit is {MAX_KEY_BYTES}",
                key.len()
            ))));
        }
        Ok(Ok(format!("{}{key}", store.prefix)))
    }

    pub(crate) async fn kv_get(
        &mut self,
        store: &Resource<KvStore>,
        key: &str,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, KvFailure>> {
        Ok(match self.kv_key(store, key)? {
            Ok(key) => self.state.backend.get(&key).await.map_err(backend),
            Err(e) => Err(e),
        })
    }

    pub(crate) async fn kv_set(
        &mut self,
        store: &Resource<KvStore>,
        key: &str,
        value: &[u8],
    ) -> wasmtime::Result<Result<(), KvFailure>> {
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(KvFailure::Other(format!(
                "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        Ok(match self.kv_key(store, key)? {
            Ok(key) => self.state.backend.set(&key, value).await.map_err(backend),
            Err(e) => Err(e),
        })
    }

    pub(crate) async fn kv_delete(
        &mut self,
        store: &Resource<KvStore>,
        key: &str,
    ) -> wasmtime::Result<Result<(), KvFailure>> {
        Ok(match self.kv_key(store, key)? {
            Ok(key) => self.state.backend.delete(&key).await.map_err(backend),
            Err(e) => Err(e),
        })
    }

    pub(crate) async fn kv_exists(
        &mut self,
        store: &Resource<KvStore>,
        key: &str,
    ) -> wasmtime::Result<Result<bool, KvFailure>> {
        Ok(match self.kv_key(store, key)? {
            Ok(key) => self.state.backend.exists(&key).await.map_err(backend),
            Err(e) => Err(e),
        })
    }

    /// The store's keys, without its prefix, sorted.
    pub(crate) async fn kv_keys(
        &mut self,
        store: &Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, KvFailure>> {
        let prefix = self.table.get(store)?.prefix.clone();
        Ok(self
            .state
            .backend
            .keys(&prefix)
            .await
            .map(|keys| {
                let mut keys: Vec<String> = keys
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(String::from))
                    .collect();
                keys.sort_unstable();
                keys
            })
            .map_err(backend))
    }
}

fn backend(e: crate::store::StoreError) -> KvFailure {
    KvFailure::Other(e.to_string())
}

fn error(f: KvFailure) -> Error {
    match f {
        KvFailure::Denied => Error::AccessDenied,
        KvFailure::TableFull => Error::StoreTableFull,
        KvFailure::Other(m) => Error::Other(m),
    }
}

impl HostStore for KeyValueView<'_> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        Ok(self.kv_open(&label).map_err(error))
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.kv_get(&store, &key).await?.map_err(error))
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.kv_set(&store, &key, &value).await?.map_err(error))
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.kv_delete(&store, &key).await?.map_err(error))
    }

    async fn exists(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.kv_exists(&store, &key).await?.map_err(error))
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.kv_keys(&store).await?.map_err(error))
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl Host for KeyValueView<'_> {}

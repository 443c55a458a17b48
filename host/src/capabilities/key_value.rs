//! `fermyon:spin/key-value`: per-component stores, granted by label in the manifest and
//! namespaced `bourse:kv:<component>:<label>:` in the backend.

use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::key_value::{Error, Host, HostStore};
use crate::runtime::HostState;

/// Longest key.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest value.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// An open store: the backend prefix of its keys.
pub struct KvStore {
    prefix: String,
}

fn backend_error(e: crate::store::StoreError) -> Error {
    Error::Other(e.to_string())
}

fn check_key(key: &str) -> Result<(), Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::Other(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

impl HostState {
    fn kv_key(
        &self,
        store: &Resource<KvStore>,
        key: &str,
    ) -> wasmtime::Result<Result<String, Error>> {
        let store = self.table.get(store)?;
        Ok(check_key(key).map(|()| format!("{}{key}", store.prefix)))
    }
}

impl HostStore for HostState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let prefix = format!("bourse:kv:{}:{label}:", self.component.name);
        Ok(match self.table.push(KvStore { prefix }) {
            Ok(store) => Ok(store),
            Err(_) => Err(Error::StoreTableFull),
        })
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let key = match self.kv_key(&store, &key)? {
            Ok(key) => key,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.platform.kv.get(&key).await.map_err(backend_error))
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let key = match self.kv_key(&store, &key)? {
            Ok(key) => key,
            Err(e) => return Ok(Err(e)),
        };
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(Error::Other(format!(
                "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        Ok(self
            .platform
            .kv
            .set(&key, &value)
            .await
            .map_err(backend_error))
    }

    async fn delete(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let key = match self.kv_key(&store, &key)? {
            Ok(key) => key,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.platform.kv.delete(&key).await.map_err(backend_error))
    }

    async fn exists(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let key = match self.kv_key(&store, &key)? {
            Ok(key) => key,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.platform.kv.exists(&key).await.map_err(backend_error))
    }

    async fn get_keys(
        &mut self,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let prefix = self.table.get(&store)?.prefix.clone();
        Ok(self
            .platform
            .kv
            .keys(&prefix)
            .await
            .map(|keys| {
                keys.into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(String::from))
                    .collect()
            })
            .map_err(backend_error))
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl Host for HostState {}

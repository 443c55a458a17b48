//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch), as Spin hosts it: a bucket is a
//! key-value store granted by label in `key_value_stores`, the same stores Spin's
//! `fermyon:spin/key-value` opens, so both interfaces see the same keys.
//!
//! `increment` keeps the number as its decimal text (Redis `INCRBY` does the same), and a
//! compare-and-swap compares the whole value atomically in the backend.

use wasmtime::component::{Linker, Resource};

use super::base::HasView;
use super::key_value::{KeyValueState, KeyValueView, KvFailure, KvStore};
use crate::wasi_bindings::wasi::keyvalue::atomics::{self, CasError, HostCas};
use crate::wasi_bindings::wasi::keyvalue::batch;
use crate::wasi_bindings::wasi::keyvalue::store::{self, Error, HostBucket, KeyResponse};

/// Keys returned per `list-keys` page.
const PAGE: usize = 1000;

/// Links `wasi:keyvalue` store, atomics and batch over the key-value capability's state.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasView<KeyValueState>>(linker, get)?;
    atomics::add_to_linker::<T, HasView<KeyValueState>>(linker, get)?;
    batch::add_to_linker::<T, HasView<KeyValueState>>(linker, get)
}

/// A compare-and-swap in progress: the backend key and the value it was read with.
pub struct Cas {
    key: String,
    current: Option<Vec<u8>>,
}

fn error(f: KvFailure) -> Error {
    match f {
        KvFailure::Denied => Error::AccessDenied,
        KvFailure::TableFull => Error::Other("too many open buckets".into()),
        KvFailure::Other(m) => Error::Other(m),
    }
}

impl store::Host for KeyValueView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        Ok(self.kv_open(&identifier).map_err(|f| match f {
            // Spin answers an ungranted label as an unknown store.
            KvFailure::Denied => Error::NoSuchStore,
            other => error(other),
        }))
    }
}

impl HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.kv_get(&bucket, &key).await?.map_err(error))
    }

    async fn set(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.kv_set(&bucket, &key, &value).await?.map_err(error))
    }

    async fn delete(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.kv_delete(&bucket, &key).await?.map_err(error))
    }

    async fn exists(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.kv_exists(&bucket, &key).await?.map_err(error))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<KvStore>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let keys = match self.kv_keys(&bucket).await? {
            Ok(keys) => keys,
            Err(e) => return Ok(Err(error(e))),
        };
        // The cursor is the last key of the previous page: keys are sorted.
        let start = cursor.map_or(0, |c| keys.partition_point(|k| *k <= c));
        let page: Vec<String> = keys.iter().skip(start).take(PAGE).cloned().collect();
        let cursor = (start + page.len() < keys.len())
            .then(|| page.last().cloned())
            .flatten();
        Ok(Ok(KeyResponse { keys: page, cursor }))
    }

    async fn drop(&mut self, bucket: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let key = match self.kv_key(&bucket, &key)? {
            Ok(k) => k,
            Err(e) => return Ok(Err(error(e))),
        };
        Ok(self
            .state
            .backend
            .increment(&key, delta)
            .await
            .map_err(|e| Error::Other(e.to_string())))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let Cas { key, current } = self.table.delete(cas)?;
        let swapped = self
            .state
            .backend
            .compare_and_swap(&key, current.as_deref(), &value)
            .await;
        Ok(match swapped {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Hand the caller a fresh handle with what the key holds now, to retry with.
                let now = match self.state.backend.get(&key).await {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(CasError::StoreError(Error::Other(e.to_string())))),
                };
                let again = self.table.push(Cas { key, current: now })?;
                Err(CasError::CasFailed(again))
            }
            Err(e) => Err(CasError::StoreError(Error::Other(e.to_string()))),
        })
    }
}

impl HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let key = match self.kv_key(&bucket, &key)? {
            Ok(k) => k,
            Err(e) => return Ok(Err(error(e))),
        };
        let current = match self.state.backend.get(&key).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(Error::Other(e.to_string()))),
        };
        Ok(Ok(self.table.push(Cas { key, current })?))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<KvStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, Error>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match self.kv_get(&bucket, &key).await? {
                Ok(v) => out.push((key, v)),
                Err(e) => return Ok(Err(error(e))),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<KvStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        for (key, value) in key_values {
            if let Err(e) = self.kv_set(&bucket, &key, &value).await? {
                return Ok(Err(error(e)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<KvStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        for key in keys {
            if let Err(e) = self.kv_delete(&bucket, &key).await? {
                return Ok(Err(error(e)));
            }
        }
        Ok(Ok(()))
    }
}

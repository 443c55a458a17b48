//! Connections to databases that components name by address (Spin's Redis and Postgres
//! interfaces): one shared client per address for the whole host, up to `MAX` addresses.

use std::collections::HashMap;
use std::future::Future;

use tokio::sync::Mutex;

/// Clients of type `T` by address.
pub struct ByAddress<T, const MAX: usize> {
    clients: Mutex<HashMap<String, T>>,
}

impl<T, const MAX: usize> Default for ByAddress<T, MAX> {
    fn default() -> Self {
        ByAddress {
            clients: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone, const MAX: usize> ByAddress<T, MAX> {
    /// The client of `address`, connected with `connect` the first time; `full` is the error
    /// when `MAX` addresses already have one.
    pub async fn get<E, F: Future<Output = Result<T, E>>>(
        &self,
        address: &str,
        full: impl FnOnce(usize) -> E,
        connect: impl FnOnce() -> F,
    ) -> Result<T, E> {
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(address) {
            return Ok(client.clone());
        }
        if clients.len() >= MAX {
            return Err(full(MAX));
        }
        let client = connect().await?;
        clients.insert(address.to_string(), client.clone());
        Ok(client)
    }
}

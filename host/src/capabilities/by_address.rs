//! Connections to databases that components name by address (Spin's Redis and Postgres
//! interfaces): one shared client per address for the whole host, up to `MAX` addresses,
//! and the per-instance state both interfaces share ([`AddressState`]): an address is opened
//! only if the component's outbound grant allows it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::base::{Declared, Shared};
use crate::manifest::AllowedHosts;

/// One instance's access to databases named by address: the component's outbound grant and
/// the host's clients `C`.
pub struct AddressState<C: 'static> {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
    clients: Shared<C>,
}

impl<C> AddressState<C> {
    /// `declared`'s outbound grant over `clients`.
    pub fn new(
        declared: &Declared<'_>,
        allowed: Arc<AllowedHosts>,
        clients: Shared<C>,
    ) -> AddressState<C> {
        AddressState {
            component: declared.name.into(),
            allowed,
            clients,
        }
    }

    /// Whether the grant allows `address`; a refusal is logged, naming `interface`.
    pub fn allows(&self, interface: &str, address: &str) -> bool {
        let allowed = self.allowed.allows_address(address);
        if !allowed {
            tracing::warn!(component = %self.component, "{interface} address not in allowed_outbound_hosts");
        }
        allowed
    }

    /// The host's clients.
    pub fn clients(&self) -> &C {
        &self.clients
    }
}

impl<C> Clone for AddressState<C> {
    fn clone(&self) -> Self {
        AddressState {
            component: self.component.clone(),
            allowed: self.allowed.clone(),
            clients: self.clients.clone(),
        }
    }
}

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

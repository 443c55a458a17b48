//! Connections to databases that components name by address (Spin's Redis and Postgres
//! interfaces): one client per component and address, up to `MAX` for the whole host and a
//! quarter of that for one component (so no component can take every slot, or every pooled
//! connection, from the others), and the per-instance state both interfaces share
//! ([`AddressState`]): an address is opened only if the component's outbound grant allows it.

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
}

impl<T: Clone, const MAX: usize> AddressState<ByAddress<T, MAX>> {
    /// The component's client of `address` (keyed by `key`), connected with `connect` the
    /// first time; `full` makes the error when the component or the host has no room left.
    pub async fn client<E, F: Future<Output = Result<T, E>>>(
        &self,
        key: &str,
        full: impl FnOnce(Full) -> E,
        connect: impl FnOnce() -> F,
    ) -> Result<T, E> {
        self.clients.get(&self.component, key, full, connect).await
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

/// Why no client could be made: the component's share or the host's room is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The component already has this many addresses, its most.
    Component(usize),
    /// The host already has this many, its most.
    Host(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Component(n) => write!(
                f,
                "this component already uses {n} addresses, the most one component may"
            ),
            Full::Host(n) => write!(f, "this host already keeps connections to {n} addresses"),
        }
    }
}

/// Clients of type `T` by component and address.
pub struct ByAddress<T, const MAX: usize> {
    clients: Mutex<HashMap<(Arc<str>, String), T>>,
}

impl<T, const MAX: usize> Default for ByAddress<T, MAX> {
    fn default() -> Self {
        ByAddress {
            clients: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone, const MAX: usize> ByAddress<T, MAX> {
    /// The most addresses one component may have.
    pub const PER_COMPONENT: usize = if MAX >= 4 { MAX / 4 } else { 1 };

    /// `component`'s client of `address`, connected with `connect` the first time; `full`
    /// makes the error when the component or the host has no room left.
    pub async fn get<E, F: Future<Output = Result<T, E>>>(
        &self,
        component: &Arc<str>,
        address: &str,
        full: impl FnOnce(Full) -> E,
        connect: impl FnOnce() -> F,
    ) -> Result<T, E> {
        let mut clients = self.clients.lock().await;
        let key = (component.clone(), address.to_string());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        if clients.keys().filter(|(c, _)| c == component).count() >= Self::PER_COMPONENT {
            return Err(full(Full::Component(Self::PER_COMPONENT)));
        }
        if clients.len() >= MAX {
            return Err(full(Full::Host(MAX)));
        }
        let client = connect().await?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(map: &ByAddress<u32, 8>, component: &str, address: &str) -> Result<u32, Full> {
        map.get(&Arc::from(component), address, |f| f, || async { Ok(7) })
            .await
    }

    #[tokio::test]
    async fn one_component_cannot_take_the_room_of_the_others() {
        let map = ByAddress::<u32, 8>::default();
        for db in ["a", "b"] {
            assert_eq!(get(&map, "greedy", db).await, Ok(7));
        }
        // Its third address is refused, an address it has is not, and others still connect.
        assert_eq!(get(&map, "greedy", "c").await, Err(Full::Component(2)));
        assert_eq!(get(&map, "greedy", "a").await, Ok(7));
        for component in ["x", "y", "z"] {
            for db in ["a", "b"] {
                assert_eq!(get(&map, component, db).await, Ok(7));
            }
        }
        assert_eq!(get(&map, "late", "a").await, Err(Full::Host(8)));
    }
}

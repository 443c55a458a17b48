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

/// One client, connected by the first caller that needs it.
type Slot<T> = Arc<tokio::sync::OnceCell<T>>;

/// Clients by component and address.
type Clients<T> = HashMap<(Arc<str>, String), Slot<T>>;

/// Clients of type `T` by component and address. The map's lock is held only to find or
/// reserve a slot, never while connecting: a component naming a slow host waits for that host
/// alone, and other components' first opens go on.
pub struct ByAddress<T, const MAX: usize> {
    clients: Mutex<Clients<T>>,
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
    /// makes the error when the component or the host has no room left. A failed connect
    /// gives its room back.
    pub async fn get<E, F: Future<Output = Result<T, E>>>(
        &self,
        component: &Arc<str>,
        address: &str,
        full: impl FnOnce(Full) -> E,
        connect: impl FnOnce() -> F,
    ) -> Result<T, E> {
        let key = (component.clone(), address.to_string());
        let slot = {
            let mut clients = self.clients.lock().await;
            match clients.get(&key) {
                Some(slot) => slot.clone(),
                None => {
                    if clients.keys().filter(|(c, _)| c == component).count() >= Self::PER_COMPONENT
                    {
                        return Err(full(Full::Component(Self::PER_COMPONENT)));
                    }
                    if clients.len() >= MAX {
                        return Err(full(Full::Host(MAX)));
                    }
                    let slot = Slot::default();
                    clients.insert(key.clone(), slot.clone());
                    slot
                }
            }
        };
        match slot.get_or_try_init(connect).await {
            Ok(client) => Ok(client.clone()),
            Err(e) => {
                let mut clients = self.clients.lock().await;
                if clients
                    .get(&key)
                    .is_some_and(|s| Arc::ptr_eq(s, &slot) && s.get().is_none())
                {
                    clients.remove(&key);
                }
                Err(e)
            }
        }
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

    #[tokio::test]
    async fn a_slow_connect_holds_up_only_its_own_address() {
        let map = Arc::new(ByAddress::<u32, 8>::default());
        let release = Arc::new(tokio::sync::Notify::new());
        let slow = {
            let (map, release) = (map.clone(), release.clone());
            tokio::spawn(async move {
                map.get(
                    &Arc::from("slow"),
                    "far",
                    |f| f,
                    || async move {
                        release.notified().await;
                        Ok(1)
                    },
                )
                .await
            })
        };
        tokio::task::yield_now().await;
        // Another component connects while the slow one is still connecting.
        let other = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            get(&map, "other", "near"),
        )
        .await;
        assert_eq!(other.expect("not held up by another's connect"), Ok(7));
        release.notify_one();
        assert_eq!(slow.await.expect("joined"), Ok(1));
        assert_eq!(get(&map, "slow", "far").await, Ok(1), "kept once connected");
    }

    #[tokio::test]
    async fn a_failed_connect_gives_its_room_back() {
        let map = ByAddress::<u32, 8>::default();
        let component = Arc::from("flaky");
        for db in ["a", "b", "c"] {
            let failed = map
                .get(&component, db, |_| "full", || async { Err("refused") })
                .await;
            assert_eq!(failed, Err("refused"));
        }
        // Two addresses are its most: failures did not use them up.
        for db in ["d", "e"] {
            assert_eq!(get(&map, "flaky", db).await, Ok(7));
        }
    }
}

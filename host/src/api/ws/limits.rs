//! How many WebSocket connections one client may hold on this replica: per client IP and per
//! principal (`BOURSE_WS_MAX_PER_IP`, `BOURSE_WS_MAX_PER_PRINCIPAL`). Each connection holds a
//! [`Place`] for as long as it lives; a refused upgrade gets 429 before any socket exists.
//!
//! Invariant: the counts are exactly the places alive (a place gives itself back when
//! dropped, however its connection ends), and a client with no place holds no entry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Limits per client; 0 is no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionLimits {
    /// Per client IP.
    pub per_ip: u64,
    /// Per principal.
    pub per_principal: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    Ip(IpAddr),
    Principal(String),
}

/// Connections held, per client.
#[derive(Default)]
pub struct Connections {
    limits: ConnectionLimits,
    held: Arc<Mutex<HashMap<Client, u64>>>,
}

/// One connection's place; dropping it gives the place back.
pub struct Place {
    clients: Vec<Client>,
    held: Arc<Mutex<HashMap<Client, u64>>>,
}

/// Which limit a new connection would pass.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The client IP holds its share.
    #[error("this address already holds {0} WebSocket connections, the most one may hold")]
    Ip(u64),
    /// The principal holds its share.
    #[error(
        "these credentials already hold {0} WebSocket connections, the most one principal may hold"
    )]
    Principal(u64),
}

fn lock(held: &Mutex<HashMap<Client, u64>>) -> std::sync::MutexGuard<'_, HashMap<Client, u64>> {
    // Counts change one step at a time under the lock: a poisoned map is still consistent.
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Connections {
    /// Counts connections against `limits`.
    pub fn new(limits: ConnectionLimits) -> Connections {
        Connections {
            limits,
            held: Arc::default(),
        }
    }

    /// A place for a connection from `ip` by `principal`, if both have one left.
    pub fn admit(&self, ip: Option<IpAddr>, principal: Option<&str>) -> Result<Place, Refused> {
        let wanted = [
            ip.map(|ip| (Client::Ip(ip), self.limits.per_ip)),
            principal.map(|p| (Client::Principal(p.to_string()), self.limits.per_principal)),
        ];
        let mut held = lock(&self.held);
        for (client, limit) in wanted.iter().flatten() {
            if *limit > 0 && held.get(client).copied().unwrap_or(0) >= *limit {
                return Err(match client {
                    Client::Ip(_) => Refused::Ip(*limit),
                    Client::Principal(_) => Refused::Principal(*limit),
                });
            }
        }
        let clients: Vec<Client> = wanted.into_iter().flatten().map(|(c, _)| c).collect();
        for client in &clients {
            *held.entry(client.clone()).or_insert(0) += 1;
        }
        Ok(Place {
            clients,
            held: self.held.clone(),
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        for client in &self.clients {
            if let Some(n) = held.get_mut(client) {
                *n -= 1;
                if *n == 0 {
                    held.remove(client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back() {
        let connections = Connections::new(ConnectionLimits {
            per_ip: 2,
            per_principal: 1,
        });
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        let a = connections.admit(ip, Some("p")).expect("first");
        assert!(matches!(
            connections.admit(ip, Some("p")),
            Err(Refused::Principal(1))
        ));
        let b = connections.admit(ip, None).expect("anonymous");
        assert!(matches!(connections.admit(ip, None), Err(Refused::Ip(2))));
        drop((a, b));
        assert!(lock(&connections.held).is_empty());
    }
}

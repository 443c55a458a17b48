//! Spin's Postgres interfaces: `fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0`
//! and `@4.x` (spin-sdk's `pg`, `pg3` and `pg4`). A component opens the address it names
//! (`postgres://user@host:port/db`), which must be in its `allowed_outbound_hosts`.
//!
//! As in Spin, every version runs through the newest one ([`values`] binds and reads
//! `@4`'s values; [`v2`] and [`v3`] convert to and from them with Spin's rules), and an open
//! connection is one server connection, held until the component drops it — so `BEGIN` …
//! `COMMIT` across calls is one transaction. Pools are shared per address (and root
//! certificate); a connection going back to its pool is reset with `DISCARD ALL`, and one left
//! inside a transaction is closed instead.
//!
//! Grant: the component's outbound grant (see [`super::outbound_http`]). State: the grant, the
//! host's pools by address and the count of this instance's open connections (at most
//! [`MAX_OPEN`]). Resources: open connections ([`PgConnection`]) and `@4`'s connection
//! builders ([`PgConnectionBuilder`]).

mod address;
mod v2;
mod v3;
mod v4;
mod values;

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool, Postgres};
use wasmtime::component::{Linker, Resource};

use super::base::{Declared, Shared, View};
use super::by_address::{AddressState, ByAddress};
use crate::manifest::AllowedHosts;
use crate::wasi_bindings::spin::postgres4_1_0::postgres::Error;

/// Connections one instance may hold open at once (Spin's words when over: "too many
/// connections"), and connection builders it may hold.
pub const MAX_OPEN: usize = 16;

/// Server connections in one pool.
const POOL_SIZE: u32 = 16;

/// An open connection: one server connection from its address's pool.
pub struct PgConnection {
    conn: PoolConnection<Postgres>,
}

/// `@4`'s connection builder: an address and, optionally, the root certificate to trust.
pub struct PgConnectionBuilder {
    address: String,
    root_ca: Option<String>,
}

/// The pools of every component, by component and address (at most 32 per host, 8 per
/// component): a component's held connections never come out of another's pool.
pub type PostgresClients = ByAddress<PgPool, 32>;

/// Spin's Postgres capability of one instance.
#[derive(Clone)]
pub struct PostgresState {
    access: AddressState<PostgresClients>,
    /// Connections open now.
    open: usize,
    /// `@4` connection builders not yet dropped.
    builders: usize,
}

impl PostgresState {
    /// `declared`'s outbound grant over the host's pools.
    pub fn new(
        declared: &Declared<'_>,
        allowed: std::sync::Arc<AllowedHosts>,
        clients: Shared<PostgresClients>,
    ) -> PostgresState {
        PostgresState {
            access: AddressState::new(declared, allowed, clients),
            open: 0,
            builders: 0,
        }
    }
}

/// What the Postgres traits are implemented on.
pub type PostgresView<'a> = View<'a, PostgresState>;

/// Links every version of Spin's Postgres interface.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    v2::add_to_linker(linker, get)?;
    v3::add_to_linker(linker, get)?;
    v4::add_to_linker(linker, get)
}

/// The key of a pool: the address, and the root certificate's digest when there is one.
fn pool_key(address: &str, root_ca: Option<&str>) -> String {
    match root_ca {
        Some(pem) => format!("{address}#ca={}", hex::encode(Sha256::digest(pem))),
        None => address.to_string(),
    }
}

async fn pool(
    access: &AddressState<PostgresClients>,
    address: &str,
    options: PgConnectOptions,
    root_ca: Option<&str>,
) -> Result<PgPool, Error> {
    let options = match root_ca {
        Some(pem) => options.ssl_root_cert_from_pem(pem.as_bytes().to_vec()),
        None => options,
    };
    access
        .client(
            &pool_key(address, root_ca),
            |full| Error::ConnectionFailed(format!("Postgres: {full}")),
            || async {
                PgPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_release(|conn, _| {
                        // Fails inside a transaction block: the connection is closed then,
                        // so no component inherits another's open transaction.
                        Box::pin(async move { Ok(conn.execute("DISCARD ALL").await.is_ok()) })
                    })
                    .connect_with(options)
                    .await
                    .map_err(|e| Error::ConnectionFailed(e.to_string()))
            },
        )
        .await
}

impl PostgresView<'_> {
    /// Opens `address` for the instance, if its grant allows it (every version's `connection`
    /// is a [`PgConnection`]).
    async fn connect(
        &mut self,
        address: &str,
        root_ca: Option<&str>,
    ) -> Result<Resource<PgConnection>, Error> {
        let target = address::parse(address).map_err(Error::ConnectionFailed)?;
        let destination = format!("postgres://{}", target.destination);
        if !self.state.access.allows("postgres", &destination) {
            // Spin's words, naming the destination without the credentials.
            return Err(Error::ConnectionFailed(format!(
                "address {destination} is not permitted"
            )));
        }
        if self.state.open >= MAX_OPEN {
            return Err(Error::ConnectionFailed("too many connections".into()));
        }
        let pool = pool(&self.state.access, address, target.options, root_ca).await?;
        let conn = pool
            .acquire()
            .await
            .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
        let resource = self
            .table
            .push(PgConnection { conn })
            .map_err(|e| Error::Other(e.to_string()))?;
        self.state.open += 1;
        Ok(resource)
    }

    /// The server connection of `conn`.
    fn connection(
        &mut self,
        conn: &Resource<PgConnection>,
    ) -> wasmtime::Result<&mut sqlx::PgConnection> {
        Ok(&mut self.table.get_mut(conn)?.conn)
    }

    /// Closes `conn` (its server connection goes back to the pool).
    fn close(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.state.open = self.state.open.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::pool_key;

    #[test]
    fn a_root_certificate_gets_its_own_pool() {
        assert_eq!(pool_key("postgres://h/db", None), "postgres://h/db");
        let with = pool_key("postgres://h/db", Some("PEM"));
        assert!(with.starts_with("postgres://h/db#ca="), "{with}");
        assert_ne!(with, pool_key("postgres://h/db", Some("OTHER")));
    }
}

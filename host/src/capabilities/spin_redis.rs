//! `fermyon:spin/redis@2.0.0`: Spin's Redis interface. A component opens the address it
//! names (`redis://host:port`), which must be in its `allowed_outbound_hosts`; connections
//! are shared per address across instances, as Spin shares them.
//!
//! Grant: the component's outbound grant (see [`super::outbound_http`]). State: the grant and
//! the host's connections by address. Resources: open connections ([`RedisConnection`]).

use std::time::Duration;

use redis::aio::ConnectionManager;
use wasmtime::component::{Linker, Resource};

use super::base::{HasView, View};
use super::by_address::{AddressState, ByAddress};
use crate::bindings::fermyon::spin::redis::{
    Error, Host, HostConnection, Payload, RedisParameter, RedisResult,
};

/// An open connection: a handle on the shared manager of its address.
pub struct RedisConnection {
    conn: ConnectionManager,
}

/// The connections of every component, by component and address (at most 32 per host, 8
/// per component).
pub type RedisClients = ByAddress<ConnectionManager, 32>;

async fn connection(state: &RedisState, address: &str) -> Result<ConnectionManager, Error> {
    state
        .client(
            address,
            |_| Error::TooManyConnections,
            || async {
                let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
                let config =
                    crate::store::kv::reconnecting(Duration::from_secs(5), Duration::from_secs(10));
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| Error::Other(format!("cannot connect to Redis: {e}")))
            },
        )
        .await
}

fn other(e: redis::RedisError) -> Error {
    if e.kind() == redis::ErrorKind::TypeError
        || e.to_string().contains("WRONGTYPE")
        || e.to_string().contains("not an integer")
    {
        return Error::TypeError;
    }
    Error::Other(e.to_string())
}

/// Spin's Redis capability of one instance.
pub type RedisState = AddressState<RedisClients>;

/// What the Redis traits are implemented on.
pub type RedisView<'a> = View<'a, RedisState>;

/// Links `fermyon:spin/redis@2.0.0`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> RedisView<'_>,
) -> wasmtime::Result<()> {
    // Spelled out: `redis` alone is the client crate.
    crate::bindings::fermyon::spin::redis::add_to_linker::<T, HasView<RedisState>>(linker, get)
}

impl RedisView<'_> {
    fn redis(&self, conn: &Resource<RedisConnection>) -> wasmtime::Result<ConnectionManager> {
        Ok(self.table.get(conn)?.conn.clone())
    }
}

async fn run<T: redis::FromRedisValue>(
    mut conn: ConnectionManager,
    cmd: &redis::Cmd,
) -> Result<T, Error> {
    cmd.query_async(&mut conn).await.map_err(other)
}

/// Spin's flattening of a reply into results: an array gives one result per element.
fn results(value: redis::Value, out: &mut Vec<RedisResult>) {
    use redis::Value as V;
    match value {
        V::Nil => out.push(RedisResult::Nil),
        V::Int(n) => out.push(RedisResult::Int64(n)),
        V::BulkString(b) => out.push(RedisResult::Binary(b)),
        V::SimpleString(s) => out.push(RedisResult::Status(s)),
        V::Okay => out.push(RedisResult::Status("OK".into())),
        V::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        V::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        V::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        V::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        V::Array(items) | V::Set(items) => {
            for item in items {
                results(item, out);
            }
        }
        V::Map(pairs) => {
            for (k, v) in pairs {
                results(k, out);
                results(v, out);
            }
        }
        V::Attribute { data, .. } => results(*data, out),
        V::Push { data, .. } => {
            for item in data {
                results(item, out);
            }
        }
        V::ServerError(e) => out.push(RedisResult::Status(format!("{e:?}"))),
    }
}

impl Host for RedisView<'_> {}

impl HostConnection for RedisView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        if !self.state.allows("redis", &address) {
            return Ok(Err(Error::InvalidAddress));
        }
        let conn = match connection(self.state, &address).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .table
            .push(RedisConnection { conn })
            .map_err(|_| Error::TooManyConnections))
    }

    async fn publish(
        &mut self,
        conn: Resource<RedisConnection>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let c = self.redis(&conn)?;
        Ok(
            run::<i64>(c, redis::cmd("PUBLISH").arg(channel).arg(payload))
                .await
                .map(|_| ()),
        )
    }

    async fn get(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("GET").arg(key)).await)
    }

    async fn set(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("SET").arg(key).arg(value)).await)
    }

    async fn incr(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("INCR").arg(key)).await)
    }

    async fn del(
        &mut self,
        conn: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("DEL").arg(keys)).await)
    }

    async fn sadd(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("SADD").arg(key).arg(values)).await)
    }

    async fn smembers(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("SMEMBERS").arg(key)).await)
    }

    async fn srem(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let c = self.redis(&conn)?;
        Ok(run(c, redis::cmd("SREM").arg(key).arg(values)).await)
    }

    async fn execute(
        &mut self,
        conn: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let c = self.redis(&conn)?;
        let mut cmd = redis::cmd(&command);
        for a in arguments {
            match a {
                RedisParameter::Int64(n) => cmd.arg(n),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        Ok(run::<redis::Value>(c, &cmd).await.map(|v| {
            let mut out = Vec::new();
            results(v, &mut out);
            out
        }))
    }

    async fn drop(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

//! Per-instance state: what one component instance may reach.

use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::guest_log::GuestLog;
use crate::capabilities::outbound_http::{AllowedHosts, OutboundHooks};
use crate::capabilities::spin_postgres::PostgresClients;
use crate::capabilities::spin_redis::RedisClients;
use crate::events::EventHub;
use crate::manifest::Variables;
use crate::market::Market;
use crate::store::kv::KeyValue;
use crate::store::sql::Sql;

/// Shared platform services, one per host process.
pub struct Platform {
    /// Key-value backend.
    pub kv: KeyValue,
    /// SQL backend.
    pub sql: Sql,
    /// Event hub.
    pub events: Arc<EventHub>,
    /// Native matching core.
    pub market: Market,
    /// Connections for Spin's Redis interface, by address.
    pub redis_clients: RedisClients,
    /// Pools for Spin's Postgres interface, by address.
    pub postgres_clients: PostgresClients,
}

/// What the manifest grants one component.
#[derive(Debug, Clone)]
pub struct ComponentContext {
    /// Component id.
    pub name: String,
    /// Key-value store labels it may open.
    pub key_value_stores: Vec<String>,
    /// SQL databases it may open.
    pub sqlite_databases: Vec<String>,
    /// Its resolved variables.
    pub variables: Variables,
    /// Where its outgoing HTTP requests may go.
    pub outbound: Arc<AllowedHosts>,
}

/// The `T` of every `Store<T>`: one per instance, dropped with it.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) outbound: OutboundHooks,
    pub(crate) table: ResourceTable,
    pub(crate) limits: StoreLimits,
    pub(crate) component: Arc<ComponentContext>,
    pub(crate) platform: Arc<Platform>,
}

impl HostState {
    /// A sandbox for `component`: no environment, no arguments, no files, no network beyond
    /// the HTTP destinations its manifest grants; guest
    /// stdout/stderr become log lines tagged with the component and the request id.
    pub fn new(
        component: Arc<ComponentContext>,
        platform: Arc<Platform>,
        memory_bytes: usize,
        request_id: &str,
    ) -> HostState {
        let wasi = WasiCtx::builder()
            .stdout(GuestLog::new(&component.name, request_id, "stdout"))
            .stderr(GuestLog::new(&component.name, request_id, "stderr"))
            .build();
        HostState {
            wasi,
            http: WasiHttpCtx::new(),
            outbound: OutboundHooks::new(&component.name, component.outbound.clone()),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(64)
                .tables(64)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
            component,
            platform,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

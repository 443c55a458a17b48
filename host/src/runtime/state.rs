//! Per-instance state: what one component instance may reach. [`HostState`] is a plain
//! struct of WASI, `wasi:http`, the resource table, the memory limits and every capability's
//! state ([`Capabilities`]); [`Platform`] is the bundle of host services the capabilities'
//! handles are taken from.

use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::guest_log::GuestLog;
use crate::capabilities::spin_postgres::PostgresClients;
use crate::capabilities::spin_redis::RedisClients;
use crate::capabilities::{Capabilities, CapabilitiesView, HasCapabilities, Services, Shared};
use crate::events::EventHub;
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

impl Platform {
    /// The capabilities' handles on these services: each keeps the platform alive.
    pub(crate) fn services(self: &Arc<Platform>) -> Services {
        Services {
            kv: Shared::project(self.clone(), |p| &p.kv),
            sql: Shared::project(self.clone(), |p| &p.sql),
            events: self.events.clone(),
            market: Shared::project(self.clone(), |p| &p.market),
            redis_clients: Shared::project(self.clone(), |p| &p.redis_clients),
            postgres_clients: Shared::project(self.clone(), |p| &p.postgres_clients),
        }
    }
}

/// The `T` of every `Store<T>`: one per instance, dropped with it.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    capabilities: Capabilities,
    log: GuestLog,
}

impl HostState {
    /// A sandbox for `component`: only the environment its manifest sets, no arguments, no
    /// files, no network beyond
    /// the destinations its manifest grants (HTTP, and sockets where an entry allows them), and its own copy of `capabilities`; guest
    /// stdout/stderr become log lines tagged with the component and the request id.
    pub fn new(
        component: &str,
        capabilities: &Capabilities,
        memory_bytes: usize,
        request_id: &str,
    ) -> HostState {
        let log = GuestLog::new(component, request_id, "stdout");
        let mut wasi = WasiCtx::builder();
        wasi.stdout(log.clone())
            .stderr(log.on("stderr"))
            .envs(&capabilities.environment);
        crate::capabilities::outbound_http::open_sockets(
            &mut wasi,
            component,
            capabilities.outbound_http.allowed(),
        );
        let wasi = wasi.build();
        HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(64)
                .tables(64)
                .memories(16)
                .trap_on_grow_failure(true)
                .build(),
            capabilities: capabilities.clone(),
            log,
        }
    }

    /// Tags the guest's further output with `request_id` (a reused instance's next request).
    pub(super) fn retag(&self, request_id: Arc<str>) {
        self.log.retag(request_id);
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
            hooks: &mut self.capabilities.outbound_http,
        }
    }
}

impl HasCapabilities for HostState {
    fn capabilities(&mut self) -> CapabilitiesView<'_> {
        CapabilitiesView {
            states: &mut self.capabilities,
            table: &mut self.table,
        }
    }
}

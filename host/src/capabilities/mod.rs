//! The host side of each WIT import, one module per capability, and the one list of them.
//!
//! A capability module owns:
//! - its grant: what the component's manifest entry allows it (store labels, databases,
//!   outbound hosts, variables), read from [`Declared`] when a version loads; a grant that
//!   does not resolve refuses the version there ([`GrantError`]), never at call time;
//! - its per-instance state: the grant and a handle on the one host service it adapts;
//! - a view over that state (with the instance's `ResourceTable` when it has resources,
//!   [`base::View`]) on which its `bindgen!` traits are implemented;
//! - its own `add_to_linker`, which links its WIT interfaces with that view.
//!
//! This module composes them: [`Capabilities`] is every capability's state for one
//! component, built once per loaded version and cloned into each instance; [`link`] is the
//! list of capabilities a linker gets, where `--spin-compat` picks Spin's only. Adding a
//! capability is its module plus its line in each of those two places.
//!
//! Invariants: no module here imports `crate::runtime` (the runtime builds [`Services`] from
//! its platform services and implements [`HasCapabilities`] for its store data); a
//! capability reaches only the service handed to it, never the others.

pub mod base;
pub mod by_address;
pub mod events;
pub mod key_value;
pub mod market;
pub mod outbound_http;
pub mod spin_mqtt;
pub mod spin_postgres;
pub mod spin_redis;
pub mod spin_sqlite3;
pub mod sql;
pub mod variables;
pub mod wasi_config;
pub mod wasi_keyvalue;

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi_http::WasiHttpView;

pub use base::{Declared, GrantError, Shared};

use base::View;
use events::EventsState;
use key_value::KeyValueState;
use market::MarketState;
use outbound_http::OutboundHooks;
use spin_mqtt::MqttState;
use spin_postgres::{PostgresClients, PostgresState};
use spin_redis::{RedisClients, RedisState};
use sql::SqlState;
use variables::VariablesState;

use crate::events::EventHub;
use crate::market::Market;
use crate::store::kv::KeyValue;
use crate::store::sql::Sql;

/// The host services capabilities adapt, one handle each.
#[derive(Clone)]
pub struct Services {
    /// Key-value backend.
    pub kv: Shared<KeyValue>,
    /// SQL backend.
    pub sql: Shared<Sql>,
    /// Event hub.
    pub events: Arc<EventHub>,
    /// Native matching core.
    pub market: Shared<Market>,
    /// Connections for Spin's Redis interface, by address.
    pub redis_clients: Shared<RedisClients>,
    /// Pools for Spin's Postgres interface, by address.
    pub postgres_clients: Shared<PostgresClients>,
}

/// Every capability's state for one component. Built (and its grants checked) once per
/// loaded version; each instance gets its own clone, which shares the grants and services.
#[derive(Clone)]
pub struct Capabilities {
    /// Spin's key-value and `wasi:keyvalue`.
    pub key_value: KeyValueState,
    /// Spin's SQLite, `@2.0.0` and `@3.0.0`.
    pub sql: SqlState,
    /// Spin's variables and `wasi:config`.
    pub variables: VariablesState,
    /// The `wasi:http` hooks, behind the outbound grant.
    pub outbound_http: OutboundHooks,
    /// Spin's Redis.
    pub redis: RedisState,
    /// Spin's Postgres, `@2.0.0`, `@3.0.0` and `@4`.
    pub postgres: PostgresState,
    /// Spin's MQTT.
    pub mqtt: MqttState,
    /// `bourse:platform/market`.
    pub market: MarketState,
    /// `bourse:platform/events`.
    pub events: EventsState,
    /// The guest's environment variables (the manifest's `environment`, as Spin sets them).
    pub environment: Arc<[(String, String)]>,
}

impl Capabilities {
    /// The grants of `declared` over `services`, or why its manifest entry is unusable.
    pub fn grant(declared: &Declared<'_>, services: &Services) -> Result<Self, GrantError> {
        let outbound = outbound_http::grant(declared)?;
        Ok(Capabilities {
            key_value: KeyValueState::new(declared, services.kv.clone()),
            sql: SqlState::new(declared, services.sql.clone()),
            variables: VariablesState::new(declared),
            outbound_http: OutboundHooks::new(declared.name, outbound.clone()),
            redis: RedisState::new(declared, outbound.clone(), services.redis_clients.clone()),
            postgres: PostgresState::new(
                declared,
                outbound.clone(),
                services.postgres_clients.clone(),
            ),
            mqtt: MqttState::new(declared, outbound),
            market: MarketState::new(services.market.clone()),
            events: EventsState::new(declared, services.events.clone()),
            environment: declared
                .decl
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

/// The capabilities' part of a store's data, borrowed together with the instance's table.
pub struct CapabilitiesView<'a> {
    /// Every capability's state.
    pub states: &'a mut Capabilities,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

impl<'a> CapabilitiesView<'a> {
    /// The view of the capability whose state `pick` selects.
    pub fn view<S>(self, pick: fn(&mut Capabilities) -> &mut S) -> View<'a, S> {
        View {
            state: pick(self.states),
            table: self.table,
        }
    }

    /// The state `pick` selects, for a capability without resources.
    pub fn state<S>(self, pick: fn(&mut Capabilities) -> &mut S) -> &'a mut S {
        pick(self.states)
    }
}

/// A store's data that hosts capabilities: WASI, `wasi:http` and every capability's state.
pub trait HasCapabilities: WasiView + WasiHttpView + Send + 'static {
    /// The capabilities' states and the instance's table.
    fn capabilities(&mut self) -> CapabilitiesView<'_>;
}

/// Which capabilities a host links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// Everything: Spin's interfaces and Bourse's own (market, events).
    Bourse,
    /// Spin's interfaces only, as `--spin-compat` runs: a component that needs the market or
    /// the event hub must bring it as a composed dependency.
    Spin,
}

/// The interfaces [`link`] hosts for `set`, as `ns:pkg/iface@version`, with the version cut
/// to what semver-compatible versions share (see `runtime::contract::compatible_name`). Kept
/// beside [`link`]: a capability added there is added here (a test holds them together).
pub fn hosted(set: Set) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    // wasmtime-wasi's WASIp2 and wasmtime-wasi-http's types and client.
    for (package, interfaces) in [
        ("wasi:io", &["error", "poll", "streams"][..]),
        ("wasi:clocks", &["monotonic-clock", "wall-clock"]),
        ("wasi:random", &["random", "insecure", "insecure-seed"]),
        (
            "wasi:cli",
            &[
                "environment",
                "exit",
                "stdin",
                "stdout",
                "stderr",
                "terminal-input",
                "terminal-output",
                "terminal-stdin",
                "terminal-stdout",
                "terminal-stderr",
            ],
        ),
        ("wasi:filesystem", &["types", "preopens"]),
        (
            "wasi:sockets",
            &[
                "network",
                "instance-network",
                "tcp",
                "tcp-create-socket",
                "udp",
                "udp-create-socket",
                "ip-name-lookup",
            ],
        ),
        ("wasi:http", &["types", "outgoing-handler"]),
    ] {
        names.extend(interfaces.iter().map(|i| format!("{package}/{i}@0.2")));
    }
    names.extend(
        [
            "fermyon:spin/key-value@2",
            "fermyon:spin/sqlite@2",
            "fermyon:spin/variables@2",
            "fermyon:spin/redis@2",
            "fermyon:spin/postgres@2",
            "fermyon:spin/mqtt@2",
            "spin:sqlite/sqlite@3",
            "spin:postgres/postgres@3",
            "spin:postgres/postgres@4",
            "wasi:config/store@0.2",
            "wasi:keyvalue/store@0.2",
            "wasi:keyvalue/atomics@0.2",
            "wasi:keyvalue/batch@0.2",
        ]
        .map(String::from),
    );
    if set == Set::Bourse {
        names
            .extend(["bourse:platform/market@0.1", "bourse:platform/events@0.1"].map(String::from));
    }
    names
}

/// Links the capabilities of `set` (and WASI) into `linker`: the one list of capabilities.
pub fn link<T: HasCapabilities>(linker: &mut Linker<T>, set: Set) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    outbound_http::add_to_linker(linker)?;
    key_value::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.key_value))?;
    wasi_keyvalue::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.key_value))?;
    sql::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.sql))?;
    spin_sqlite3::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.sql))?;
    variables::add_to_linker(linker, |t| t.capabilities().state(|c| &mut c.variables))?;
    wasi_config::add_to_linker(linker, |t| t.capabilities().state(|c| &mut c.variables))?;
    spin_redis::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.redis))?;
    spin_postgres::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.postgres))?;
    spin_mqtt::add_to_linker(linker, |t| t.capabilities().view(|c| &mut c.mqtt))?;
    if set == Set::Bourse {
        market::add_to_linker(linker, |t| t.capabilities().state(|c| &mut c.market))?;
        events::add_to_linker(linker, |t| t.capabilities().state(|c| &mut c.events))?;
    }
    Ok(())
}

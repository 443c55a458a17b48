//! Bourse: a WebAssembly component platform for trading systems.
//!
//! The host is built in layers and its imports point one way: [`server`] builds every service
//! once and hands each part what it uses; [`api`] calls into [`runtime`], which links
//! [`capabilities`], thin adapters over the domain services ([`market`], [`events`], [`cluster`],
//! [`simulation`], [`store`]). No module imports a module that imports it back. A request's
//! data flows api → runtime → component → capabilities → store / market → events → api.
//! How the parts fit, and why: `docs/architecture.md`.
//!
//! One line per module of `host/src`:
//! - [`server`]: builds every service once (stores, market, event hub, cluster link, runtime,
//!   simulation workers) and hands each part what it uses; the listener.
//! - [`api`]: the HTTP edge: platform routes, `/admin`, `/ws`, dispatch of application routes
//!   to components, the `Principal` extractor, hardening layers, the one JSON error shape,
//!   Spin's request headers and the Spin dialect's front door.
//! - [`runtime`]: the Wasmtime engine, the component registry, instances from one store
//!   constructor (fresh, or reused for HTTP through `ProxyHandler`), hot swap (versions,
//!   artifact cache, smoke cases, file watcher, contract checks, composition, core modules
//!   made into components).
//! - [`capabilities`]: one module per WIT import, each owning its grant from the manifest, its
//!   per-instance state and its `add_to_linker`.
//! - [`market`]: the native matching service: shards, the journal and its fencing tokens,
//!   snapshot and replay, shard leases and calls forwarded to a shard's owner.
//! - [`events`]: the event hub: rooms of numbered events, kept for clients that come back.
//! - [`cluster`]: replicas as one platform through Redis: the shared channel, the bus.
//! - [`instance`]: this process's identity among replicas.
//! - [`simulation`]: seeded runs into a sandbox venue, their bounds and results, delegation to
//!   simulation instances.
//! - [`store`]: SQL (Postgres or SQLite), key-value (Redis or in-process), rate-limit buckets,
//!   per-component SQL roles and SQLite confinement.
//! - [`manifest`]: `spin.toml` (Spin's manifest v2), route matching, variables, the
//!   `allowed_outbound_hosts` syntax.
//! - [`config`]: the typed environment, validated once at start.
//! - [`telemetry`]: logs and Prometheus metrics.
//! - `build`: `bourse build`, each component's build command, skipped when its `.wasm` is fresh.
//! - [`scaffold`]: `bourse new`, a component from a template (`templates/`) and its manifest
//!   entry.
//! - `commands` (in the `bourse` binary): the CLI: `up`, `serve`, `build`, `check`, `deploy`,
//!   `components`, `rollback` and the rest.
//! - [`bindings`], [`wasi_bindings`]: host bindings generated from `wit/`.

pub mod api;
pub mod build;
pub mod capabilities;
pub mod cluster;
pub mod config;
pub mod events;
pub mod instance;
pub mod manifest;
pub mod market;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub mod simulation;
pub mod store;
pub mod telemetry;

/// Host bindings generated from `wit/` (world `bourse:platform/bourse-host`).
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "bourse:platform/bourse-host",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        with: {
            "fermyon:spin/key-value.store": crate::capabilities::key_value::KvStore,
            "fermyon:spin/sqlite.connection": crate::capabilities::sql::SqlConnection,
            "fermyon:spin/redis.connection": crate::capabilities::spin_redis::RedisConnection,
            "fermyon:spin/postgres.connection": crate::capabilities::spin_postgres::PgConnection,
        },
    });
}

/// Host bindings of Spin's interfaces beyond [`bindings`] (world
/// `bourse:platform/spin-wasi-host`: WASI key-value and config, `spin:sqlite@3`, `spin:postgres@3`
/// and `@4`, MQTT), apart from
/// [`bindings`] because the compare-and-swap error carries a resource, which cannot take the
/// `PartialEq` those types derive.
pub mod wasi_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "bourse:platform/spin-wasi-host",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::capabilities::key_value::KvStore,
            "wasi:keyvalue/atomics.cas": crate::capabilities::wasi_keyvalue::Cas,
            "spin:sqlite/sqlite.connection": crate::capabilities::sql::SqlConnection,
            "fermyon:spin/mqtt.connection": crate::capabilities::spin_mqtt::MqttConnection,
            "spin:postgres/postgres@3.0.0.connection": crate::capabilities::spin_postgres::PgConnection,
            "spin:postgres/postgres@4.1.0.connection": crate::capabilities::spin_postgres::PgConnection,
            "spin:postgres/postgres@4.1.0.connection-builder": crate::capabilities::spin_postgres::PgConnectionBuilder,
        },
    });
}

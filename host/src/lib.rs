//! Bourse: a WebAssembly component platform for trading systems.
//!
//! Data flows one way: [`api`] → [`runtime`] → component → [`capabilities`] →
//! [`store`] / market → events → [`api`].

pub mod api;
pub mod build;
pub mod capabilities;
pub mod cluster;
pub mod config;
pub mod instance;
pub mod manifest;
pub mod runtime;
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

/// Host bindings of Spin's interfaces beyond `fermyon:spin@2.0.0` (world
/// `bourse:platform/spin-wasi-host`: WASI key-value and config, `spin:sqlite@3`), apart from
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
        },
    });
}

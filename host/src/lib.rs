//! Bourse: a WebAssembly component platform for trading systems.
//!
//! Data flows one way: [`api`] → [`runtime`] → component → [`capabilities`] →
//! [`store`] / market → events → [`api`].

pub mod api;
pub mod build;
pub mod capabilities;
pub mod config;
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
        additional_derives: [PartialEq],
        with: {
            "fermyon:spin/key-value.store": crate::capabilities::key_value::KvStore,
            "fermyon:spin/sqlite.connection": crate::capabilities::sql::SqlConnection,
            "fermyon:spin/redis.connection": crate::capabilities::spin_redis::RedisConnection,
            "fermyon:spin/postgres.connection": crate::capabilities::spin_postgres::PgConnection,
        },
    });
}

//! The host side of each WIT import, one module per capability. Each implements the
//! `bindgen!` traits on [`crate::runtime::HostState`] and owns its resource types.

pub mod by_address;
pub mod events;
pub mod key_value;
pub mod market;
pub mod outbound_http;
pub mod spin_postgres;
pub mod spin_redis;
pub mod spin_sqlite3;
pub mod sql;
pub mod variables;
pub mod wasi_config;
pub mod wasi_keyvalue;

//! Bourse's native matching core: a deterministic, single-threaded, multi-symbol
//! limit order book with price-time priority.
//!
//! All state changes go through [`Engine::execute`] with a serialisable [`Command`], so
//! the host can journal commands and rebuild state from a [`EngineSnapshot`] plus the
//! journal tail. Events are pushed into a caller-supplied [`EventSink`]; with a reused
//! `Vec<Event>` and capacities sized via [`EngineConfig`], the steady state allocates nothing.
//!
//! [`venue::Venue`] wraps an engine with the `bourse:platform/market` semantics (symbol
//! names, account interning, sequential order ids, client order ids) for the host and the
//! `market` wasm component alike.

mod book;
mod command;
pub mod decimal;
mod engine;
mod event;
mod hash;
mod index;
mod matching;
mod query;
mod reject;
mod snapshot;
mod types;
pub mod venue;

pub use command::Command;
pub use engine::Engine;
pub use event::{CancelReason, Event, EventKind, EventSink, Liquidity, NullSink};
pub use query::{Depth, LevelView, OrderState, OrderStatus, Report, TopOfBook};
pub use reject::{RejectReason, SymbolError};
pub use snapshot::{BookSnapshot, EngineSnapshot, RestingOrder, SNAPSHOT_VERSION, SnapshotError};
pub use types::{
    AccountId, EngineConfig, OrderId, OrderType, Price, Quantity, Side, StpMode, SymbolConfig,
    SymbolId,
};

//! State and linking of the two Bourse-only capabilities, `bourse:platform/market` and
//! `bourse:platform/events`. Their trait impls are the thin adapters in [`super::market`]
//! and [`super::events`]; neither has a manifest grant (every component may trade and
//! publish) nor resources.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::base::{Declared, Shared};
use super::events::EventHub;
use super::market::Market;
use crate::bindings::bourse::platform::{events, market, types};

/// The market capability of one instance: the host's matching core.
#[derive(Clone)]
pub struct MarketState {
    pub(crate) market: Shared<Market>,
}

impl MarketState {
    /// A handle on `market`.
    pub fn new(market: Shared<Market>) -> MarketState {
        MarketState { market }
    }
}

/// Links `bourse:platform/market` and the `types` it uses.
pub fn add_market_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut MarketState,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasSelf<MarketState>>(linker, get)?;
    market::add_to_linker::<T, HasSelf<MarketState>>(linker, get)
}

/// The events capability of one instance: the hub, and the component its events come from.
#[derive(Clone)]
pub struct EventsState {
    pub(crate) component: Arc<str>,
    pub(crate) events: Arc<EventHub>,
}

impl EventsState {
    /// `declared` publishing on `events`.
    pub fn new(declared: &Declared<'_>, events: Arc<EventHub>) -> EventsState {
        EventsState {
            component: declared.name.into(),
            events,
        }
    }
}

/// Links `bourse:platform/events`.
pub fn add_events_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut EventsState,
) -> wasmtime::Result<()> {
    events::add_to_linker::<T, HasSelf<EventsState>>(linker, get)
}

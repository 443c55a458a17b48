//! `bourse:platform/events`: components publish JSON to named rooms of the event hub
//! ([`crate::events`]), under their own name as the events' source.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use super::base::Declared;
use crate::bindings::bourse::platform::events::{self as wit, Host, PublishError};
use crate::events::{self, EventHub};

/// The events capability of one instance: the hub, and the component its events come from.
/// Every component may publish (rooms and payloads are bounded by the hub), so it has no
/// manifest grant, and it has no resources.
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
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut EventsState,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSelf<EventsState>>(linker, get)
}

impl Host for EventsState {
    async fn publish(
        &mut self,
        room: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), PublishError>> {
        Ok(self
            .events
            .publish(&self.component, &room, &payload)
            .await
            .map(|_| ())
            .map_err(publish_error))
    }
}

fn publish_error(e: events::PublishError) -> PublishError {
    match e {
        events::PublishError::InvalidRoom(m) => PublishError::InvalidRoom(m),
        events::PublishError::InvalidPayload(m) => PublishError::InvalidPayload(m),
    }
}

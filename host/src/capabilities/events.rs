//! `bourse:platform/events`: components publish JSON to named rooms of the event hub
//! ([`crate::events`]), under their own name as the events' source.

use crate::bindings::bourse::platform::events::{Host, PublishError};
use crate::events;
use crate::runtime::HostState;

impl Host for HostState {
    async fn publish(
        &mut self,
        room: String,
        payload: String,
    ) -> wasmtime::Result<Result<(), PublishError>> {
        Ok(self
            .platform
            .events
            .publish(&self.component.name, &room, &payload)
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

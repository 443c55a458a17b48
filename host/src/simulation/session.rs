//! A generator session: one instance of the simulation component that keeps its state
//! (its agents, its random stream) across `next-batch` calls, on the version it started on.

use crate::bindings::bourse::platform::types::OrderRequest;
use crate::bindings::exports::bourse::platform::generator::{self, Scenario};
use crate::runtime::{CallError, Hold, Instance, Runtime};

/// The export a generator session needs.
const EXPORT: &str = "bourse:platform/generator";

/// A running generator instance.
pub struct Session {
    instance: Instance,
    guest: generator::Guest,
}

impl Session {
    /// Starts `scenario` on a fresh instance of component `name`: `Ok(Err(why))` when the
    /// generator refuses the scenario. Refused while the host is above its memory bound.
    pub async fn start(
        runtime: &Runtime,
        name: &str,
        scenario: &Scenario,
    ) -> Result<Result<Session, String>, CallError> {
        let component = runtime.component(name)?;
        let indices = generator::GuestIndices::new(component.pre()).map_err(|_| {
            CallError::MissingExport {
                name: name.to_string(),
                export: EXPORT,
            }
        })?;
        runtime.check_memory()?;
        let mut instance = component.instantiate("simulation", Hold::Session).await?;
        let started = async {
            let (store, handle) = instance.parts();
            let guest = indices.load(&mut *store, handle)?;
            let started = guest.call_start(store, scenario).await?;
            Ok::<_, wasmtime::Error>((guest, started))
        }
        .await;
        match started {
            Ok((guest, Ok(()))) => Ok(Ok(Session { instance, guest })),
            Ok((_, Err(message))) => Ok(Err(message)),
            Err(e) => Err(instance.classify(e)),
        }
    }

    /// The next at most `max` orders.
    pub async fn next_batch(&mut self, max: u32) -> Result<Vec<OrderRequest>, CallError> {
        // Each batch gets a fresh deadline: the session as a whole may run long.
        self.instance.renew_deadline();
        let (store, _) = self.instance.parts();
        let batch = self.guest.call_next_batch(store, max).await;
        batch.map_err(|e| self.instance.classify(e))
    }
}

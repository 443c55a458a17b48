//! Typed calls into the platform's domain worlds, for tests and benchmarks. The runtime
//! offers fresh instances (`LoadedComponent::instantiate`); what to call on them is the caller's
//! business: the host's own callers are `api::principal::authenticate` and
//! `simulation::Session` and `api::indicators::call`, and the order-handling export, which
//! the host does not call on its request path, is called here the same way.

use bourse::bindings::bourse::platform::types::{OrderResult, Principal};
use bourse::bindings::exports::bourse::platform::authenticator::AuthError;
use bourse::bindings::exports::bourse::platform::generator::Scenario;
use bourse::bindings::exports::bourse::platform::indicator::{
    RatioInput, SignalError, SignalValue,
};
use bourse::bindings::exports::bourse::platform::order_handling::{self, NewOrder, OrderError};
use bourse::runtime::{CallError, Hold, Runtime};
use bourse::simulation::Session;

/// Runs `$call` with `$guest` loaded from a fresh instance of component `$name`, under its
/// limits and instance permits, and classifies a trap as the host does.
macro_rules! typed_call {
    ($rt:expr, $name:expr, $world:ident, $export:literal, |$guest:ident, $store:ident| $call:expr) => {{
        let component = $rt.component($name)?;
        let indices =
            $world::GuestIndices::new(component.pre()).map_err(|_| CallError::MissingExport {
                name: $name.to_string(),
                export: $export,
            })?;
        let mut instance = component.instantiate("typed-call", Hold::Call).await?;
        let answer = async {
            let ($store, handle) = instance.parts();
            let $guest = indices.load(&mut *$store, handle)?;
            $call.await
        }
        .await;
        answer.map_err(|e| instance.classify(e))
    }};
}

/// The domain worlds' exports, called on a [`Runtime`].
#[allow(async_fn_in_trait)]
pub trait TypedCalls {
    /// `authenticator.authenticate` on component `name`.
    async fn authenticate(
        &self,
        name: &str,
        headers: Vec<(String, String)>,
    ) -> Result<Result<Principal, AuthError>, CallError>;

    /// `order-handling.handle` on component `name`.
    async fn place_order(
        &self,
        name: &str,
        principal: &Principal,
        order: &NewOrder,
    ) -> Result<Result<OrderResult, OrderError>, CallError>;

    /// `indicator.compute` on component `name`.
    async fn compute_signal(
        &self,
        name: &str,
        input: &RatioInput,
    ) -> Result<Result<SignalValue, SignalError>, CallError>;

    /// A generator session on component `name`.
    async fn start_simulation(
        &self,
        name: &str,
        scenario: &Scenario,
    ) -> Result<Result<Session, String>, CallError>;
}

impl TypedCalls for Runtime {
    async fn authenticate(
        &self,
        name: &str,
        headers: Vec<(String, String)>,
    ) -> Result<Result<Principal, AuthError>, CallError> {
        bourse::api::principal::authenticate(self, name, headers).await
    }

    async fn place_order(
        &self,
        name: &str,
        principal: &Principal,
        order: &NewOrder,
    ) -> Result<Result<OrderResult, OrderError>, CallError> {
        typed_call!(
            self,
            name,
            order_handling,
            "bourse:platform/order-handling",
            |guest, store| guest.call_handle(store, principal, order)
        )
    }

    async fn compute_signal(
        &self,
        name: &str,
        input: &RatioInput,
    ) -> Result<Result<SignalValue, SignalError>, CallError> {
        bourse::api::indicators::call(self, name, input).await
    }

    async fn start_simulation(
        &self,
        name: &str,
        scenario: &Scenario,
    ) -> Result<Result<Session, String>, CallError> {
        Session::start(self, name, scenario).await
    }
}

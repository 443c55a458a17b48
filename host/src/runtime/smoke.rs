//! Smoke cases run on a candidate version before it goes live: one call per domain export
//! whose correct answer every honest implementation gives, chosen so that none of them
//! changes state (no order is placed, no key is created).
//!
//! This is the one place the runtime knows the platform's domain worlds: checking a version
//! against its world before it goes live is the runtime's job. Calls on the request path
//! (authentication, generator sessions) live with their callers.

use std::sync::Arc;

use super::{CallError, Hold, Instance, LoadedComponent, Runtime};
use crate::bindings::bourse::platform::types::Principal;
use crate::bindings::exports::bourse::platform::authenticator::{self, AuthError};
use crate::bindings::exports::bourse::platform::generator::{self, AgentMix, Scenario};
use crate::bindings::exports::bourse::platform::indicator::{self, RatioInput, Regime};
use crate::bindings::exports::bourse::platform::order_handling::{self, NewOrder, OrderError};

/// Runs `call` on a fresh instance of `candidate` (with the export `indices` loaded), and
/// classifies any trap.
macro_rules! on_instance {
    ($candidate:expr, $indices:expr, |$guest:ident, $store:ident| $call:expr) => {{
        let mut instance = $candidate.instantiate("smoke-check", Hold::Call).await?;
        let result = async {
            let ($store, handle) = instance.parts();
            let $guest = $indices.load(&mut *$store, handle)?;
            $call.await
        }
        .await;
        result.map_err(|e| instance.classify(e))
    }};
}

impl Runtime {
    pub(super) async fn smoke(&self, candidate: &Arc<LoadedComponent>) -> Result<(), String> {
        let fail = |e| Runtime::candidate_error(candidate, e);
        smoke_cases(candidate).await.map_err(fail)??;
        if let Some(handler) = &candidate.http {
            // HTTP-only components: at least instantiate once.
            handler.state().instantiate_once(candidate).await?;
        }
        Ok(())
    }
}

/// The domain exports' cases: `Err(CallError)` when a call failed, `Ok(Err(why))` when an
/// answer was wrong.
async fn smoke_cases(candidate: &Arc<LoadedComponent>) -> Result<Result<(), String>, CallError> {
    if let Ok(indices) = authenticator::GuestIndices::new(candidate.pre()) {
        let answer = on_instance!(candidate, indices, |guest, store| guest
            .call_authenticate(store, &Vec::new()))?;
        match answer {
            Err(AuthError::MissingCredentials | AuthError::InvalidCredentials) => {}
            Err(AuthError::Unavailable(m)) => {
                return Ok(Err(format!(
                    "authenticate without credentials: store unavailable: {m}"
                )));
            }
            Ok(p) => {
                return Ok(Err(format!(
                    "authenticate without credentials returned principal {:?}",
                    p.id
                )));
            }
        }
    }
    if let Ok(indices) = order_handling::GuestIndices::new(candidate.pre()) {
        let principal = Principal {
            id: "smoke-check".into(),
            roles: Vec::new(),
        };
        // Malformed on purpose: a correct handler refuses it before the market sees it.
        let order = NewOrder {
            symbol: String::new(),
            side: "sideways".into(),
            kind: "limit".into(),
            price: Some("not-a-price".into()),
            quantity: "not-a-quantity".into(),
            time_in_force: None,
            post_only: false,
            client_order_id: None,
        };
        let answer = on_instance!(candidate, indices, |guest, store| guest
            .call_handle(store, &principal, &order))?;
        match answer {
            Err(OrderError::Invalid(_)) => {}
            other => {
                return Ok(Err(format!(
                    "a malformed order must be refused as invalid, got {other:?}"
                )));
            }
        }
    }
    if let Ok(indices) = indicator::GuestIndices::new(candidate.pre()) {
        let input = RatioInput {
            name: "smoke".into(),
            numerator: vec![1.0, 2.0],
            denominator: vec![1.0, 1.0],
            lookback: 1,
            above: Regime::RiskOn,
        };
        let answer = on_instance!(candidate, indices, |guest, store| guest
            .call_compute(store, &input))?;
        match answer {
            Ok(v) if v.ratio.is_finite() => {}
            other => {
                return Ok(Err(format!(
                    "compute on a valid input must give a finite ratio, got {other:?}"
                )));
            }
        }
    }
    if let Ok(indices) = generator::GuestIndices::new(candidate.pre()) {
        let scenario = Scenario {
            symbols: vec!["SMOKE".into()],
            mid: 10_000,
            spread: 10,
            max_quantity: 10,
            market_percent: 10,
            accounts: 2,
            seed: 1,
            volatility_bp: 0,
            agents: AgentMix {
                noise: 100,
                market_maker: 0,
                momentum: 0,
            },
        };
        let mut instance = candidate.instantiate("smoke-check", Hold::Session).await?;
        let batch = generator_case(&mut instance, &indices, &scenario).await;
        let batch = match batch.map_err(|e| instance.classify(e))? {
            Ok(batch) => batch,
            Err(m) => return Ok(Err(format!("start refused a valid scenario: {m}"))),
        };
        if batch.len() > 8 {
            return Ok(Err(format!(
                "next-batch(8) returned {} orders",
                batch.len()
            )));
        }
    }
    Ok(Ok(()))
}

/// `start` then `next-batch(8)` on one generator instance.
async fn generator_case(
    instance: &mut Instance,
    indices: &generator::GuestIndices,
    scenario: &Scenario,
) -> wasmtime::Result<Result<Vec<crate::bindings::bourse::platform::types::OrderRequest>, String>> {
    let (store, handle) = instance.parts();
    let guest = indices.load(&mut *store, handle)?;
    if let Err(m) = guest.call_start(&mut *store, scenario).await? {
        return Ok(Err(m));
    }
    guest.call_next_batch(store, 8).await.map(Ok)
}

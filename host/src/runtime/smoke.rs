//! Smoke cases run on a candidate version before it goes live: one call per domain export
//! whose correct answer every honest implementation gives, chosen so that none of them
//! changes state (no order is placed, no key is created).

use std::sync::Arc;

use super::{LoadedComponent, Runtime};
use crate::bindings::bourse::platform::types::Principal;
use crate::bindings::exports::bourse::platform::authenticator::AuthError;
use crate::bindings::exports::bourse::platform::generator::{AgentMix, Scenario};
use crate::bindings::exports::bourse::platform::indicator::{RatioInput, Regime};
use crate::bindings::exports::bourse::platform::order_handling::{NewOrder, OrderError};

impl Runtime {
    pub(super) async fn smoke(&self, candidate: &LoadedComponent) -> Result<(), String> {
        let fail = |e| Runtime::candidate_error(candidate, e);
        if candidate.exports.authenticator.is_some() {
            match self
                .authenticate_with(candidate, Vec::new())
                .await
                .map_err(fail)?
            {
                Err(AuthError::MissingCredentials | AuthError::InvalidCredentials) => {}
                Err(AuthError::Unavailable(m)) => {
                    return Err(format!(
                        "authenticate without credentials: store unavailable: {m}"
                    ));
                }
                Ok(p) => {
                    return Err(format!(
                        "authenticate without credentials returned principal {:?}",
                        p.id
                    ));
                }
            }
        }
        if candidate.exports.order_handling.is_some() {
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
            match self
                .place_order_with(candidate, &principal, &order)
                .await
                .map_err(fail)?
            {
                Err(OrderError::Invalid(_)) => {}
                other => {
                    return Err(format!(
                        "a malformed order must be refused as invalid, got {other:?}"
                    ));
                }
            }
        }
        if candidate.exports.indicator.is_some() {
            let input = RatioInput {
                name: "smoke".into(),
                numerator: vec![1.0, 2.0],
                denominator: vec![1.0, 1.0],
                lookback: 1,
                above: Regime::RiskOn,
            };
            match self
                .compute_signal_with(candidate, &input)
                .await
                .map_err(fail)?
            {
                Ok(v) if v.ratio.is_finite() => {}
                other => {
                    return Err(format!(
                        "compute on a valid input must give a finite ratio, got {other:?}"
                    ));
                }
            }
        }
        if candidate.exports.generator.is_some() {
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
            let shared = Arc::new(candidate_clone(candidate));
            let mut sim = match Runtime::start_simulation_with(shared, &scenario)
                .await
                .map_err(fail)?
            {
                Ok(sim) => sim,
                Err(m) => return Err(format!("start refused a valid scenario: {m}")),
            };
            let batch = sim.next_batch(8).await.map_err(fail)?;
            if batch.len() > 8 {
                return Err(format!("next-batch(8) returned {} orders", batch.len()));
            }
        }
        if let Some(proxy) = &candidate.proxy {
            // HTTP-only components: at least instantiate once.
            let mut store = super::new_store(candidate, "smoke-check");
            proxy
                .instantiate_async(&mut store)
                .await
                .map_err(|e| format!("cannot instantiate: {e:#}"))?;
        }
        Ok(())
    }
}

/// The generator session owns an `Arc`; the candidate is not shared yet, so give it a handle
/// to the same compiled code.
fn candidate_clone(c: &LoadedComponent) -> LoadedComponent {
    LoadedComponent {
        name: c.name.clone(),
        world: c.world.clone(),
        digest: c.digest.clone(),
        source: c.source.clone(),
        size: c.size,
        limits: c.limits,
        capabilities: c.capabilities.clone(),
        pre: c.pre.clone(),
        proxy: c.proxy.clone(),
        exports: c.exports.clone(),
        permits: c.permits.clone(),
        http_permits: c.http_permits.clone(),
    }
}

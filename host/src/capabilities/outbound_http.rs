//! Outgoing HTTP (`wasi:http/outgoing-handler`) behind the component's
//! `allowed_outbound_hosts`: a request anywhere else fails with `HTTP-request-denied` before
//! any connection is made. This module also builds the outbound grant itself (the entries with
//! their `{{ variable }}` templates resolved), which Spin's Redis and Postgres interfaces check
//! their addresses against.
//!
//! Invariant: a grant that does not resolve refuses the version at load ([`grant`]); an
//! instance never runs with a partial grant.

use std::future::Future;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView};

use super::base::{Declared, GrantError};
use crate::manifest::{AllowedHosts, resolve_template};

/// A component's `allowed_outbound_hosts`, with `{{ variable }}` templates resolved the way
/// its variables are.
pub fn grant(declared: &Declared<'_>) -> Result<Arc<AllowedHosts>, GrantError> {
    let entries = declared
        .decl
        .allowed_outbound_hosts
        .iter()
        .map(|entry| {
            resolve_template(entry, &declared.manifest.variables, declared.env)
                .map_err(|e| GrantError::Outbound(format!("{entry:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    AllowedHosts::parse(&entries)
        .map(Arc::new)
        .map_err(GrantError::Outbound)
}

/// Links `wasi:http` (types and outgoing handler); the hooks come from `T`'s
/// [`WasiHttpView`], which hands out the instance's [`OutboundHooks`].
pub fn add_to_linker<T: WasiHttpView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}

/// The `wasi:http` hooks of one instance: the default client, behind the component's grant.
/// This is the capability's per-instance state.
#[derive(Clone)]
pub struct OutboundHooks {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
}

impl OutboundHooks {
    /// Hooks for `component` with its grant.
    pub fn new(component: &str, allowed: Arc<AllowedHosts>) -> OutboundHooks {
        OutboundHooks {
            component: component.into(),
            allowed,
        }
    }
}

type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        if !self.allowed.allows(request.uri()) {
            tracing::warn!(
                component = %self.component,
                destination = %request.uri(),
                "outbound request denied: not in allowed_outbound_hosts"
            );
            metrics::counter!("bourse_outbound_requests_total", "component" => self.component.to_string(), "outcome" => "denied").increment(1);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        metrics::counter!("bourse_outbound_requests_total", "component" => self.component.to_string(), "outcome" => "sent").increment(1);
        let default: &mut dyn WasiHttpHooks = Default::default();
        default.send_request(request, options, fut)
    }
}

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

    /// The component's grant, which also governs its `wasi:sockets` connections.
    pub fn allowed(&self) -> &Arc<AllowedHosts> {
        &self.allowed
    }
}

/// Opens `wasi:sockets` in `builder` as far as `allowed` grants, as Spin does: TCP connections
/// and UDP traffic to the addresses an entry with scheme `*`, `tcp` or `udp` names; binds only
/// to an ephemeral port (the implicit bind of a client socket), never a listener; no name
/// lookups. A grant with no such entry leaves sockets closed.
pub fn open_sockets(
    builder: &mut wasmtime_wasi::WasiCtxBuilder,
    component: &str,
    allowed: &Arc<AllowedHosts>,
) {
    use wasmtime_wasi::sockets::SocketAddrUse;
    if !allowed.allows_sockets() {
        return;
    }
    let allowed = allowed.clone();
    let component: Arc<str> = component.into();
    builder
        .allow_tcp(true)
        .allow_udp(true)
        .socket_addr_check(move |addr, usage| {
            let ok = match usage {
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                    addr.ip().is_unspecified() && addr.port() == 0
                }
                SocketAddrUse::TcpConnect => allowed.allows_socket("tcp", addr),
                SocketAddrUse::UdpSend => allowed.allows_socket("udp", addr),
                _ => false,
            };
            if !ok {
                tracing::warn!(component = %component, destination = %addr, ?usage, "socket use denied: not in allowed_outbound_hosts");
            }
            Box::pin(async move { ok })
        });
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

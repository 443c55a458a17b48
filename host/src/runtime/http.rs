//! HTTP requests into components, through wasmtime-wasi-http's [`ProxyHandler`]: each
//! component version has one handler, which keeps that version's instances (its workers) and
//! hands each request to a worker that can take it, or starts one.
//!
//! What a worker may do is [`Reuse`], from the component's manifest entry: by default it
//! serves one request and is dropped (a fresh instance per request). With `instance_reuse`
//! it serves up to that many requests, one at a time for WASIp2 (up to
//! `instance_reuse_concurrency` at once for a WASIp3 component), and is dropped when:
//!
//! - it has served its count;
//! - a request on it traps or runs out its deadline (a trapped instance is never entered
//!   again);
//! - it has been idle for `idle_instance_timeout_ms`;
//! - its version is retired: a hot swap made another version live and the last call holding
//!   this one ended. Requests in flight finish on the old version; new ones go to the new.
//!
//! Each request gets its own epoch deadline and its own request id on the guest's output;
//! the memory cap is the instance's, for all the requests it serves.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, oneshot};
use wasmtime::StoreContextMut;
use wasmtime::component::GuestTaskId;
use wasmtime_wasi_http::handler::{
    self, ExpirationError, HandlerState, InstantiationError, ProxyHandler, ShouldAccept,
    TrapOrPanicError, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtxView, WasiHttpView};

use super::{
    CallError, HostState, LoadedComponent, Runtime, deadline_ticks, is_interrupt, new_store,
};

/// How a component's instances are reused for HTTP requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Reuse {
    /// Most requests one instance serves (1: a fresh instance per request).
    pub requests: u32,
    /// Most requests one instance serves at once (WASIp3 only).
    pub concurrent: u32,
    /// How long an idle instance is kept, milliseconds.
    pub idle_timeout_ms: u64,
}

/// `idle_instance_timeout_ms` when the manifest does not say (`wasmtime serve`'s default).
pub const DEFAULT_IDLE_INSTANCE_TIMEOUT_MS: u64 = 1_000;

impl Default for Reuse {
    fn default() -> Reuse {
        Reuse {
            requests: 1,
            concurrent: 1,
            idle_timeout_ms: DEFAULT_IDLE_INSTANCE_TIMEOUT_MS,
        }
    }
}

/// The handler of one component version's HTTP requests.
pub(super) type Handler = ProxyHandler<Workers>;

/// Builds `component`'s handler, if it exports `wasi:http/incoming-handler`.
pub(super) fn handler(
    component: Weak<LoadedComponent>,
    pre: &wasmtime::component::InstancePre<HostState>,
) -> Option<Handler> {
    let proxy = wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre.clone()).ok()?;
    Some(ProxyHandler::new(Workers {
        component,
        proxy: handler::ProxyPre::P2(proxy),
        retired: Arc::new(Retired::default()),
    }))
}

/// What a version's workers share: how to make an instance, and whether the version is
/// retired.
pub(super) struct Workers {
    /// Weak: the version owns its handler, and a worker must not keep a retired version alive.
    component: Weak<LoadedComponent>,
    proxy: handler::ProxyPre<HostState>,
    retired: Arc<Retired>,
}

impl Workers {
    /// No worker of this version takes another request; idle ones are dropped now.
    pub(super) fn retire(&self) {
        self.retired.set();
    }

    /// Instantiates once, for the smoke check of an HTTP-only component.
    pub(super) async fn instantiate_once(&self, component: &LoadedComponent) -> Result<(), String> {
        let mut store = new_store(component, "smoke-check");
        self.proxy
            .instantiate_async(&mut store)
            .await
            .map(drop)
            .map_err(|e| format!("cannot instantiate: {e:#}"))
    }
}

#[derive(Default)]
struct Retired {
    flag: AtomicBool,
    notify: Arc<Notify>,
}

impl Retired {
    fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

fn http_view(state: &mut HostState) -> WasiHttpCtxView<'_> {
    state.http()
}

impl HandlerState for Workers {
    type StoreData = HostState;
    type WorkerExpiration = Expiry;
    type WorkerState = Policy;

    async fn instantiate(&self) -> wasmtime::Result<handler::Instance<HostState, Expiry, Policy>> {
        let Some(component) = self.component.upgrade() else {
            wasmtime::bail!("this component version was replaced");
        };
        metrics::counter!("component_instantiations_total", "component" => component.name.clone())
            .increment(1);
        let mut store = new_store(&component, "-");
        let proxy = self.proxy.instantiate_async(&mut store).await?;
        let reuse = component.limits.reuse;
        let timeout = Duration::from_millis(component.limits.timeout_ms);
        let notified = self.retired.notify.clone().notified_owned();
        Ok(handler::Instance {
            store,
            proxy,
            view: http_view,
            expiration: Expiry {
                idle: Duration::from_millis(reuse.idle_timeout_ms),
                // The request's own expiry and the epoch trap come first; this is the
                // backstop for a worker whose event loop cannot run.
                busy: timeout + EXPIRY_GRACE * 2,
                retired: self.retired.clone(),
                retire_seen: false,
                wake: Box::pin(tokio::time::sleep(Duration::ZERO)),
                retiring: Box::pin(notified),
            },
            state: Policy {
                requests: reuse.requests as usize,
                concurrent: reuse.concurrent as usize,
                ticks: deadline_ticks(component.limits.timeout_ms),
                expiry: timeout + EXPIRY_GRACE,
                retired: self.retired.clone(),
                in_flight: Mutex::new(Vec::new()),
            },
        })
    }
}

/// How much later than the epoch trap a request is expired by the handler: the trap stops
/// the guest where it is and is reported as the timeout it is.
const EXPIRY_GRACE: Duration = Duration::from_millis(250);

/// One worker's rules for taking requests.
pub(super) struct Policy {
    requests: usize,
    concurrent: usize,
    ticks: u64,
    expiry: Duration,
    retired: Arc<Retired>,
    /// Where to say why the instance died, for each request it took whose caller still waits.
    in_flight: Mutex<Vec<oneshot::Sender<Failure>>>,
}

/// What a request brings to the worker that takes it.
pub(super) struct Ticket {
    /// The request id, for the guest's output.
    id: Arc<str>,
    /// Told why the instance died, if it dies with this request on it.
    failure: oneshot::Sender<Failure>,
}

/// Why an instance died. A trap ends the instance's event loop, so the request on it only
/// learns that no response came; the worker learns the trap, and passes it on in this.
#[derive(Debug)]
struct Failure {
    interrupted: bool,
    message: String,
}

impl Failure {
    fn of(error: &wasmtime::Error) -> Failure {
        Failure {
            interrupted: is_interrupt(error),
            message: format!("{error:#}"),
        }
    }

    fn into_error(self) -> wasmtime::Error {
        if self.interrupted {
            wasmtime::Error::from(wasmtime::Trap::Interrupt)
        } else {
            wasmtime::format_err!("{}", self.message)
        }
    }
}

impl WorkerState for Policy {
    type StoreData = HostState;
    type RequestData = Ticket;

    fn should_accept_request(&self, concurrent: usize, served: usize) -> ShouldAccept {
        if self.retired.is_set() || served >= self.requests {
            ShouldAccept::Never
        } else if concurrent >= self.concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, HostState>,
        ticket: Ticket,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        // Each request gets the whole deadline, however long the instance has lived.
        store.set_epoch_deadline(self.ticks);
        store.data().retag(ticket.id);
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.retain(|waiting| !waiting.is_closed());
        in_flight.push(ticket.failure);
        Box::pin(tokio::time::sleep(self.expiry))
    }

    fn drop(&self, store: wasmtime::Store<HostState>, result: wasmtime::Result<()>) {
        drop(store);
        if let Err(e) = result {
            let waiting = std::mem::take(
                &mut *self
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            for tx in waiting {
                _ = tx.send(Failure::of(&e));
            }
        }
    }
}

/// When a worker is done: idle too long, retired while idle, or stuck past its deadline.
pub(super) struct Expiry {
    idle: Duration,
    busy: Duration,
    retired: Arc<Retired>,
    retire_seen: bool,
    wake: Pin<Box<tokio::time::Sleep>>,
    retiring: Pin<Box<tokio::sync::futures::OwnedNotified>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        since: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let idle = status == WorkerStatus::Idle;
        if !this.retire_seen && this.retiring.as_mut().poll(cx).is_ready() {
            this.retire_seen = true;
        }
        if idle && (this.retire_seen || this.retired.is_set()) {
            return Poll::Ready(());
        }
        let deadline = since + if idle { this.idle } else { this.busy };
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        this.wake.as_mut().reset(deadline.into());
        this.wake.as_mut().poll(cx)
    }
}

/// The permits a request holds until its response body is done.
type Permits = (Option<OwnedSemaphorePermit>, OwnedSemaphorePermit);

/// A component's response body. It holds the request's permits until the body has been sent
/// or dropped, so a component streaming a long body counts against its concurrency.
pub struct ComponentBody {
    body: WasiBody,
    _permits: Permits,
}

impl Body for ComponentBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Runtime {
    /// Serves one HTTP request with component `name`'s `wasi:http/incoming-handler`.
    pub async fn handle_http<B>(
        &self,
        name: &str,
        request: hyper::Request<B>,
    ) -> Result<hyper::Response<ComponentBody>, CallError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let component = self.component(name)?;
        let Some(handler) = component.http.clone() else {
            return Err(CallError::MissingExport {
                name: name.to_string(),
                export: "wasi:http/incoming-handler",
            });
        };
        // Requests held back by `http_concurrency` queue for up to the component's deadline:
        // the bound is there to pace expensive routes, not to refuse a burst outright.
        let http_permit = match (&component.http_permits, component.limits.http_concurrency) {
            (Some(permits), Some(limit)) => Some(
                Runtime::wait_for(
                    &component,
                    permits,
                    limit,
                    Duration::from_millis(component.limits.timeout_ms),
                )
                .await?,
            ),
            _ => None,
        };
        let permit = component.permit().await?;
        let request_id: Arc<str> = Arc::from(
            request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
        );
        let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
        let (failure, died) = oneshot::channel();
        let ticket = Ticket {
            id: request_id,
            failure,
        };
        match handler.handle(ticket, request).await {
            Ok(response) => Ok(response.map(|body| ComponentBody {
                body,
                _permits: (http_permit, permit),
            })),
            Err(e) => {
                // The worker reports its instance's death right after the request learns that
                // no response came; a worker that lives on drops nothing, hence the bound.
                let error = match tokio::time::timeout(FAILURE_WAIT, died).await {
                    Ok(Ok(failure)) => failure.into_error(),
                    _ => e,
                };
                Err(request_error(&component, error))
            }
        }
    }
}

/// How long a failed request waits to learn whether its instance died, and why.
const FAILURE_WAIT: Duration = Duration::from_millis(250);

/// What a failed request means to its caller, counted and logged as every component failure.
fn request_error(component: &LoadedComponent, error: wasmtime::Error) -> CallError {
    if error.is::<ExpirationError>() {
        return Runtime::classify(component, wasmtime::Error::from(wasmtime::Trap::Interrupt));
    }
    if let Some(failed) = error.downcast_ref::<InstantiationError<Ticket>>() {
        let message = format!("cannot instantiate: {:#}", failed.error);
        return Runtime::classify(component, wasmtime::format_err!("{message}"));
    }
    if error.is::<TrapOrPanicError>() {
        return Runtime::classify(
            component,
            wasmtime::format_err!("the instance serving the request failed"),
        );
    }
    if let Some(code) = error.downcast_ref::<ErrorCode>() {
        return CallError::Trap {
            name: component.name.clone(),
            message: format!("component answered with error code {code:?}"),
        };
    }
    Runtime::classify(component, error)
}

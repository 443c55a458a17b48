//! Logs and metrics. Logs: `RUST_LOG` filters, `LOG_FORMAT=json` for machine-read logs
//! (Railway). Metrics: the `metrics` facade with a Prometheus recorder, rendered at `/metrics`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global log subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,wasmtime=warn,cranelift=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// How often histogram samples are folded into their buckets (what a scrape of `/metrics`
/// also does): the recorder holds every sample until then.
pub const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only if another recorder is installed, in which case ours still renders
        // what is recorded through it directly.
        let _ = metrics::set_global_recorder(recorder);
        // A thread rather than a task: the recorder may be made before (or without) a
        // runtime. Without it, a host nobody scrapes keeps every histogram sample.
        let upkeep = handle.clone();
        let started = std::thread::Builder::new()
            .name("bourse-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = started {
            tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
        }
        handle
    })
}

/// The route label of a request: the axum route for platform routes, the manifest route for
/// component routes (set by dispatch), never the raw path, so label cardinality stays bounded.
#[derive(Clone)]
pub struct RouteLabel(pub String);

/// Records `http_requests_total{method,route,status}` and `http_request_duration_seconds`.
/// It runs outside the router, so the route comes from the response: the label dispatch set,
/// else the path the router matched ([`MatchedRouteLayer`]).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let extensions = response.extensions();
    let route = extensions
        .get::<RouteLabel>()
        .map(|r| r.0.clone())
        .or_else(|| {
            extensions
                .get::<MatchedPath>()
                .map(|p| p.as_str().to_string())
        })
        .unwrap_or_else(|| "unmatched".to_string());
    record_request(&method, route, response.status(), started);
    response
}

/// Puts the path the router matched on the response, for [`track`] outside the router.
#[derive(Debug, Clone, Copy)]
pub struct MatchedRouteLayer;

impl<S> tower::Layer<S> for MatchedRouteLayer {
    type Service = MatchedRoute<S>;

    fn layer(&self, inner: S) -> MatchedRoute<S> {
        MatchedRoute(inner)
    }
}

/// See [`MatchedRouteLayer`].
#[derive(Debug, Clone)]
pub struct MatchedRoute<S>(S);

impl<S, B> tower::Service<axum::http::Request<B>> for MatchedRoute<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithMatchedRoute<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let matched = request.extensions().get::<MatchedPath>().cloned();
        WithMatchedRoute {
            inner: self.0.call(request),
            matched,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer, with the matched path put on it.
    pub struct WithMatchedRoute<F> {
        #[pin]
        inner: F,
        matched: Option<MatchedPath>,
    }
}

impl<F, E> std::future::Future for WithMatchedRoute<F>
where
    F: std::future::Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(matched) = this.matched.take() {
            response.extensions_mut().insert(matched);
        }
        std::task::Poll::Ready(Ok(response))
    }
}

/// Counts one answered request under its route label.
pub fn record_request(
    method: &axum::http::Method,
    route: String,
    status: axum::http::StatusCode,
    started: Instant,
) {
    use axum::http::Method;
    // Any token is a method: a client inventing methods must not grow the label set.
    let method = match *method {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => method.as_str(),
        _ => "other",
    };
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
}

/// Resident memory of this process in bytes, from /proc (0 where it is not available).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// What the allocator holds, in bytes: (in use, free but kept). Tells growth of what the
/// process holds apart from fragmentation, which the resident size mixes together. `None`
/// where the allocator does not say (other than glibc).
pub fn heap_bytes() -> Option<(u64, u64)> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 reads the allocator's counters under its own locks.
        let info = unsafe { libc::mallinfo2() };
        Some(((info.uordblks + info.hblkhd) as u64, info.fordblks as u64))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Hands memory the allocator holds but no longer uses back to the system. glibc's malloc keeps
/// what large transient allocations (a shard's snapshot, a simulation's results, an import)
/// freed in its arenas, so without this the resident size only ever climbs to the highest
/// transient peak seen and stays there, hiding what the process actually holds. Cheap enough
/// for a periodic call (it walks the arenas' free lists).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only touches the allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

//! Rate limits: every route, platform ones included, draws from the caller's buckets (its IP
//! always, its principal once known), a refused credential costs a token like any request, and
//! a client cannot pick its own IP with `X-Forwarded-For`.
//!
//! Buckets of the Redis backend are shared by every host using that Redis, so each test makes
//! up its own client IPs and principals.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, unique};
use reqwest::Method;

use super::common::access;

/// A client address no other test uses.
fn random_ip() -> String {
    let n = u64::from_str_radix(&unique(""), 16).unwrap_or(0);
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// A host behind one trusted proxy, allowing `ip` requests per second per client IP (burst
/// twice that) and `principal` per principal.
async fn limited_host(backend: Backend, ip: u64, principal: u64) -> TestHost {
    TestHost::start_custom(app_manifest(), backend, move |c| {
        c.rate_limit_ip = ip;
        c.rate_limit_principal = principal;
        c.trusted_proxies = 1;
    })
    .await
}

/// `method path` as the proxy forwards it from `forwarded_for`; the status.
async fn status_of(
    host: &TestHost,
    method: Method,
    path: &str,
    forwarded_for: &str,
    token: Option<&str>,
) -> u16 {
    let mut request = host
        .client
        .request(method, format!("{}{path}", host.url))
        .header("x-forwarded-for", forwarded_for);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request reaches the host");
    let status = response.status().as_u16();
    if status == 429 {
        let body: serde_json::Value = response.json().await.expect("a JSON error");
        assert_eq!(
            body["error"]["code"], "rate_limited",
            "a 429 says what happened: {body}"
        );
    }
    status
}

/// Three of the same request: the burst of a 1-per-second limit is two.
async fn three(
    host: &TestHost,
    method: Method,
    path: &str,
    forwarded_for: &str,
    token: Option<&str>,
) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(status_of(host, method.clone(), path, forwarded_for, token).await);
    }
    statuses
}

/// Guessing credentials is not free: a request refused for a bad token draws from the
/// caller's IP bucket like any other.
#[tokio::test]
async fn a_refused_credential_costs_a_token() {
    for backend in Backend::ALL {
        let host = limited_host(backend, 1, 0).await;
        let ip = random_ip();
        let statuses = three(&host, Method::GET, "/api/orders", &ip, Some("not-a-token")).await;
        assert_eq!(statuses, [401, 401, 429], "{backend:?}");
        host.stop().await;
    }
}

/// The platform's own routes are limited per client IP like the application's.
#[tokio::test]
async fn platform_routes_are_limited_per_ip() {
    for backend in Backend::ALL {
        let host = limited_host(backend, 1, 0).await;
        for (path, token) in [
            ("/api/engine/stats", None),
            ("/metrics", None),
            ("/health", None),
            ("/admin/components", Some(ADMIN_TOKEN)),
            ("/admin/components", Some("not-a-token")),
            ("/api/simulations/sim-0", None),
            ("/ws", None),
        ] {
            let statuses = three(&host, Method::GET, path, &random_ip(), token).await;
            assert_eq!(statuses[2], 429, "{backend:?} {path}: {statuses:?}");
        }
        host.stop().await;
    }
}

/// Once the caller is known, platform routes draw from its principal's bucket too, from
/// whatever address it comes.
#[tokio::test]
async fn platform_routes_are_limited_per_principal() {
    for backend in Backend::ALL {
        let host = limited_host(backend, 0, 1).await;
        let key = access(&host.sign_up(&unique("trader-")).await);
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(
                status_of(
                    &host,
                    Method::GET,
                    "/api/simulations/sim-0",
                    &random_ip(),
                    Some(&key),
                )
                .await,
            );
        }
        assert_eq!(statuses[..2], [404, 404], "{backend:?}: {statuses:?}");
        assert_eq!(statuses[2], 429, "{backend:?}: {statuses:?}");
        host.stop().await;
    }
}

/// Behind one proxy only the last `X-Forwarded-For` hop is the proxy's word; the hops before
/// it are whatever the client sent, so changing them must not buy a fresh bucket.
#[tokio::test]
async fn a_client_cannot_choose_its_forwarded_address() {
    for backend in Backend::ALL {
        let host = limited_host(backend, 1, 0).await;
        let real = random_ip();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let forwarded = format!("{}, {real}", random_ip());
            statuses.push(status_of(&host, Method::GET, "/api/symbols", &forwarded, None).await);
        }
        assert_eq!(statuses, [200, 200, 429], "{backend:?}");
        host.stop().await;
    }
}

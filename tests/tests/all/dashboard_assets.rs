//! The dashboard component end to end: the UI at `/` without credentials, hashed assets cached
//! for good and compressed by the host, revalidation by ETag, GET and HEAD only, the host's
//! own 404 for every path nothing else serves, a public catch-all that opens no more specific
//! route, and the swap pipeline guarding the UI as any component.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, built_component};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `method path` with extra headers → (status, headers, body).
async fn fetch(
    h: &TestHost,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = h.client.request(method, format!("{}{path}", h.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request reaches the host");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>")
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {:?}",
            String::from_utf8_lossy(body).into_owned()
        )
    })
}

/// The module script the page loads (`/assets/index-<hash>.js`).
fn script_of(html: &str) -> String {
    html.split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|src| src.starts_with("/assets/index-") && src.ends_with(".js"))
        .unwrap_or_else(|| panic!("index.html names no /assets/index-*.js script: {html}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_serves_its_files_and_the_platforms_404() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;

    // The page, without credentials.
    let (status, page, body) = fetch(&h, Method::GET, "/", &[]).await;
    assert_eq!(status, 200);
    assert!(
        header(&page, "content-type").starts_with("text/html"),
        "{page:?}"
    );
    assert_eq!(header(&page, "content-security-policy"), CSP);
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let etag = header(&page, "etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    let html = String::from_utf8(body).expect("UTF-8 page");
    assert!(html.contains(r#"<div id="app">"#), "{html}");
    // The same file by name, with credentials too.
    let (status, named, _) = fetch(
        &h,
        Method::GET,
        "/index.html",
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    )
    .await;
    assert_eq!((status, header(&named, "etag")), (200, etag.as_str()));

    // Its script: immutable, and gzipped by the host's compression layer when asked.
    let script = script_of(&html);
    let (status, js, body) = fetch(&h, Method::GET, &script, &[]).await;
    assert_eq!(status, 200, "{script}");
    assert!(header(&js, "content-type").contains("javascript"), "{js:?}");
    assert_eq!(
        header(&js, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(!body.is_empty());
    let (status, gz, _) = fetch(&h, Method::GET, &script, &[("accept-encoding", "gzip")]).await;
    assert_eq!((status, header(&gz, "content-encoding")), (200, "gzip"));

    // Revalidation: the page's ETag (strong or weakened by a proxy) → 304 without a body.
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let (status, again, body) = fetch(&h, Method::GET, "/", &[("if-none-match", &tag)]).await;
        assert_eq!(status, 304, "{tag}");
        assert!(body.is_empty(), "{tag}: {body:?}");
        assert_eq!(header(&again, "etag"), etag);
    }
    let (status, _, _) = fetch(&h, Method::GET, "/", &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(status, 200);

    // HEAD: the headers without the body.
    let (status, head, body) = fetch(&h, Method::HEAD, "/", &[]).await;
    assert_eq!((status, header(&head, "etag")), (200, etag.as_str()));
    assert!(body.is_empty());

    // Any other method on a file: 405 in the platform's shape, naming what is allowed.
    let (status, refused, body) = fetch(&h, Method::POST, "/", &[]).await;
    assert_eq!(status, 405);
    assert_eq!(header(&refused, "allow"), "GET, HEAD");
    assert_eq!(json(&body)["error"]["code"], "method_not_allowed");

    // Paths nothing serves reach the catch-all: the host's own 404, word for word.
    for (method, path) in [
        (Method::GET, "/no-such-page"),
        (Method::GET, "/api/no-such-route"),
        (Method::POST, "/api/no-such-route"),
        (Method::GET, "/admin/no-such-thing"),
        (Method::GET, "/assets/index-missing.js"),
    ] {
        let (status, headers, body) = fetch(&h, method.clone(), path, &[]).await;
        let error = &json(&body)["error"];
        assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));
        assert_eq!(error["message"], format!("no route for {method} {path}"));
        assert_eq!(
            error["request_id"].as_str(),
            Some(header(&headers, "x-request-id"))
        );
        assert!(
            header(&headers, "content-type").starts_with("application/json"),
            "{path}"
        );
    }

    // `/...` is public, but only for what the catch-all serves.
    for path in ["/api/orders", "/api/auth/me"] {
        let (status, _, body) = fetch(&h, Method::GET, path, &[]).await;
        assert_eq!(
            (status, json(&body)["error"]["code"].as_str()),
            (401, Some("unauthenticated")),
            "{path}"
        );
    }
    let (status, _, _) = fetch(&h, Method::GET, "/api/symbols", &[]).await;
    assert_eq!(status, 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_goes_through_the_swap_pipeline() {
    let h = TestHost::start(app_manifest(), Backend::Embedded, 10_000).await;
    let live = h
        .runtime
        .component("dashboard")
        .map(|c| c.digest.clone())
        .expect("the dashboard is loaded");
    let upload = |bytes: Vec<u8>| {
        h.client
            .post(format!("{}/admin/components/dashboard", h.url))
            .bearer_auth(ADMIN_TOKEN)
            .body(bytes)
            .send()
    };

    // Another component's binary is refused by the contract check; the UI keeps serving.
    let response = upload(built_component("signals.wasm"))
        .await
        .expect("upload");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON answer");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("contract_mismatch")),
        "{body}"
    );
    let (status, _, _) = fetch(&h, Method::GET, "/", &[]).await;
    assert_eq!(status, 200);

    // The built UI goes through every step and is live under its digest.
    let response = upload(built_component("dashboard.wasm"))
        .await
        .expect("upload");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["digest"], live.as_str());
    assert_eq!(
        h.swap_trail("dashboard").await,
        ["upload live", "upload refused", "startup live"],
        "newest first"
    );
    h.stop().await;
}

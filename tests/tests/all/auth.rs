//! Auth against the real Postgres and Redis: accounts, tokens, API keys, roles, rate limits,
//! and every protected route refusing callers without the right credentials.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bourse_tests::{ADMIN_TOKEN, Backend, JWT_SECRET, TestHost, app_manifest, unique};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An HS256 token over `claims`, made here, independently of the component.
fn jwt(claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[tokio::test]
async fn accounts_sign_in_refresh_rotates_and_reuse_revokes_the_family() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    // Sign-in failures are counted in Redis, which outlives each test's database.
    let alice = unique("alice-");
    let session = host.sign_up(&alice).await;
    let access = session["access_token"].as_str().expect("access token");
    let (status, me) = host.get("/api/auth/me", Some(access)).await;
    assert_eq!(
        (status, &me["id"]),
        (200, &json!(format!("user:{alice}"))),
        "{me}"
    );
    assert_eq!(me["roles"], json!(["trader"]));

    let again = json!({"username": alice, "password": "another long password"}).to_string();
    let (status, taken) = host.post("/api/auth/register", None, &again).await;
    assert_eq!(
        (status, &taken["error"]["code"]),
        (409, &json!("username_taken"))
    );
    let short = json!({"username": "bob", "password": "short"}).to_string();
    assert_eq!(host.post("/api/auth/register", None, &short).await.0, 400);

    // Wrong password and unknown user get the same answer.
    let wrong = json!({"username": alice, "password": "not the password"}).to_string();
    let nobody = json!({"username": unique("nobody-"), "password": "not the password"}).to_string();
    let (s1, b1) = host.post("/api/auth/login", None, &wrong).await;
    let (s2, b2) = host.post("/api/auth/login", None, &nobody).await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(b1["error"]["message"], b2["error"]["message"]);

    let first = session["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let body = |t: &str| json!({"refresh_token": t}).to_string();
    let (status, rotated) = host.post("/api/auth/refresh", None, &body(&first)).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"]
        .as_str()
        .expect("new refresh token")
        .to_string();
    assert_ne!(first, second);
    let (status, reused) = host.post("/api/auth/refresh", None, &body(&first)).await;
    assert_eq!(
        (status, &reused["error"]["code"]),
        (401, &json!("refresh_token_reused"))
    );
    let (status, _) = host.post("/api/auth/refresh", None, &body(&second)).await;
    assert_eq!(status, 401, "reuse revoked the whole family");

    let fresh = host.sign_up("carol").await;
    let token = fresh["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    assert_eq!(
        host.post("/api/auth/logout", None, &body(&token)).await.0,
        200
    );
    assert_eq!(
        host.post("/api/auth/refresh", None, &body(&token)).await.0,
        401
    );
    host.stop().await;
}

#[tokio::test]
async fn expired_tampered_and_wrongly_signed_tokens_are_refused() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let secret = JWT_SECRET.as_bytes();
    let claims = |exp: u64, roles: Value| json!({"sub": "user:mallory", "roles": roles, "iat": now(), "exp": exp});
    let valid = jwt(&claims(now() + 60, json!(["trader"])), secret);
    assert_eq!(
        host.get("/api/auth/me", Some(&valid)).await.0,
        200,
        "a token made with the secret works"
    );
    let expired = jwt(&claims(now() - 1, json!(["trader"])), secret);
    // Signed before principal ids named their kind: a bare name is nobody now.
    let bare = jwt(
        &json!({"sub": "ops", "roles": ["trader"], "iat": now(), "exp": now() + 60}),
        secret,
    );
    let other_secret = jwt(
        &claims(now() + 60, json!(["trader"])),
        b"not the secret, but 32 bytes long!",
    );
    let admin_payload = jwt(
        &claims(now() + 60, json!(["admin"])),
        b"attacker's own secret of 32 bytes",
    );
    let mut parts: Vec<&str> = valid.split('.').collect();
    parts[1] = admin_payload.split('.').nth(1).expect("payload");
    let tampered = parts.join(".");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(now() + 60, json!(["admin"])).to_string())
    );
    for (what, token) in [
        ("expired", expired),
        ("wrongly signed", other_secret),
        ("tampered", tampered),
        ("alg none", none),
        ("garbage", "a.b.c".to_string()),
        ("bare subject", bare),
    ] {
        let (status, body) = host.get("/api/auth/me", Some(&token)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials", "{what}");
    }
    host.stop().await;
}

#[tokio::test]
async fn api_keys_and_roles_cannot_escalate_and_revocation_is_immediate() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let session = host.sign_up("dave").await;
    let access = session["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let h = &host;
    let access = access.as_str();
    let create = |body: Value| async move {
        h.post("/api/auth/api-keys", Some(access), &body.to_string())
            .await
    };
    let (status, own) = create(json!({})).await;
    assert_eq!(status, 201, "{own}");
    assert_eq!(own["roles"], json!(["trader"]));
    let key = own["api_key"].as_str().expect("key").to_string();
    assert_eq!(
        host.get("/api/auth/me", Some(&key)).await.1["id"],
        "user:dave"
    );
    let (status, _) = create(json!({"roles": ["admin"]})).await;
    assert_eq!(status, 403, "a key cannot have more than its owner");
    let (status, _) = create(json!({"principal": "erin"})).await;
    assert_eq!(status, 403, "nor belong to someone else");
    let roles = json!({"username": "dave", "roles": ["trader", "admin"]}).to_string();
    let (status, _) = host.post("/api/auth/roles", Some(&key), &roles).await;
    assert_eq!(status, 403, "a trader cannot grant roles");
    let (status, granted) = host
        .post("/api/auth/roles", Some(ADMIN_TOKEN), &roles)
        .await;
    assert_eq!(status, 200, "{granted}");

    let (_, listed) = host.get("/api/auth/api-keys", Some(&key)).await;
    let id = listed["api_keys"][0]["id"]
        .as_str()
        .expect("key id")
        .to_string();
    assert!(
        !listed.to_string().contains(&key),
        "keys are never shown again"
    );
    // Warm the host's credential cache, then revoke: the next request must already fail.
    assert_eq!(host.get("/api/auth/me", Some(&key)).await.0, 200);
    let (status, revoked) = host
        .call(
            Method::DELETE,
            &format!("/api/auth/api-keys/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    let mut refused = false;
    for _ in 0..20 {
        if host.get("/api/auth/me", Some(&key)).await.0 == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        refused,
        "a revoked key stops working at once, not when the cache expires"
    );
    host.stop().await;
}

#[tokio::test]
async fn every_protected_route_refuses_callers_without_the_right_credentials() {
    let host = TestHost::start(app_manifest(), Backend::Services, 10_000).await;
    let trader = host.sign_up("frank").await["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let routes: [(Method, &str, &str); 12] = [
        (
            Method::POST,
            "/api/orders",
            r#"{"symbol":"AAPL","side":"buy","price":"1","quantity":"1"}"#,
        ),
        (Method::GET, "/api/orders", ""),
        (Method::GET, "/api/orders/1", ""),
        (Method::DELETE, "/api/orders/1", ""),
        (Method::PATCH, "/api/orders/1", r#"{"quantity":"1"}"#),
        (Method::GET, "/api/auth/me", ""),
        (Method::POST, "/api/auth/api-keys", "{}"),
        (Method::GET, "/api/auth/api-keys", ""),
        (
            Method::POST,
            "/api/auth/roles",
            r#"{"username":"frank","roles":["admin"]}"#,
        ),
        (
            Method::POST,
            "/api/simulations/preview",
            r#"{"symbols":["AAPL"],"mid":100,"seed":1,"count":1}"#,
        ),
        (Method::GET, "/api/components", ""),
        (Method::GET, "/admin/components", ""),
    ];
    for (method, path, body) in &routes {
        let body = (!body.is_empty()).then_some(*body);
        let (status, json) = host.call(method.clone(), path, None, body).await;
        assert_eq!(status, 401, "{method} {path} without credentials: {json}");
        let (status, json) = host
            .call(method.clone(), path, Some("bk_not-a-key"), body)
            .await;
        assert_eq!(status, 401, "{method} {path} with a bad key: {json}");
    }
    for (method, path) in [
        (Method::GET, "/api/components"),
        (Method::GET, "/admin/components"),
        (Method::POST, "/api/auth/roles"),
    ] {
        let body = (method == Method::POST).then_some(r#"{"username":"frank","roles":["admin"]}"#);
        let (status, json) = host.call(method.clone(), path, Some(&trader), body).await;
        assert_eq!(status, 403, "{method} {path} as a trader: {json}");
    }
    for path in [
        "/health",
        "/ready",
        "/api/symbols",
        "/api/book/AAPL",
        "/api/trades/AAPL",
    ] {
        assert_eq!(host.get(path, None).await.0, 200, "{path} is public");
    }
    host.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_logins_are_throttled() {
    let host = TestHost::start_custom(app_manifest(), Backend::Services, |c| {
        c.rate_limit_principal = 5;
    })
    .await;
    let key = host.api_key(&unique("gina-"), &["trader"]).await;
    let mut limited = None;
    for _ in 0..40 {
        let r = host
            .client
            .get(format!("{}/api/orders", host.url))
            .bearer_auth(&key)
            .send()
            .await
            .expect("answered");
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a burst above 5/s (burst 10) is limited");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"]["code"], "rate_limited");

    let hank = unique("hank-");
    host.sign_up(&hank).await;
    let wrong = json!({"username": hank, "password": "wrong password!!"}).to_string();
    for _ in 0..5 {
        assert_eq!(host.post("/api/auth/login", None, &wrong).await.0, 401);
    }
    let right = json!({"username": hank, "password": "correct horse battery"}).to_string();
    let response = host
        .client
        .post(format!("{}/api/auth/login", host.url))
        .header("content-type", "application/json")
        .body(right)
        .send()
        .await
        .expect("answered");
    assert_eq!(
        response.status(),
        429,
        "locked after five failures, even with the right password"
    );
    assert!(response.headers().contains_key("retry-after"));
    host.stop().await;
}

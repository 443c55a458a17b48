//! Accounts and identity: nobody can sign up into another principal's name, keys never
//! outrank their owner, a refresh token is spent once, and sign-in throttling neither lets
//! parallel guesses through nor lets a stranger lock a user out.

use bourse_tests::{ADMIN_TOKEN, Backend, TestHost, app_manifest, unique};
use reqwest::Method;
use serde_json::{Value, json};

use super::common::{access, code};

fn credentials(name: &str, password: &str) -> String {
    json!({"username": name, "password": password}).to_string()
}

#[tokio::test]
async fn nobody_can_register_the_operators_name_or_reach_its_orders() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let order = json!({"symbol": "AAPL", "side": "buy", "type": "limit", "price": "10.00",
            "quantity": "1", "time_in_force": "gtc"})
        .to_string();
        let (status, placed) = host.post("/api/orders", Some(ADMIN_TOKEN), &order).await;
        assert_eq!(status, 201, "{placed}");
        let order_id = placed["order_id"].as_str().expect("order id").to_string();

        for name in ["ops", "OPS", "operator", "admin", "sim-0", "sim_7", "root"] {
            let (status, body) = host
                .post(
                    "/api/auth/register",
                    None,
                    &credentials(name, "correct horse battery"),
                )
                .await;
            assert_eq!(
                (status, code(&body)),
                (400, "reserved_username"),
                "{name}: {body}"
            );
        }
        // Whatever a user is called, their principal is theirs alone.
        let mallory = host.sign_up(&unique("mallory-")).await;
        let token = access(&mallory);
        let (_, me) = host.get("/api/auth/me", Some(&token)).await;
        assert!(
            me["id"].as_str().is_some_and(|id| id.starts_with("user:")),
            "{me}"
        );
        let (status, mine) = host.get("/api/orders", Some(&token)).await;
        assert_eq!(status, 200, "{mine}");
        assert!(
            !mine.to_string().contains(&order_id),
            "another's orders listed: {mine}"
        );
        let (status, body) = host
            .call(
                Method::DELETE,
                &format!("/api/orders/{order_id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 404, "cancelled the operator's order: {body}");
        let (_, operator) = host.get("/api/auth/me", Some(ADMIN_TOKEN)).await;
        assert_eq!(operator["id"], "operator");
        host.stop().await;
    }
}

#[tokio::test]
async fn keys_are_issued_only_to_principals_that_exist() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let ghost = unique("ghost-");
        let body = json!({"principal": ghost, "roles": ["trader"]}).to_string();
        let (status, answer) = host
            .post("/api/auth/api-keys", Some(ADMIN_TOKEN), &body)
            .await;
        assert_eq!(
            (status, code(&answer)),
            (404, "unknown_principal"),
            "{answer}"
        );
        // Registering the name later must not inherit a key made before.
        let session = host.sign_up(&ghost).await;
        let (_, keys) = host
            .get("/api/auth/api-keys", Some(&access(&session)))
            .await;
        assert_eq!(keys["api_keys"], json!([]), "{keys}");
        host.stop().await;
    }
}

#[tokio::test]
async fn a_key_loses_the_roles_its_owner_loses() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let name = unique("carl-");
        let key = host.api_key(&name, &["trader", "admin"]).await;
        let (status, me) = host.get("/api/auth/me", Some(&key)).await;
        assert_eq!((status, &me["roles"]), (200, &json!(["trader", "admin"])));
        assert_eq!(host.get("/admin/components", Some(&key)).await.0, 200);

        let demote = json!({"username": name, "roles": ["trader"]}).to_string();
        let (status, body) = host
            .post("/api/auth/roles", Some(ADMIN_TOKEN), &demote)
            .await;
        assert_eq!(status, 200, "{body}");
        // The host's credential cache hears of the change through an event: allow it 200 ms.
        let mut me = Value::Null;
        for _ in 0..20 {
            me = host.get("/api/auth/me", Some(&key)).await.1;
            if me["roles"] == json!(["trader"]) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(me["roles"], json!(["trader"]), "{me}");
        let (status, body) = host.get("/admin/components", Some(&key)).await;
        assert_eq!(status, 403, "a demoted owner's key is still admin: {body}");
        host.stop().await;
    }
}

#[tokio::test]
async fn one_refresh_token_presented_twice_at_once_is_spent_once() {
    for backend in Backend::ALL {
        let host = TestHost::start(app_manifest(), backend, 10_000).await;
        let session = host.sign_up(&unique("rita-")).await;
        let token = session["refresh_token"].as_str().expect("refresh token");
        let body = json!({"refresh_token": token}).to_string();
        let attempts = (0..8).map(|_| host.post("/api/auth/refresh", None, &body));
        let answers = futures_util::future::join_all(attempts).await;
        let granted: Vec<&Value> = answers
            .iter()
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body)
            .collect();
        assert!(
            granted.len() <= 1,
            "{} refreshes succeeded with one token",
            granted.len()
        );
        // The copy was seen: whatever was issued from the family is dead.
        for answer in granted {
            let next = json!({"refresh_token": answer["refresh_token"]}).to_string();
            let (status, body) = host.post("/api/auth/refresh", None, &next).await;
            assert_eq!(status, 401, "{body}");
        }
        host.stop().await;
    }
}

/// A host that takes the client address from `X-Forwarded-For` (one trusted proxy).
async fn behind_proxy(backend: Backend) -> TestHost {
    TestHost::start_custom(app_manifest(), backend, |c| c.trusted_proxies = 1).await
}

async fn login_from(host: &TestHost, ip: &str, body: &str) -> (u16, Value) {
    let response = host
        .client
        .post(format!("{}/api/auth/login", host.url))
        .header("content-type", "application/json")
        .header("x-forwarded-for", ip)
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn parallel_guesses_get_no_more_than_the_allowance() {
    for backend in Backend::ALL {
        let host = behind_proxy(backend).await;
        let name = unique("gwen-");
        host.sign_up(&name).await;
        let wrong = credentials(&name, "not the password at all");
        let guesses = (0..20).map(|_| login_from(&host, "203.0.113.7", &wrong));
        let answers = futures_util::future::join_all(guesses).await;
        let checked = answers.iter().filter(|(s, _)| *s == 401).count();
        let refused = answers
            .iter()
            .filter(|(s, b)| *s == 429 && code(b) == "too_many_attempts")
            .count();
        assert!(
            checked <= 5,
            "{checked} of 20 parallel guesses had their password checked"
        );
        assert_eq!(checked + refused, 20, "{answers:?}");
        host.stop().await;
    }
}

#[tokio::test]
async fn a_stranger_cannot_lock_a_user_out_from_elsewhere() {
    for backend in Backend::ALL {
        let host = behind_proxy(backend).await;
        let name = unique("hugo-");
        host.sign_up(&name).await;
        let wrong = credentials(&name, "not the password at all");
        for _ in 0..8 {
            login_from(&host, "198.51.100.9", &wrong).await;
        }
        let (status, body) = login_from(&host, "198.51.100.9", &wrong).await;
        assert_eq!((status, code(&body)), (429, "too_many_attempts"));
        let right = credentials(&name, "correct horse battery");
        let (status, body) = login_from(&host, "192.0.2.44", &right).await;
        assert_eq!(status, 200, "the owner is locked out by a stranger: {body}");
        host.stop().await;
    }
}

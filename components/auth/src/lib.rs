//! The auth component: who is making a request, and the accounts behind the answer.
//!
//! `authenticate` (called by the host for every request with credentials) accepts a JWT access
//! token (HS256, signed with the `jwt_secret` variable), an API key (`bk_…`, kept as a SHA-256
//! hash in SQL) or the operator's `admin_token`. The HTTP routes register users (argon2id
//! passwords), log them in (a short-lived access token plus a rotating refresh token), refresh,
//! log out, manage API keys and grant roles.

mod accounts;
mod identity;
mod jwt;
mod keys;
mod passwords;
mod throttle;

use bourse_guest::bourse::platform::events;
use bourse_guest::bourse::platform::types::{Principal, RequestHeaders};
use bourse_guest::http::{PRINCIPAL_HEADER, Request, Response};
use serde::{Deserialize, Serialize};
use spin_sdk::variables;
use subtle::ConstantTimeEq;

// wit-bindgen for the `bourse:platform` part of the world only; HTTP, key-value, SQL and
// variables come from spin-sdk, as in any Spin component.
bourse_guest::domain_bindings!(
    "package bourse:auth-guest; world guest { import bourse:platform/events@0.1.0; export bourse:platform/authenticator@0.1.0; }",
    "bourse:platform/types@0.1.0": bourse_guest::bourse::platform::types,
    "bourse:platform/events@0.1.0": bourse_guest::bourse::platform::events,
);

use exports::bourse::platform::authenticator::{self, AuthError};

/// Roles a principal may hold.
const ROLES: [&str; 3] = ["trader", "admin", "ops"];

struct Component;

fn bearer(headers: &RequestHeaders) -> Result<&str, AuthError> {
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.as_str())
        .ok_or(AuthError::MissingCredentials)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::InvalidCredentials)
}

fn jwt_secret() -> Option<Vec<u8>> {
    variables::get("jwt_secret")
        .ok()
        .filter(|s| s.len() >= 32)
        .map(String::into_bytes)
}

fn now_seconds() -> u64 {
    accounts::now_ms() / 1000
}

impl authenticator::Guest for Component {
    fn authenticate(headers: RequestHeaders) -> Result<Principal, AuthError> {
        let token = bearer(&headers)?;
        if jwt::looks_like_jwt(token) {
            let secret = jwt_secret().ok_or(AuthError::InvalidCredentials)?;
            let claims = jwt::verify(token, &secret, now_seconds())
                .map_err(|_| AuthError::InvalidCredentials)?;
            // Tokens signed before ids named their kind carry a bare username: refused, so
            // one signed for a user called `ops` can never act as the operator.
            if identity::username_of(&claims.sub).is_none() {
                return Err(AuthError::InvalidCredentials);
            }
            return Ok(Principal {
                id: claims.sub,
                roles: claims.roles,
            });
        }
        if is_admin_token(token) {
            return Ok(Principal {
                id: identity::OPERATOR.to_string(),
                roles: identity::OPERATOR_ROLES.map(String::from).to_vec(),
            });
        }
        keys::lookup(token)
    }
}

/// Compares in constant time so response timing does not reveal the token.
fn is_admin_token(token: &str) -> bool {
    match variables::get("admin_token") {
        Ok(admin) if !admin.is_empty() => bool::from(admin.as_bytes().ct_eq(token.as_bytes())),
        _ => false,
    }
}

export!(Component);

// The description of the routes below, in /api/openapi.json (kept in ../openapi.json).
bourse_guest::openapi!("../openapi.json");

#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    bourse_guest::spin::handle(request, route)
}

#[derive(Serialize, Deserialize)]
struct PrincipalJson {
    id: String,
    roles: Vec<String>,
}

impl PrincipalJson {
    fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "ops" || r == "admin")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyJson {
    /// Whose key; the caller's own when absent (another's needs admin or ops).
    principal: Option<String>,
    /// The key's roles; the caller's own when absent, and never more than those.
    roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsJson {
    username: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshJson {
    refresh_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesJson {
    username: String,
    roles: Vec<String>,
}

fn route(request: &Request) -> Response {
    let principal = request
        .header(PRINCIPAL_HEADER)
        .and_then(|p| serde_json::from_str::<PrincipalJson>(p).ok());
    let signed_in = |f: &dyn Fn(&PrincipalJson) -> Response| match &principal {
        Some(p) => f(p),
        None => unauthenticated(request),
    };
    match (request.method.as_str(), request.segments().as_slice()) {
        ("POST", ["api", "auth", "register"]) => register(request),
        ("POST", ["api", "auth", "login"]) => login(request),
        ("POST", ["api", "auth", "refresh"]) => refresh(request),
        ("POST", ["api", "auth", "logout"]) => logout(request),
        ("GET", ["api", "auth", "me"]) => signed_in(&|p| Response::json(200, p)),
        ("POST", ["api", "auth", "api-keys"]) => signed_in(&|p| create_key(request, p)),
        ("GET", ["api", "auth", "api-keys"]) => signed_in(&|p| match keys::list(&p.id) {
            Ok(list) => Response::json(200, &serde_json::json!({ "api_keys": list })),
            Err(e) => unavailable(request, &e),
        }),
        ("DELETE", ["api", "auth", "api-keys", id]) => signed_in(&|p| revoke_key(request, p, id)),
        ("POST", ["api", "auth", "roles"]) => signed_in(&|p| grant(request, p)),
        _ => Response::not_found(request),
    }
}

fn unauthenticated(request: &Request) -> Response {
    Response::error(
        request,
        401,
        "unauthenticated",
        "this route needs an Authorization: Bearer token",
    )
}

fn forbidden(request: &Request, message: &str) -> Response {
    Response::error(request, 403, "forbidden", message)
}

fn unavailable(request: &Request, detail: &str) -> Response {
    // The detail goes to the host log (tagged with the request id), not to the client.
    eprintln!("auth store: {detail}");
    Response::error(
        request,
        503,
        "store_unavailable",
        "the account store is unavailable; try again",
    )
}

fn check_roles(request: &Request, roles: &[String]) -> Result<(), Response> {
    match roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        Some(bad) => Err(Response::error(
            request,
            400,
            "invalid_roles",
            &format!("unknown role {bad:?}; roles are trader, admin, ops"),
        )),
        None => Ok(()),
    }
}

/// Passwords: 12 to 128 characters (NIST 800-63B's length-over-composition advice).
fn check_password(request: &Request, password: &str) -> Result<(), Response> {
    let n = password.chars().count();
    if (12..=128).contains(&n) {
        Ok(())
    } else {
        Err(Response::error(
            request,
            400,
            "invalid_password",
            "password must be 12 to 128 characters",
        ))
    }
}

fn register(request: &Request) -> Response {
    let body: CredentialsJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    if !identity::valid_username(&body.username) {
        return Response::error(
            request,
            400,
            "invalid_username",
            "username must be 1-64 characters of letters, digits, '-', '_' or '.'",
        );
    }
    if identity::reserved(&body.username) {
        return Response::error(
            request,
            400,
            "reserved_username",
            &format!(
                "the username {:?} is reserved for the platform; choose another",
                body.username
            ),
        );
    }
    if let Err(r) = check_password(request, &body.password) {
        return r;
    }
    let hash = match passwords::hash(&body.password) {
        Ok(h) => h,
        Err(e) => return unavailable(request, &e),
    };
    let roles = vec!["trader".to_string()];
    match accounts::create_user(&body.username, &hash, &roles) {
        Ok(true) => Response::json(
            201,
            &serde_json::json!({
                "id": identity::user_id(&body.username),
                "username": body.username,
                "roles": roles,
            }),
        ),
        Ok(false) => Response::error(
            request,
            409,
            "username_taken",
            "that username is taken; choose another",
        ),
        Err(accounts::Unavailable(e)) => unavailable(request, &e),
    }
}

/// A fresh access token and refresh token for `username` (continuing `family` on refresh).
fn session(
    request: &Request,
    username: &str,
    roles: Vec<String>,
    family: Option<&str>,
) -> Response {
    let Some(secret) = jwt_secret() else {
        return Response::error(
            request,
            503,
            "jwt_not_configured",
            "sign-in needs JWT_SECRET (at least 32 bytes) on the host",
        );
    };
    let now = now_seconds();
    let id = identity::user_id(username);
    let claims = jwt::Claims {
        sub: id.clone(),
        roles: roles.clone(),
        iat: now,
        exp: now + jwt::ACCESS_TTL_SECONDS,
    };
    let refresh_token = match accounts::issue_refresh(username, family) {
        Ok(Some(t)) => t,
        Ok(None) => return refresh_reused(request),
        Err(accounts::Unavailable(e)) => return unavailable(request, &e),
    };
    Response::json(
        200,
        &serde_json::json!({
            "access_token": jwt::sign(&claims, &secret),
            "token_type": "Bearer",
            "expires_in": jwt::ACCESS_TTL_SECONDS,
            "refresh_token": refresh_token,
            "principal": {"id": id, "username": username, "roles": roles},
        }),
    )
}

fn login(request: &Request) -> Response {
    let body: CredentialsJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = accounts::now_ms();
    let client = client_address(request);
    match throttle::attempt(&body.username, &client, now) {
        Ok(()) => {}
        Err(throttle::Refused::Wait(seconds)) => {
            return Response::error(
                request,
                429,
                "too_many_attempts",
                &format!("too many sign-in attempts; try again in {seconds} s"),
            )
            .with_header("retry-after", &seconds.to_string());
        }
        Err(throttle::Refused::Unavailable(accounts::Unavailable(e))) => {
            return unavailable(request, &e);
        }
    }
    let user = match accounts::find_user(&body.username) {
        Ok(u) => u,
        Err(accounts::Unavailable(e)) => return unavailable(request, &e),
    };
    let ok = match &user {
        Some(u) => passwords::verify(&body.password, &u.password_hash),
        None => {
            passwords::waste_time(&body.password);
            false
        }
    };
    match user {
        Some(u) if ok => {
            throttle::succeeded(&u.username, &client);
            session(request, &u.username, u.roles, None)
        }
        _ => {
            throttle::failed(now);
            // One answer whether or not the account exists.
            Response::error(
                request,
                401,
                "invalid_credentials",
                "the username or password is wrong",
            )
        }
    }
}

/// Who is signing in, as far as throttling goes: the client address the host resolved
/// (`x-bourse-client-ip`, behind its trusted proxies), else Spin's `spin-client-addr` without
/// its port, else one shared "unknown" client.
fn client_address(request: &Request) -> String {
    if let Some(ip) = request.header(bourse_guest::http::CLIENT_IP_HEADER) {
        return ip.to_string();
    }
    request
        .header("spin-client-addr")
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string())
}

fn refresh(request: &Request) -> Response {
    let body: RefreshJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    match accounts::use_refresh(&body.refresh_token) {
        Ok(accounts::Refresh::Valid { username, family }) => {
            // Roles are read again, so a grant or a removal shows in the next access token.
            match accounts::find_user(&username) {
                Ok(Some(u)) => session(request, &u.username, u.roles, Some(&family)),
                Ok(None) => invalid_refresh(request),
                Err(accounts::Unavailable(e)) => unavailable(request, &e),
            }
        }
        Ok(accounts::Refresh::Invalid) => invalid_refresh(request),
        Ok(accounts::Refresh::Reused) => refresh_reused(request),
        Err(accounts::Unavailable(e)) => unavailable(request, &e),
    }
}

fn refresh_reused(request: &Request) -> Response {
    Response::error(
        request,
        401,
        "refresh_token_reused",
        "this refresh token was already used; every session of that sign-in is revoked",
    )
}

fn invalid_refresh(request: &Request) -> Response {
    Response::error(
        request,
        401,
        "invalid_refresh_token",
        "the refresh token is unknown, expired or revoked",
    )
}

fn logout(request: &Request) -> Response {
    let body: RefreshJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    match accounts::logout(&body.refresh_token) {
        Ok(_) => Response::json(200, &serde_json::json!({"logged_out": true})),
        Err(accounts::Unavailable(e)) => unavailable(request, &e),
    }
}

fn create_key(request: &Request, caller: &PrincipalJson) -> Response {
    let body: NewKeyJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let principal = match body.principal.as_deref() {
        None => caller.id.clone(),
        Some(text) => match identity::parse_principal(text) {
            Some(id) => id,
            None => {
                return Response::error(
                    request,
                    400,
                    "invalid_principal",
                    "principal must be a username (1-64 characters of letters, digits, '-', '_' \
                     or '.'), a user id `user:<name>` or `operator`",
                );
            }
        },
    };
    if !caller.is_admin() && principal != caller.id {
        return forbidden(
            request,
            "keys for another principal need the admin or ops role",
        );
    }
    let roles = body.roles.unwrap_or_else(|| {
        if principal == caller.id {
            caller.roles.clone()
        } else {
            vec!["trader".to_string()]
        }
    });
    if let Err(r) = check_roles(request, &roles) {
        return r;
    }
    // A key is its owner's: one for nobody would act as whoever registers that name later.
    let owner_roles: Vec<String> = if principal == identity::OPERATOR {
        identity::OPERATOR_ROLES.map(String::from).to_vec()
    } else {
        let name = identity::username_of(&principal).unwrap_or_default();
        match accounts::find_user(name) {
            Ok(Some(user)) => user.roles,
            Ok(None) => {
                return Response::error(
                    request,
                    404,
                    "unknown_principal",
                    &format!("no user {name:?}: keys are issued to existing accounts only"),
                );
            }
            Err(accounts::Unavailable(e)) => return unavailable(request, &e),
        }
    };
    let allowed =
        |r: &String| owner_roles.contains(r) && (caller.is_admin() || caller.roles.contains(r));
    if let Some(extra) = roles.iter().find(|r| !allowed(r)) {
        return forbidden(
            request,
            &format!("a key cannot have role {extra:?}, which its owner does not have"),
        );
    }
    match keys::create(&principal, &roles) {
        Ok(key) => Response::json(
            201,
            &serde_json::json!({
                "api_key": key,
                "principal": principal,
                "roles": roles,
                "note": "store this key now: it is shown once and kept only as a hash",
            }),
        ),
        Err(message) => unavailable(request, &message),
    }
}

fn revoke_key(request: &Request, caller: &PrincipalJson, id: &str) -> Response {
    let owner = (!caller.is_admin()).then_some(caller.id.as_str());
    match keys::revoke(owner, id) {
        Ok(Some(hash)) => {
            // The host caches verified credentials briefly; this evicts the key now.
            let _ = events::publish(
                "auth:revoked",
                &serde_json::json!({ "token_sha256": hash }).to_string(),
            );
            Response::json(200, &serde_json::json!({"revoked": id}))
        }
        Ok(None) => Response::error(request, 404, "unknown_key", "no such API key of yours"),
        Err(e) => unavailable(request, &e),
    }
}

fn grant(request: &Request, caller: &PrincipalJson) -> Response {
    if !caller.is_admin() {
        return forbidden(request, "granting roles needs the admin or ops role");
    }
    let body: RolesJson = match request.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = check_roles(request, &body.roles) {
        return r;
    }
    match accounts::set_roles(&body.username, &body.roles) {
        Ok(true) => {
            // The owner's keys are capped by these roles from their next use on.
            let id = identity::user_id(&body.username);
            match keys::forget_cached(&id) {
                Ok(hashes) => {
                    for hash in hashes {
                        let _ = events::publish(
                            "auth:revoked",
                            &serde_json::json!({ "token_sha256": hash }).to_string(),
                        );
                    }
                }
                Err(e) => return unavailable(request, &e),
            }
            Response::json(
                200,
                &serde_json::json!({"id": id, "username": body.username, "roles": body.roles}),
            )
        }
        Ok(false) => Response::error(request, 404, "unknown_user", "no such user"),
        Err(accounts::Unavailable(e)) => unavailable(request, &e),
    }
}

//! The auth component: authenticates bearer tokens — the operator's `admin_token` variable or
//! an API key kept (hashed) in SQL, with a short key-value cache in front — and serves API-key
//! creation and `GET /api/auth/me`.

mod keys;

use bourse_guest::bourse::platform::types::{Principal, RequestHeaders};
use bourse_guest::fermyon::spin::variables;
use bourse_guest::http::{PRINCIPAL_HEADER, Request, Response, serve};
use bourse_guest::wasi::http::types::{IncomingRequest, ResponseOutparam};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

bourse_guest::bindings!(
    "bourse:platform/auth",
    "bourse:platform/types@0.1.0": bourse_guest::bourse::platform::types,
    "fermyon:spin/key-value@2.0.0": bourse_guest::fermyon::spin::key_value,
    "fermyon:spin/sqlite@2.0.0": bourse_guest::fermyon::spin::sqlite,
    "fermyon:spin/variables@2.0.0": bourse_guest::fermyon::spin::variables,
);

use exports::bourse::platform::authenticator::{self, AuthError};

/// Roles a principal may hold.
const ROLES: [&str; 3] = ["trader", "admin", "ops"];

struct Component;

impl authenticator::Guest for Component {
    fn authenticate(headers: RequestHeaders) -> Result<Principal, AuthError> {
        let token = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.as_str())
            .ok_or(AuthError::MissingCredentials)?;
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::InvalidCredentials)?;
        if is_admin_token(token) {
            return Ok(Principal {
                id: "ops".to_string(),
                roles: vec!["ops".to_string(), "admin".to_string()],
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

impl exports::wasi::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        serve(request, out, route);
    }
}

export!(Component);

#[derive(Serialize, Deserialize)]
struct PrincipalJson {
    id: String,
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyJson {
    principal: String,
    #[serde(default = "default_roles")]
    roles: Vec<String>,
}

fn default_roles() -> Vec<String> {
    vec!["trader".to_string()]
}

fn route(request: &Request) -> Response {
    let principal = request
        .header(PRINCIPAL_HEADER)
        .and_then(|p| serde_json::from_str::<PrincipalJson>(p).ok());
    match (request.method.as_str(), request.segments().as_slice()) {
        ("GET", ["api", "auth", "me"]) => match principal {
            Some(p) => Response::json(200, &p),
            None => unauthenticated(request),
        },
        ("POST", ["api", "auth", "api-keys"]) => match principal {
            Some(p) if p.roles.iter().any(|r| r == "ops" || r == "admin") => create_key(request),
            Some(_) => Response::error(
                request,
                403,
                "forbidden",
                "creating API keys needs the admin or ops role",
            ),
            None => unauthenticated(request),
        },
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

fn create_key(request: &Request) -> Response {
    let body: NewKeyJson = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let valid_id = |id: &str| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    if !valid_id(&body.principal) {
        return Response::error(
            request,
            400,
            "invalid_principal",
            "principal must be 1-64 characters of letters, digits, '-', '_' or '.'",
        );
    }
    if let Some(bad) = body.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Response::error(
            request,
            400,
            "invalid_roles",
            &format!("unknown role {bad:?}; roles are trader, admin, ops"),
        );
    }
    match keys::create(&body.principal, &body.roles) {
        Ok(key) => Response::json(
            201,
            &serde_json::json!({
                "api_key": key,
                "principal": body.principal,
                "roles": body.roles,
                "note": "store this key now: it is shown once and kept only as a hash",
            }),
        ),
        Err(message) => {
            // The detail goes to the host log (tagged with the request id), not to the client.
            eprintln!("api key not stored: {message}");
            Response::error(
                request,
                503,
                "store_unavailable",
                "the key store is unavailable; try again",
            )
        }
    }
}

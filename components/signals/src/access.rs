//! Who may change what this component stores for everyone.
//!
//! The stored signal values, the daily bars and the signals computed from them are shared:
//! everyone reads them (the manifest's public routes), and only a caller holding one of
//! [`SHARED_DATA_ROLES`] writes them. The host authenticates and passes the principal in
//! `x-bourse-principal` (stripping any value a client sent); a write without one is refused
//! with 401, a write by a principal without the role with 403, before the body is read.

use bourse_guest::http::{PRINCIPAL_HEADER, Request, Response};

/// The roles that may write shared data.
pub const SHARED_DATA_ROLES: [&str; 2] = ["admin", "ops"];

/// The id of the authenticated caller, as the host passed it.
pub fn principal_id(request: &Request) -> Option<String> {
    let principal: serde_json::Value =
        serde_json::from_str(request.header(PRINCIPAL_HEADER)?).ok()?;
    principal["id"].as_str().map(str::to_string)
}

/// `Ok` if the caller may write shared data; else the 401 or 403 answer saying why `action`
/// (e.g. "importing bars") needs the role.
pub fn shared_writer(request: &Request, action: &str) -> Result<(), Response> {
    let roles = SHARED_DATA_ROLES.join(" or ");
    if principal_id(request).is_none() {
        return Err(Response::error(
            request,
            401,
            "unauthenticated",
            &format!(
                "{action} changes what everyone reads: it needs credentials (Authorization: Bearer <token>) with the {roles} role"
            ),
        ));
    }
    if !request.has_role(&SHARED_DATA_ROLES) {
        return Err(Response::error(
            request,
            403,
            "forbidden",
            &format!("{action} changes what everyone reads: it needs the {roles} role"),
        ));
    }
    Ok(())
}

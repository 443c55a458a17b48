//! Principal ids: the names markets, keys, quotas and rate limits know a caller by.
//!
//! An id names its kind, and no kind can be signed up into another: a user is `user:<name>`,
//! the holder of `ADMIN_TOKEN` is `operator`, simulation accounts are `sim:<n>` (named by the
//! host). A username is a display name of letters, digits, `-`, `_` and `.`, so it can never
//! contain the `:` that separates kind and name, and `user:ops` is never `operator`. Names the
//! platform itself uses, or that a person could mistake for it, are refused at sign-up anyway.

/// The principal id of whoever presents `ADMIN_TOKEN`.
pub const OPERATOR: &str = "operator";
/// The operator's roles.
pub const OPERATOR_ROLES: [&str; 2] = ["ops", "admin"];

const USER_PREFIX: &str = "user:";

/// Usernames nobody may register (compared case-insensitively).
const RESERVED: [&str; 12] = [
    "ops",
    "admin",
    "administrator",
    "operator",
    "root",
    "system",
    "bourse",
    "host",
    "anonymous",
    "support",
    "security",
    "sim",
];

/// The principal id of user `username`.
pub fn user_id(username: &str) -> String {
    format!("{USER_PREFIX}{username}")
}

/// The username behind a user's principal id.
pub fn username_of(id: &str) -> Option<&str> {
    id.strip_prefix(USER_PREFIX)
}

/// Whether `username` is well formed: 1-64 of letters, digits, '-', '_' or '.'.
pub fn valid_username(username: &str) -> bool {
    (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Whether `username` is kept for the platform: the reserved names, and anything starting
/// with `sim-`, `sim_` or `sim.` (simulation accounts were once named `sim-<n>`).
pub fn reserved(username: &str) -> bool {
    let lower = username.to_ascii_lowercase();
    RESERVED.contains(&lower.as_str())
        || ["sim-", "sim_", "sim."]
            .iter()
            .any(|p| lower.starts_with(p))
}

/// The principal id a key request names: a principal id (`user:alice`, `operator`) as is, a
/// bare username as that user's id. `None` if it is neither.
pub fn parse_principal(text: &str) -> Option<String> {
    if text == OPERATOR {
        return Some(OPERATOR.to_string());
    }
    match username_of(text) {
        Some(name) => valid_username(name).then(|| text.to_string()),
        None => valid_username(text).then(|| user_id(text)),
    }
}

//! Keeps every SQLite connection of this process inside the file it opened.
//!
//! A component's SQL runs on a connection to its own file, but SQLite lets a statement reach
//! other files: `ATTACH '…/bourse.db'` (the host's database, or another component's file),
//! `VACUUM INTO '<path>'` (writes a copy anywhere), `load_extension()`, and pragmas that
//! change process-wide settings (`soft_heap_limit`, `hard_heap_limit`,
//! `temp_store_directory`, `data_store_directory`). An authorizer installed on every
//! connection refuses these when the statement is prepared; the statement fails with
//! `SQLITE_AUTH` and the connection stays usable.
//!
//! Invariants: the authorizer is installed by an auto-extension, so it is on every
//! connection SQLite opens after [`install`] — sqlx's `Any` pools hide the raw handle a
//! per-pool hook would need. The host's own database never attaches, vacuums into a file
//! or loads extensions, so it loses nothing. `ATTACH ''` (a private temporary database) stays
//! allowed: a plain `VACUUM` uses one internally.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

use super::StoreError;

/// Pragmas that change settings of the whole process, not of the connection.
const PROCESS_WIDE_PRAGMAS: [&str; 4] = [
    "soft_heap_limit",
    "hard_heap_limit",
    "temp_store_directory",
    "data_store_directory",
];

/// What a refused statement's error says, for the component's developer.
pub const REFUSED: &str = "statement refused: a component's SQL stays in its own database \
    (ATTACH of a file, VACUUM INTO, load_extension and process-wide pragmas are not allowed)";

/// SQLite's primary result code for a statement the authorizer refused.
const SQLITE_AUTH: &str = "23";

/// How SQLite's messages for a denied action begin (a denied function is a plain
/// `SQLITE_ERROR` "not authorized to use function: …").
const DENIED_MESSAGE: &str = "not authorized";

/// Installs the authorizer on every SQLite connection opened from now on. Idempotent.
pub fn install() -> Result<(), StoreError> {
    static INSTALLED: OnceLock<c_int> = OnceLock::new();
    // SAFETY: `confine` has exactly the entry-point signature `sqlite3_auto_extension`
    // declares, is a plain function living for the whole process, and registering it has no
    // other precondition (SQLite serializes access to its auto-extension list).
    let rc = *INSTALLED.get_or_init(|| unsafe { ffi::sqlite3_auto_extension(Some(confine)) });
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "could not confine SQLite connections (SQLite error {rc})"
        )))
    }
}

/// Whether `error` is SQLite refusing a statement the authorizer denied.
pub fn is_refusal(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            e.code().as_deref() == Some(SQLITE_AUTH) || e.message().starts_with(DENIED_MESSAGE)
        }
        _ => false,
    }
}

/// The auto-extension: runs on each new connection, before anyone can use it.
unsafe extern "C" fn confine(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite hands us the connection being opened, valid for this call; `authorize`
    // has the signature the authorizer expects and needs no user data (null).
    unsafe { ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut()) }
}

/// The authorizer: called while a statement is prepared, once per action it would take.
unsafe extern "C" fn authorize(
    _user: *mut c_void,
    action: c_int,
    first: *const c_char,
    second: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    let text = |p: *const c_char| {
        if p.is_null() {
            None
        } else {
            // SAFETY: SQLite passes NUL-terminated strings valid for the duration of the call.
            unsafe { CStr::from_ptr(p) }.to_str().ok()
        }
    };
    let allowed = match action {
        // The file name, or null when it is an expression (`'a' || 'b'`, a parameter).
        ffi::SQLITE_ATTACH => text(first) == Some(""),
        ffi::SQLITE_FUNCTION => {
            !text(second).is_some_and(|name| name.eq_ignore_ascii_case("load_extension"))
        }
        ffi::SQLITE_PRAGMA => !text(first).is_some_and(|name| {
            PROCESS_WIDE_PRAGMAS
                .iter()
                .any(|p| name.eq_ignore_ascii_case(p))
        }),
        _ => true,
    };
    if allowed {
        ffi::SQLITE_OK
    } else {
        ffi::SQLITE_DENY
    }
}

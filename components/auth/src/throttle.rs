//! Login throttling against password guessing: failed logins are counted per user name in the
//! key-value store (Redis when configured, so every replica sees the same count). After
//! `MAX_FAILURES` within `WINDOW_MS` the name is locked until the window ends; a success
//! clears the count. Counting by name, not by IP, stops a botnet guessing one account; the
//! host's per-IP rate limit covers one IP trying many names.

use spin_sdk::key_value::Store;

/// Failed logins tolerated per window.
pub const MAX_FAILURES: u64 = 5;
/// The window, milliseconds.
pub const WINDOW_MS: u64 = 15 * 60 * 1000;

fn key(username: &str) -> String {
    format!("login-failures:{username}")
}

fn read(store: &Store, username: &str) -> (u64, u64) {
    store
        .get(&key(username))
        .ok()
        .flatten()
        .and_then(|v| {
            let text = String::from_utf8(v).ok()?;
            let (count, start) = text.split_once(',')?;
            Some((count.parse().ok()?, start.parse().ok()?))
        })
        .unwrap_or((0, 0))
}

/// Seconds until `username` may try again, if it is locked.
pub fn retry_after(username: &str, now_ms: u64) -> Option<u64> {
    let store = Store::open("default").ok()?;
    let (count, start) = read(&store, username);
    let ends = start + WINDOW_MS;
    (count >= MAX_FAILURES && now_ms < ends).then(|| (ends - now_ms).div_ceil(1000))
}

/// Records a failed login.
pub fn failed(username: &str, now_ms: u64) {
    let Ok(store) = Store::open("default") else {
        return;
    };
    let (count, start) = read(&store, username);
    let (count, start) = if now_ms >= start + WINDOW_MS {
        (1, now_ms)
    } else {
        (count + 1, start)
    };
    let _ = store.set(&key(username), format!("{count},{start}").as_bytes());
}

/// Clears the count after a successful login.
pub fn succeeded(username: &str) {
    if let Ok(store) = Store::open("default") {
        let _ = store.delete(&key(username));
    }
}

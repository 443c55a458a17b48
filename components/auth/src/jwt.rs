//! HS256 JSON Web Tokens for short-lived access: signed with `JWT_SECRET`, verified with a
//! constant-time MAC check, and refused unless the header says exactly HS256 (no `none`, no
//! algorithm switching).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long an access token lives.
pub const ACCESS_TTL_SECONDS: u64 = 900;

/// The one header this component signs and accepts.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal (user name).
    pub sub: String,
    /// Its roles when the token was issued.
    pub roles: Vec<String>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: u64,
}

/// Why a token was refused (never shown to clients in more detail than "invalid").
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON with our header.
    Malformed,
    /// The signature does not match.
    BadSignature,
    /// Past its expiry.
    Expired,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Signs `claims` with `secret`.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks `token`'s header, signature and expiry at `now` (seconds).
pub fn verify(token: &str, secret: &[u8], now: u64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let header_value: serde_json::Value =
        serde_json::from_slice(&header_json).map_err(|_| JwtError::Malformed)?;
    if header_value.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let mut m = mac(secret);
    m.update(header.as_bytes());
    m.update(b".");
    m.update(payload.as_bytes());
    m.verify_slice(&signature)
        .map_err(|_| JwtError::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or(JwtError::Malformed)?;
    if claims.exp <= now {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

/// Whether `token` has the shape of a JWT (three dot-separated parts), as opposed to an API
/// key or the admin token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "alice".into(),
            roles: vec!["trader".into()],
            iat: 100,
            exp,
        }
    }

    #[test]
    fn signed_tokens_verify_and_tampering_or_expiry_does_not() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = sign(&claims(1000), secret);
        assert_eq!(verify(&token, secret, 999), Ok(claims(1000)));
        assert_eq!(verify(&token, secret, 1000), Err(JwtError::Expired));
        assert_eq!(
            verify(&token, b"another secret of thirty-two bytes", 999),
            Err(JwtError::BadSignature)
        );
        let forged = sign(
            &Claims {
                roles: vec!["admin".into()],
                ..claims(1000)
            },
            secret,
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = forged.split('.').nth(1).expect("payload");
        parts[1] = forged_payload;
        assert_eq!(
            verify(&parts.join("."), secret, 999),
            Err(JwtError::BadSignature)
        );
        let none_header = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            token.split('.').nth(1).expect("payload")
        );
        assert_eq!(verify(&none_header, secret, 999), Err(JwtError::Malformed));
    }
}

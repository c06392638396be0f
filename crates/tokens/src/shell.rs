//! gitlab-shell's request signature: the `Gitlab-Shell-Api-Request` header holds an HS256 JWT with `iss`
//! `gitlab-shell`, signed with the secret the shell and the server share (GitLab's `.gitlab_shell_secret`).
//!
//! **Invariant:** only HS256 over the shared secret is accepted, compared in constant time, before any claim
//! is read; the issuer must be gitlab-shell and the issue time near `now`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far (seconds) a request's `iat` may be from the server's clock.
pub const MAX_SKEW_S: i64 = 300;
/// The longest header read.
const MAX_LEN: usize = 2048;

/// Whether `token` is a gitlab-shell request signed with `secret`, issued within [`MAX_SKEW_S`] of `now_s`.
pub fn verify_shell_request(token: &str, secret: &[u8], now_s: i64) -> bool {
    if token.len() > MAX_LEN || secret.is_empty() {
        return false;
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(claims.as_bytes());
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
    if mac.verify_slice(&signature).is_err() {
        return false;
    }
    let read =
        |part: &str| -> Option<serde_json::Value> { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok() };
    let (Some(header), Some(claims)) = (read(header), read(claims)) else { return false };
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return false;
    }
    let issued = claims.get("iat").and_then(serde_json::Value::as_i64);
    claims.get("iss").and_then(|i| i.as_str()) == Some("gitlab-shell")
        && issued.is_some_and(|iat| (iat - now_s).abs() <= MAX_SKEW_S)
}

/// Signs a gitlab-shell request (for tests and tools that stand in for the shell).
pub fn sign_shell_request(secret: &[u8], now_s: i64) -> Option<String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"gitlab-shell","iat":{now_s}}}"#));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(format!("{header}.{claims}").as_bytes());
    Some(format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fresh_request_signed_with_the_shared_secret_passes() {
        let secret = b"a shared secret of some length";
        let now = 1_800_000_000;
        let token = sign_shell_request(secret, now).unwrap();
        assert!(verify_shell_request(&token, secret, now));
        assert!(verify_shell_request(&token, secret, now + MAX_SKEW_S));
        assert!(!verify_shell_request(&token, secret, now + MAX_SKEW_S + 1), "too old");
        assert!(!verify_shell_request(&token, b"another secret", now));
        let mut tampered = token.clone();
        tampered.insert(tampered.find('.').unwrap() + 2, 'x');
        assert!(!verify_shell_request(&tampered, secret, now));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), token.split('.').nth(1).unwrap());
        assert!(!verify_shell_request(&none, secret, now));
        assert!(!verify_shell_request("", secret, now));
    }
}

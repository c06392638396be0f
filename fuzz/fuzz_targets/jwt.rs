//! The JWT verifier of job tokens and ID tokens: no input may panic, and nothing but a token signed by a known key
//! verifies.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokens::jwt::{Algorithm, JobTokenClaims, SigningKey};

fn keys() -> &'static [SigningKey; 2] {
    static KEYS: OnceLock<[SigningKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = SigningKey::generate(Algorithm::RS256).expect("an RS256 key");
        let ed = SigningKey::generate(Algorithm::EdDSA).expect("an EdDSA key");
        [ed, rsa]
    })
}

fuzz_target!(|data: &[u8]| {
    let [signer, other] = keys();
    let public = [signer.public(), other.public()];
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Arbitrary text: it must never verify, whatever it claims.
    assert!(tokens::jwt::verify::<JobTokenClaims>(text, public).is_err() || text.contains(signer.kid()));
    let _ = tokens::jwt::verify::<serde_json::Value>(text, public);
    // A real token with the input spliced into its claims or signature must not verify either.
    let claims = serde_json::json!({"sub": text, "iss": "i", "aud": "a", "iat": 1, "exp": 2});
    let signed = signer.sign(&claims).expect("signing");
    // A real token verifies, unless its claims made it longer than any job token may be.
    let verified = tokens::jwt::verify::<serde_json::Value>(&signed, public);
    assert_eq!(verified.is_ok(), signed.len() <= tokens::jwt::MAX_JWT_LEN, "{} bytes", signed.len());
    if !text.is_empty() {
        let tampered = format!("{signed}{text}");
        assert!(tokens::jwt::verify::<serde_json::Value>(&tampered, public).is_err());
    }
});

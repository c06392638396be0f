//! Signed JSON Web Tokens (RFC 7519) for CI job tokens and ID tokens: signing keys (RS256, GitLab's choice,
//! or EdDSA), their public JWKs with RFC 7638 thumbprints as `kid`, and strict verification.
//!
//! Verification accepts only what Tessera mints: a compact JWS of three base64url parts, a header of `alg`,
//! `kid` and optionally `typ: JWT` (so `jku`, `x5u`, `jwk`, `x5c` and `crit` are refused rather than ignored),
//! a `kid` of a known key, and the algorithm that key is bound to (so `none` and HMAC keyed with a public key
//! are refused). Claims are read only once the signature holds. Times are checked by the caller, who owns
//! the clock ([`check_times`]).
//!
//! **Invariant:** claims are read only after the signature verifies, with the algorithm its key is bound to.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as sig, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest JWT accepted: nothing Tessera mints comes near it, and gateways' header buffers are 8 KiB.
pub const MAX_JWT_LEN: usize = 7 * 1024;

/// The signature algorithms Tessera signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (keys of at least 2048 bits), the default.
    RS256,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm of this JOSE name, exactly.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "RS256" => Some(Algorithm::RS256),
            "EdDSA" => Some(Algorithm::EdDSA),
            _ => None,
        }
    }
}

/// Why a key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(&'static str);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for KeyError {}

enum Private {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ed(sig::Ed25519KeyPair),
}

/// A private signing key, with its public half.
pub struct SigningKey {
    private: Private,
    pkcs8: Vec<u8>,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {})", self.public.algorithm.as_str(), self.public.kid)
    }
}

impl SigningKey {
    /// A new key from AWS-LC's generator (RSA 2048 bits for RS256).
    pub fn generate(algorithm: Algorithm) -> Result<SigningKey, KeyError> {
        let pkcs8 = match algorithm {
            Algorithm::RS256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError("RSA key generation failed"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                    pair.as_der().map_err(|_| KeyError("RSA key encoding failed"))?;
                der.as_ref().to_vec()
            }
            Algorithm::EdDSA => sig::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                .map_err(|_| KeyError("Ed25519 key generation failed"))?
                .as_ref()
                .to_vec(),
        };
        SigningKey::from_pkcs8(algorithm, &pkcs8)
    }

    /// A key from its PKCS#8 DER form (as [`SigningKey::pkcs8`] gives it).
    pub fn from_pkcs8(algorithm: Algorithm, pkcs8: &[u8]) -> Result<SigningKey, KeyError> {
        let (private, jwk_params, public_bytes) = match algorithm {
            Algorithm::RS256 => {
                let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError("not an RSA key"))?;
                if pair.public_modulus_len() < 256 {
                    return Err(KeyError("RSA keys must have at least 2048 bits"));
                }
                let public = pair.public_key();
                let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
                let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
                let bytes = public.as_ref().to_vec();
                (Private::Rsa(pair), JwkParams::Rsa { n, e }, bytes)
            }
            Algorithm::EdDSA => {
                let pair = sig::Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError("not an Ed25519 key"))?;
                let bytes = pair.public_key().as_ref().to_vec();
                let x = URL_SAFE_NO_PAD.encode(&bytes);
                (Private::Ed(pair), JwkParams::Ed { x }, bytes)
            }
        };
        let public = VerifyingKey::new(algorithm, jwk_params, &public_bytes)?;
        Ok(SigningKey { private, pkcs8: pkcs8.to_vec(), public })
    }

    /// The private key in PKCS#8 DER, to be sealed before it is stored.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key that verifies what this one signs.
    pub fn public(&self) -> &VerifyingKey {
        &self.public
    }

    /// The key's id: the RFC 7638 thumbprint of its public key.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// A compact JWS of `claims` with the header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, KeyError> {
        let header =
            format!(r#"{{"alg":"{}","kid":"{}","typ":"JWT"}}"#, self.public.algorithm.as_str(), self.public.kid);
        let claims = serde_json::to_vec(claims).map_err(|_| KeyError("claims cannot be serialized"))?;
        let mut jwt = String::with_capacity(header.len() * 4 / 3 + claims.len() * 4 / 3 + 360);
        URL_SAFE_NO_PAD.encode_string(header.as_bytes(), &mut jwt);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut jwt);
        let signature = match &self.private {
            Private::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &sig::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    jwt.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| KeyError("RSA signing failed"))?;
                signature
            }
            Private::Ed(pair) => pair.sign(jwt.as_bytes()).as_ref().to_vec(),
        };
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jwt);
        Ok(jwt)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum JwkParams {
    Rsa { n: String, e: String },
    Ed { x: String },
}

/// A public key that verifies signatures, named by its RFC 7638 thumbprint.
pub struct VerifyingKey {
    kid: String,
    algorithm: Algorithm,
    params: JwkParams,
    parsed: sig::ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({} {})", self.algorithm.as_str(), self.kid)
    }
}

impl VerifyingKey {
    fn new(algorithm: Algorithm, params: JwkParams, public: &[u8]) -> Result<VerifyingKey, KeyError> {
        let parsed = match algorithm {
            Algorithm::RS256 => sig::ParsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, public),
            Algorithm::EdDSA => sig::ParsedPublicKey::new(&sig::ED25519, public),
        }
        .map_err(|_| KeyError("public key rejected"))?;
        // RFC 7638: the required members, in lexicographic order, without white space.
        let canonical = match &params {
            JwkParams::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            JwkParams::Ed { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(VerifyingKey { kid, algorithm, params, parsed })
    }

    /// A public key from its JWK members (as [`VerifyingKey::jwk`] gives them).
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, KeyError> {
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| KeyError("JWK member is not base64url"));
        let (algorithm, params, public) = match (jwk.kty.as_str(), jwk.alg.as_str()) {
            ("RSA", "RS256") => {
                let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else { return Err(KeyError("RSA JWK without n or e")) };
                let components = aws_lc_rs::rsa::PublicKeyComponents { n: decode(n)?, e: decode(e)? };
                let der: aws_lc_rs::encoding::PublicKeyX509Der<'_> =
                    components.as_der().map_err(|_| KeyError("RSA JWK rejected"))?;
                (Algorithm::RS256, JwkParams::Rsa { n: n.clone(), e: e.clone() }, der.as_ref().to_vec())
            }
            ("OKP", "EdDSA") if jwk.crv.as_deref() == Some("Ed25519") => {
                let Some(x) = &jwk.x else { return Err(KeyError("OKP JWK without x")) };
                (Algorithm::EdDSA, JwkParams::Ed { x: x.clone() }, decode(x)?)
            }
            _ => return Err(KeyError("unsupported JWK")),
        };
        let key = VerifyingKey::new(algorithm, params, &public)?;
        if key.kid != jwk.kid {
            return Err(KeyError("JWK kid is not its thumbprint"));
        }
        Ok(key)
    }

    /// The key's id: the RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key as a JWK for a JWKS document (`use: sig`).
    pub fn jwk(&self) -> Jwk {
        let (kty, crv, n, e, x) = match &self.params {
            JwkParams::Rsa { n, e } => ("RSA", None, Some(n.clone()), Some(e.clone()), None),
            JwkParams::Ed { x } => ("OKP", Some("Ed25519".to_owned()), None, None, Some(x.clone())),
        };
        Jwk {
            kty: kty.to_owned(),
            kid: self.kid.clone(),
            alg: self.algorithm.as_str().to_owned(),
            key_use: "sig".to_owned(),
            crv,
            n,
            e,
            x,
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }
}

/// A public key as published in a JWKS document (RFC 7517).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// The key type: `RSA` or `OKP`.
    pub kty: String,
    /// The key's id, its RFC 7638 thumbprint.
    pub kid: String,
    /// The algorithm the key signs with.
    pub alg: String,
    /// What the key is for: always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// The curve of an `OKP` key (`Ed25519`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// An RSA key's modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// An RSA key's public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// An `OKP` key's public point, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
}

/// Why a JWT was refused. Never shown to a client (all are one 401); kept for the logs and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than [`MAX_JWT_LEN`].
    TooLong,
    /// Not three base64url parts.
    Malformed,
    /// The header is not JSON, or lacks `alg` or `kid`.
    BadHeader,
    /// The header carries a member Tessera never sets (`jku`, `x5u`, `jwk`, `x5c`, `crit`, …).
    ForbiddenHeader,
    /// No key of this `kid`.
    UnknownKey,
    /// The `alg` is not the algorithm of the key (`none`, HMAC, or another).
    WrongAlgorithm,
    /// The signature does not verify.
    BadSignature,
    /// The claims are not JSON of the expected shape (a time given as a string, say).
    BadClaims,
    /// Past `exp`, beyond the leeway.
    Expired,
    /// Before `nbf`, beyond the leeway.
    NotYetValid,
    /// Issued in the future, or for longer than the maximum lifetime.
    BadLifetime,
    /// The `iss` is not this instance.
    WrongIssuer,
    /// The `aud` is not the one expected.
    WrongAudience,
}

impl JwtError {
    /// The refusal in words, for the logs.
    pub fn reason(self) -> &'static str {
        match self {
            JwtError::TooLong => "JWT too long",
            JwtError::Malformed => "JWT malformed",
            JwtError::BadHeader => "JWT header invalid",
            JwtError::ForbiddenHeader => "JWT header carries a key reference or critical extension",
            JwtError::UnknownKey => "JWT signed by an unknown key",
            JwtError::WrongAlgorithm => "JWT algorithm not accepted",
            JwtError::BadSignature => "JWT signature invalid",
            JwtError::BadClaims => "JWT claims invalid",
            JwtError::Expired => "JWT expired",
            JwtError::NotYetValid => "JWT not yet valid",
            JwtError::BadLifetime => "JWT lifetime invalid",
            JwtError::WrongIssuer => "JWT issuer not accepted",
            JwtError::WrongAudience => "JWT audience not accepted",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for JwtError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    kid: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<std::borrow::Cow<'a, str>>,
}

/// Checks a JWT's form, header and signature against `keys`, and returns its claims. Times, issuer and audience
/// are the caller's to check.
pub fn verify<'k, C: serde::de::DeserializeOwned>(
    jwt: &str,
    keys: impl IntoIterator<Item = &'k VerifyingKey>,
) -> Result<C, JwtError> {
    if jwt.len() > MAX_JWT_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let b64 = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed);
    let header_bytes = b64(header)?;
    let Ok(header) = serde_json::from_slice::<Header<'_>>(&header_bytes) else {
        return Err(header_refusal(&header_bytes));
    };
    if header.typ.as_deref().is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT")) {
        return Err(JwtError::BadHeader);
    }
    let key = keys.into_iter().find(|k| k.kid == header.kid).ok_or(JwtError::UnknownKey)?;
    if header.alg != key.algorithm.as_str() {
        return Err(JwtError::WrongAlgorithm);
    }
    let signature = b64(signature)?;
    let signed = jwt.len() - signature_part_len(jwt);
    if !key.verify(jwt.as_bytes().get(..signed).unwrap_or_default(), &signature) {
        return Err(JwtError::BadSignature);
    }
    serde_json::from_slice(&b64(claims)?).map_err(|_| JwtError::BadClaims)
}

/// Why a header was refused: a member Tessera never sets, or no header of the right shape at all.
fn header_refusal(header: &[u8]) -> JwtError {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(header) {
        Ok(members) if members.keys().any(|k| !["alg", "kid", "typ"].contains(&k.as_str())) => {
            JwtError::ForbiddenHeader
        }
        _ => JwtError::BadHeader,
    }
}

/// The length of `.signature` at the end of a compact JWS.
fn signature_part_len(jwt: &str) -> usize {
    jwt.rfind('.').map_or(jwt.len(), |dot| jwt.len() - dot)
}

/// The registered time claims of a token, in seconds since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
}

/// Checks a token's times at `now`, with `leeway` seconds for clock skew, and that it was not issued for longer
/// than `max_lifetime` seconds.
pub fn check_times(times: Times, now: i64, leeway: i64, max_lifetime: i64) -> Result<(), JwtError> {
    if times.exp <= now - leeway {
        return Err(JwtError::Expired);
    }
    if times.nbf > now + leeway {
        return Err(JwtError::NotYetValid);
    }
    if times.iat > now + leeway || times.exp < times.iat || times.exp - times.iat > max_lifetime {
        return Err(JwtError::BadLifetime);
    }
    Ok(())
}

/// The claims of a CI job token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTokenClaims {
    /// The job, as a global id: `gid://gitlab/Ci::Build/ID`.
    pub sub: String,
    /// The issuer: the instance's external URL.
    pub iss: String,
    /// The audience of job tokens.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Expires at: the job's start plus its timeout plus a grace period, capped by the maximum lifetime.
    pub exp: i64,
    /// A random id of this token.
    pub jti: String,
    /// The claims' format version.
    pub version: String,
    /// The cell that issued it.
    pub cell_id: u64,
    /// The organization of the job's project.
    pub organization_id: i64,
    /// The user the job runs for.
    pub scoped_user_id: i64,
    /// Each permission (a job-token policy) and the global ids of the resources it is bound to.
    pub scope: crate::JobScope,
}

impl JobTokenClaims {
    /// The registered time claims.
    pub fn times(&self) -> Times {
        Times { iat: self.iat, nbf: self.nbf, exp: self.exp }
    }

    /// The job id of `sub`.
    pub fn job_id(&self) -> Option<i64> {
        self.sub.strip_prefix(JOB_GID_PREFIX)?.parse().ok().filter(|id| *id > 0)
    }
}

/// The prefix of a job's global id.
pub const JOB_GID_PREFIX: &str = "gid://gitlab/Ci::Build/";
/// The prefix of a project's global id.
pub const PROJECT_GID_PREFIX: &str = "gid://gitlab/Project/";
/// The prefix of a group's global id.
pub const GROUP_GID_PREFIX: &str = "gid://gitlab/Group/";

/// The `aud` of job tokens, as GitLab sets it.
pub const JOB_TOKEN_AUDIENCE: &str = "gitlab-authz-token";
/// The `version` of job tokens Tessera mints.
pub const JOB_TOKEN_VERSION: &str = "0.1.0";

/// Seals a signing key for storage with AES-256-GCM under `key`; `nonce` must be fresh random bytes.
pub fn seal(key: &[u8; 32], nonce: [u8; 12], plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, KeyError> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| KeyError("sealing key"))?);
    let mut sealed = plaintext.to_vec();
    sealing
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut sealed)
        .map_err(|_| KeyError("sealing failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal`] sealed with the same key and context.
pub fn open(key: &[u8; 32], sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, KeyError> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let opening = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| KeyError("sealing key"))?);
    let (nonce, body) = sealed.split_at_checked(12).ok_or(KeyError("sealed key too short"))?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError("sealed key nonce"))?;
    let mut body = body.to_vec();
    let plain =
        opening.open_in_place(nonce, Aad::from(context), &mut body).map_err(|_| KeyError("not sealed by this key"))?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> JobTokenClaims {
        JobTokenClaims {
            sub: format!("{JOB_GID_PREFIX}7"),
            iss: "https://tessera.example".into(),
            aud: JOB_TOKEN_AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + 3900,
            jti: "abc".into(),
            version: JOB_TOKEN_VERSION.into(),
            cell_id: 1,
            organization_id: 1,
            scoped_user_id: 5,
            scope: crate::JobScope::new([(3, domain::JobPolicies::parse_names(["read_releases"]).expect("a policy"))]),
        }
    }

    fn part(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn rsa() -> SigningKey {
        SigningKey::generate(Algorithm::RS256).expect("RSA key")
    }

    #[test]
    fn a_signed_token_verifies_with_its_public_key_and_round_trips_its_claims() {
        for key in [rsa(), SigningKey::generate(Algorithm::EdDSA).expect("Ed25519 key")] {
            let jwt = key.sign(&claims(100)).expect("signed");
            let back: JobTokenClaims = verify(&jwt, [key.public()]).expect("verified");
            assert_eq!(back, claims(100));
            assert_eq!(back.job_id(), Some(7));
            let again = SigningKey::from_pkcs8(key.public().algorithm(), key.pkcs8()).expect("reloaded");
            assert_eq!(again.kid(), key.kid());
            let from_jwk = VerifyingKey::from_jwk(&key.public().jwk()).expect("from its JWK");
            assert!(verify::<JobTokenClaims>(&jwt, [&from_jwk]).is_ok());
        }
    }

    #[test]
    fn every_forged_or_foreign_form_is_refused() {
        let key = rsa();
        let other = rsa();
        let jwt = key.sign(&claims(100)).expect("signed");
        let (signed, signature) = jwt.rsplit_once('.').expect("three parts");
        let (_, body) = signed.split_once('.').expect("three parts");
        let kid = key.kid();
        let refused = |token: &str| verify::<JobTokenClaims>(token, [key.public()]).err();
        assert_eq!(refused(&format!("{}.{body}.", part(r#"{"alg":"none","kid":"x"}"#))), Some(JwtError::UnknownKey));
        assert_eq!(
            refused(&format!("{}.{body}.", part(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#)))),
            Some(JwtError::WrongAlgorithm)
        );
        // HMAC keyed with the public key: the algorithm is not the key's.
        let hs = format!("{}.{body}.{signature}", part(&format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#)));
        assert_eq!(refused(&hs), Some(JwtError::WrongAlgorithm));
        for member in [
            r#""jku":"https://evil.example/jwks""#,
            r#""x5u":"https://evil""#,
            r#""jwk":{"kty":"RSA"}"#,
            r#""crit":["exp"]"#,
            r#""x5c":["AA"]"#,
        ] {
            let header = part(&format!(r#"{{"alg":"RS256","kid":"{kid}",{member}}}"#));
            assert_eq!(refused(&format!("{header}.{body}.{signature}")), Some(JwtError::ForbiddenHeader), "{member}");
        }
        let unknown_kid = part(r#"{"alg":"RS256","kid":"not-ours"}"#);
        assert_eq!(refused(&format!("{unknown_kid}.{body}.{signature}")), Some(JwtError::UnknownKey));
        let by_other = other.sign(&claims(200)).expect("signed");
        assert_eq!(refused(&by_other), Some(JwtError::UnknownKey));
        let (other_signed, _) = by_other.rsplit_once('.').expect("parts");
        let (_, other_body) = other_signed.split_once('.').expect("parts");
        let (header, _) = signed.split_once('.').expect("parts");
        assert_eq!(refused(&format!("{header}.{other_body}.{signature}")), Some(JwtError::BadSignature));
        assert_eq!(refused(&format!("{signed}.{signature}.x")), Some(JwtError::Malformed));
        assert_eq!(refused(&format!("{signed}.{signature}=")), Some(JwtError::Malformed));
        assert_eq!(refused(&"a".repeat(MAX_JWT_LEN + 1)), Some(JwtError::TooLong));
        assert_eq!(refused(&format!("{}.{body}.{signature}", part("[]"))), Some(JwtError::BadHeader));
        assert_eq!(
            refused(&format!(
                "{}.{body}.{signature}",
                part(&format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"at+jwt"}}"#))
            )),
            Some(JwtError::BadHeader)
        );
    }

    #[test]
    fn times_of_the_wrong_type_are_refused_even_when_signed() {
        let key = rsa();
        let mut value = serde_json::to_value(claims(100)).expect("json");
        value["exp"] = serde_json::Value::String("99999999999".into());
        let jwt = key.sign(&value).expect("signed");
        assert_eq!(verify::<JobTokenClaims>(&jwt, [key.public()]).err(), Some(JwtError::BadClaims));
        value["exp"] = serde_json::json!(4000.5);
        let jwt = key.sign(&value).expect("signed");
        assert_eq!(verify::<JobTokenClaims>(&jwt, [key.public()]).err(), Some(JwtError::BadClaims));
        let mut value = serde_json::to_value(claims(100)).expect("json");
        value["nbf"] = serde_json::Value::Null;
        let jwt = key.sign(&value).expect("signed");
        assert_eq!(verify::<JobTokenClaims>(&jwt, [key.public()]).err(), Some(JwtError::BadClaims));
    }

    #[test]
    fn times_are_checked_with_a_bounded_leeway() {
        let t = Times { iat: 1000, nbf: 1000, exp: 2000 };
        assert_eq!(check_times(t, 1500, 60, 86_400), Ok(()));
        assert_eq!(check_times(t, 2059, 60, 86_400), Ok(()));
        assert_eq!(check_times(t, 2060, 60, 86_400), Err(JwtError::Expired));
        assert_eq!(check_times(t, 939, 60, 86_400), Err(JwtError::NotYetValid));
        assert_eq!(check_times(Times { iat: 0, nbf: 0, exp: 100_000 }, 10, 60, 86_400), Err(JwtError::BadLifetime));
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_key_and_context() {
        let sealed = seal(&[7; 32], [1; 12], b"secret der", b"kid-1").expect("sealed");
        assert_eq!(open(&[7; 32], &sealed, b"kid-1").expect("opened"), b"secret der");
        assert!(open(&[8; 32], &sealed, b"kid-1").is_err());
        assert!(open(&[7; 32], &sealed, b"kid-2").is_err());
        assert!(!sealed.windows(10).any(|w| w == b"secret der"));
    }
}

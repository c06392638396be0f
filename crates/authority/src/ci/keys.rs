//! The key ring of job tokens and ID tokens: keys made, sealed at rest, opened, published as JWKS and rotated.
//!
//! **Invariant:** a key is reloaded whenever the fact cache's key generation moves, here or on another node.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use domain::{KeyPurpose, StoredKey, Timestamp};
use tokens::jwt::{self, Algorithm, Jwk, SigningKey, VerifyingKey};

use super::{JWT_LEEWAY_S, KEY_SEAL_LABEL};
use crate::{AuditContext, Authority, Error, Result, random_bytes};

/// The keys in use: those that sign now, and every key still published.
pub(crate) struct KeyRing {
    generation: u64,
    pub(super) job_signer: Option<Arc<SigningKey>>,
    pub(super) id_signer: Option<Arc<SigningKey>>,
    /// Public keys of job tokens, current and retired but still published.
    pub(super) job_verifiers: Vec<VerifyingKey>,
    published: Vec<Jwk>,
}

pub(crate) type SharedKeyRing = RwLock<Option<Arc<KeyRing>>>;

impl Authority {
    /// Makes the first signing keys of each purpose if there are none, and loads them. Called at start.
    pub async fn prepare_signing_keys(&self) -> Result<()> {
        let now = self.now();
        let existing = self.store.signing_keys().await?;
        for purpose in [KeyPurpose::JobToken, KeyPurpose::IdToken] {
            if existing.iter().any(|k| k.purpose == purpose && k.retired_at.is_none()) {
                continue;
            }
            let key = self.new_stored_key(purpose, now)?;
            self.store.insert_first_signing_key(&key).await?;
        }
        self.key_ring().await.map(|_| ())
    }

    fn new_stored_key(&self, purpose: KeyPurpose, now: Timestamp) -> Result<StoredKey> {
        let key = SigningKey::generate(self.ci.algorithm).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let seal_key = self.digester.derived_keys(KEY_SEAL_LABEL).into_iter().next();
        let seal_key = seal_key.ok_or_else(|| Error::Internal(anyhow::anyhow!("no server secret")))?;
        let sealed = jwt::seal(&seal_key, random_bytes::<12>()?, key.pkcs8(), key.kid().as_bytes())
            .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        let jwk = serde_json::to_string(&key.public().jwk()).map_err(|e| Error::Internal(e.into()))?;
        Ok(StoredKey {
            kid: key.kid().to_owned(),
            purpose,
            algorithm: self.ci.algorithm.as_str().to_owned(),
            sealed_key: base64::engine::general_purpose::STANDARD.encode(sealed),
            public_jwk: jwk,
            created_at: now,
            retired_at: None,
            publish_until: None,
        })
    }

    /// The keys in use, reloaded when they changed (here or, announced, on another node).
    pub(crate) async fn key_ring(&self) -> Result<Arc<KeyRing>> {
        let generation = self.cache.keys_generation();
        if let Ok(ring) = self.keys.read()
            && let Some(ring) = ring.as_ref()
            && ring.generation == generation
        {
            return Ok(ring.clone());
        }
        let now = self.now();
        let stored = self.store.signing_keys().await?;
        let seal_keys = self.digester.derived_keys(KEY_SEAL_LABEL);
        let mut ring =
            KeyRing { generation, job_signer: None, id_signer: None, job_verifiers: Vec::new(), published: Vec::new() };
        for key in stored {
            if key.publish_until.is_some_and(|until| until <= now) {
                continue;
            }
            let jwk: Jwk = serde_json::from_str(&key.public_jwk)
                .map_err(|e| Error::Internal(anyhow::anyhow!("stored key {} has an invalid JWK: {e}", key.kid)))?;
            if key.purpose == KeyPurpose::JobToken {
                let verifier = VerifyingKey::from_jwk(&jwk)
                    .map_err(|e| Error::Internal(anyhow::anyhow!("stored key {}: {e}", key.kid)))?;
                ring.job_verifiers.push(verifier);
            }
            ring.published.push(jwk);
            if key.retired_at.is_some() {
                continue;
            }
            let signer = self.open_key(&key, &seal_keys)?;
            let slot = match key.purpose {
                KeyPurpose::JobToken => &mut ring.job_signer,
                KeyPurpose::IdToken => &mut ring.id_signer,
            };
            // Keys come newest first: the newest current key signs.
            slot.get_or_insert(Arc::new(signer));
        }
        let ring = Arc::new(ring);
        if self.cache.keys_generation() == generation
            && let Ok(mut slot) = self.keys.write()
        {
            *slot = Some(ring.clone());
        }
        Ok(ring)
    }

    fn open_key(&self, key: &StoredKey, seal_keys: &[[u8; 32]]) -> Result<SigningKey> {
        let algorithm = Algorithm::parse(&key.algorithm)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored key {} has an unknown algorithm", key.kid)))?;
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&key.sealed_key)
            .map_err(|_| Error::Internal(anyhow::anyhow!("stored key {} is not base64", key.kid)))?;
        let pkcs8 = seal_keys
            .iter()
            .find_map(|seal| jwt::open(seal, &sealed, key.kid.as_bytes()).ok())
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored key {} opens with no server secret", key.kid)))?;
        let signer = SigningKey::from_pkcs8(algorithm, &pkcs8).map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
        if signer.kid() != key.kid {
            return Err(Error::Internal(anyhow::anyhow!("stored key {} does not match its kid", key.kid)));
        }
        Ok(signer)
    }

    /// Every public key still published (JWKS), job-token and ID-token keys alike.
    pub async fn published_keys(&self) -> Result<Vec<Jwk>> {
        Ok(self.key_ring().await?.published.clone())
    }

    /// The algorithms of the published keys.
    pub async fn signing_algorithms(&self) -> Result<Vec<String>> {
        let mut algorithms: Vec<String> = self.key_ring().await?.published.iter().map(|k| k.alg.clone()).collect();
        algorithms.sort();
        algorithms.dedup();
        Ok(algorithms)
    }

    /// Replaces the signing keys of both purposes. The old public keys stay published until every token they
    /// signed has expired.
    pub async fn rotate_signing_keys(&self, ctx: &AuditContext) -> Result<Vec<Jwk>> {
        let now = self.now();
        let publish_until = now.add_millis((self.ci.max_token_lifetime_s + JWT_LEEWAY_S) * 1000);
        for purpose in [KeyPurpose::JobToken, KeyPurpose::IdToken] {
            let key = self.new_stored_key(purpose, now)?;
            self.store.rotate_signing_key(&key, now, publish_until).await?;
            self.audit(
                ctx,
                "ci_signing_key_rotated",
                "SigningKey",
                0,
                "signing key rotated",
                &[("purpose", purpose.as_str().to_owned()), ("kid", key.kid.clone())],
            )
            .await?;
        }
        self.published_keys().await
    }
}

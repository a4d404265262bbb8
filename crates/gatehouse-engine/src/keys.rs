//! Signing keys for ID tokens: generated on first start (RS256, ES256,
//! EdDSA), kept in the database so replicas share them, private parts
//! encrypted with AES-256-GCM under the master key.
//!
//! Rotation publishes before it signs: it adds a new key per algorithm,
//! which appears in JWKS at once, and schedules the old key's retirement
//! (`retired_at`) after an activation delay (by default the JWKS cache
//! lifetime), so that relying parties holding a cached JWKS can verify every
//! token. Until then the old key keeps signing. Among the keys of an
//! algorithm that are not yet retired, the one whose retirement comes first
//! signs, so several rotations within the delay hand over in order. Retired
//! keys stay published until the ID tokens they signed have expired. The
//! schedule lives in the database, so every replica switches at the same
//! moment.
//!
//! Key generation and signing use `rsa`, `ring` and `jsonwebtoken`; nothing
//! here is home-made cryptography.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use gatehouse_core::secret::generate_hex;
use gatehouse_store::{KeyInstall, NewSigningKey, SigningKeyRow};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rand::RngCore;
use ring::signature::KeyPair;
use serde_json::{json, Value};

use crate::{Engine, EngineError};

/// The algorithms Gatehouse signs ID tokens with.
pub const ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// How long relying parties may cache JWKS (and discovery), in seconds: the
/// `max-age` both are served with, and the default activation delay of a
/// rotated key.
pub const JWKS_MAX_AGE: i64 = 300;

/// Margin for clock skew on top of an ID token's lifetime before its key
/// leaves JWKS.
const PUBLISH_MARGIN: i64 = 300;

/// A key created by [`Engine::rotate_signing_keys`].
#[derive(Debug, Clone)]
pub struct RotatedKey {
    pub key: SigningKeyRow,
    /// When the key starts signing (Unix seconds; now when no other key of
    /// its algorithm could sign).
    pub signs_from: i64,
}

/// The key that signs for `alg` at `at` among `keys` (published keys): of
/// those not yet retired, the one retiring first; a key with no retirement
/// scheduled comes last, the newest of them first.
pub fn signing_key_at(keys: &[SigningKeyRow], alg: &str, at: i64) -> Option<SigningKeyRow> {
    keys.iter()
        .filter(|k| k.alg == alg && !matches!(k.retired_at, Some(r) if r <= at))
        .min_by_key(|k| (k.retired_at.unwrap_or(i64::MAX), std::cmp::Reverse(k.id)))
        .cloned()
}

/// The master key and a cache of decrypted signing keys.
#[derive(Default)]
pub struct KeyRing {
    master: Option<[u8; 32]>,
    cache: Mutex<HashMap<String, Arc<EncodingKey>>>,
}

impl KeyRing {
    pub fn new(master: [u8; 32]) -> KeyRing {
        KeyRing { master: Some(master), cache: Mutex::default() }
    }
}

impl KeyRing {
    /// The `sid` of a session: a keyed digest of its row id, stable for the
    /// session's life and meaningless outside this server (it does not
    /// reveal how many sessions exist).
    pub fn session_sid(&self, session_id: i64) -> String {
        let key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            self.master.as_ref().map(|m| &m[..]).unwrap_or(b"gatehouse-no-master-key"),
        );
        let tag = ring::hmac::sign(&key, format!("gatehouse session id {session_id}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no master key is loaded")]
    NoMasterKey,
    #[error("signing key {0} cannot be decrypted with this master key")]
    Decrypt(String),
    #[error("no active signing key for {0}")]
    NoKey(String),
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gatehouse_store::StoreError> for KeyError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        KeyError::Engine(e.into())
    }
}

/// Derives the 32-byte master key from the configured secret: base64 of 32
/// bytes is used as is, anything else is hashed with SHA-256.
pub fn master_key_from_secret(secret: &str) -> [u8; 32] {
    if let Ok(raw) = STANDARD.decode(secret.trim()) {
        if let Ok(k) = <[u8; 32]>::try_from(raw.as_slice()) {
            return k;
        }
    }
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

/// A new random master key in the form a key file holds (base64).
pub fn new_master_key_file_content() -> String {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    STANDARD.encode(k)
}

fn algorithm(alg: &str) -> Result<Algorithm, KeyError> {
    match alg {
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "EdDSA" => Ok(Algorithm::EdDSA),
        other => Err(KeyError::Algorithm(other.to_string())),
    }
}

/// Generates a key pair: (private DER as jsonwebtoken reads it, public JWK).
fn generate(alg: &str, kid: &str) -> Result<(Vec<u8>, Value), KeyError> {
    let gen_err = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let rng = ring::rand::SystemRandom::new();
    match alg {
        "RS256" => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| gen_err(&e))?;
            let der = key.to_pkcs1_der().map_err(|e| gen_err(&e))?.as_bytes().to_vec();
            let jwk = json!({
                "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            });
            Ok((der, jwk))
        }
        "ES256" => {
            let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| gen_err(&e))?;
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| gen_err(&e))?;
            // Uncompressed point: 0x04 || x || y.
            let p = pair.public_key().as_ref();
            let jwk = json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65]),
            });
            Ok((pkcs8.as_ref().to_vec(), jwk))
        }
        "EdDSA" => {
            let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| gen_err(&e))?;
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| gen_err(&e))?;
            let jwk = json!({
                "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            });
            Ok((pkcs8.as_ref().to_vec(), jwk))
        }
        other => Err(KeyError::Algorithm(other.to_string())),
    }
}

fn encrypt(master: &[u8; 32], kid: &str, plain: &[u8]) -> Result<String, KeyError> {
    let cipher = Aes256Gcm::new_from_slice(master).map_err(|_| KeyError::NoMasterKey)?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // The kid is the associated data: a ciphertext cannot be moved to another row.
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: kid.as_bytes() })
        .map_err(|_| KeyError::Generate("encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(format!("v1:{}", STANDARD.encode(out)))
}

fn decrypt(master: &[u8; 32], kid: &str, stored: &str) -> Result<Vec<u8>, KeyError> {
    let err = || KeyError::Decrypt(kid.to_string());
    let raw = stored.strip_prefix("v1:").and_then(|b| STANDARD.decode(b).ok()).ok_or_else(err)?;
    if raw.len() < 12 + 16 {
        return Err(err());
    }
    let cipher = Aes256Gcm::new_from_slice(master).map_err(|_| err())?;
    cipher.decrypt(Nonce::from_slice(&raw[..12]), Payload { msg: &raw[12..], aad: kid.as_bytes() }).map_err(|_| err())
}

impl Engine {
    /// Encrypts a secret the engine must read back (a TOTP secret) under
    /// the master key; `aad` binds the ciphertext to its row.
    pub(crate) fn seal(&self, aad: &str, plain: &[u8]) -> Result<String, KeyError> {
        encrypt(self.master()?, aad, plain)
    }

    /// Decrypts what [`Engine::seal`] produced for the same `aad`.
    pub(crate) fn unseal(&self, aad: &str, stored: &str) -> Result<Vec<u8>, KeyError> {
        decrypt(self.master()?, aad, stored)
    }

    /// Loads the master key (from the environment or the key file).
    pub fn set_master_key(&mut self, master: [u8; 32]) {
        self.keys = Arc::new(KeyRing::new(master));
    }

    fn master(&self) -> Result<&[u8; 32], KeyError> {
        self.keys.master.as_ref().ok_or(KeyError::NoMasterKey)
    }

    /// A new key, encrypted under the master key, not stored yet (key
    /// generation is slow: it happens outside any transaction).
    fn new_signing_key(&self, alg: &str) -> Result<NewSigningKey, KeyError> {
        let kid = format!("{}-{}", alg.to_ascii_lowercase(), generate_hex(8));
        let (der, jwk) = generate(alg, &kid)?;
        let private_enc = encrypt(self.master()?, &kid, &der)?;
        Ok(NewSigningKey {
            kid,
            alg: alg.to_string(),
            public_jwk: jwk.to_string(),
            private_enc,
            created_at: self.now(),
        })
    }

    /// Creates a signing key for every algorithm that has no active one
    /// (first start). Replicas starting together take turns in one
    /// transaction, so exactly one key per algorithm results. Returns the
    /// kids created.
    pub fn ensure_signing_keys(&self) -> Result<Vec<String>, KeyError> {
        let keys = self.store.published_signing_keys(self.now())?;
        let missing: Vec<&str> = ALGORITHMS
            .into_iter()
            .filter(|alg| !keys.iter().any(|k| k.alg == *alg && k.retired_at.is_none()))
            .collect();
        if missing.is_empty() {
            return Ok(Vec::new());
        }
        let fresh = missing.iter().map(|alg| self.new_signing_key(alg)).collect::<Result<Vec<_>, _>>()?;
        let inserted = self.store.install_signing_keys(&fresh, KeyInstall::Missing)?;
        Ok(inserted.into_iter().map(|k| k.kid).collect())
    }

    /// Checks that the master key opens every published signing key: a
    /// replica with the wrong key must not start (it would sign nothing).
    pub fn check_signing_keys(&self) -> Result<(), KeyError> {
        for row in self.store.published_signing_keys(self.now())? {
            self.encoding_key(&row)?;
        }
        Ok(())
    }

    /// Adds a new key per algorithm, published at once. The current keys
    /// keep signing for `activation_delay` seconds (so that cached JWKS
    /// documents expire first), then retire and stay published until every
    /// ID token they signed has expired. A new key with no other usable key
    /// of its algorithm signs at once.
    pub fn rotate_signing_keys(&self, activation_delay: i64) -> Result<Vec<RotatedKey>, KeyError> {
        let ts = self.now();
        let retire_at = ts + activation_delay.max(0);
        let publish_until = retire_at + self.config.id_token_ttl + PUBLISH_MARGIN;
        let fresh = ALGORITHMS.into_iter().map(|alg| self.new_signing_key(alg)).collect::<Result<Vec<_>, _>>()?;
        // One transaction: killed half-way, no new key exists (and none signs early).
        let inserted = self.store.install_signing_keys(&fresh, KeyInstall::Rotate { retire_at, publish_until })?;
        let keys = self.store.published_signing_keys(ts)?;
        let mut out = Vec::new();
        for key in inserted {
            let alg = key.alg.clone();
            // Keys already retiring from an earlier rotation hand over first.
            let signs_from = keys
                .iter()
                .filter(|k| k.alg == alg && k.kid != key.kid)
                .filter_map(|k| k.retired_at)
                .filter(|r| *r > ts)
                .max()
                .unwrap_or(ts);
            out.push(RotatedKey { key, signs_from });
        }
        Ok(out)
    }

    /// Every published signing key (public parts and schedule), oldest first.
    pub fn published_keys(&self) -> Result<Vec<SigningKeyRow>, EngineError> {
        Ok(self.store.published_signing_keys(self.now())?)
    }

    /// The published public keys as a JWKS document.
    pub fn jwks(&self) -> Result<Value, EngineError> {
        let keys: Vec<Value> = self
            .store
            .published_signing_keys(self.now())?
            .iter()
            .filter_map(|k| serde_json::from_str::<Value>(&k.public_jwk).ok())
            .collect();
        Ok(json!({ "keys": keys }))
    }

    /// Signs `claims` as a JWS with the key of `alg` that signs now.
    pub fn sign_jwt(&self, alg: &str, claims: &Value) -> Result<String, KeyError> {
        self.sign_typed_jwt(alg, None, claims)
    }

    /// Signs `claims` with an explicit `typ` header (`logout+jwt`), so the
    /// token cannot be mistaken for an ID token.
    pub fn sign_typed_jwt(&self, alg: &str, typ: Option<&str>, claims: &Value) -> Result<String, KeyError> {
        let algorithm = algorithm(alg)?;
        let ts = self.now();
        let row = signing_key_at(&self.store.published_signing_keys(ts)?, alg, ts)
            .ok_or_else(|| KeyError::NoKey(alg.to_string()))?;
        let key = self.encoding_key(&row)?;
        let mut header = Header::new(algorithm);
        header.kid = Some(row.kid.clone());
        if let Some(t) = typ {
            header.typ = Some(t.to_string());
        }
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| KeyError::Sign(e.to_string()))
    }

    fn encoding_key(&self, row: &SigningKeyRow) -> Result<Arc<EncodingKey>, KeyError> {
        if let Some(k) = self.keys.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&row.kid) {
            return Ok(k.clone());
        }
        let der = decrypt(self.master()?, &row.kid, &row.private_enc)?;
        let key = Arc::new(match row.alg.as_str() {
            "RS256" => EncodingKey::from_rsa_der(&der),
            "ES256" => EncodingKey::from_ec_der(&der),
            "EdDSA" => EncodingKey::from_ed_der(&der),
            other => return Err(KeyError::Algorithm(other.to_string())),
        });
        self.keys.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(row.kid.clone(), key.clone());
        Ok(key)
    }

    /// Verifies a JWT this server signed (any published key); `exp` is not
    /// checked (an expired ID token is still a fine logout hint).
    pub fn verify_own_jwt(&self, token: &str) -> Option<Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let row = self.store.published_signing_keys(self.now()).ok()?.into_iter().find(|k| k.kid == kid)?;
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&row.public_jwk).ok()?;
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        let mut v = jsonwebtoken::Validation::new(algorithm(&row.alg).ok()?);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        v.set_issuer(&[&self.config.issuer]);
        jsonwebtoken::decode::<Value>(token, &key, &v).ok().map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_round_trip_only_under_their_master_key_and_kid() {
        let m = [7u8; 32];
        let enc = encrypt(&m, "k1", b"secret der").unwrap();
        assert_eq!(decrypt(&m, "k1", &enc).unwrap(), b"secret der");
        assert!(decrypt(&[8u8; 32], "k1", &enc).is_err());
        assert!(decrypt(&m, "k2", &enc).is_err());
    }

    fn key(id: i64, alg: &str, retired_at: Option<i64>) -> SigningKeyRow {
        SigningKeyRow {
            id,
            kid: format!("k{id}"),
            alg: alg.into(),
            public_jwk: String::new(),
            private_enc: String::new(),
            created_at: 0,
            retired_at,
            publish_until: retired_at.map(|r| r + 100),
        }
    }

    #[test]
    fn the_outgoing_key_signs_until_its_retirement_then_the_new_one() {
        // k1 retires at 10 (rotation at 0), k2 at 20 (rotation at 5), k3 is new.
        let keys = [key(1, "RS256", Some(10)), key(2, "RS256", Some(20)), key(3, "RS256", None), key(4, "ES256", None)];
        let at = |t| signing_key_at(&keys, "RS256", t).map(|k| k.kid);
        assert_eq!(at(0).as_deref(), Some("k1"));
        assert_eq!(at(10).as_deref(), Some("k2"));
        assert_eq!(at(20).as_deref(), Some("k3"));
        assert_eq!(signing_key_at(&keys, "ES256", 0).unwrap().kid, "k4");
        assert!(signing_key_at(&keys, "EdDSA", 0).is_none());
        // No delay: the new key signs at once.
        let keys = [key(1, "RS256", Some(5)), key(2, "RS256", None)];
        assert_eq!(signing_key_at(&keys, "RS256", 5).unwrap().kid, "k2");
    }

    #[test]
    fn master_key_accepts_base64_or_any_secret() {
        let file = new_master_key_file_content();
        assert_eq!(master_key_from_secret(&file).to_vec(), STANDARD.decode(&file).unwrap());
        assert_ne!(master_key_from_secret("a passphrase"), [0u8; 32]);
    }
}

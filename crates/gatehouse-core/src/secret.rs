//! Secrets: generation from the OS random source, SHA-256 digests for
//! machine secrets, argon2id for user passwords, constant-time comparison.
//!
//! Client secrets, API secrets and every token are ≥ 256-bit random values,
//! so a fast digest is as strong as a slow one and keeps token throughput up.
//! Passwords are chosen by people and get argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of entropy in every generated secret and token (256 bits).
pub const SECRET_BYTES: usize = 32;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    OsRng.fill_bytes(&mut buf);
    buf
}

/// A new URL-safe random token (43 characters, 256 bits).
pub fn generate_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<SECRET_BYTES>())
}

/// A new random secret in standard base64 (may contain `+ / =`), the shape
/// WHMCS hands out for client secrets.
pub fn generate_base64_secret() -> String {
    STANDARD.encode(random_bytes::<SECRET_BYTES>())
}

/// A short random identifier part (lower-case hex, `bytes * 2` characters).
pub fn generate_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The stored form of a secret or token: hex SHA-256.
pub fn digest(secret: &str) -> String {
    // On the token path: no per-byte formatting.
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` matches the stored `digest`, compared in constant time.
pub fn verify_digest(secret: &str, stored_digest: &str) -> bool {
    let computed = digest(secret);
    computed.as_bytes().ct_eq(stored_digest.as_bytes()).into()
}

/// Constant-time equality of two strings (length may leak, content does not).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Hashes a user password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    if password.len() > 1024 {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Checks a password against a stored argon2 PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > 1024 {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password is longer than 1024 bytes")]
    TooLong,
    #[error("the password could not be hashed")]
    Hashing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn digests_verify_only_the_right_secret() {
        let s = generate_base64_secret();
        let d = digest(&s);
        assert!(verify_digest(&s, &d));
        assert!(!verify_digest("other", &d));
        assert_ne!(d, s);
    }

    #[test]
    fn passwords_use_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_eq!(hash_password(""), Err(PasswordError::Empty));
    }
}

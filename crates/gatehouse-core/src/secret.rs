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

/// Hex digits of the issue-time prefix of a grant token (milliseconds since
/// the Unix epoch; 12 digits last until the year 10889).
const GRANT_TIME_DIGITS: usize = 12;

/// A new grant token (authorization code, access, refresh or SSO token):
/// `<issue time in ms, 12 hex digits>.<256-bit random, base64url>`, 56
/// characters.
///
/// The time prefix is not a secret and grants nothing: it is there so that
/// [`grant_digest`] keys sort by issue time, and new rows go to the right
/// edge of the digest index instead of a random leaf. With a random key,
/// every insert dirtied its own index page (one page written per token,
/// read back from disk once the index outgrows memory); with time-ordered
/// keys a batch of inserts shares a page or two, at any table size.
pub fn generate_grant_token() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut token = format!("{ms:0width$x}.", width = GRANT_TIME_DIGITS);
    URL_SAFE_NO_PAD.encode_string(random_bytes::<SECRET_BYTES>(), &mut token);
    token
}

/// The stored key of a grant token: for tokens from
/// [`generate_grant_token`], their time prefix then the hex SHA-256 of the
/// whole token (76 characters); for any other string (tokens issued before
/// the prefix existed, or garbage), the plain [`digest`] (64 characters),
/// so older tokens stay valid and the two shapes never collide.
///
/// Lookups are by the SHA-256 of the whole presented token, as before: a
/// changed prefix changes the hash too.
pub fn grant_digest(token: &str) -> String {
    let b = token.as_bytes();
    let prefixed = b.len() == GRANT_TIME_DIGITS + 1 + 43
        && b[GRANT_TIME_DIGITS] == b'.'
        && b[..GRANT_TIME_DIGITS].iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !prefixed {
        return digest(token);
    }
    let mut key = String::with_capacity(GRANT_TIME_DIGITS + 64);
    key.push_str(&token[..GRANT_TIME_DIGITS]);
    key.push_str(&digest(token));
    key
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
    fn grant_tokens_carry_a_time_prefix_that_orders_their_keys() {
        let a = generate_grant_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = generate_grant_token();
        assert_eq!(a.len(), 56);
        assert_eq!(a.as_bytes()[12], b'.');
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'));
        let (ka, kb) = (grant_digest(&a), grant_digest(&b));
        assert_eq!(ka.len(), 76);
        assert!(ka < kb, "keys sort by issue time");
        assert_eq!(&ka[..12], &a[..12]);
        assert_eq!(&ka[12..], digest(&a));
        // The prefix is covered by the hash: another prefix, another key.
        let forged = format!("{}{}", "000000000000", &a[12..]);
        assert_ne!(grant_digest(&forged)[12..], ka[12..]);
    }

    #[test]
    fn grant_digest_of_older_tokens_and_garbage_is_the_plain_digest() {
        let old = generate_token();
        assert_eq!(grant_digest(&old), digest(&old));
        for s in ["", ".", "0123456789ab.", "0123456789AB.abcdefghijabcdefghijabcdefghijabcdefghijabc", "é"] {
            assert_eq!(grant_digest(s), digest(s), "{s:?}");
        }
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

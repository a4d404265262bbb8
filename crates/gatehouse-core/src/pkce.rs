//! PKCE (RFC 7636): challenge methods and verification.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::secret::constant_time_eq;

/// A code challenge method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeMethod {
    Plain,
    S256,
}

impl ChallengeMethod {
    /// Parses the `code_challenge_method` parameter; absent means `plain`
    /// (RFC 7636 §4.3).
    pub fn parse(s: Option<&str>) -> Option<ChallengeMethod> {
        match s {
            None | Some("plain") => Some(ChallengeMethod::Plain),
            Some("S256") => Some(ChallengeMethod::S256),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::Plain => "plain",
            ChallengeMethod::S256 => "S256",
        }
    }
}

/// Whether a challenge or verifier has the RFC's shape: 43–128 characters
/// from `[A-Z a-z 0-9 - . _ ~]`.
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks `verifier` against the stored challenge.
pub fn verify(method: ChallengeMethod, challenge: &str, verifier: &str) -> bool {
    if !is_well_formed(verifier) {
        return false;
    }
    match method {
        ChallengeMethod::Plain => constant_time_eq(challenge, verifier),
        ChallengeMethod::S256 => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            constant_time_eq(challenge, &computed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(ChallengeMethod::S256, challenge, verifier));
        assert!(!verify(ChallengeMethod::S256, challenge, &verifier.replace('d', "e")));
        assert!(verify(ChallengeMethod::Plain, verifier, verifier));
        assert!(!verify(ChallengeMethod::Plain, challenge, "short"));
    }
}

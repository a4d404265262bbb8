//! PKCE (`gatehouse_core::pkce`): the `code_challenge`, its method and the
//! token request's `code_verifier`. Invariants:
//! - `is_well_formed` is exactly RFC 7636's 43–128 unreserved characters;
//! - `ChallengeMethod::parse` knows `plain`, `S256` and absence, nothing else,
//!   and `as_str` reads back;
//! - a verifier checks against its own S256 challenge (and as `plain`
//!   against itself) when well formed, never when not;
//! - `verify` accepts only the exact challenge: S256 only
//!   `BASE64URL(SHA256(verifier))`, plain only the verifier itself.
//!
//! Input: byte 0 picks how the verifier is made (as given, or mapped onto
//! the unreserved alphabet so it is often well formed); the rest is
//! `verifier 0xFF challenge 0xFF method`.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_core::pkce::{is_well_formed, verify, ChallengeMethod};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

fn well_formed_reference(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| UNRESERVED.contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0xFF);
    let raw_verifier = parts.next().unwrap_or_default();
    let challenge = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let method_text = parts.next().map(|m| String::from_utf8_lossy(m).into_owned());

    let verifier = if mode % 2 == 0 {
        String::from_utf8_lossy(raw_verifier).into_owned()
    } else {
        raw_verifier.iter().map(|b| UNRESERVED[*b as usize % UNRESERVED.len()] as char).collect()
    };

    assert_eq!(is_well_formed(&verifier), well_formed_reference(&verifier), "{verifier:?}");
    assert_eq!(is_well_formed(&challenge), well_formed_reference(&challenge), "{challenge:?}");

    match ChallengeMethod::parse(method_text.as_deref()) {
        Some(m) => {
            assert!(matches!(method_text.as_deref(), None | Some("plain") | Some("S256")));
            assert_eq!(ChallengeMethod::parse(Some(m.as_str())), Some(m));
        }
        None => assert!(!matches!(method_text.as_deref(), None | Some("plain") | Some("S256"))),
    }

    let own = s256(&verifier);
    let ok = well_formed_reference(&verifier);
    assert_eq!(verify(ChallengeMethod::S256, &own, &verifier), ok, "S256 of {verifier:?}");
    assert_eq!(verify(ChallengeMethod::Plain, &verifier, &verifier), ok, "plain {verifier:?}");
    // Only the exact challenge verifies.
    assert_eq!(verify(ChallengeMethod::S256, &challenge, &verifier), ok && challenge == own);
    assert_eq!(verify(ChallengeMethod::Plain, &challenge, &verifier), ok && challenge == verifier);
    // A near-miss of the right challenge never verifies.
    if let Some(last) = own.chars().last() {
        let other = if last == 'A' { 'B' } else { 'A' };
        let near = format!("{}{}", &own[..own.len() - 1], other);
        assert!(!verify(ChallengeMethod::S256, &near, &verifier));
        assert!(!verify(ChallengeMethod::S256, &format!("{own}="), &verifier));
        assert!(!verify(ChallengeMethod::S256, &own[..own.len() - 1], &verifier));
    }
});

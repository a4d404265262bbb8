//! The DiscourseConnect wire format: a query string, Base64-encoded (the
//! `sso` parameter), signed with HMAC-SHA256 under the shared secret (the
//! `sig` parameter, lowercase hex of the MAC over the Base64 text).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// `sso` or `sig` is missing.
    Missing(&'static str),
    /// `sig` is not the HMAC of `sso` under the shared secret.
    BadSignature,
    /// `sso` is not Base64 of a UTF-8 query string.
    Malformed,
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::Missing(p) => write!(f, "the request has no {p} parameter"),
            PayloadError::BadSignature => write!(f, "the request's signature does not match the shared secret"),
            PayloadError::Malformed => write!(f, "the request's payload cannot be read"),
        }
    }
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// `sig` for a Base64 payload.
pub fn sign(secret: &[u8], sso: &str) -> String {
    let mut m = mac(secret);
    m.update(sso.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Checks `sig` (constant time) and decodes `sso` into its parameters.
pub fn verify(secret: &[u8], sso: Option<&str>, sig: Option<&str>) -> Result<Vec<(String, String)>, PayloadError> {
    let sso = sso.ok_or(PayloadError::Missing("sso"))?;
    let sig = sig.ok_or(PayloadError::Missing("sig"))?;
    let sig = hex::decode(sig.trim()).map_err(|_| PayloadError::BadSignature)?;
    let mut m = mac(secret);
    m.update(sso.as_bytes());
    m.verify_slice(&sig).map_err(|_| PayloadError::BadSignature)?;
    // Some clients wrap Base64 at 60 columns (Ruby's `encode64`).
    let compact: String = sso.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let raw = STANDARD.decode(compact).map_err(|_| PayloadError::Malformed)?;
    let text = String::from_utf8(raw).map_err(|_| PayloadError::Malformed)?;
    Ok(url::form_urlencoded::parse(text.as_bytes()).into_owned().collect())
}

/// Encodes parameters as a signed payload: (`sso`, `sig`).
pub fn encode(secret: &[u8], params: &[(&str, String)]) -> (String, String) {
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let sso = STANDARD.encode(query);
    let sig = sign(secret, &sso);
    (sso, sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_verifies() {
        // meta.discourse.org/t/discourseconnect-official-single-sign-on-for-discourse-sso/13045:
        // secret "d836444a9e4084d5b224a60c208dce14", nonce cb68251eefb5211e58c00ff1395f0c0b
        // (the signature also checked with Python's hmac module).
        let secret = b"d836444a9e4084d5b224a60c208dce14";
        let sso = "bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGI=\n";
        let sig = sign(secret, sso);
        let params = verify(secret, Some(sso), Some(&sig)).unwrap();
        assert_eq!(params, vec![("nonce".into(), "cb68251eefb5211e58c00ff1395f0c0b".into())]);
        assert_eq!(sig, "2828aa29899722b35a2f191d34ef9b3ce695e0e6eeec47deb46d588d70c7cb56");
    }

    #[test]
    fn a_changed_payload_or_signature_is_refused() {
        let (sso, sig) = encode(b"s3cret", &[("nonce", "n1".into()), ("return_sso_url", "https://f.example/x".into())]);
        assert!(verify(b"s3cret", Some(&sso), Some(&sig)).is_ok());
        assert_eq!(verify(b"other", Some(&sso), Some(&sig)), Err(PayloadError::BadSignature));
        let mut bad = sig.clone();
        bad.replace_range(0..1, if &sig[0..1] == "0" { "1" } else { "0" });
        assert_eq!(verify(b"s3cret", Some(&sso), Some(&bad)), Err(PayloadError::BadSignature));
        assert_eq!(verify(b"s3cret", Some(&sso), Some("zz")), Err(PayloadError::BadSignature));
        assert_eq!(verify(b"s3cret", None, Some(&sig)), Err(PayloadError::Missing("sso")));
        let (sso2, _) = encode(b"s3cret", &[("nonce", "n2".into())]);
        assert_eq!(verify(b"s3cret", Some(&sso2), Some(&sig)), Err(PayloadError::BadSignature));
    }
}

//! Redirect URIs: registration rules and exact matching.

use url::Url;

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    #[error("redirect URI {0:?} is not an absolute URI")]
    NotAbsolute(String),
    #[error("redirect URI {0:?} must not contain a fragment")]
    Fragment(String),
    #[error("redirect URI {0:?} uses a scheme that cannot carry a code (javascript:, data:, file:)")]
    DangerousScheme(String),
}

/// Validates a redirect URI for registration. The string is stored as given
/// and later compared byte for byte, so no normalisation happens here.
pub fn validate_for_registration(uri: &str) -> Result<(), RedirectUriError> {
    let parsed = Url::parse(uri).map_err(|_| RedirectUriError::NotAbsolute(uri.to_string()))?;
    if uri.contains('#') {
        return Err(RedirectUriError::Fragment(uri.to_string()));
    }
    if matches!(parsed.scheme(), "javascript" | "data" | "file" | "vbscript") {
        return Err(RedirectUriError::DangerousScheme(uri.to_string()));
    }
    if parsed.cannot_be_a_base() && !parsed.scheme().contains('.') {
        // `mailto:x` and friends; private-use schemes (com.example.app:/cb) are fine.
        return Err(RedirectUriError::NotAbsolute(uri.to_string()));
    }
    Ok(())
}

/// Why a URL shown to people (a client's logo) cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an https URL (http is accepted only for 127.0.0.1, [::1] and localhost)")]
pub struct WebUrlError(pub String);

/// Validates a URL pages will show or load: `https`, or `http` on the
/// loopback host only. Never `javascript:`, `data:` or a relative path.
pub fn validate_web_url(url: &str) -> Result<(), WebUrlError> {
    let bad = || WebUrlError(url.chars().take(200).collect());
    let parsed = Url::parse(url).map_err(|_| bad())?;
    match (parsed.scheme(), parsed.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("127.0.0.1" | "[::1]" | "localhost")) => Ok(()),
        _ => Err(bad()),
    }
}

/// Exact, byte-for-byte matching of a requested redirect URI against the
/// registered ones. No prefix, case or normalisation tricks.
pub fn matches_registered<'a>(requested: &str, registered: &'a [String]) -> Option<&'a str> {
    registered.iter().find(|r| r.as_str() == requested).map(|s| s.as_str())
}

/// Appends query parameters to a redirect URI, keeping its own query.
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    // Nothing to add: the registered URI exactly, not with a stray `?`.
    if params.is_empty() {
        return base.to_string();
    }
    match Url::parse(base) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => base.to_string(),
    }
}

/// Whether `loc` is `uri` exactly, or `uri` with query parameters added
/// (`?…`, or `&…` when `uri` has a query already): the one rule for where a
/// plugin route may send a browser among registered or configured URLs.
pub fn is_uri_plus_query(loc: &str, uri: &str) -> bool {
    loc == uri || loc.strip_prefix(uri).is_some_and(|rest| rest.starts_with(if uri.contains('?') { '&' } else { '?' }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_matches_count() {
        let reg = vec!["https://forum.example.com/oauth/callback/".to_string()];
        assert!(matches_registered("https://forum.example.com/oauth/callback/", &reg).is_some());
        assert!(matches_registered("https://forum.example.com/oauth/callback", &reg).is_none());
        assert!(matches_registered("https://FORUM.example.com/oauth/callback/", &reg).is_none());
        assert!(matches_registered("https://forum.example.com/oauth/callback/x", &reg).is_none());
        assert!(matches_registered("https://forum.example.com/oauth/callback/?a=1", &reg).is_none());
    }

    #[test]
    fn registration_refuses_fragments_and_relative_uris() {
        assert!(validate_for_registration("https://a.example/cb").is_ok());
        assert!(validate_for_registration("com.example.app:/cb").is_ok());
        assert!(validate_for_registration("/cb").is_err());
        assert!(validate_for_registration("https://a.example/cb#x").is_err());
        assert!(validate_for_registration("javascript:alert(1)").is_err());
    }

    #[test]
    fn query_is_appended_and_encoded() {
        let u = with_query("https://a.example/cb?x=1", &[("state", "a+b/c=")]);
        assert_eq!(u, "https://a.example/cb?x=1&state=a%2Bb%2Fc%3D");
    }
}

//! Small helpers plugins need on raw HTTP: form decoding and base64.

use base64::Engine as _;

/// Decodes `a=1&b=x+y` (query strings and form bodies); bad input: empty.
pub fn parse(s: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(s).unwrap_or_default()
}

/// Encodes pairs as `application/x-www-form-urlencoded`.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Standard base64 (RFC 4648 alphabet, with padding), as in
/// [`HttpRequest::body`](crate::messages::HttpRequest::body) when `body_base64`.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard, padded base64; `None` when the input is not base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

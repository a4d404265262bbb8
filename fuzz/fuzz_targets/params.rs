//! `Params::parse` (the OAuth endpoints' query string and form body) and its
//! accessors. Invariants: at most `MAX_PARAMS` pairs are kept; the parse
//! matches a plain `application/x-www-form-urlencoded` reading (empty values
//! omitted, order kept); `get` is the first value, `is_duplicated` counts
//! names; `check()` refuses exactly when a request is too long, repeats a
//! name or has more than `MAX_PARAMS` parameters.
//!
//! Input: one source, or two (query string, body) split at the first 0xFF.
#![no_main]

use gatehouse_engine::oauth::params::{MAX_PARAMS, MAX_PARAM_LEN};
use gatehouse_engine::oauth::Params;
use libfuzzer_sys::fuzz_target;

/// What a plain form decoder reads, empty values dropped (RFC 6749 §3.1).
fn reference(sources: &[&[u8]]) -> Vec<(String, String)> {
    sources
        .iter()
        .flat_map(|s| url::form_urlencoded::parse(s).map(|(k, v)| (k.into_owned(), v.into_owned())))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn check_one(sources: &[&[u8]]) {
    let p = Params::parse(sources);
    let all = reference(sources);
    let kept = &all[..all.len().min(MAX_PARAMS)];

    assert!(p.pairs().len() <= MAX_PARAMS, "kept {} pairs", p.pairs().len());
    assert_eq!(p.pairs(), kept, "pairs differ from a form decoder's reading");

    // First value and count of every name (linear: hostile inputs carry
    // hundreds of pairs), then the accessors on a bounded sample of names.
    let mut first: std::collections::HashMap<&str, (&str, usize)> = std::collections::HashMap::new();
    for (k, v) in kept {
        first.entry(k.as_str()).or_insert((v.as_str(), 0)).1 += 1;
    }
    for (k, _) in kept.iter().take(24).chain(kept.iter().rev().take(8)) {
        let (value, count) = first[k.as_str()];
        assert_eq!(p.get(k), Some(value), "get({k:?})");
        assert!(p.has(k));
        assert_eq!(p.is_duplicated(k), count > 1, "is_duplicated({k:?})");
    }
    for name in ["client_id", "redirect_uri", "state", "scope", "response_type", "code", "", "\u{0}"] {
        if !kept.iter().any(|(n, _)| n == name) {
            assert_eq!(p.get(name), None);
            assert!(!p.is_duplicated(name));
        }
    }

    let duplicated = first.values().any(|&(_, count)| count > 1);
    let oversized = kept.iter().any(|(k, v)| v.len() > MAX_PARAM_LEN || k.len() > 128);
    let too_many = all.len() > MAX_PARAMS;
    let refused = too_many || duplicated || oversized;
    match p.check() {
        Ok(()) => assert!(!refused, "check() accepted: too_many={too_many} dup={duplicated} long={oversized}"),
        Err(e) => {
            assert!(refused, "check() refused a clean request: {e}");
            assert_eq!(e.code, gatehouse_core::OAuthErrorCode::InvalidRequest);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_one(&[data]);
    if let Some(i) = data.iter().position(|&b| b == 0xFF) {
        check_one(&[&data[..i], &data[i + 1..]]);
    }
});

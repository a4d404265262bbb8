//! Property tests of the redirect-URI rules (proptest, a few hundred cases):
//! matching is exact whatever the encoding, and `with_query` carries the
//! `state` value byte for byte. The fuzz target `fuzz/fuzz_targets/redirect_uri.rs`
//! checks the same on arbitrary bytes.

use gatehouse_core::redirect::{matches_registered, validate_for_registration, with_query};
use proptest::prelude::*;
use url::Url;

/// Path characters, heavy on what encodings and case-folding play with.
fn path_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::sample::select(
            "abcdefgxyzABCXYZ0189-._~!$'()*,;:@".chars().collect::<Vec<_>>()
        ),
        1 => prop::sample::select(vec!['é', 'ß', '✓', '😀', 'İ', 'K']),
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(path_char(), 0..8).prop_map(|v| v.into_iter().collect())
}

/// A URI a client could register: https, http or a private-use scheme
/// (`com.example.app:/oauth2redirect`), a host, a path, maybe a query
/// (never a fragment).
fn registered_uri() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec!["https://", "http://", "com.example.app:/"]);
    let host = prop::sample::select(vec![
        "app.example.com",
        "forum.example.org:8443",
        "127.0.0.1:8080",
        "[::1]",
        "localhost",
        "xn--bcher-kva.example",
    ]);
    let path = prop::collection::vec(segment(), 0..4);
    let query = prop::option::of(prop::collection::vec((segment(), segment()), 1..3));
    let slash = any::<bool>();
    (scheme, host, path, query, slash).prop_map(|(scheme, host, path, query, slash)| {
        let mut s = String::from(scheme);
        if scheme.ends_with("//") {
            s.push_str(host);
        } else {
            // A private-use scheme's path must not start with `//`.
            s.push_str("oauth2redirect");
        }
        for seg in &path {
            s.push('/');
            s.push_str(seg);
        }
        if slash {
            s.push('/');
        }
        if let Some(q) = query {
            s.push('?');
            s.push_str(&q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
        }
        s
    })
}

/// What a lenient matcher might accept as the same URI.
fn variants(uri: &str, pick: usize) -> Vec<String> {
    let chars: Vec<(usize, char)> = uri.char_indices().collect();
    let (i, c) = chars[pick % chars.len()];
    let rest = &uri[i + c.len_utf8()..];
    let mut pct = String::new();
    for b in c.to_string().bytes() {
        pct.push_str(&format!("%{b:02X}"));
    }
    vec![
        uri.to_ascii_uppercase(),
        uri.to_ascii_lowercase(),
        uri.to_uppercase(),
        // Host case only (what a URL parser folds away).
        match uri.find("://") {
            Some(p) => {
                let end = uri[p + 3..].find('/').map_or(uri.len(), |e| p + 3 + e);
                format!("{}{}{}", &uri[..p + 3], uri[p + 3..end].to_ascii_uppercase(), &uri[end..])
            }
            None => format!("{uri}X"),
        },
        // One character percent-encoded (unreserved ones decode to the same URL).
        format!("{}{}{}", &uri[..i], pct, rest),
        format!("{}{}{}", &uri[..i], pct.to_ascii_lowercase(), rest),
        // Trailing slash added or removed.
        format!("{uri}/"),
        uri.strip_suffix('/').map(str::to_string).unwrap_or_else(|| format!("{uri}//")),
        // Query or fragment added.
        format!("{uri}?x=1"),
        format!("{uri}&x=1"),
        format!("{uri}#"),
        format!("{uri}#frag"),
        format!("{uri}?"),
        // Whitespace a URL parser strips.
        format!(" {uri}"),
        format!("{uri}\n"),
        format!("{}\t{}", &uri[..i], &uri[i..]),
        // Default port spelled out; a dot-segment.
        uri.replacen("https://app.example.com", "https://app.example.com:443", 1),
        uri.replacen(".com/", ".com/./", 1),
        uri.replacen(".com/", ".com/x/../", 1),
    ]
}

/// Characters a `state` must survive: form and URL delimiters, percent
/// signs, spaces, controls and non-ASCII.
fn state_value() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '+', '/', '=', '%', '&', '#', '?', ';', ' ', ':', '@', '[', ']', '\'', '"', '<', '>', '\\', '\t', '\n', '\r',
        '\u{0}', '\u{7f}', 'é', '✓', '😀', '\u{FEFF}', '\u{202E}', 'a', 'Z', '0', '~', '-', '.', '_',
    ]);
    prop::collection::vec(prop_oneof![4 => special, 1 => any::<char>()], 1..40).prop_map(|v| v.into_iter().collect())
}

fn query_pairs(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .expect("with_query yields a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Only the byte-identical string matches, whatever the variant (case,
    /// percent-encoding, trailing slash, added query or fragment,
    /// whitespace, default port, dot-segments), even those a URL parser
    /// considers the same URL.
    #[test]
    fn redirect_matching_is_exact(uri in registered_uri(), pick in any::<usize>()) {
        prop_assert!(validate_for_registration(&uri).is_ok(), "generator made an unregistrable URI {:?}", uri);
        let registered = vec![uri.clone()];
        prop_assert_eq!(matches_registered(&uri, &registered), Some(uri.as_str()));
        for v in variants(&uri, pick) {
            let got = matches_registered(&v, &registered);
            prop_assert_eq!(got.is_some(), v == uri, "{:?} vs registered {:?}", v, uri);
            // With every variant registered too, the exact one is still the one found.
            let mut many = variants(&uri, pick.wrapping_add(1));
            many.retain(|x| x != &v);
            many.push(uri.clone());
            prop_assert_eq!(matches_registered(&uri, &many), Some(uri.as_str()));
            if v != uri {
                prop_assert!(matches_registered(&v, std::slice::from_ref(&uri)).is_none());
            }
        }
    }

    /// `with_query` appends `state` so that the URL's query gives back the
    /// exact string, and keeps the registered URI's own query first.
    #[test]
    fn with_query_keeps_state_byte_for_byte(uri in registered_uri(), state in state_value()) {
        let out = with_query(&uri, &[("code", "SplxlOBeZQQYbYS6WxSbIA"), ("state", &state)]);
        let pairs = query_pairs(&out);
        let own = query_pairs(&uri);
        prop_assert_eq!(&pairs[..own.len()], &own[..], "the registered query changed: {}", out);
        let added = &pairs[own.len()..];
        prop_assert_eq!(added.len(), 2, "{}", out);
        prop_assert_eq!(&added[0], &("code".to_string(), "SplxlOBeZQQYbYS6WxSbIA".to_string()));
        prop_assert_eq!(&added[1].0, "state");
        prop_assert_eq!(added[1].1.as_bytes(), state.as_bytes(), "state changed in {}", out);
        // The URL stays the registered one up to its query.
        let base = Url::parse(&uri).unwrap();
        let got = Url::parse(&out).unwrap();
        prop_assert_eq!((got.scheme(), got.host_str(), got.port(), got.path()), (base.scheme(), base.host_str(), base.port(), base.path()));
        prop_assert!(got.fragment().is_none());
    }

    /// Nothing to add: the registered URI exactly.
    #[test]
    fn with_no_parameters_the_uri_is_unchanged(uri in registered_uri()) {
        prop_assert_eq!(with_query(&uri, &[]), uri);
    }
}

//! Redirect-URI rules (`gatehouse_core::redirect`). Invariants:
//! - `matches_registered(a, list)` is `Some` iff `a` equals an entry byte for
//!   byte, and then returns that entry: no case folding, no percent-decoding,
//!   no trailing-slash or prefix tolerance (variants of a registered URI are
//!   generated on purpose);
//! - `validate_for_registration` accepts only absolute URIs without a
//!   fragment and with no script-capable scheme;
//! - `validate_web_url` accepts only `https` or loopback `http`;
//! - `with_query` never panics, adds nothing for no parameters, leaves an
//!   unparsable base alone, and otherwise appends the parameters so that the
//!   URL's query reads them back byte for byte (`state` above all).
//!
//! Input: byte 0 picks the mode; the rest is `a 0xFF b 0xFF state`. Mode
//! even: `b` as given; odd: `b` is a variant of `a` chosen by byte 0.
#![no_main]

use gatehouse_core::redirect::{matches_registered, validate_for_registration, validate_web_url, with_query};
use libfuzzer_sys::fuzz_target;
use url::Url;

/// A near-miss of `a`: what a lenient matcher would wrongly accept.
fn variant(a: &str, k: u8, b: &str) -> String {
    let pos = if a.is_empty() { 0 } else { (b.len() * 31 + k as usize) % (a.len() + 1) };
    let pos = (0..=pos).rev().find(|&i| a.is_char_boundary(i)).unwrap_or(0);
    match (k >> 1) % 10 {
        0 => a.to_ascii_uppercase(),
        1 => a.to_ascii_lowercase(),
        2 => format!("{a}/"),
        3 => a.strip_suffix('/').unwrap_or(a).to_string(),
        4 => format!("{a}?{b}"),
        5 => format!("{a}#{b}"),
        6 => {
            // Percent-encode one character (unreserved ones decode to the same URL).
            let Some(c) = a[pos..].chars().next() else { return format!("{a}%41") };
            let mut enc = String::new();
            for byte in c.to_string().bytes() {
                enc.push_str(&format!("%{byte:02X}"));
            }
            format!("{}{}{}", &a[..pos], enc, &a[pos + c.len_utf8()..])
        }
        7 => format!("{}{}{}", &a[..pos], b, &a[pos..]),
        8 => {
            let mut s = a.to_string();
            if pos < s.len() {
                s.remove(pos);
            }
            s
        }
        _ => format!("{a}{b}"),
    }
}

fn check_match(requested: &str, registered: &str) {
    let list = vec![registered.to_string()];
    let got = matches_registered(requested, &list);
    assert_eq!(got.is_some(), requested == registered, "{requested:?} vs {registered:?}");
    if let Some(m) = got {
        assert_eq!(m.as_bytes(), registered.as_bytes());
    }
    // Among several, the exact one (and only an exact one) is found.
    let list = vec![format!("{registered}/"), registered.to_ascii_uppercase(), registered.to_string()];
    match matches_registered(requested, &list) {
        Some(m) => assert_eq!(m, requested),
        None => assert!(!list.iter().any(|r| r == requested)),
    }
    assert!(matches_registered(requested, &[]).is_none());
}

fn check_uri(a: &str, state: &str) {
    if validate_for_registration(a).is_ok() {
        let u = Url::parse(a).expect("registered URIs are absolute");
        assert!(!a.contains('#'), "a fragment was accepted: {a:?}");
        assert!(!matches!(u.scheme(), "javascript" | "data" | "file" | "vbscript"), "{a:?}");
    }
    if validate_web_url(a).is_ok() {
        let u = Url::parse(a).expect("web URLs are absolute");
        match u.scheme() {
            "https" => assert!(u.host_str().is_some()),
            "http" => assert!(matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")), "{a:?}"),
            other => panic!("validate_web_url accepted scheme {other:?}: {a:?}"),
        }
    }

    assert_eq!(with_query(a, &[]), a, "nothing to add must add nothing");
    let out = with_query(a, &[("code", "c0de"), ("state", state)]);
    match Url::parse(a) {
        Err(_) => assert_eq!(out, a, "an unparsable base must be left alone"),
        Ok(_) => {
            let u = Url::parse(&out).unwrap_or_else(|e| panic!("with_query made an unparsable URL ({e}): {out:?}"));
            let pairs: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let n = pairs.len();
            assert!(n >= 2, "{out:?}");
            assert_eq!(pairs[n - 2], ("code".to_string(), "c0de".to_string()), "{out:?}");
            assert_eq!(pairs[n - 1].0, "state", "{out:?}");
            assert_eq!(pairs[n - 1].1.as_bytes(), state.as_bytes(), "state changed in {out:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |&b| b == 0xFF).map(String::from_utf8_lossy);
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    let state = parts.next().unwrap_or_default();
    let b = if mode % 2 == 0 { b.into_owned() } else { variant(&a, mode, &b) };
    check_match(&a, &b);
    check_match(&b, &a);
    check_match(&a, &a);
    check_uri(&a, &state);
    check_uri(&b, &state);
});

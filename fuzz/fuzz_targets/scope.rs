//! The `scope` parameter (`ScopeSet`) and SSO destinations
//! (`ScopeCatalog::resolve_destination`, fed by the admin API's
//! `destination` and its parameters). Invariants:
//! - `parse(to_string(parse(x))) == parse(x)`, and `to_string` is then
//!   stable; a set holds no empty, space-holding or repeated name;
//! - subset / intersection / `first_not_in` agree with each other;
//! - a resolved destination never panics and never leaves the client area:
//!   `client_area_url + path` keeps the client area's scheme, host, port
//!   and path prefix, and the path has no `..` segment, control character,
//!   whitespace, backslash or scheme.
//!
//! Input: byte 0 picks the destination (a catalog scope, or the text before
//! the first 0xFF); the rest, split at 0xFF, is the scope string and then
//! `name=value` lines for the destination's parameters.
#![no_main]

use std::collections::BTreeMap;

use gatehouse_core::{ScopeCatalog, ScopeSet};
use libfuzzer_sys::fuzz_target;
use url::Url;

const CLIENT_AREA: &str = "https://billing.example.com/whmcs";

fn check_scope_set(x: &str) {
    let s = ScopeSet::parse(x);
    let text = s.to_string();
    let again = ScopeSet::parse(&text);
    assert_eq!(again, s, "parse(to_string(parse({x:?}))) differs");
    assert_eq!(again.to_string(), text);
    assert_eq!(ScopeSet::from_vec(s.as_vec().to_vec()), s);
    let mut seen = std::collections::HashSet::new();
    for name in s.iter() {
        assert!(!name.is_empty() && !name.contains(' '), "bad name {name:?}");
        assert!(seen.insert(name), "{name:?} twice");
        assert!(s.contains(name));
    }
    // Every space-separated part is kept, in first-seen order.
    let expected: Vec<&str> = x.split(' ').filter(|p| !p.is_empty()).fold(Vec::new(), |mut v, p| {
        if !v.contains(&p) {
            v.push(p);
        }
        v
    });
    assert_eq!(s.iter().collect::<Vec<_>>(), expected);
    assert!(s.is_subset_of(&s));
    assert_eq!(s.intersect(&s), s);
    assert_eq!(s.first_not_in(&s), None);
    let standard = ScopeSet::parse("openid profile email");
    let both = s.intersect(&standard);
    assert!(both.is_subset_of(&s) && both.is_subset_of(&standard));
    assert_eq!(s.is_subset_of(&standard), s.first_not_in(&standard).is_none());
}

fn check_destination(catalog: &ScopeCatalog, scope: &str, params: &BTreeMap<String, String>) {
    let Ok(path) = catalog.resolve_destination(scope, params) else { return };
    assert!(catalog.is_destination(scope));
    assert!(path.starts_with('/') && !path.starts_with("//"), "{scope}: {path:?}");
    assert!(!path.contains('\\') && !path.contains("://"), "{scope}: {path:?}");
    assert!(!path.chars().any(|c| c.is_control() || c.is_whitespace()), "{scope}: {path:?}");
    assert!(!path.split(['/', '?', '#']).any(|seg| seg == ".."), "{scope}: {path:?}");

    // What the engine redirects to: the client area's URL and the path.
    let target = format!("{CLIENT_AREA}{path}");
    let base = Url::parse(CLIENT_AREA).unwrap();
    let u = Url::parse(&target).unwrap_or_else(|e| panic!("{scope}: {target:?} does not parse: {e}"));
    assert_eq!(
        (u.scheme(), u.host_str(), u.port_or_known_default()),
        (base.scheme(), base.host_str(), base.port_or_known_default()),
        "{scope} left the client area's origin: {target:?} -> {u}"
    );
    assert!(
        u.path() == base.path() || u.path().starts_with(&format!("{}/", base.path())),
        "{scope} left the client area's path: {target:?} -> {u}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let mut parts = rest.split(|&b| b == 0xFF).map(|p| String::from_utf8_lossy(p).into_owned());
    let scope_text = parts.next().unwrap_or_default();
    check_scope_set(&scope_text);

    let catalog = ScopeCatalog::standard();
    let names: Vec<String> = catalog.names().map(str::to_string).collect();
    let mut params = BTreeMap::new();
    for line in parts {
        let (k, v) = line.split_once('=').unwrap_or((line.as_str(), ""));
        params.insert(k.to_string(), v.to_string());
    }
    // Byte 0 names a catalog scope; past the catalog, every scope in turn
    // (so each gets the parameters) or the scope string itself.
    match names.get(pick as usize) {
        Some(name) => check_destination(&catalog, name, &params),
        None if pick % 2 == 0 => {
            for name in &names {
                check_destination(&catalog, name, &params);
            }
        }
        None => check_destination(&catalog, &scope_text, &params),
    }
});

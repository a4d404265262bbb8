//! RP-initiated logout's `id_token_hint` (`Engine::validate_logout` →
//! `verify_own_jwt` → `jsonwebtoken::decode_header` / `decode`), on a real
//! engine: a temp-file SQLite store with a master key and the three signing
//! keys (RS256, ES256, EdDSA), built once per process.
//!
//! Invariants: nothing panics; a hint is accepted only when it is, byte for
//! byte, a token the engine signed (three genuine tokens are made at start
//! and the fuzzer mutates them); a rejected hint is an `invalid_request`.
//!
//! Input: byte 0 picks the mode:
//! - 0: the rest is the hint (form-encoded into `id_token_hint=…`);
//! - 1: the rest is appended raw to `id_token_hint=` (the form parser too);
//! - 2: a genuine token with one segment replaced by the rest, or with
//!   bytes of the rest spliced in (byte 1 says which token and where);
//!   nothing after byte 1: the genuine token unchanged;
//! - 3: a token built from `header 0xFF payload 0xFF signature`, each
//!   base64url-encoded; a JSON-object header gets a real `kid` (byte 1
//!   picks it), so verification runs against a real key.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_core::{OAuthErrorCode, ScopeCatalog};
use gatehouse_engine::oauth::Params;
use gatehouse_engine::{Engine, EngineConfig};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const ISSUER: &str = "https://id.example.com";

struct Fixture {
    engine: Engine,
    genuine: Vec<String>,
    kids: Vec<String>,
    /// Keeps the database's directory alive (statics are never dropped, so
    /// a run leaves a small `/tmp/.tmp*` directory behind).
    _dir: tempfile::TempDir,
}

fn hint_params(token: &str) -> Params {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("id_token_hint", token).finish();
    Params::parse(&[q.as_bytes()])
}

fn fixture() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("gatehouse.db").display().to_string();
        let mut engine =
            Engine::open(&url, EngineConfig::for_issuer(ISSUER), ScopeCatalog::standard()).expect("engine opens");
        engine.set_master_key([7u8; 32]);
        engine.ensure_signing_keys().expect("signing keys");
        let kids: Vec<String> = engine.published_keys().expect("keys").into_iter().map(|k| k.kid).collect();
        let now = engine.now();
        let claims = json!({ "iss": ISSUER, "sub": "42", "aud": "app-1", "iat": now, "exp": now + 3600 });
        let genuine: Vec<String> =
            ["RS256", "ES256", "EdDSA"].iter().map(|alg| engine.sign_jwt(alg, &claims).expect("signs")).collect();
        for t in &genuine {
            let r = engine.validate_logout(&hint_params(t)).expect("a genuine hint is accepted");
            assert_eq!(r.hinted_sub.as_deref(), Some("42"));
        }
        Fixture { engine, genuine, kids, _dir: dir }
    })
}

fn check(fx: &Fixture, p: &Params) {
    let hint = p.get("id_token_hint");
    if let Some(h) = hint {
        let _ = jsonwebtoken::decode_header(h);
        if fx.engine.verify_own_jwt(h).is_some() {
            assert!(fx.genuine.iter().any(|g| g == h), "verify_own_jwt accepted a token the engine did not sign: {h:?}");
        }
    }
    match fx.engine.validate_logout(p) {
        Ok(req) => {
            if let Some(h) = hint {
                assert!(fx.genuine.iter().any(|g| g == h), "a forged id_token_hint was accepted: {h:?}");
                assert_eq!(req.hinted_sub.as_deref(), Some("42"));
            } else {
                assert!(req.hinted_sub.is_none());
            }
            assert!(req.redirect.is_none(), "no post_logout_redirect_uri was sent");
        }
        Err(e) => assert_eq!(e.code, OAuthErrorCode::InvalidRequest, "{e}"),
    }
}

fn splice(token: &str, sel: u8, data: &[u8]) -> String {
    let mut segs: Vec<String> = token.split('.').map(str::to_string).collect();
    let i = (sel as usize >> 2) % 3;
    let text = String::from_utf8_lossy(data);
    match sel % 4 {
        // The segment replaced by the input, base64url-encoded.
        0 => segs[i] = URL_SAFE_NO_PAD.encode(data),
        // The segment replaced by the input as it is.
        1 => segs[i] = text.into_owned(),
        // The input inserted in the segment at a position it names.
        2 => {
            let at = data.first().map_or(0, |&b| b as usize % (segs[i].len() + 1));
            segs[i].insert_str(at, &String::from_utf8_lossy(data.get(1..).unwrap_or_default()));
        }
        // The decoded segment's JSON with the input appended, re-encoded
        // (for the signature: its bytes with the input appended).
        _ => {
            let mut raw = URL_SAFE_NO_PAD.decode(&segs[i]).unwrap_or_default();
            raw.extend_from_slice(data);
            segs[i] = URL_SAFE_NO_PAD.encode(raw);
        }
    }
    segs.join(".")
}

// The fixture (three signing keys, RSA among them) is built before the
// first input: under ASan its RSA key generation can take longer than
// libFuzzer's per-input timeout.
fuzz_target!(init: { fixture(); }, |data: &[u8]| {
    let fx = fixture();
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => check(fx, &hint_params(&String::from_utf8_lossy(rest))),
        1 => {
            let mut q = b"id_token_hint=".to_vec();
            q.extend_from_slice(rest);
            check(fx, &Params::parse(&[&q]));
        }
        2 => {
            let Some((&sel, tail)) = rest.split_first() else { return };
            let token = &fx.genuine[sel as usize % fx.genuine.len()];
            // No bytes to splice: the genuine token itself (the accepting path).
            let forged = if tail.is_empty() { token.clone() } else { splice(token, sel / 3, tail) };
            check(fx, &hint_params(&forged));
        }
        _ => {
            let Some((&sel, tail)) = rest.split_first() else { return };
            let mut parts = tail.splitn(3, |&b| b == 0xFF);
            let header = parts.next().unwrap_or_default();
            let payload = parts.next().unwrap_or_default();
            let sig = parts.next().unwrap_or_default();
            let header = match serde_json::from_slice::<Value>(header) {
                Ok(Value::Object(mut m)) => {
                    m.insert("kid".into(), json!(fx.kids[sel as usize % fx.kids.len()]));
                    serde_json::to_vec(&m).unwrap()
                }
                _ => header.to_vec(),
            };
            let token = format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload),
                URL_SAFE_NO_PAD.encode(sig)
            );
            check(fx, &hint_params(&token));
        }
    }
});

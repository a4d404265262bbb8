//! The WHMCS plugin's admin API (`plugins/whmcs`): request parameters
//! (`api::Params`, body then query, names case-insensitive), the
//! `responsetype`, and the `json` / `xml` / `nvp` envelopes. Invariants:
//! - parameter lookup never panics, ignores ASCII case, trims `get` and not
//!   `get_raw`, counts empty as absent, and prefers the body to the query;
//! - `ResponseType::parse` takes `json`, `xml`, `nvp` (any case, trimmed) or
//!   nothing, and refuses the rest;
//! - whatever the values, the envelope keeps its structure: the JSON body
//!   reads back as the envelope; the XML body is well-formed XML 1.0 (a
//!   strict parser reads it) with one element per field and every string
//!   value intact but for the characters XML cannot carry (U+FFFD); the NVP
//!   body, read as a WHMCS client does (split on `;`, then the first `=`,
//!   then `urldecode`), yields exactly the envelope's leaves.
//!
//! Input: byte 0 holds flags; the rest is `query 0xFF body 0xFF fields
//! 0xFF action`, where `fields` is JSON (an object's entries become the
//! fields) or else one string field.
#![no_main]

use gatehouse_plugin_api::messages::HttpRequest;
use gatehouse_whmcs::api::Params;
use gatehouse_whmcs::envelope::{Envelope, ResponseType};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const NAMES: &[&str] = &[
    "action", "responsetype", "identifier", "secret", "username", "password", "accesskey", "grantType",
    "granttype", "scope", "redirectUri", "serviceId", "client_id", "destination", "sso_redirect_path", "email",
    "password2", "credentialId", "clientId", "limitstart", "limitnum",
];

fn check_params(req: &HttpRequest) {
    let p = Params::from_request(req);
    let mut all = req.form_params();
    all.extend(req.query_params());
    let mut names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(all.iter().take(16).map(|(k, _)| k.clone()));
    for name in &names {
        let raw = all.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        assert_eq!(p.get_raw(name), raw.filter(|v| !v.is_empty()), "get_raw({name:?})");
        assert_eq!(p.get(name), raw.map(str::trim).filter(|v| !v.is_empty()), "get({name:?})");
        assert_eq!(p.get(name), p.get(&name.to_ascii_uppercase()), "case of {name:?}");
        assert_eq!(p.get(name), p.get(&name.to_ascii_lowercase()), "case of {name:?}");
        assert_eq!(p.any(&[name, "action"]), p.get(name).or(p.get("action")));
    }
    let rt = ResponseType::parse(p.get("responsetype"));
    let want = match p.get("responsetype").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("nvp") => Some(ResponseType::Nvp),
        Some("json") => Some(ResponseType::Json),
        Some("xml") => Some(ResponseType::Xml),
        Some(_) => None,
    };
    assert_eq!(rt.as_ref().ok(), want.as_ref(), "responsetype {:?}", p.get("responsetype"));
}

/// JSON equality, numbers up to float rounding (serde_json's, not ours).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(p), Some(q), _, _) => p == q,
            (_, _, Some(p), Some(q)) => p == q,
            _ => {
                let (p, q) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                p == q || (p - q).abs() <= 1e-12 * p.abs().max(q.abs())
            }
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, p), (l, q))| k == l && same(p, q))
        }
        _ => a == b,
    }
}

fn xml_expected(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => c,
            _ => '\u{FFFD}',
        })
        .collect()
}

fn xml_name(k: &str) -> String {
    let s: String = k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        s
    } else {
        format!("_{s}")
    }
}

/// PHP's `urldecode`: `+` is a space, `%XX` a byte, the rest as it is.
fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| panic!("NVP decodes to invalid UTF-8: {e}: {s:?}"))
}

fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| leaves(&format!("{prefix}[{k}]"), v, out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| leaves(&format!("{prefix}[{i}]"), v, out)),
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn check_envelope(e: &Envelope, action: &str) {
    // JSON.
    let r = e.render(ResponseType::Json, action);
    assert_eq!(r.status, e.status);
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|err| panic!("JSON body ({err}): {:?}", r.body));
    assert!(same(&v, &e.to_json()), "JSON body reads back differently: {:?}", r.body);

    // XML, read by a strict XML 1.0 parser.
    let r = e.render(ResponseType::Xml, action);
    assert_eq!(r.status, e.status);
    let doc = roxmltree::Document::parse(&r.body).unwrap_or_else(|err| panic!("not XML ({err}): {:?}", r.body));
    let root = doc.root_element();
    assert!(root.has_tag_name("whmcsapi"), "{:?}", r.body);
    let kids: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(kids.len(), e.fields.len() + 1, "one element per field: {:?}", r.body);
    assert!(kids[0].has_tag_name("action"));
    assert_eq!(kids[0].text().unwrap_or_default(), xml_expected(&action.to_ascii_lowercase()));
    for ((k, v), node) in e.fields.iter().zip(&kids[1..]) {
        assert_eq!(node.tag_name().name(), xml_name(k), "{:?}", r.body);
        if let Value::String(s) = v {
            assert_eq!(node.text().unwrap_or_default(), xml_expected(s), "field {k:?} in {:?}", r.body);
        }
    }

    // NVP, read as a WHMCS client reads it.
    let r = e.render(ResponseType::Nvp, action);
    assert_eq!(r.status, e.status);
    let got: Vec<(String, String)> = r
        .body
        .split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (urldecode(k), urldecode(v))
        })
        .collect();
    let mut want = Vec::new();
    for (k, v) in &e.fields {
        leaves(k, v, &mut want);
    }
    assert_eq!(got, want, "NVP body {:?}", r.body);
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(4, |&b| b == 0xFF).map(|p| String::from_utf8_lossy(p).into_owned());
    let query = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let fields = parts.next().unwrap_or_default();
    let action = parts.next().unwrap_or_default();

    let req = HttpRequest {
        method: if flags & 1 == 0 { "POST".into() } else { "GET".into() },
        query,
        body,
        body_base64: flags & 2 != 0,
        ..Default::default()
    };
    check_params(&req);

    let values: Vec<(String, Value)> = match serde_json::from_str::<Value>(&fields) {
        Ok(Value::Object(m)) => m.into_iter().collect(),
        Ok(v) => vec![("message".to_string(), v)],
        Err(_) => vec![("message".to_string(), json!(fields))],
    };
    let e = if flags & 4 == 0 {
        Envelope::success(values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect())
    } else {
        let msg = values.first().map(|(_, v)| v.as_str().unwrap_or_default().to_string()).unwrap_or_default();
        Envelope::error(400 + (flags >> 3) as u16, msg)
    };
    check_envelope(&e, &action);
});

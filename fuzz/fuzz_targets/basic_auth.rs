//! `ClientCredentials::from_authorization` (the `Authorization` header at the
//! token, introspection and revocation endpoints). Invariants: never panics;
//! a `Basic` scheme always yields credentials (wrong ones when undecodable,
//! never "absent"); another scheme yields none; decoded halves survive
//! re-encoding as `Basic base64(id:secret)` unchanged; and `id:secret` that
//! we encode ourselves decodes to exactly those halves.
//!
//! Input: byte 0 picks the mode: even → the rest is the raw header; odd →
//! the rest is `id 0xFF secret`, encoded as a Basic header with a scheme
//! spelling and padding chosen by byte 0.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_engine::oauth::ClientCredentials;
use libfuzzer_sys::fuzz_target;

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn check_header(header: &str) {
    let c = ClientCredentials::from_authorization(header);
    let is_basic = header
        .trim()
        .split_once(' ')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    assert_eq!(c.basic.is_some(), is_basic, "{header:?}: scheme misread");
    if let Some((id, secret)) = &c.basic {
        assert!(!id.contains(':'), "the id half holds a colon: {id:?}");
        let again = ClientCredentials::from_authorization(&basic(id, secret));
        assert_eq!(again.basic.as_ref(), Some(&(id.clone(), secret.clone())), "re-encoding changed the halves");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        check_header(&String::from_utf8_lossy(rest));
        return;
    }
    let (id, secret) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (String::from_utf8_lossy(&rest[..i]), String::from_utf8_lossy(&rest[i + 1..])),
        None => (String::from_utf8_lossy(rest), "".into()),
    };
    // A colon ends the id (RFC 7617 §2): such an id cannot be sent.
    let id: String = id.replace(':', "");
    let scheme = ["Basic", "basic", "BASIC", "bAsIc"][(mode as usize >> 1) % 4];
    let pad = ["", " ", "\t", "  "][(mode as usize >> 3) % 4];
    let header = format!("{pad}{scheme} {pad}{}{pad}", STANDARD.encode(format!("{id}:{secret}")));
    let c = ClientCredentials::from_authorization(&header);
    assert_eq!(c.basic, Some((id.clone(), secret.to_string())), "{header:?}");
    check_header(&header);
});

//! The JSON messages that cross the plugin ABI, in both directions:
//! - what the host decodes from a plugin: `Reply<…>` to every plugin method
//!   (manifest, route, identity, connector hooks) and the arguments of every
//!   `host_call` service (`plugin_host/services.rs`, `dispatch`/`arg`, where
//!   an empty payload means `null`);
//! - what a plugin decodes from the host (`sdk.rs`): the `init` request, the
//!   arguments of every plugin method, and `Reply<…>` to every host service
//!   (`host.rs`).
//!
//! Invariants: decoding arbitrary bytes never panics; whatever decodes
//! re-encodes, and decode → encode → decode gives an equal value (and the
//! same encoding). A decoded `HttpRequest`'s helpers (headers, query and
//! form parsing, base64 body) never panic.
//!
//! Input: byte 0 picks the message type; the rest is the JSON.
#![no_main]

use std::fmt::Debug;

use gatehouse_plugin_api::messages::*;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Decode, encode, decode again: the two encodings must be equal.
fn round_trip<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Option<(T, T)> {
    let first: T = serde_json::from_slice(bytes).ok()?;
    let e1 = serde_json::to_vec(&first).expect("a decoded message re-encodes");
    let second: T = serde_json::from_slice(&e1)
        .unwrap_or_else(|e| panic!("re-decoding failed ({e}): {}", String::from_utf8_lossy(&e1)));
    let e2 = serde_json::to_vec(&second).expect("re-encodes");
    assert_eq!(
        String::from_utf8_lossy(&e1),
        String::from_utf8_lossy(&e2),
        "encoding is not stable for {}",
        std::any::type_name::<T>()
    );
    Some((first, second))
}

/// Same, and the decoded values compare equal.
fn eq<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) -> Option<T> {
    let (a, b) = round_trip::<T>(bytes)?;
    assert_eq!(a, b, "decode → encode → decode changed a {}", std::any::type_name::<T>());
    Some(b)
}

/// A `Reply<T>` (no `PartialEq` of its own): compare its `Result`.
fn reply<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    if let Some((a, b)) = round_trip::<Reply<T>>(bytes) {
        assert_eq!(a.into_result(), b.into_result(), "Reply<{}> changed", std::any::type_name::<T>());
    }
}

/// The host's `arg`: an empty payload is `null`.
fn host_arg<T: Serialize + DeserializeOwned + PartialEq + Debug>(payload: &[u8]) {
    let bytes = if payload.is_empty() { b"null".as_slice() } else { payload };
    eq::<T>(bytes);
}

fn http_request(bytes: &[u8]) {
    if let Some(req) = eq::<HttpRequest>(bytes) {
        let _ = req.header("content-type");
        let _ = req.header("Authorization");
        let _ = req.query_params();
        let _ = req.form_params();
        let body = req.body_bytes();
        if !req.body_base64 {
            assert_eq!(body, req.body.as_bytes());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, json)) = data.split_first() else { return };
    match which % 50 {
        // Host side: replies from the plugin.
        0 => reply::<Manifest>(json),
        1 => reply::<HttpResponse>(json),
        2 => reply::<LoginRedirect>(json),
        3 => reply::<ExternalIdentity>(json),
        4 => reply::<Value>(json),
        5 => reply::<()>(json),
        6 => reply::<TranslatedScopes>(json),
        7 => reply::<SetupInstructions>(json),
        // Host side: `host_call` arguments.
        8 => host_arg::<LogLine>(json),
        9 => host_arg::<Lookup>(json),
        10 => host_arg::<NewUser>(json),
        11 => host_arg::<SetUserStatus>(json),
        12 => host_arg::<SetUserAllowSso>(json),
        13 => host_arg::<VerifyPassword>(json),
        14 => host_arg::<IdArg>(json),
        15 => host_arg::<NewAccount>(json),
        16 => host_arg::<AccountMember>(json),
        17 => host_arg::<NewClient>(json),
        18 => host_arg::<ClientUpdate>(json),
        19 => host_arg::<ClientCredentials>(json),
        20 => host_arg::<ApiCredentialCheck>(json),
        21 => host_arg::<IssueSsoToken>(json),
        22 => host_arg::<StartSession>(json),
        23 => host_arg::<AuditLine>(json),
        24 => host_arg::<KvKey>(json),
        25 => host_arg::<KvEntry>(json),
        // Plugin side: `init` and the plugin methods' arguments.
        26 => {
            round_trip::<InitRequest>(json);
        }
        27 => http_request(json),
        28 => {
            eq::<BeginLogin>(json);
        }
        29 => {
            eq::<CompleteLogin>(json);
        }
        30 => {
            eq::<RefreshIdentity>(json);
        }
        31 => {
            eq::<ShapeClaims>(json);
        }
        32 => {
            eq::<TranslateScopes>(json);
        }
        33 => {
            eq::<SetupRequest>(json);
        }
        34 => {
            eq::<UserEvent>(json);
        }
        // Plugin side: replies from host services.
        35 => reply::<HostInfo>(json),
        36 => reply::<Vec<ScopeInfo>>(json),
        37 => reply::<User>(json),
        38 => reply::<Option<User>>(json),
        39 => reply::<Account>(json),
        40 => reply::<Vec<Account>>(json),
        41 => reply::<ClientWithSecret>(json),
        42 => reply::<Vec<Client>>(json),
        43 => reply::<Client>(json),
        44 => reply::<Option<Client>>(json),
        45 => reply::<ApiCredentialVerdict>(json),
        46 => reply::<SsoToken>(json),
        47 => reply::<Session>(json),
        48 => reply::<Option<String>>(json),
        _ => reply::<bool>(json),
    }
});

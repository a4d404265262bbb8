//! The `whmcs` plugin's admin API (`/includes/api.php`) and single sign-on
//! (`/oauth/singlesignon.php`), end to end against the started server with
//! the built plugin loaded, on SQLite and PostgreSQL. The contract is
//! `docs/protocols/whmcs.md` §7–9.

use std::sync::{Arc, Barrier};

use serde_json::Value;

use crate::common::whmcs::*;
use crate::common::*;

fn error_of(v: &Value) -> &str {
    assert_eq!(v["result"], "error", "{v}");
    v["message"].as_str().unwrap()
}

#[test]
fn api_authentication_ip_restriction_and_permissions() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        // No credentials from an allowed address... there is no global list, so
        // the address is only allowed per credential: without one it is refused.
        let (st, v) = raw_api(s, &[("action", "ListOAuthCredentials"), ("responsetype", "json")]);
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"));
        // A credential not allowed from this address.
        let other = s.cli_json(&["api-credential", "add", "--role", "authentication", "--allow-ip", "10.9.8.7"]);
        let (st, v) = raw_api(
            s,
            &[
                ("action", "ListOAuthCredentials"),
                ("identifier", other["identifier"].as_str().unwrap()),
                ("secret", other["secret"].as_str().unwrap()),
                ("responsetype", "json"),
            ],
        );
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"));
        // The access key bypasses the IP check; then credentials are required.
        let (st, v) =
            raw_api(s, &[("action", "ListOAuthCredentials"), ("accesskey", ACCESS_KEY), ("responsetype", "json")]);
        assert_eq!((st, error_of(&v)), (401, "Invalid or missing credentials"));
        let (st, v) =
            raw_api(s, &[("action", "ListOAuthCredentials"), ("accesskey", "wrong"), ("responsetype", "json")]);
        assert_eq!((st, error_of(&v)), (403, "Invalid Access Key"));
        let (st, v) = raw_api(
            s,
            &[
                ("action", "ListOAuthCredentials"),
                ("accesskey", ACCESS_KEY),
                ("identifier", other["identifier"].as_str().unwrap()),
                ("secret", other["secret"].as_str().unwrap()),
                ("responsetype", "json"),
            ],
        );
        assert_eq!((st, v["result"].as_str().unwrap()), (200, "success"), "{v}");
        // An unknown identifier: no credential's list admits the caller.
        let (st, v) = raw_api(
            s,
            &[
                ("action", "ListOAuthCredentials"),
                ("identifier", "no-such-identifier"),
                ("secret", "nope"),
                ("responsetype", "json"),
            ],
        );
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"), "unknown credentials get no IP exception");
        let (st, v) = raw_api(
            s,
            &[
                ("action", "ListOAuthCredentials"),
                ("accesskey", ACCESS_KEY),
                ("identifier", &w.identifier),
                ("secret", "nope"),
                ("responsetype", "json"),
            ],
        );
        assert_eq!((st, error_of(&v)), (401, "Authentication Failed"));
        // A credential limited to one action.
        let narrow =
            s.cli_json(&["api-credential", "add", "--action", "ListOAuthCredentials", "--allow-ip", "127.0.0.1"]);
        let (st, v) = raw_api(
            s,
            &[
                ("action", "CreateSsoToken"),
                ("identifier", narrow["identifier"].as_str().unwrap()),
                ("secret", narrow["secret"].as_str().unwrap()),
                ("responsetype", "json"),
            ],
        );
        assert_eq!((st, error_of(&v)), (403, "Invalid Permissions: API action \"createssotoken\" is not allowed"));
        // A missing or unknown action is WHMCS's "Command Not Found", for a
        // narrow credential too (not "Invalid Permissions")...
        for creds in [(w.identifier.as_str(), w.secret.as_str()), (ident(&narrow), secret(&narrow))] {
            for action in ["", "NoSuchAction", "GetClients"] {
                let (st, v) = raw_api(
                    s,
                    &[("action", action), ("identifier", creds.0), ("secret", creds.1), ("responsetype", "json")],
                );
                assert_eq!((st, error_of(&v)), (200, "Command Not Found"), "{action:?}");
            }
        }
        // ... but only once the caller is authenticated.
        let (st, v) = raw_api(s, &[("action", "NoSuchAction"), ("responsetype", "json")]);
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"));
        let (st, v) = raw_api(
            s,
            &[("action", "NoSuchAction"), ("identifier", ident(&narrow)), ("secret", "nope"), ("responsetype", "json")],
        );
        assert_ne!(error_of(&v), "Command Not Found", "{st}");
        // Other methods get the envelope too.
        let r = http().put(s.url("/includes/api.php")).send().unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()["allow"], "GET, POST");
        assert_eq!(error_of(&r.json::<Value>().unwrap()), "Unsupported request method: use POST");
        // Unknown response type.
        let (st, v) = raw_api(
            s,
            &[
                ("action", "ListOAuthCredentials"),
                ("username", &w.identifier),
                ("password", &w.secret),
                ("responsetype", "yaml"),
            ],
        );
        assert_eq!(st, 400);
        assert_eq!(
            error_of(&v),
            "Unsupported API response type format \"yaml\". Supported formats include: json, xml, nvp"
        );
    }
}

fn ident(cred: &Value) -> &str {
    cred["identifier"].as_str().unwrap()
}

fn secret(cred: &Value) -> &str {
    cred["secret"].as_str().unwrap()
}

/// Finding 16: a wrong secret for an identifier whose own allow-list admits
/// the caller is `401 Authentication Failed`, not `Invalid IP` (an operator
/// who mistyped a secret must not be sent to the firewall settings).
/// Unknown identifiers, and credentials that do not admit the caller, still
/// learn only `Invalid IP`.
///
/// The host says whether the identifier exists and which addresses it
/// admits even when the secret is wrong (`ApiCredentialVerdict` field
/// `identifier_allowed_ips`), so a mistyped secret is not a firewall hunt.
#[test]
fn a_wrong_secret_is_authentication_failed_where_the_credential_admits_the_caller() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let call = |identifier: &str, secret: &str| {
            raw_api(
                s,
                &[
                    ("action", "ListOAuthCredentials"),
                    ("identifier", identifier),
                    ("secret", secret),
                    ("responsetype", "json"),
                ],
            )
        };
        // The credential admits 127.0.0.1: the secret is what is wrong.
        let (st, v) = call(&w.identifier, "nope");
        assert_eq!((st, error_of(&v)), (401, "Authentication Failed"));
        // ... even when the action is one it may not call, or none.
        let (st, v) = raw_api(
            s,
            &[("action", "NoSuchAction"), ("username", &w.identifier), ("password", "nope"), ("responsetype", "json")],
        );
        assert_eq!((st, error_of(&v)), (401, "Authentication Failed"));
        // A credential pinned elsewhere: the caller learns only its address is refused.
        let other = s.cli_json(&["api-credential", "add", "--role", "authentication", "--allow-ip", "10.9.8.7"]);
        let (st, v) = call(ident(&other), "nope");
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"));
        // A credential with no list of its own admits no one by itself.
        let bare = s.cli_json(&["api-credential", "add", "--role", "authentication"]);
        let (st, v) = call(ident(&bare), "nope");
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"));
        // Unknown identifiers get no IP exception.
        let (st, v) = call("no-such-identifier", "nope");
        assert_eq!((st, error_of(&v)), (403, "Invalid IP 127.0.0.1"));
        // The right secret still works.
        let (st, v) = call(&w.identifier, &w.secret);
        assert_eq!((st, v["result"].as_str()), (200, Some("success")), "{v}");
    }
}

/// Posts the form and returns the status and the body as text.
fn raw_text(server: &Server, form: &[(&str, &str)]) -> (u16, String) {
    let r = http().post(server.url("/includes/api.php")).form(form).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// PHP's `urldecode`: `+` is a space, `%XX` a byte.
fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
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
    String::from_utf8(out).unwrap()
}

/// Reads an NVP body as a WHMCS client does: split on `;`, then on the
/// first `=`, then `urldecode`.
fn nvp_decode(body: &str) -> Vec<(String, String)> {
    body.split(';')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (urldecode(k), urldecode(v))
        })
        .collect()
}

/// A JSON answer flattened as NVP keys (`client[status]`), values as text.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}[{k}]") };
                flatten(&key, v, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Null => out.push((prefix.to_string(), String::new())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The same call in json and in nvp: the decoded NVP pairs are the JSON
/// answer's fields, one for one; returns them sorted.
fn nvp_matches_json(w: &Whmcs, action: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let (_, json) = w.api(action, params);
    let mut want = Vec::new();
    flatten("", &json, &mut want);
    let mut form: Vec<(&str, &str)> = vec![("action", action), ("username", &w.identifier), ("password", &w.secret)];
    form.extend_from_slice(params);
    let (_, body) = raw_text(&w.server, &form);
    let mut got = nvp_decode(&body);
    // The order is the envelope's; compare as multisets.
    got.sort();
    want.sort();
    assert_eq!(got, want, "{body}");
    got
}

/// Finding 4: NVP values are percent-encoded, so a stored value can neither
/// add keys nor shadow real ones, and a WHMCS-style reader gets it back.
#[test]
fn nvp_values_cannot_add_or_shadow_keys() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let name = "x;result=success;message=hijacked";
        let (_, v) = w.api(
            "CreateOAuthCredential",
            &[
                ("grantType", "authorization_code"),
                ("name", name),
                ("scope", "openid"),
                ("redirectUri", "https://a/cb"),
            ],
        );
        assert_eq!(v["result"], "success", "{v}");
        let got = nvp_matches_json(&w, "GetClientsDetails", &[("clientid", "4242")]);
        assert_eq!(got, [("message".to_string(), "Client Not Found".to_string()), ("result".into(), "error".into())]);
        let got = nvp_matches_json(&w, "ListOAuthCredentials", &[]);
        assert_eq!(got.iter().filter(|(k, _)| k == "result").count(), 1, "{got:?}");
        assert!(!got.iter().any(|(k, _)| k == "message"), "{got:?}");
        assert!(got.contains(&("clients[0][name]".into(), name.into())), "{got:?}");

        // A Closed user whose name claims to be Active.
        let evil = "Eve;client[status]=Active";
        let u = s.cli_json(&["user", "add", "--email", "eve@example.com", "--name", evil]);
        let acc = s.cli_json(&["account", "add", "--owner", &u["id"].to_string(), "--name", "a=b;c%20d+e\r\nf"]);
        s.cli_json(&["user", "set-status", "eve@example.com", "Closed"]);
        let got = nvp_matches_json(&w, "GetClientsDetails", &[("clientid", &acc["id"].to_string())]);
        let status: Vec<&str> = got.iter().filter(|(k, _)| k == "client[status]").map(|(_, v)| v.as_str()).collect();
        assert_eq!(status, ["Closed"], "{got:?}");
        assert!(got.contains(&("client[fullname]".into(), evil.into())), "{got:?}");
        assert!(got.contains(&("client[companyname]".into(), "a=b;c%20d+e\r\nf".into())), "{got:?}");
    }
}

/// Whether XML 1.0 can carry `c`.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The texts of the leaf elements `<tag>…</tag>`, read as an XML 1.0
/// parser would: every character must be one XML can carry, line ends are
/// normalised, and the five entities and character references are decoded
/// (anything else after `&` fails). A stand-in for a real parser, which the
/// e2e crate does not depend on; the plugin's own tests parse the same
/// envelope with roxmltree.
fn xml_leaf_texts(body: &str, tag: &str) -> Vec<String> {
    if let Some(c) = body.chars().find(|c| !xml_char(*c)) {
        panic!("a character XML 1.0 cannot carry: {c:?} in {body:?}");
    }
    let body = body.replace("\r\n", "\n").replace('\r', "\n");
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = body.as_str();
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let end = after.find(&close).unwrap_or_else(|| panic!("<{tag}> not closed: {body:?}"));
        let raw = &after[..end];
        assert!(!raw.contains('<') && !raw.contains('>'), "markup in <{tag}>: {raw:?}");
        let mut text = String::new();
        let mut parts = raw.split('&');
        text.push_str(parts.next().unwrap());
        for part in parts {
            let (reference, tail) = part.split_once(';').unwrap_or_else(|| panic!("bare & in {raw:?}"));
            let c = match reference {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                r if r.starts_with("#x") => char::from_u32(u32::from_str_radix(&r[2..], 16).unwrap()).unwrap(),
                r if r.starts_with('#') => char::from_u32(r[1..].parse().unwrap()).unwrap(),
                r => panic!("unknown entity &{r}; in {raw:?}"),
            };
            assert!(xml_char(c), "a reference to {c:?}, which XML 1.0 cannot carry");
            text.push(c);
            text.push_str(tail);
        }
        out.push(text);
        rest = &after[end + close.len()..];
    }
    out
}

/// Finding 5: the XML envelope stays parseable whatever a stored value
/// holds; what XML 1.0 cannot carry becomes U+FFFD, markup characters stay.
#[test]
fn xml_stays_parseable_with_any_stored_value() {
    for backend in backends() {
        let w = start(backend, "");
        let name = "a\u{1}b\u{FFFE}c<>&\"'d\u{1b}]]>e";
        let (_, v) = w.api(
            "CreateOAuthCredential",
            &[
                ("grantType", "authorization_code"),
                ("name", name),
                ("scope", "openid"),
                ("redirectUri", "https://a/cb"),
            ],
        );
        assert_eq!(v["result"], "success", "{v}");
        let (_, v) = w.api("ListOAuthCredentials", &[]);
        assert_eq!(v["clients"][0]["name"], name, "stored as given");
        let (st, body) = raw_text(
            &w.server,
            &[
                ("action", "ListOAuthCredentials"),
                ("username", &w.identifier),
                ("password", &w.secret),
                ("responsetype", "xml"),
            ],
        );
        assert_eq!(st, 200, "{body}");
        assert_eq!(xml_leaf_texts(&body, "result"), ["success"]);
        assert_eq!(xml_leaf_texts(&body, "name"), ["a\u{FFFD}b\u{FFFD}c<>&\"'d\u{FFFD}]]>e"], "{body:?}");
    }
}

#[test]
fn responsetype_xml_and_nvp() {
    for backend in backends() {
        let w = start(backend, "");
        let form =
            [("action", "ListOAuthCredentials"), ("username", w.identifier.as_str()), ("password", w.secret.as_str())];
        // nvp is the legacy default.
        let body = http().post(w.server.url("/includes/api.php")).form(&form).send().unwrap().text().unwrap();
        assert!(body.starts_with("result=success;totalresults=0;"), "{body}");
        let mut xml_form = form.to_vec();
        xml_form.push(("responsetype", "xml"));
        let r = http().post(w.server.url("/includes/api.php")).form(&xml_form).send().unwrap();
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
        let body = r.text().unwrap();
        assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"), "{body}");
        assert!(body.contains("<result>success</result>"), "{body}");
        // Errors use the requested format too.
        let bad = [("action", "ListOAuthCredentials"), ("responsetype", "xml")];
        let body = http().post(w.server.url("/includes/api.php")).form(&bad).send().unwrap().text().unwrap();
        assert!(
            body.contains("<result>error</result><message>Invalid IP 127.0.0.1</message>")
                || body.contains("<result>error</result>\n<message>Invalid IP 127.0.0.1</message>"),
            "{body}"
        );
        let bad = [("action", "ListOAuthCredentials"), ("responsetype", "nvp")];
        let body = http().post(w.server.url("/includes/api.php")).form(&bad).send().unwrap().text().unwrap();
        assert_eq!(body, "result=error;message=Invalid IP 127.0.0.1;");
    }
}

#[test]
fn oauth_credential_actions_and_their_errors() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let forum = "https://forum.example.com/oauth/callback/";
        // CreateOAuthCredential: every documented error, in order.
        for (params, expect) in [
            (vec![], "A valid grant type is required."),
            (vec![("grantType", "password")], "The requested grant type \"password\" is invalid."),
            (vec![("grantType", "authorization_code")], "A name for the Client Credential is required."),
            (vec![("grantType", "single_sign_on")], "A service ID is required for the single sign-on grant type."),
            (vec![("grantType", "single_sign_on"), ("serviceId", "999")], "A valid Service ID is required."),
            (vec![("grantType", "authorization_code"), ("name", "X")], "At least one valid scope is required."),
            (
                vec![("grantType", "authorization_code"), ("name", "X"), ("scope", "openid clientarea:nope")],
                "The requested scope \"clientarea:nope\" is invalid.",
            ),
        ] {
            let (st, v) = w.api("CreateOAuthCredential", &params);
            assert_eq!((st, error_of(&v)), (200, expect), "{params:?}");
        }
        assert_eq!(s.cli_json(&["client", "list"]).as_array().unwrap().len(), 0, "errors create nothing");

        // The tutorial's call: lower-case `granttype`, username/password.
        let scope = format!("{TUTORIAL_SCOPES} openid profile email");
        let (st, v) = w.api(
            "CreateOAuthCredential",
            &[
                ("granttype", "authorization_code"),
                ("scope", &scope),
                ("description", "OAuth2.0 credentials for IPB SSO."),
                ("redirectUri", forum),
                ("name", "IPB SSO"),
            ],
        );
        assert_eq!((st, v["result"].as_str().unwrap()), (200, "success"), "{v}");
        let cred_id = v["credentialId"].as_i64().unwrap();
        let ident = v["clientIdentifier"].as_str().unwrap().to_string();
        assert!(ident.starts_with("ACME-HOSTING."), "{ident}");
        assert!(v["clientSecret"].as_str().unwrap().len() >= 43);
        // An ordinary Gatehouse client.
        let listed = s.cli_json(&["client", "show", &ident]);
        assert_eq!(listed["id"].as_i64(), Some(cred_id));
        assert_eq!(listed["redirect_uris"][0], forum);

        // ListOAuthCredentials.
        let (_, v) = w.api("ListOAuthCredentials", &[("grantType", "authorization_code")]);
        let c = &v["clients"][0];
        assert_eq!(c["credentialId"].as_i64(), Some(cred_id));
        assert_eq!(c["clientIdentifier"], ident.as_str());
        assert_eq!(c["clientSecret"], "", "only digests are stored");
        assert_eq!(c["grantTypes"], "authorization_code");
        assert_eq!(c["redirectUri"][0], forum);
        assert_eq!(c["scope"], scope.as_str());
        assert!(c["createdAt"].as_str().unwrap().len() == 19);
        let (_, v) = w.api("ListOAuthCredentials", &[("grantType", "single_sign_on")]);
        assert_eq!(v["clients"].as_array().unwrap().len(), 0);

        // UpdateOAuthCredential.
        for (params, expect) in [
            (vec![], "A Credential ID or Client Identifier is required."),
            (vec![("credentialId", "9999")], "Invalid Credential ID provided."),
            (vec![("clientIdentifier", "ACME-HOSTING.nope")], "Invalid Client Identifier provided."),
            (vec![("credentialId", "abc")], "Invalid Credential ID provided."),
        ] {
            let (_, v) = w.api("UpdateOAuthCredential", &params);
            assert_eq!(error_of(&v), expect, "{params:?}");
        }
        let (_, v) =
            w.api("UpdateOAuthCredential", &[("clientApiIdentifier", &ident), ("name", "Forum"), ("resetSecret", "1")]);
        assert_eq!(v["credentialId"].as_i64(), Some(cred_id), "{v}");
        let new_secret = v["newClientSecret"].as_str().unwrap();
        assert!(new_secret.len() >= 43);
        let shown = s.cli_json(&["client", "show", &ident]);
        assert_eq!(shown["name"], "Forum");
        assert_eq!(shown["redirect_uris"][0], forum, "absent fields keep their values");
        let (_, v) = w.api("UpdateOAuthCredential", &[("credentialId", &cred_id.to_string()), ("description", "d")]);
        assert!(v.get("newClientSecret").is_none());

        // DeleteOAuthCredential.
        let (_, v) = w.api("DeleteOAuthCredential", &[("credentialId", "9999")]);
        assert_eq!(error_of(&v), "Invalid Credential ID provided.");
        let (_, v) = w.api("DeleteOAuthCredential", &[]);
        assert_eq!(error_of(&v), "Invalid Credential ID provided.");
        let (_, v) = w.api("DeleteOAuthCredential", &[("credentialId", &cred_id.to_string())]);
        assert_eq!(v["credentialId"].as_i64(), Some(cred_id));
        assert_eq!(s.cli_json(&["client", "list"]).as_array().unwrap().len(), 0);

        // A single sign-on credential bound to an account (serviceId).
        let user = s.cli_json(&["user", "add", "--email", "owner@example.com", "--name", "Olive Owner"]);
        let acc = s.cli_json(&["account", "add", "--owner", user["id"].as_i64().unwrap().to_string().as_str()]);
        let acc_id = acc["id"].as_i64().unwrap().to_string();
        let (_, v) = w.api(
            "CreateOAuthCredential",
            &[("grantType", "single_sign_on"), ("serviceId", &acc_id), ("scope", "clientarea:sso clientarea:invoices")],
        );
        assert_eq!(v["result"], "success", "{v}");
        let (_, v) = w.api("ListOAuthCredentials", &[("grantType", "single_sign_on")]);
        assert_eq!(v["clients"][0]["serviceId"].as_i64(), acc["id"].as_i64());
    }
}

#[test]
fn get_clients_details() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let u = s.cli_json(&["user", "add", "--email", "Ann@Example.com", "--name", "Ann Bee", "--locale", "de"]);
        let acc = s.cli_json(&["account", "add", "--owner", "ann@example.com", "--name", "Bee Ltd"]);
        let (_, v) = w.api("GetClientsDetails", &[("clientid", &acc["id"].to_string())]);
        let c = &v["client"];
        assert_eq!(c["id"], acc["id"]);
        assert_eq!(c["email"], "ann@example.com");
        assert_eq!((c["firstname"].as_str(), c["lastname"].as_str()), (Some("Ann"), Some("Bee")));
        assert_eq!(c["status"], "Active");
        assert_eq!(c["allowSingleSignOn"], 1);
        assert_eq!(c["language"], "de");
        assert_eq!(c["uuid"], u["sub"]);
        let (_, v) = w.api("GetClientsDetails", &[("email", "ann@example.com")]);
        assert_eq!(v["client"]["id"], acc["id"]);
        let (_, v) = w.api("GetClientsDetails", &[("clientid", "4242")]);
        assert_eq!(error_of(&v), "Client Not Found");
    }
}

/// An Active user who owns an account; returns (user id, account id).
fn user_with_account(s: &Server, email: &str) -> (i64, i64) {
    let u = s.cli_json(&["user", "add", "--email", email, "--password", "pw-123456", "--name", "Sam Sign"]);
    let id = u["id"].as_i64().unwrap();
    let acc = s.cli_json(&["account", "add", "--owner", &id.to_string()]);
    (id, acc["id"].as_i64().unwrap())
}

fn audit_messages(s: &Server) -> Vec<String> {
    s.cli_json(&["audit", "list", "--limit", "200"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

fn has_session_cookie(r: &reqwest::blocking::Response) -> bool {
    r.headers().get_all("set-cookie").iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with("gatehouse_session=") && !c.starts_with("gatehouse_session=;") && !c.contains("Max-Age=0")
    })
}

/// (destination scope, its parameters, the client-area path it leads to).
type Destination<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn create_sso_token_for_every_destination() {
    let destinations: &[Destination] = &[
        ("", &[], "/clientarea.php"),
        ("clientarea:homepage", &[], "/clientarea.php"),
        ("clientarea:profile", &[], "/clientarea.php?action=details"),
        ("clientarea:billing_info", &[], "/clientarea.php?action=creditcard"),
        ("clientarea:emails", &[], "/clientarea.php?action=emails"),
        ("clientarea:announcements", &[], "/index.php?rp=/announcements"),
        ("clientarea:downloads", &[], "/index.php?rp=/download"),
        ("clientarea:knowledgebase", &[], "/knowledgebase.php"),
        ("clientarea:network_status", &[], "/serverstatus.php"),
        ("clientarea:services", &[], "/clientarea.php?action=services"),
        ("clientarea:product_details", &[("service_id", "42")], "/clientarea.php?action=productdetails&id=42"),
        ("clientarea:domains", &[], "/clientarea.php?action=domains"),
        ("clientarea:domain_details", &[("domain_id", "7")], "/clientarea.php?action=domaindetails&id=7"),
        ("clientarea:invoices", &[], "/clientarea.php?action=invoices"),
        ("clientarea:tickets", &[], "/supporttickets.php"),
        ("clientarea:submit_ticket", &[], "/submitticket.php"),
        ("clientarea:shopping_cart", &[], "/cart.php"),
        ("clientarea:shopping_cart_addons", &[], "/cart.php?gid=addons"),
        ("clientarea:shopping_cart_domain_register", &[], "/cart.php?a=add&domain=register"),
        ("clientarea:shopping_cart_domain_transfer", &[], "/cart.php?a=add&domain=transfer"),
        ("clientarea:upgrade", &[("service_id", "42")], "/upgrade.php?type=package&id=42"),
        ("sso:custom_redirect", &[("sso_redirect_path", "cart.php?a=view")], "/cart.php?a=view"),
    ];
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let (_uid, acc) = user_with_account(s, "sam@example.com");
        let acc = acc.to_string();
        for (dest, extra, path) in destinations {
            let mut params = vec![("client_id", acc.as_str())];
            if !dest.is_empty() {
                params.push(("destination", dest));
            }
            params.extend_from_slice(extra);
            let (_, v) = w.api("CreateSsoToken", &params);
            assert_eq!(v["result"], "success", "{dest}: {v}");
            let token = v["access_token"].as_str().unwrap();
            let url = v["redirect_url"].as_str().unwrap();
            assert!(url.starts_with(&s.url("/oauth/singlesignon.php?access_token=")), "{url}");
            let r = browser().get(url).send().unwrap();
            assert_eq!(r.status(), 302, "{dest}");
            assert_eq!(r.headers()["location"], format!("{CLIENT_AREA}{path}").as_str(), "{dest}");
            assert!(has_session_cookie(&r), "{dest}: a session");
            // Single use.
            let again = browser().get(url).send().unwrap();
            assert_ne!(again.status(), 302, "{dest}: reused");
            assert!(!has_session_cookie(&again));
            assert!(!token.is_empty());
        }
        // The documented CreateSsoToken errors.
        let (uid2, acc2) = user_with_account(s, "other@example.com");
        let (uid, _) = (s.cli_json(&["user", "show", "sam@example.com"])["id"].as_i64().unwrap(), ());
        for (params, expect) in [
            (vec![], "A valid client_id or user_id is required"),
            (vec![("client_id", "99999")], "Invalid client_id"),
            (vec![("user_id", "99999")], "Invalid user_id"),
            (vec![("client_id", acc.as_str()), ("user_id", &uid2.to_string())], "Invalid user_id for client"),
            (vec![("client_id", acc.as_str()), ("destination", "clientarea:nowhere")], "Invalid destination"),
            (vec![("client_id", acc.as_str()), ("destination", "openid")], "Invalid destination"),
        ] {
            let (_, v) = w.api("CreateSsoToken", &params);
            assert_eq!(error_of(&v), expect, "{params:?}");
        }
        // By user_id alone, and as a member of another account.
        let (_, v) = w.api("CreateSsoToken", &[("user_id", &uid.to_string())]);
        assert_eq!(v["result"], "success");
        s.cli_json(&["account", "add-member", &acc2.to_string(), &uid.to_string()]);
        let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc2.to_string()), ("user_id", &uid.to_string())]);
        assert_eq!(v["result"], "success", "{v}");
        // Closed, or SSO switched off: blocked at issue.
        s.cli_json(&["user", "set-sso", &uid2.to_string(), "off"]);
        let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc2.to_string())]);
        assert_eq!(error_of(&v), format!("SSO authentication blocked for client {acc2}"));
        s.cli_json(&["user", "set-sso", &uid2.to_string(), "on"]);
        s.cli_json(&["user", "set-status", &uid2.to_string(), "Closed"]);
        let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc2.to_string())]);
        assert_eq!(error_of(&v), format!("SSO authentication blocked for client {acc2}"));
        // Inactive users may sign on.
        s.cli_json(&["user", "set-status", &uid.to_string(), "Inactive"]);
        let (_, v) = w.api("CreateSsoToken", &[("user_id", &uid.to_string()), ("destination", "clientarea:invoices")]);
        let r = browser().get(v["redirect_url"].as_str().unwrap()).send().unwrap();
        assert_eq!(r.status(), 302);
    }
}

#[test]
fn sso_refusals_write_the_documented_audit_lines() {
    for backend in backends() {
        let w = start(backend, "[tokens]\nsso_ttl = 1\n");
        let s = &w.server;
        let (uid, acc) = user_with_account(s, "sam@example.com");
        let acc = acc.to_string();
        let issue = || {
            let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc), ("destination", "clientarea:invoices")]);
            assert_eq!(v["result"], "success", "{v}");
            v["redirect_url"].as_str().unwrap().to_string()
        };
        let refused = |url: &str| {
            let r = browser().get(url).send().unwrap();
            assert!(r.status().is_client_error(), "{}", r.status());
            assert!(!has_session_cookie(&r));
            assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        };

        // Expired.
        let url = issue();
        std::thread::sleep(std::time::Duration::from_millis(2100));
        refused(&url);
        let line = format!("Unable to authenticate with Single Sign-On token for User ID: {uid}");
        assert!(audit_messages(s).contains(&line), "{:?}", audit_messages(s));

        // SSO switched off by the user after the token was issued.
        let url = issue();
        s.cli_json(&["user", "set-sso", &uid.to_string(), "off"]);
        refused(&url);
        let line = format!("Single Sign-On authentication denied per configuration for User ID: {uid}");
        assert!(audit_messages(s).contains(&line), "{:?}", audit_messages(s));
        s.cli_json(&["user", "set-sso", &uid.to_string(), "on"]);

        // Closed after the token was issued.
        let url = issue();
        s.cli_json(&["user", "set-status", &uid.to_string(), "Closed"]);
        refused(&url);
        let line = format!("Single Sign-On authentication denied for \"Closed\" User ID: {uid}");
        assert!(audit_messages(s).contains(&line), "{:?}", audit_messages(s));

        // A made-up token.
        refused(&s.url("/oauth/singlesignon.php?access_token=not-a-token"));
        refused(&s.url("/oauth/singlesignon.php"));
    }
}

#[test]
fn twenty_concurrent_redemptions_give_one_session() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let (_, acc) = user_with_account(s, "sam@example.com");
        let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc.to_string())]);
        let url = v["redirect_url"].as_str().unwrap().to_string();
        let n = 20;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (url, b) = (url.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let c = browser();
                    b.wait();
                    let r = c.get(&url).send().unwrap();
                    (r.status().as_u16(), has_session_cookie(&r))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|(st, cookie)| *st == 302 && *cookie).count();
        assert_eq!(wins, 1, "{backend:?}: {results:?}");
        assert!(results.iter().all(|(st, _)| *st == 302 || (400..500).contains(st)), "{results:?}");
    }
}

#[test]
fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    for (extra, expect_forwarded) in [("trusted_proxies = [\"127.0.0.1\"]", true), ("", false)] {
        let w = start(Backend::Sqlite, extra);
        let s = &w.server;
        let remote = s.cli_json(&["api-credential", "add", "--role", "authentication", "--allow-ip", "198.51.100.7"]);
        let call = |xff: Option<&str>| -> Value {
            let mut r = http().post(s.url("/includes/api.php")).form(&[
                ("action", "ListOAuthCredentials"),
                ("identifier", remote["identifier"].as_str().unwrap()),
                ("secret", remote["secret"].as_str().unwrap()),
                ("responsetype", "json"),
            ]);
            if let Some(v) = xff {
                r = r.header("X-Forwarded-For", v);
            }
            r.send().unwrap().json().unwrap()
        };
        // The caller named by the proxy, right-most hop first.
        let v = call(Some("6.6.6.6, 198.51.100.7"));
        if expect_forwarded {
            assert_eq!(v["result"], "success", "{v}");
        } else {
            assert_eq!(error_of(&v), "Invalid IP 127.0.0.1", "a forged header must not count");
        }
        // A client-supplied left-most hop never counts.
        let v = call(Some("198.51.100.7, 6.6.6.6"));
        assert_eq!(error_of(&v), if expect_forwarded { "Invalid IP 6.6.6.6" } else { "Invalid IP 127.0.0.1" });
        assert_eq!(error_of(&call(None)), "Invalid IP 127.0.0.1");
    }
}

#[test]
fn validate_login_checks_the_password() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        let u = s.cli_json(&[
            "user",
            "add",
            "--email",
            "val@example.com",
            "--password",
            " spaced pass ",
            "--name",
            "Val Id",
        ]);
        let (_, v) = w.api("ValidateLogin", &[("email", "val@example.com"), ("password2", " spaced pass ")]);
        assert_eq!(v["result"], "success", "{v}");
        assert_eq!(v["userid"], u["id"]);
        assert!(v.get("passwordhash").is_none(), "no password hashes leave Gatehouse");
        for (email, pw) in
            [("val@example.com", "spaced pass"), ("val@example.com", "wrong"), ("nobody@example.com", "x"), ("", "")]
        {
            let (_, v) = w.api("ValidateLogin", &[("email", email), ("password2", pw)]);
            assert_eq!(error_of(&v), "Email or Password Invalid", "{email}/{pw}");
        }
        s.cli_json(&["user", "set-status", "val@example.com", "Closed"]);
        let (_, v) = w.api("ValidateLogin", &[("email", "val@example.com"), ("password2", " spaced pass ")]);
        assert_eq!(error_of(&v), "Email or Password Invalid", "Closed users cannot log in");
    }
}

/// Hardening #1 and #2: the API sees and changes only the credentials it
/// created. A client the operator made (above all one that may name any
/// user in an SSO token) and the plugin's own SSO client are invisible to
/// it; deleting the SSO client behind the plugin's back does not break
/// `CreateSsoToken`.
#[test]
fn the_api_cannot_see_or_take_over_clients_it_did_not_create() {
    for backend in backends() {
        let w = start(backend, "");
        let s = &w.server;
        // Operator-made clients: one that may name users, one bound to the
        // whmcs connector, one plain confidential client.
        let any_user = s.cli_json(&[
            "client",
            "add",
            "--name",
            "Portal SSO",
            "--grant",
            "single_sign_on",
            "--scope",
            "clientarea:sso",
            "--may-name-users",
        ]);
        let forum = s.cli_json(&[
            "client",
            "add",
            "--name",
            "Forum",
            "--redirect-uri",
            "https://forum.example.com/cb",
            "--scope",
            "openid email",
            "--connector",
            "whmcs",
        ]);
        let plain = s.cli_json(&["client", "add", "--name", "Plain", "--redirect-uri", "https://app.example.com/cb"]);
        // The API's own credential and an SSO token (creates the internal SSO client).
        let (_, mine) = w.api(
            "CreateOAuthCredential",
            &[
                ("grantType", "authorization_code"),
                ("name", "Mine"),
                ("scope", "openid"),
                ("redirectUri", "https://m.example.com/cb"),
            ],
        );
        let mine_id = mine["credentialId"].as_i64().unwrap();
        let (_, acc) = user_with_account(s, "victim@example.com");
        let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc.to_string())]);
        assert_eq!(v["result"], "success", "{v}");
        let all = s.cli_json(&["client", "list"]);
        let internal = all
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "WHMCS API single sign-on")
            .expect("the internal SSO client exists")
            .clone();

        let (_, v) = w.api("ListOAuthCredentials", &[]);
        let listed: Vec<i64> =
            v["clients"].as_array().unwrap().iter().map(|c| c["credentialId"].as_i64().unwrap()).collect();
        assert_eq!(listed, vec![mine_id], "only the API's own credentials are listed: {v}");

        for victim in [&any_user, &forum, &plain, &internal] {
            let id = victim["id"].as_i64().unwrap().to_string();
            let ident = victim["client_id"].as_str().unwrap();
            let (_, v) = w.api("UpdateOAuthCredential", &[("credentialId", &id), ("resetSecret", "1")]);
            assert_eq!(error_of(&v), "Invalid Credential ID provided.", "{victim}");
            assert!(v.get("newClientSecret").is_none());
            let (_, v) = w.api(
                "UpdateOAuthCredential",
                &[("clientIdentifier", ident), ("redirectUri", "https://evil.example.com/cb")],
            );
            assert_eq!(error_of(&v), "Invalid Client Identifier provided.", "{victim}");
            let (_, v) = w.api("DeleteOAuthCredential", &[("credentialId", &id)]);
            assert_eq!(error_of(&v), "Invalid Credential ID provided.", "{victim}");
            let shown = s.cli_json(&["client", "show", ident]);
            assert_eq!(shown["redirect_uris"], victim["redirect_uris"], "unchanged: {victim}");
        }
        assert_eq!(s.cli_json(&["client", "list"]).as_array().unwrap().len(), 5, "nothing was deleted");

        // The operator removes the internal SSO client: the API re-creates it.
        let out = s.cli(&["client", "remove", internal["client_id"].as_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (_, v) = w.api("CreateSsoToken", &[("client_id", &acc.to_string())]);
        assert_eq!(v["result"], "success", "CreateSsoToken survives a removed SSO client: {v}");
        let r = browser().get(v["redirect_url"].as_str().unwrap()).send().unwrap();
        assert_eq!(r.status(), 302, "the re-created client's token redeems");
    }
}

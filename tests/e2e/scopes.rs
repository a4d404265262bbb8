//! Operator-defined scopes: added in `gatehouse.toml`, they join the
//! catalog — registrable, advertised in discovery, explained on the consent
//! screen, and released only to clients registered for them.

use crate::common::*;
use crate::oauth_support::*;

const CB: &str = "https://app.example/cb";

const CONFIG: &str = r#"
[[scopes]]
name = "forum:moderate"
description = "Moderate the community forum"
claims = []
"#;

#[test]
fn operator_scopes_join_the_catalog() {
    for backend in backends() {
        // Without the configuration the scope does not exist.
        let plain = Server::start(backend);
        let out =
            plain.cli(&["client", "add", "--name", "X", "--redirect-uri", CB, "--scope", "openid forum:moderate"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope \"forum:moderate\""));
        drop(plain);

        let server = Server::start_with(backend, ServerOptions { config: CONFIG.into(), ..Default::default() });
        let disco: serde_json::Value =
            http().get(server.url("/.well-known/openid-configuration")).send().unwrap().json().unwrap();
        assert!(disco["scopes_supported"].as_array().unwrap().iter().any(|s| s == "forum:moderate"), "{disco}");

        add_user(&server, "mod@example.com");
        let client = add_client(&server, CB, &["--scope", "openid forum:moderate"]);
        let other = add_client(&server, CB, &["--scope", "openid"]);
        let b = browser();
        assert_eq!(login(&b, &server, "mod@example.com", PASSWORD).status(), 303);
        let consent = b
            .get(authorize_url(
                &server,
                &[
                    ("client_id", &client.id),
                    ("redirect_uri", CB),
                    ("response_type", "code"),
                    ("scope", "openid forum:moderate"),
                    ("state", "s"),
                ],
            ))
            .send()
            .unwrap();
        assert_eq!(consent.status(), 200);
        let page = consent.text().unwrap();
        assert!(page.contains("Moderate the community forum"), "{page}");

        // A client not registered for it cannot get it.
        let r = b
            .get(authorize_url(
                &server,
                &[
                    ("client_id", &other.id),
                    ("redirect_uri", CB),
                    ("response_type", "code"),
                    ("scope", "openid forum:moderate"),
                    ("state", "s"),
                ],
            ))
            .send()
            .unwrap();
        assert_eq!(r.status(), 302);
        let loc = location(&r);
        assert!(loc.starts_with(CB) && loc.contains("error=invalid_scope"), "{loc}");
    }
}

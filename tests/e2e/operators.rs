//! What an operator needs to explain a failure: every refusal is in the
//! audit log with client, IP, request id and a reason, and `audit list`
//! finds it by client, kind, user and time.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::common::*;

/// "The forum says login failed": a wrong client secret and a redirect URI
/// mismatch, found with `gatehouse audit list` alone.
#[test]
fn a_forum_login_failure_can_be_explained_from_audit_list() {
    for backend in backends() {
        let s = Server::start(backend);
        let c = s.cli_json(&["client", "add", "--name", "Forum", "--redirect-uri", "https://forum.example.com/cb"]);
        let id = c["client_id"].as_str().unwrap();
        let r = http()
            .post(s.url("/oauth2/token"))
            .basic_auth(id, Some("not-the-secret"))
            .form(&[("grant_type", "authorization_code"), ("code", "x")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let r = browser()
            .get(s.url(&format!(
                "/oauth2/authorize?response_type=code&client_id={id}&redirect_uri=https%3A%2F%2Fforum.example.com%2Fother"
            )))
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);

        let out = s.cli(&["audit", "list", "--client", id, "--kind", "oauth.", "--since", "1h"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("oauth.authorize_refused") && lines[0].contains("reason=redirect_uri_mismatch"),
            "{text}"
        );
        assert!(lines[1].contains("oauth.client_auth_failed") && lines[1].contains("reason=wrong_secret"), "{text}");
        assert!(lines[1].contains("ip=127.0.0.1") && lines[1].contains(&format!("client={id}")), "{text}");
        let json = s.cli_json(&["audit", "list", "--kind", "oauth.client_auth_failed"]);
        assert_eq!(json[0]["request_id"].as_str(), Some(request_id.as_str()), "{json}");
        assert_eq!(json[0]["reason"], "wrong_secret");
        // Nothing from another client matches.
        let none = s.cli(&["audit", "list", "--client", "someone-else", "--kind", "oauth."]);
        assert!(String::from_utf8_lossy(&none.stdout).trim().is_empty());
    }
}

/// `gatehouse audit list | head -1` ends quietly, without a panic.
#[test]
fn audit_list_into_a_closed_pipe_does_not_panic() {
    let s = Server::start(Backend::Sqlite);
    // Far more than a pipe buffer (64 KiB) of audit lines.
    let client = http();
    for _ in 0..1200 {
        let r = client
            .post(s.url("/oauth2/token"))
            .basic_auth("nobody", Some("x"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let mut child = Command::new(BIN)
        .args(["audit", "list", "--limit", "5000"])
        .env("GATEHOUSE_CONFIG", &s.config_path)
        .env("GATEHOUSE_DATABASE_URL", &s.db.url)
        .env("GATEHOUSE_DATA_DIR", s.data_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe, as `head -c1` would.
    let mut one = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut one).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `/metrics` in Prometheus text: the counters move with the traffic.
#[test]
fn metrics_count_requests_tokens_and_refusals() {
    let s = Server::start(Backend::Sqlite);
    let c = s.cli_json(&["client", "add", "--name", "M2M", "--grant", "client_credentials", "--scope", ""]);
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let scrape = || http().get(s.url("/metrics")).send().unwrap().text().unwrap();
    let before = scrape();
    for _ in 0..3 {
        let r = http()
            .post(s.url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http()
        .post(s.url("/oauth2/token"))
        .basic_auth(id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let after = scrape();
    let issued = r#"gatehouse_tokens_issued_total{grant="client_credentials",client_type="confidential"}"#;
    assert_eq!(metric(&after, issued) - metric(&before, issued), 3.0, "{after}");
    let refused = r#"gatehouse_refusals_total{kind="oauth.client_auth_failed",reason="wrong_secret"}"#;
    assert_eq!(metric(&after, refused), 1.0, "{after}");
    let ok = r#"gatehouse_http_requests_total{route="/oauth2/token",method="POST",status="200"}"#;
    assert_eq!(metric(&after, ok), 3.0, "{after}");
    assert!(after.contains("gatehouse_http_request_duration_seconds_bucket"), "{after}");
    assert!(after.contains(r#"gatehouse_db_pool_connections{pool="sqlite_read"}"#), "{after}");
}

/// `metrics_bind` keeps `/metrics` off the public address.
#[test]
fn metrics_can_live_on_their_own_address() {
    let port = free_port();
    let s = Server::start_with(
        Backend::Sqlite,
        ServerOptions { config: format!("metrics_bind = \"127.0.0.1:{port}\"\n"), ..Default::default() },
    );
    assert_eq!(http().get(s.url("/metrics")).send().unwrap().status(), 404);
    let r = http().get(format!("http://127.0.0.1:{port}/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("gatehouse_http_requests_total"));
}

/// The CLI fixes of the operators issue: passwords from stdin (never argv),
/// set-password ends sessions, set-connector, a note for password-less users.
#[test]
fn cli_sets_passwords_from_stdin_and_connectors_after_the_fact() {
    let s = Server::start(Backend::Sqlite);
    let out = s.cli(&["user", "add", "--email", "np@example.com", "--name", "No Pass"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot sign in with one until"), "{out:?}");
    let out = s.cli(&["user", "add", "--email", "argv@example.com", "--name", "A V", "--password", "pw-on-argv-1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shell history"), "{out:?}");
    let out = s.cli_with_stdin(
        &["user", "add", "--email", "si@example.com", "--name", "S I", "--password-stdin"],
        "from-stdin-pw-1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A session, then an operator's reset: the session ends, the new password works.
    let b = browser();
    let login = |email: &str, pw: &str| {
        let page = b.get(s.url("/login")).send().unwrap().text().unwrap();
        let form = parse_forms(&page).into_iter().next().unwrap();
        let mut f: Vec<(String, String)> = form
            .inputs
            .iter()
            .filter(|(k, _, _)| k != "email" && k != "password")
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        f.push(("email".into(), email.into()));
        f.push(("password".into(), pw.into()));
        b.post(s.url("/login")).form(&f).send().unwrap().status()
    };
    assert!(login("si@example.com", "from-stdin-pw-1").is_redirection());
    assert_eq!(b.get(s.url("/account")).send().unwrap().status(), 200);
    let out = s.cli_with_stdin(&["user", "set-password", "si@example.com", "--password-stdin"], "a-new-password-2\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(b.get(s.url("/account")).send().unwrap().status(), 200, "the old session ended");
    assert!(!login("si@example.com", "from-stdin-pw-1").is_redirection(), "the old password is gone");
    assert!(login("si@example.com", "a-new-password-2").is_redirection());
    // Without a terminal and without --password-stdin: one clear line.
    let out = s.cli_with_stdin(&["user", "set-password", "si@example.com"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));

    let c = s.cli_json(&["client", "add", "--name", "Forum", "--redirect-uri", "https://f.example.com/cb"]);
    let id = c["client_id"].as_str().unwrap();
    let shown = s.cli_json(&["client", "set-connector", id, "ipb"]);
    assert_eq!(shown["connector"], "ipb");
    let shown = s.cli_json(&["client", "set-connector", id, "none"]);
    assert!(shown["connector"].is_null());
    assert!(!s.cli(&["client", "set-connector", id, "Bad Name"]).status.success());
}

/// A CLI command with no --config or --database-url says which database
/// it opened or created.
#[test]
fn a_cli_command_without_configuration_names_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(BIN)
            .args(["user", "list"])
            .current_dir(dir.path())
            .env_remove("GATEHOUSE_CONFIG")
            .env_remove("GATEHOUSE_DATABASE_URL")
            .env("GATEHOUSE_MASTER_KEY", "k")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("created the database") && err.contains("gatehouse.db"), "{err}");
    let err = String::from_utf8_lossy(&run().stderr).to_string();
    assert!(err.contains("using the database"), "{err}");
}

/// The README's walk-through on the production plugins exactly as `cargo
/// run` builds them next to the binary, with nothing configured but the
/// WHMCS company name: the first administrator from the printed link, an
/// API credential from the admin API, `CreateOAuthCredential` from the
/// WHMCS API, and a forum's sign-in. The oidc plugin, found without its
/// settings, is listed as not enabled and does not stop the start.
#[test]
fn the_readme_scenario_runs_on_the_default_plugins() {
    use base64::Engine as _;
    for (package, lib) in [
        ("gatehouse-whmcs", "gatehouse_whmcs"),
        ("gatehouse-ipb", "gatehouse_ipb"),
        ("gatehouse-oidc", "gatehouse_oidc"),
    ] {
        build_plugin(package, lib);
    }
    let s = Server::start_with(
        Backend::Sqlite,
        ServerOptions {
            config: "[plugin_config.whmcs]\ncompany_name = \"ACME Hosting\"\n".into(),
            env: vec![("GATEHOUSE_DEFAULT_PLUGINS".into(), "true".into())],
            ..Default::default()
        },
    );
    let log = s.log();
    assert!(log.contains("plugin oidc not enabled: set issuer"), "{log}");
    assert_eq!(http().get(s.url("/readyz")).send().unwrap().status(), 200);

    // 1. The first administrator, from the link the server printed.
    let link = log.lines().find_map(|l| l.trim().strip_prefix(&s.base).filter(|r| r.starts_with("/setup?"))).unwrap();
    let admin = browser();
    let page = admin.get(s.url(link)).send().unwrap().text().unwrap();
    let form = parse_forms(&page).remove(0);
    let csrf = form.inputs.iter().find(|(n, _, _)| n == "csrf_token").unwrap().1.clone();
    let mut values: Vec<(String, String)> = form.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
    values.retain(|(n, _)| !["email", "password", "password2"].contains(&n.as_str()));
    for (k, v) in
        [("email", "ops@example.com"), ("password", "a long admin password"), ("password2", "a long admin password")]
    {
        values.push((k.into(), v.into()));
    }
    assert_eq!(admin.post(s.url("/setup")).form(&values).send().unwrap().status(), 303);

    // The plugins as the admin API reports them.
    let plugins: serde_json::Value = admin.get(s.url("/admin/api/v1/plugins")).send().unwrap().json().unwrap();
    let state = |name: &str| {
        plugins.as_array().unwrap().iter().find(|p| p["name"] == name).map(|p| p["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state("whmcs").as_deref(), Some("loaded"), "{plugins}");
    assert_eq!(state("ipb").as_deref(), Some("loaded"), "{plugins}");
    assert!(state("oidc").unwrap().starts_with("not enabled"), "{plugins}");

    // 2. An API credential for the billing system, and a member.
    let cred: serde_json::Value = admin
        .post(s.url("/admin/api/v1/api-credentials"))
        .header("X-CSRF-Token", &csrf)
        .json(&serde_json::json!({"description": "forum", "role": "authentication", "allowed_ips": ["127.0.0.1"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let r = admin
        .post(s.url("/admin/api/v1/users"))
        .header("X-CSRF-Token", &csrf)
        .json(
            &serde_json::json!({"email": "member@example.com", "name": "Mia Member", "password": "forum member pass"}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    // 3. The forum's OAuth credential through the WHMCS API, as the tutorial does.
    let forum_cb = "https://forum.example.com/oauth/callback/";
    let created: serde_json::Value = http()
        .post(s.url("/includes/api.php"))
        .form(&[
            ("action", "CreateOAuthCredential"),
            ("username", cred["credential"]["identifier"].as_str().unwrap()),
            ("password", cred["secret"].as_str().unwrap()),
            ("responsetype", "json"),
            ("granttype", "authorization_code"),
            ("scope", "openid profile email"),
            ("name", "IPB SSO"),
            ("redirectUri", forum_cb),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(created["result"], "success", "{created}");
    let (client_id, secret) =
        (created["clientIdentifier"].as_str().unwrap(), created["clientSecret"].as_str().unwrap());
    assert!(client_id.starts_with("ACME-HOSTING."), "{client_id}");

    // 4. The forum signs its member in.
    let mut start = url::Url::parse(&s.url("/oauth/authorize.php")).unwrap();
    start.query_pairs_mut().extend_pairs([
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", forum_cb),
        ("state", "xyz"),
        ("scope", "openid profile email"),
    ]);
    let back = drive_login(&browser(), &s.base, start.as_str(), "member@example.com", "forum member pass", true);
    let code = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let tokens: serde_json::Value = http()
        .post(s.url("/oauth/token.php"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", forum_cb)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(tokens["access_token"].is_string() && tokens["id_token"].is_string(), "{tokens}");
}

/// `docker compose up` without containers: two replicas reading the
/// shipped `docker/gatehouse.toml` (the production plugins from a plugins
/// directory), one PostgreSQL, one master key. A token issued by one
/// replica is live at the other; both serve the WHMCS API.
#[test]
fn the_compose_layout_runs_as_two_replicas_on_one_postgresql() {
    if !backends().contains(&Backend::Postgres) {
        return; // backends() reported the skip
    }
    let plugins = tempfile::tempdir().unwrap();
    for (package, lib) in [
        ("gatehouse-whmcs", "gatehouse_whmcs"),
        ("gatehouse-ipb", "gatehouse_ipb"),
        ("gatehouse-oidc", "gatehouse_oidc"),
    ] {
        let built = build_plugin(package, lib);
        std::fs::copy(&built, plugins.path().join(built.file_name().unwrap())).unwrap();
    }
    let db = TestDb::new(Backend::Postgres);
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/gatehouse.toml");
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [42u8; 32]);
    let ports = [free_port(), free_port()];
    let issuer = format!("http://127.0.0.1:{}", ports[0]);
    let data = tempfile::tempdir().unwrap();
    let replicas: Vec<std::process::Child> = ports
        .iter()
        .map(|port| {
            Command::new(BIN)
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .env("GATEHOUSE_CONFIG", &config)
                .env("GATEHOUSE_DATABASE_URL", &db.url)
                .env("GATEHOUSE_ISSUER", &issuer)
                .env("GATEHOUSE_MASTER_KEY", &master)
                .env("GATEHOUSE_PLUGINS_DIR", plugins.path())
                .env("GATEHOUSE_DATA_DIR", data.path())
                .env("GATEHOUSE_LOG_FORMAT", "json")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    struct KillOnDrop(Vec<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let _replicas = KillOnDrop(replicas);
    let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    for u in &urls {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while http().get(format!("{u}/readyz")).send().map(|r| r.status() != 200).unwrap_or(true) {
            assert!(std::time::Instant::now() < deadline, "{u} never became ready");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let cli = Command::new(BIN)
        .args(["client", "add", "--name", "svc", "--grant", "client_credentials", "--json"])
        .env("GATEHOUSE_CONFIG", &config)
        .env("GATEHOUSE_DATABASE_URL", &db.url)
        .env("GATEHOUSE_MASTER_KEY", &master)
        .env("GATEHOUSE_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let c: serde_json::Value = serde_json::from_slice(&cli.stdout).unwrap();
    let (id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    let t: serde_json::Value = http()
        .post(format!("{}/oauth2/token", urls[0]))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = t["access_token"].as_str().expect("a token");
    let i: serde_json::Value = http()
        .post(format!("{}/oauth2/introspect", urls[1]))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(i["active"], true, "{i}");
    for u in &urls {
        let r: serde_json::Value = http()
            .post(format!("{u}/includes/api.php"))
            .form(&[("action", "ListOAuthCredentials"), ("username", "x"), ("password", "y"), ("responsetype", "json")])
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(r["result"], "error", "the WHMCS API answers in its envelope on {u}: {r}");
    }
}

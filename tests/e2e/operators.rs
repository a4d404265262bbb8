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

fn cli_with_stdin(s: &Server, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("GATEHOUSE_CONFIG", &s.config_path)
        .env("GATEHOUSE_DATABASE_URL", &s.db.url)
        .env("GATEHOUSE_DATA_DIR", s.data_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
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
    let out = cli_with_stdin(
        &s,
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
    let out = cli_with_stdin(&s, &["user", "set-password", "si@example.com", "--password-stdin"], "a-new-password-2\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(b.get(s.url("/account")).send().unwrap().status(), 200, "the old session ended");
    assert!(!login("si@example.com", "from-stdin-pw-1").is_redirection(), "the old password is gone");
    assert!(login("si@example.com", "a-new-password-2").is_redirection());
    // Without a terminal and without --password-stdin: one clear line.
    let out = cli_with_stdin(&s, &["user", "set-password", "si@example.com"], "");
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

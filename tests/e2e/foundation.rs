//! The foundation end to end: the server starts on each backend and answers
//! its health endpoints; the CLI works on the same database; bad input gets
//! one clear line and a non-zero exit.

use crate::common::*;

#[test]
fn health_endpoints_answer_on_every_backend() {
    for backend in backends() {
        let server = Server::start(backend);
        let c = http();
        let r = c.get(server.url("/healthz")).send().unwrap();
        assert_eq!(r.status(), 200, "{backend:?}");
        let rid = r.headers().get("x-request-id").expect("X-Request-Id").to_str().unwrap().to_string();
        assert!(!rid.is_empty());
        let r = c.get(server.url("/readyz")).send().unwrap();
        assert_eq!(r.status(), 200, "{backend:?}");
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["database"], "ok");
        // A caller's own request id is echoed back and appears in the log.
        let r = c.get(server.url("/healthz")).header("X-Request-Id", "trace-me-123").send().unwrap();
        assert_eq!(r.headers()["x-request-id"], "trace-me-123");
        assert!(server.logs_within("trace-me-123"), "request id in log:\n{}", server.log());
        // A log file gets plain text: no terminal colour codes.
        assert!(!server.log().contains('\u{1b}'), "no ANSI escapes in a log file:\n{}", server.log());
    }
}

#[test]
fn cli_user_round_trip_on_every_backend() {
    for backend in backends() {
        let server = Server::start(backend);
        let added = server.cli_json(&[
            "user",
            "add",
            "--email",
            "Ada@Example.com",
            "--password",
            "s3cret!",
            "--name",
            "Ada Lovelace",
        ]);
        assert_eq!(added["email"], "ada@example.com");
        assert_eq!(added["given_name"], "Ada");
        assert_eq!(added["family_name"], "Lovelace");
        assert_eq!(added["status"], "Active");
        assert!(added.get("password_hash").is_none());
        let id = added["id"].as_i64().unwrap().to_string();

        let shown = server.cli_json(&["user", "show", "ada@example.com"]);
        assert_eq!(shown, added, "{backend:?}");
        let by_id = server.cli_json(&["user", "show", &id]);
        assert_eq!(by_id["email"], "ada@example.com");

        let closed = server.cli_json(&["user", "set-status", &id, "Closed"]);
        assert_eq!(closed["status"], "Closed");
        let off = server.cli_json(&["user", "set-sso", "ada@example.com", "off"]);
        assert_eq!(off["allow_sso"], false);
        let list = server.cli_json(&["user", "list"]);
        assert_eq!(list.as_array().unwrap().len(), 1);

        // Bad input: one line on stderr, non-zero exit, nothing changed.
        for (args, expect) in [
            (vec!["user", "add", "--email", "ada@example.com", "--name", "Dup"], "already exists"),
            (vec!["user", "add", "--email", "not-an-email", "--name", "X"], "not a valid e-mail"),
            (vec!["user", "show", "nobody@example.com"], "not found"),
            (vec!["user", "set-status", &id, "Banned"], "unknown user status"),
            (vec!["user", "set-sso", &id, "maybe"], "expected on or off"),
            (vec!["client", "add", "--name", "X", "--redirect-uri", "not a uri"], "not an absolute URI"),
            (vec!["client", "add", "--name", "X", "--redirect-uri", "https://a.example/cb#frag"], "fragment"),
            (
                vec!["client", "add", "--name", "X", "--redirect-uri", "https://a.example/cb", "--grant", "password"],
                "unknown grant type",
            ),
            (vec!["api-credential", "add", "--allow-ip", "300.1.1.1", "--role", "authentication"], "not an IP address"),
        ] {
            let out = server.cli(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} should fail");
            assert!(err.contains(expect), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line, got {err}");
        }
        assert_eq!(server.cli_json(&["user", "list"]).as_array().unwrap().len(), 1);
    }
}

#[test]
fn cli_clients_and_api_credentials_show_secrets_once() {
    for backend in backends() {
        let server = Server::start(backend);
        let c = server.cli_json(&[
            "client",
            "add",
            "--name",
            "Forum",
            "--redirect-uri",
            "https://forum.example.com/oauth/callback/",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid profile email",
        ]);
        let secret = c["client_secret"].as_str().unwrap();
        assert!(secret.len() >= 43, "256-bit secret");
        let cid = c["client_id"].as_str().unwrap();
        assert!(!cid.contains(':'));
        let shown = server.cli_json(&["client", "show", cid]);
        assert!(shown.get("client_secret").is_none());
        assert_eq!(shown["redirect_uris"][0], "https://forum.example.com/oauth/callback/");
        assert_eq!(server.cli_json(&["client", "list"]).as_array().unwrap().len(), 1);

        let a = server.cli_json(&["api-credential", "add", "--role", "authentication", "--allow-ip", "127.0.0.1"]);
        assert!(a["secret"].as_str().unwrap().len() >= 43);
        let listed = server.cli_json(&["api-credential", "list"]);
        assert!(listed[0].get("secret").is_none());
        assert_eq!(listed[0]["allowed_ips"][0], "127.0.0.1");
        let id = a["id"].as_i64().unwrap().to_string();
        server.cli_json(&["api-credential", "remove", &id]);
        assert_eq!(server.cli_json(&["api-credential", "list"]).as_array().unwrap().len(), 0);

        let removed = server.cli_json(&["client", "remove", cid]);
        assert_eq!(removed["client_id"], cid);
        assert_eq!(server.cli_json(&["client", "list"]).as_array().unwrap().len(), 0);
    }
}

#[test]
fn bad_database_urls_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("none.toml");
    std::fs::write(&cfg, "").unwrap();
    for (url, expect) in [
        ("postgress://postgres:hunter2@127.0.0.1/db", "unsupported scheme \"postgress:\""),
        ("postgres://postgres:hunter2@127.0.0.1:1/db", "cannot open database postgres://postgres:***@127.0.0.1:1/db"),
        ("mysql://root@127.0.0.1/db", "unsupported scheme"),
    ] {
        let out = cli_on(url, dir.path(), &cfg, &["migrate"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}");
        assert!(err.contains(expect), "{url}: {err}");
        assert!(!err.contains("hunter2"), "password leaked: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        // serve fails the same way, before listening.
        let out = std::process::Command::new(BIN)
            .args(["serve", "--bind", &format!("127.0.0.1:{}", free_port())])
            .env("GATEHOUSE_CONFIG", &cfg)
            .env("GATEHOUSE_DATABASE_URL", url)
            .env("GATEHOUSE_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(expect));
    }
    // No SQLite file was created as a fall-back.
    assert!(!dir.path().join("gatehouse.db").exists());
}

#[test]
fn serve_with_no_configuration_creates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_DATA_DIR")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let c = http();
    let mut ok = false;
    for _ in 0..200 {
        if let Ok(r) = c.get(format!("http://127.0.0.1:{port}/readyz")).send() {
            ok = r.status() == 200;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "readyz");
    assert!(dir.path().join("data/gatehouse.db").exists());
}

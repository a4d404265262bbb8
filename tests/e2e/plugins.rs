//! The plugin system end to end: fixture plugins built by cargo, loaded by
//! the started server. Well-behaved plugins serve routes and use the host
//! services; broken ones stop start-up with one line (or are skipped with
//! `--skip-broken-plugins`); a panicking plugin fails only its request.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::*;

struct Fixtures {
    example: PathBuf,
    good: PathBuf,
    panicky: PathBuf,
    wrong_abi: PathBuf,
    missing_symbol: PathBuf,
    not_a_plugin: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| Fixtures {
        example: build_plugin("gatehouse-plugin-example", "gatehouse_plugin_example"),
        good: build_plugin("gatehouse-fixture-good", "gatehouse_fixture_good"),
        panicky: build_plugin("gatehouse-fixture-panicky", "gatehouse_fixture_panicky"),
        wrong_abi: build_plugin("gatehouse-fixture-wrong-abi", "gatehouse_fixture_wrong_abi"),
        missing_symbol: build_plugin("gatehouse-fixture-missing-symbol", "gatehouse_fixture_missing_symbol"),
        not_a_plugin: build_plugin("gatehouse-fixture-not-a-plugin", "gatehouse_fixture_not_a_plugin"),
    })
}

/// `[[plugins]]` entries: (file, extra lines for its `[plugins.config]`).
fn plugins_toml(entries: &[(&Path, &str)]) -> String {
    let mut s = String::new();
    for (path, config) in entries {
        s.push_str(&format!("[[plugins]]\npath = {:?}\n[plugins.config]\n{config}\n", path.display().to_string()));
    }
    s
}

fn start(backend: Backend, entries: &[(&Path, &str)]) -> Server {
    Server::start_with(backend, ServerOptions { config: plugins_toml(entries), ..Default::default() })
}

/// Runs `gatehouse serve` expecting it to stop at start-up; its stderr.
fn serve_must_fail(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gatehouse.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{}", free_port())])
        .env("GATEHOUSE_CONFIG", &cfg)
        .env("GATEHOUSE_DATABASE_URL", format!("sqlite://{}", dir.path().join("g.db").display()))
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(!status.success(), "serve should have failed");
            return String::from_utf8_lossy(&out.stderr).into_owned();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gatehouse serve kept running with a broken plugin:\n{config}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last stderr line: the one-line reason.
fn reason(stderr: &str) -> String {
    stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_string()
}

#[test]
fn example_plugin_serves_routes_and_uses_its_kv_store_on_every_backend() {
    let f = fixtures();
    for backend in backends() {
        let server = start(backend, &[(&f.example, "greeting = \"Bonjour\"")]);
        let c = http();
        let r = c.get(server.url("/example/hello?name=Ada")).send().unwrap();
        assert_eq!(r.status(), 200, "{backend:?}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(r.headers().contains_key("x-request-id"));
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["message"], "Bonjour, Ada!");

        let kib = "x".repeat(1024);
        let r =
            c.post(server.url("/example/echo")).header("Content-Type", "text/plain").body(kib.clone()).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().unwrap(), kib);

        for n in 1..=3 {
            let v: serde_json::Value = c.get(server.url("/example/visits")).send().unwrap().json().unwrap();
            assert_eq!(v["visits"], n, "{backend:?}");
        }
        // Undeclared methods and paths are not the plugin's.
        assert_eq!(c.post(server.url("/example/hello")).send().unwrap().status(), 405);
        assert_eq!(c.get(server.url("/example/nothing")).send().unwrap().status(), 404);

        let list = server.cli_json(&["plugin", "list"]);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["name"], "example");
        assert_eq!(list[0]["version"], "0.1.0");
        assert_eq!(list[0]["abi_version"], 1);
        assert_eq!(list[0]["capabilities"], serde_json::json!(["routes"]));
        assert_eq!(list[0]["routes"][0]["path"], "/example/hello");
    }
}

#[test]
fn well_behaved_plugin_gets_the_request_and_host_services() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.good, "")]);
    let c = http();

    // What the plugin sees of a request.
    let r = c
        .post(server.url("/good/echo?a=1&b=two"))
        .header("X-Test", "yes")
        .header("X-Request-Id", "echo-rid-1")
        .body(vec![0xffu8, 0x00, 0x01])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let e: serde_json::Value = r.json().unwrap();
    assert_eq!(e["method"], "POST");
    assert_eq!(e["path"], "/good/echo");
    assert_eq!(e["query"], "a=1&b=two");
    assert_eq!(e["x_test"], "yes");
    assert_eq!(e["body"], "/wAB", "binary bodies cross as base64");
    assert_eq!(e["body_base64"], true);
    assert_eq!(e["peer_addr"], "127.0.0.1");
    assert_eq!(e["request_id"], "echo-rid-1");

    // Prefix routes take every method under the prefix.
    let r: serde_json::Value = c.delete(server.url("/good/any/deep/path")).send().unwrap().json().unwrap();
    assert_eq!(r["path"], "/good/any/deep/path");
    assert_eq!(r["method"], "DELETE");

    // Users and clients through the host; the secret is shown once.
    let u: serde_json::Value = c
        .post(server.url("/good/users"))
        .form(&[("email", "Grace@Example.com"), ("name", "Grace Hopper")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(u["email"], "grace@example.com");
    assert_eq!(u["given_name"], "Grace");
    assert!(u.get("password_hash").is_none());
    let r = c
        .post(server.url("/good/clients"))
        .form(&[("name", "Forum"), ("redirect_uri", "https://forum.example/oauth/callback/")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().unwrap();
    assert!(created["secret"].as_str().unwrap().len() >= 40);
    assert_eq!(created["client"]["connector"], "good");
    let listed: serde_json::Value = c.get(server.url("/good/clients")).send().unwrap().json().unwrap();
    assert_eq!(listed[0]["client_id"], created["client"]["client_id"]);
    assert!(!listed.to_string().contains(created["secret"].as_str().unwrap()), "secret listed");
    let bad: serde_json::Value = c
        .post(server.url("/good/clients"))
        .form(&[("name", "Bad"), ("redirect_uri", "https://x.example/cb#frag")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(bad["error"].as_str().unwrap().contains("fragment"), "{bad}");

    // The kv store is the plugin's own.
    let v: serde_json::Value = c.get(server.url("/good/kv?key=k1&value=v1")).send().unwrap().json().unwrap();
    assert_eq!(v["value"], "v1");
    let v: serde_json::Value = c.get(server.url("/good/kv?key=k2")).send().unwrap().json().unwrap();
    assert!(v["value"].is_null());

    // Audit lines go to the table and the log.
    let r = c.post(server.url("/good/audit")).form(&[("message", "fixture audit line 42")]).send().unwrap();
    assert_eq!(r.status(), 204);

    // A route answer may sign the browser in: the host sets the cookie.
    let r = c.post(server.url("/good/login")).form(&[("email", "grace@example.com")]).send().unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"));

    // Redirects: relative, the issuer, a registered redirect URI pass.
    for ok in
        ["/account", "clientarea.php?x=1", &server.url("/somewhere"), "https://forum.example/oauth/callback/?code=1"]
    {
        let r = c.get(server.url("/good/redirect")).query(&[("to", ok)]).send().unwrap();
        assert_eq!(r.status(), 302, "{ok}");
        assert_eq!(r.headers()["location"], ok);
    }
    // Anything else fails the request (and so do malformed answers).
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "javascript:alert(1)",
        "https://forum.example/oauth/callback/../x",
    ] {
        let r = c.get(server.url("/good/redirect")).query(&[("to", bad)]).send().unwrap();
        assert_eq!(r.status(), 500, "{bad}");
        assert!(r.headers().get("location").is_none());
    }
    for path in ["/good/bad-header", "/good/bad-status"] {
        let r = c.get(server.url(path)).send().unwrap();
        assert_eq!(r.status(), 500, "{path}");
        let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["error"], "server_error");
        assert_eq!(body["request_id"], rid);
    }
    // A route may declare its protocol's own error format.
    let r = c.get(server.url("/good/error")).send().unwrap();
    assert_eq!(r.status(), 500);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["result"], "error");
    assert_eq!(body["message"], "plugin failure");
    assert_eq!(body["request_id"], rid);

    // Dialect aliases are mounted with their methods.
    let r = c.get(server.url("/good/oauth/token.php")).send().unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"], "invalid_request");
    let r = c.post(server.url("/good/oauth/token.php")).form(&[("grant_type", "nope")]).send().unwrap();
    assert_ne!(r.status(), 404);
    assert_ne!(r.status(), 405);

    std::thread::sleep(Duration::from_millis(100));
    let log = server.log();
    assert!(log.contains("fixture audit line 42"), "audit line in log");
    assert!(log.contains("returned an invalid response"), "invalid answers are logged");
}

#[test]
fn panicking_plugin_fails_only_its_request() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.panicky, ""), (&f.example, "")]);
    let c = http();
    for _ in 0..3 {
        let r = c.get(server.url("/panicky/boom")).send().unwrap();
        assert_eq!(r.status(), 500);
        let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["error"], "server_error");
        assert_eq!(body["request_id"], rid);
        assert!(!body.to_string().contains("boom"), "panic text leaked to the client");
    }
    let r = c.get(server.url("/panicky/error")).send().unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(c.get(server.url("/panicky/ok")).send().unwrap().text().unwrap(), "ok");
    assert_eq!(c.get(server.url("/example/hello")).send().unwrap().status(), 200);
    assert_eq!(c.get(server.url("/healthz")).send().unwrap().status(), 200);
    std::thread::sleep(Duration::from_millis(100));
    let log = server.log();
    assert!(log.contains("the plugin panicked: boom requested"), "{log}");
    assert!(log.contains("deliberate failure"));
}

#[test]
fn concurrent_requests_succeed_while_the_plugin_panics() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.panicky, "")]);
    let ok_url = server.url("/panicky/ok");
    let boom_url = server.url("/panicky/boom");
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let url = ok_url.clone();
            std::thread::spawn(move || {
                let c = http();
                let mut codes = Vec::new();
                for _ in 0..40 {
                    let r = c.get(&url).send().unwrap();
                    codes.push((r.status().as_u16(), r.text().unwrap()));
                }
                codes
            })
        })
        .collect();
    let panicker = std::thread::spawn(move || {
        let c = http();
        (0..20).map(|_| c.get(&boom_url).send().unwrap().status().as_u16()).collect::<Vec<_>>()
    });
    for w in workers {
        for (status, body) in w.join().unwrap() {
            assert_eq!((status, body.as_str()), (200, "ok"));
        }
    }
    assert!(panicker.join().unwrap().iter().all(|s| *s == 500));
    assert_eq!(http().get(server.url("/panicky/ok")).send().unwrap().status(), 200);
}

#[test]
fn broken_plugins_stop_start_up_with_one_line() {
    let f = fixtures();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            plugins_toml(&[(&f.wrong_abi, "")]),
            vec!["libgatehouse_fixture_wrong_abi.so", "ABI version 2", "ABI version 1"],
        ),
        (
            plugins_toml(&[(&f.missing_symbol, "")]),
            vec!["libgatehouse_fixture_missing_symbol.so", "lacks the `call` function"],
        ),
        (
            plugins_toml(&[(&f.not_a_plugin, "")]),
            vec!["libgatehouse_fixture_not_a_plugin.so", "not a Gatehouse plugin", "GATEHOUSE_PLUGIN_DECLARATION"],
        ),
        (plugins_toml(&[(Path::new("/nonexistent/plugin.so"), "")]), vec!["/nonexistent/plugin.so", "no such file"]),
        (
            plugins_toml(&[(&f.panicky, "panic_in = \"init\"")]),
            vec!["panicky failed to initialise", "panicking in init"],
        ),
        (plugins_toml(&[(&f.good, "fail_init = true")]), vec!["good failed to initialise", "fail_init is set"]),
        (plugins_toml(&[(&f.good, "unknown_key = 1")]), vec!["good failed to initialise", "unknown field"]),
        (plugins_toml(&[(&f.good, "extra_route = \"/healthz\"")]), vec!["claims /healthz", "the core"]),
        (
            plugins_toml(&[(&f.example, ""), (&f.good, "extra_route = \"/example/hello\"")]),
            vec!["plugin good", "claims /example/hello", "plugin example"],
        ),
    ];
    for (config, expect) in cases {
        let stderr = serve_must_fail(&config);
        let line = reason(&stderr);
        assert!(line.starts_with("error: "), "{line}");
        for e in expect {
            assert!(line.contains(e), "{e:?} not in {line:?}");
        }
    }
}

#[test]
fn skip_broken_plugins_serves_without_them() {
    let f = fixtures();
    let config = plugins_toml(&[
        (&f.wrong_abi, ""),
        (&f.not_a_plugin, ""),
        (&f.panicky, "panic_in = \"init\""),
        (&f.example, ""),
    ]);
    let server = Server::start_with(
        Backend::Sqlite,
        ServerOptions { config, args: vec!["--skip-broken-plugins".into()], ..Default::default() },
    );
    assert_eq!(http().get(server.url("/example/hello")).send().unwrap().status(), 200);
    assert_eq!(http().get(server.url("/panicky/ok")).send().unwrap().status(), 404);
    let log = server.log();
    assert!(log.contains("ABI version 2 does not match"), "{log}");
    assert!(log.contains("not a Gatehouse plugin"));
    assert!(log.contains("serving without it"));
}

#[test]
fn plugin_check_explains_every_broken_fixture_in_one_line() {
    let f = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.so");
    std::fs::write(&text_file, "not ELF").unwrap();
    let check = |p: &Path| Command::new(BIN).args(["plugin", "check"]).arg(p).output().unwrap();
    for (path, expect) in [
        (&f.wrong_abi, "plugin ABI version 2 does not match this host's ABI version 1"),
        (&f.missing_symbol, "lacks the `call` function"),
        (&f.not_a_plugin, "not a Gatehouse plugin"),
        (&text_file, "cannot load it as a shared library"),
    ] {
        let out = check(path);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with(&format!("error: {}", path.display())), "{stderr}");
        assert!(stderr.contains(expect), "{expect:?} not in {stderr}");
    }
    for (path, name) in [(&f.example, "example"), (&f.good, "good"), (&f.panicky, "panicky")] {
        let out = Command::new(BIN).args(["plugin", "check", "--json"]).arg(path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(m["name"], name);
        assert_eq!(m["abi_version"], 1);
    }
    let out = check(&f.good);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("capabilities: routes, dialect, identity_provider, client_connector"), "{text}");
    assert!(text.contains("alias:        POST /good/oauth/token.php -> token"), "{text}");
}

#[test]
fn identity_provider_plugin_signs_users_in() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.good, "")]);
    let b = browser();
    let r = b.get(server.url("/federation/good/start")).send().unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("https://idp.example/authorize?redirect_uri="), "{loc}");
    assert!(loc.ends_with("/federation/good/callback"), "{loc}");
    let r = b.get(server.url("/federation/good/callback?code=sub-123")).send().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/account");
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("gatehouse_session=") && c.contains("HttpOnly")), "{cookies:?}");
    let user = server.cli_json(&["user", "show", "upstream@example.com"]);
    assert_eq!(user["email_verified"], true);
    // A callback without the state the start set is refused.
    let r = http().get(server.url("/federation/good/callback?code=sub-123")).send().unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn a_plugin_path_without_a_slash_is_the_file_not_a_library_search() {
    // dlopen would search LD_LIBRARY_PATH for a bare name; the host must not.
    let good = &fixtures().good;
    let out = std::process::Command::new(BIN)
        .args(["plugin", "check", good.file_name().unwrap().to_str().unwrap()])
        .current_dir(good.parent().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("name:         good"));
}

#[test]
fn linked_sign_ins_are_listed_and_can_be_unlinked_on_the_account_page() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.good, "")]);
    let b = browser();
    b.get(server.url("/federation/good/start")).send().unwrap();
    let r = b.get(server.url("/federation/good/callback?code=sub-123")).send().unwrap();
    assert_eq!(r.status(), 302);
    let page = b.get(server.url("/account")).send().unwrap().text().unwrap();
    assert!(page.contains("Linked sign-ins") && page.contains("upstream@example.com"), "{page}");
    let form = parse_forms(&page).into_iter().find(|f| f.action == "/account/links/unlink").expect("unlink form");
    let fields: Vec<(String, String)> = form.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("plugin"), "good");
    // Without the CSRF token: refused, nothing removed.
    let r = b
        .post(server.url("/account/links/unlink"))
        .form(&[("plugin", "good"), ("subject", get("subject").as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // Someone else's (or no) link: 404, nothing removed.
    let r = b
        .post(server.url("/account/links/unlink"))
        .form(&[("plugin", "good"), ("subject", "not-mine"), ("csrf_token", get("csrf_token").as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    // The only way in of a member without a password stays.
    let r = b.post(server.url("/account/links/unlink")).form(&fields).send().unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().unwrap().contains("only way to sign in"));
    // With a password (which signs every browser out), it can go.
    use crate::oauth_support::{login_at, PASSWORD};
    let out = server.cli_with_stdin(&["user", "set-password", "upstream@example.com", "--password-stdin"], PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    login_at(&b, &server, "/login", "upstream@example.com", PASSWORD);
    let page = b.get(server.url("/account")).send().unwrap().text().unwrap();
    let form = parse_forms(&page).into_iter().find(|f| f.action == "/account/links/unlink").expect("unlink form");
    let fields: Vec<(String, String)> = form.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
    let r = b.post(server.url("/account/links/unlink")).form(&fields).send().unwrap();
    assert_eq!(r.status(), 303);
    let page = b.get(server.url("/account")).send().unwrap().text().unwrap();
    assert!(page.contains("No sign-in through another provider is linked."), "{page}");
    let audit = server.cli_json(&["audit", "list", "--kind", "federation.unlinked"]);
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}

/// Plugin authors issue: `plugin list` only describes; it never runs a
/// plugin's `init` (here an init that would fail on its configuration).
#[test]
fn plugin_list_describes_without_initialising() {
    let lib = build_plugin("gatehouse-whmcs", "gatehouse_whmcs");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    // An access key this short makes the whmcs plugin's init refuse.
    std::fs::write(
        &config,
        format!("[[plugins]]\npath = \"{}\"\n[plugins.config]\naccess_key = \"short\"\n", lib.display()),
    )
    .unwrap();
    let db = TestDb::new(Backend::Sqlite);
    let out = cli_on(&db.url, dir.path(), &config, &["--json", "plugin", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "whmcs");
    // serve, which does initialise, refuses the same configuration.
    let serve = std::process::Command::new(BIN)
        .args(["serve", "--bind", &format!("127.0.0.1:{}", free_port())])
        .env("GATEHOUSE_CONFIG", &config)
        .env("GATEHOUSE_DATABASE_URL", &db.url)
        .env("GATEHOUSE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!serve.status.success());
    assert!(
        String::from_utf8_lossy(&serve.stderr).contains("access_key"),
        "{}",
        String::from_utf8_lossy(&serve.stderr)
    );
}

/// Plugin authors issue: a route learns who is signed in from the request
/// (never from the host's cookies), and a route that requires sign-in sends
/// a signed-out browser to sign in and back to the same URL.
#[test]
fn routes_see_the_signed_in_member_and_can_require_sign_in() {
    let f = fixtures();
    for backend in backends() {
        let server = start(backend, &[(&f.good, "")]);
        let out = server.cli(&[
            "user",
            "add",
            "--email",
            "pat@example.com",
            "--name",
            "Pat Doe",
            "--password",
            "pat password 1",
        ]);
        assert!(out.status.success());
        let b = browser();
        // Signed out: an open route sees nobody; a members' route redirects.
        let v: serde_json::Value = b.get(server.url("/good/maybe")).send().unwrap().json().unwrap();
        assert_eq!(v["user"], serde_json::Value::Null);
        let r = b.get(server.url("/good/whoami?x=1")).send().unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login?return_to=%2Fgood%2Fwhoami%3Fx%3D1");
        // Sign in through the form that redirect leads to; it comes back.
        let page = b.get(server.url("/login?return_to=%2Fgood%2Fwhoami%3Fx%3D1")).send().unwrap().text().unwrap();
        let form = parse_forms(&page).remove(0);
        let mut values: Vec<(String, String)> = form.inputs.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
        values.retain(|(n, _)| n != "email" && n != "password");
        values.push(("email".into(), "pat@example.com".into()));
        values.push(("password".into(), "pat password 1".into()));
        let r = b.post(server.url("/login")).form(&values).send().unwrap();
        assert_eq!(r.headers()["location"], "/good/whoami?x=1");
        let session = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("gatehouse_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string();
        // The app's own cookies reach the plugin; the host's do not.
        let r = http()
            .get(server.url("/good/whoami?x=1"))
            .header("Cookie", format!("theme=dark; {session}; gatehouse_csrf=abc; lang=de"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().unwrap();
        let u = &v["user"];
        assert_eq!(
            (u["email"].as_str(), u["name"].as_str(), u["status"].as_str()),
            (Some("pat@example.com"), Some("Pat Doe"), Some("Active"))
        );
        assert_eq!(u["allow_sso"], true);
        assert_eq!(u["signed_in_via"], "password");
        assert!(u["session_age"].as_i64().unwrap() >= 0 && u["session_id"].as_i64().unwrap() > 0);
        let cookie = v["cookie"].as_str().unwrap_or("");
        assert_eq!(cookie, "theme=dark; lang=de", "host cookies stay with the host");
        let maybe: serde_json::Value = b.get(server.url("/good/maybe")).send().unwrap().json().unwrap();
        assert_eq!(maybe["user"]["email"], "pat@example.com");
        // A fresh-enough sign-in passes max_age.
        assert_eq!(b.get(server.url("/good/recent")).send().unwrap().status(), 200);
    }
}

/// Plugin authors issue: the operator lets a plugin's routes redirect to
/// places written in its own configuration, without registering them on
/// any client; anything else is still refused.
#[test]
fn a_plugin_redirects_to_the_targets_its_configuration_allows() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.good, "redirect_targets = [\"https://forum.example.com/return/*\"]")]);
    let go = |to: &str| {
        http()
            .get(server.url(&format!(
                "/good/redirect?to={}",
                url::form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
            )))
            .send()
            .unwrap()
    };
    let r = go("https://forum.example.com/return/t/42?x=1");
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://forum.example.com/return/t/42?x=1");
    assert_eq!(go("https://forum.example.com/other").status(), 500);
    assert_eq!(go("https://forum.example.com/return/../admin").status(), 500);
    // No client was touched to allow it.
    assert_eq!(server.cli_json(&["client", "list"]).as_array().unwrap().len(), 0);
}

/// Plugin authors issue: a failing route answers in the content type it
/// declared (here HTML), with the request id, not only in JSON.
#[test]
fn a_route_fails_in_the_content_type_it_declares() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.good, "")]);
    let r = http().get(server.url("/good/error-html")).send().unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = r.text().unwrap();
    assert_eq!(body, format!("<p>The forum bridge failed. Quote {rid}.</p>"));
}

#[test]
fn a_connector_translates_its_apps_scope_names_and_sees_groups() {
    let f = fixtures();
    let server = start(Backend::Sqlite, &[(&f.good, "")]);
    crate::oauth_support::add_user(&server, "scopes@example.com");
    server.cli_json(&["user", "groups", "scopes@example.com", "--set", "staff,readers"]);
    let client = crate::oauth_support::add_client(
        &server,
        "https://app.example/cb",
        &["--scope", "openid profile email groups", "--first-party", "--connector", "good"],
    );
    // The app asks in its own words; the connector maps them to the hub's.
    let (_, code) =
        crate::oauth_support::code_for(&server, &client, "scopes@example.com", &[("scope", "good:everything groups")]);
    let (status, t) = crate::oauth_support::token(
        &server,
        &client,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "https://app.example/cb")],
    );
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "openid profile email groups");
    let (_, claims) = crate::oauth_support::jwt_claims(t["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "scopes@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["readers", "staff"]), "the groups scope releases the groups claim");
    assert_eq!(claims["good_connector"], true);
    // A name the connector does not translate and nobody defined is ignored,
    // as OpenID Connect asks; nothing left → invalid_scope.
    let b = browser();
    crate::oauth_support::login(&b, &server, "scopes@example.com", crate::oauth_support::PASSWORD);
    let r = b
        .get(crate::oauth_support::authorize_url(
            &server,
            &[
                ("client_id", &client.id),
                ("response_type", "code"),
                ("redirect_uri", &client.redirect),
                ("scope", "good:nothing"),
            ],
        ))
        .send()
        .unwrap();
    let loc = crate::oauth_support::location(&r);
    assert_eq!(crate::oauth_support::query_param(&loc, "error").as_deref(), Some("invalid_scope"), "{loc}");
}

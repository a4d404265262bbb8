//! The `ipb` connector end to end: a forum client attached to it gets
//! userinfo in the shape an Invision Community forum reads, and new users
//! are provisioned as forum members through a local stand-in for the
//! forum's REST API — which is never retried once it rejects the key.

use base64::Engine as _;
use serde_json::Value;
use sha2::Digest;

use crate::common::*;

/// The forum's `/core/members` API, standing in on 127.0.0.1.
/// `reject_key`: answer 401 INVALID_API_KEY to everything.
fn stand_in_forum(reject_key: bool) -> StandInHttp {
    StandInHttp::start(move |r| {
        if reject_key {
            ("401 Unauthorized", r#"{"errorCode":"INVALID_API_KEY","errorMessage":"INVALID_API_KEY"}"#.to_string())
        } else if r.method == "GET" {
            // The forum matches prefixes: offer a near miss the connector must ignore.
            ("200 OK", r#"{"page":1,"perPage":25,"totalResults":1,"totalPages":1,"results":[{"id":3,"email":"new.member@example.com.au"}]}"#.to_string())
        } else {
            ("201 Created", r#"{"id":42,"name":"x"}"#.to_string())
        }
    })
}

/// The ipb plugin plus the `good` fixture, whose `POST /good/users` creates
/// a user through the host (the event that triggers provisioning). The
/// database plays no part in provisioning, so SQLite suffices here.
fn start(forum: &str) -> Server {
    let ipb = build_plugin("gatehouse-ipb", "gatehouse_ipb");
    let good = build_plugin("gatehouse-fixture-good", "gatehouse_fixture_good");
    let config = format!(
        "[[plugins]]\npath = \"{}\"\n[plugins.config]\nforum_url = \"{forum}\"\napi_key = \"KEY123\"\nprovision = true\nmember_group = 3\nphoto_url_template = \"https://avatars.example.com/{{sub}}.png\"\n\n[[plugins]]\npath = \"{}\"\n",
        ipb.display(),
        good.display()
    );
    Server::start_with(Backend::Sqlite, ServerOptions { config, ..Default::default() })
}

#[test]
fn a_forum_client_gets_forum_shaped_userinfo() {
    for backend in backends() {
        let stand_in = stand_in_forum(false);
        let forum = &stand_in.base;
        let ipb = build_plugin("gatehouse-ipb", "gatehouse_ipb");
        let config = format!("[[plugins]]\npath = \"{}\"\n[plugins.config]\nforum_url = \"{forum}\"\nphoto_url_template = \"https://avatars.example.com/{{sub}}.png\"\n", ipb.display());
        let s = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let cb = format!("{forum}/oauth/callback/");
        let c = s.cli_json(&[
            "client",
            "add",
            "--name",
            "Forum",
            "--redirect-uri",
            &cb,
            "--connector",
            "ipb",
            "--scope",
            "openid profile email",
        ]);
        assert_eq!(c["connector"], "ipb");
        let u = s.cli_json(&[
            "user",
            "add",
            "--email",
            "mia@example.com",
            "--password",
            "pw-forum-1",
            "--name",
            "Mia Member",
        ]);
        let verifier = random_hex(64);
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let mut auth = url::Url::parse(&s.url("/oauth2/authorize")).unwrap();
        auth.query_pairs_mut().extend_pairs([
            ("client_id", c["client_id"].as_str().unwrap()),
            ("response_type", "code"),
            ("redirect_uri", &cb),
            ("state", "1-x+y/z="),
            ("scope", "openid profile email"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let back = drive_login(&browser(), &s.base, auth.as_str(), "mia@example.com", "pw-forum-1", true);
        let code = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        let tok: Value = http()
            .post(s.url("/oauth2/token"))
            .basic_auth(c["client_id"].as_str().unwrap(), c["client_secret"].as_str())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &cb),
                ("code_verifier", &verifier),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        let at = tok["access_token"].as_str().unwrap_or_else(|| panic!("{tok}"));
        let ui: Value = http().get(s.url("/oauth2/userinfo")).bearer_auth(at).send().unwrap().json().unwrap();
        assert_eq!(ui["sub"], u["sub"]);
        assert_eq!(ui["id"], u["sub"], "the user id as a non-empty string");
        assert_eq!(ui["name"], "Mia Member");
        assert_eq!(ui["email"], "mia@example.com");
        // Created by the CLI, the address was never verified: the forum is
        // told so (members issue: email_verified comes from one place).
        assert_eq!(ui["email_verified"], false);
        assert_eq!(ui["picture"], format!("https://avatars.example.com/{}.png", u["sub"].as_str().unwrap()).as_str());
        assert!(ui.as_object().unwrap().values().all(|v| !v.is_object() && !v.is_array()), "flat: {ui}");
    }
}

#[test]
fn new_users_are_provisioned_as_forum_members() {
    let forum = stand_in_forum(false);
    let s = start(&forum.base);
    let r = http()
        .post(s.url("/good/users"))
        .form(&[("email", "new.member@example.com"), ("name", "New Member")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let seen = forum.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let key = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("KEY123:"));
    assert!(seen.iter().all(|r| r.header("authorization") == Some(key.as_str())), "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/api/index.php?/core/members&email=new.member%40example.com");
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].target, "/api/index.php?/core/members");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(seen[1].body.as_bytes()).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("name"), Some("New Member"));
    assert_eq!(get("email"), Some("new.member@example.com"));
    assert_eq!(get("group"), Some("3"));
    assert_eq!(get("validated"), Some("1"));
    assert!(get("password").is_some_and(|p| p.len() >= 20));
}

#[test]
fn a_rejected_api_key_is_never_retried() {
    let forum = stand_in_forum(true);
    let s = start(&forum.base);
    for i in 0..3 {
        let r = http()
            .post(s.url("/good/users"))
            .form(&[("email", format!("m{i}@example.com").as_str()), ("name", "M")])
            .send()
            .unwrap();
        // The user is created in Gatehouse whatever the forum says.
        assert_eq!(r.status(), 201);
    }
    assert_eq!(forum.requests().len(), 1, "one rejected call, then no more");
    assert!(s.logs_within("rejected the API key"), "{}", s.log());
}

/// `client add --connector ipb` prints the forum's settings form with the
/// fresh secret; `client setup` prints it again later — with a secret only
/// when asked to reset it.
#[test]
fn client_setup_fills_the_forums_settings_form() {
    const ISSUER: &str = "https://login.example.com";
    let ipb = build_plugin("gatehouse-ipb", "gatehouse_ipb");
    let config = format!(
        // The CLI knows the issuer from the configuration (not from the
        // server's --bind), so name it.
        "issuer = \"{ISSUER}\"\n[[plugins]]\npath = \"{}\"\n[plugins.config]\nforum_url = \"https://forum.example.com\"\n",
        ipb.display()
    );
    let s = Server::start_with(Backend::Sqlite, ServerOptions { config, ..Default::default() });
    let field = |v: &Value, label: &str| -> String {
        let f = v["fields"].as_array().unwrap().iter().find(|f| f["label"] == label);
        f.unwrap_or_else(|| panic!("no field {label} in {v}"))["value"].as_str().unwrap().to_string()
    };
    let c = s.cli_json(&[
        "client",
        "add",
        "--name",
        "Forum",
        "--redirect-uri",
        "https://forum.example.com/oauth/callback/",
        "--connector",
        "ipb",
    ]);
    let (client_id, secret) = (c["client_id"].as_str().unwrap(), c["client_secret"].as_str().unwrap());
    assert_eq!(field(&c["setup"], "Client Secret"), secret, "client add shows the fresh secret");

    let v = s.cli_json(&["client", "setup", client_id]);
    assert_eq!(field(&v, "Token Endpoint"), format!("{ISSUER}/oauth2/token"));
    assert_eq!(field(&v, "User ID Parameter"), "sub");
    assert_eq!(field(&v, "Client Identifier"), client_id);
    assert!(v.get("client_secret").is_none());
    assert!(!v.to_string().contains(secret), "no secret without --reset-secret: {v}");

    // The human form: `label: value` lines.
    let out = s.cli(&["client", "setup", client_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("Client Identifier: {client_id}\n")), "{text}");
    assert!(text.contains("User ID Parameter: sub\n"), "{text}");
    assert!(!text.contains(secret));

    // --reset-secret: a new secret, shown once, that works; the old one no longer does.
    let v = s.cli_json(&["client", "setup", client_id, "--reset-secret"]);
    let new_secret = v["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(field(&v, "Client Secret"), new_secret);
    let status = |sec: &str| {
        http()
            .post(s.url("/oauth2/token"))
            .basic_auth(client_id, Some(sec))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", "https://forum.example.com/oauth/callback/"),
            ])
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["error"]
            .clone()
    };
    assert_eq!(status(secret), "invalid_client");
    assert_eq!(status(new_secret), "invalid_grant");

    // A client without a connector, and a connector that is not loaded: one clear line.
    let plain = s.cli_json(&["client", "add", "--name", "Plain", "--redirect-uri", "https://app.example/cb"]);
    let out = s.cli(&["client", "setup", plain["client_id"].as_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no connector plugin") && err.lines().count() == 1, "{err}");
    let other = s.cli_json(&[
        "client",
        "add",
        "--name",
        "Other",
        "--redirect-uri",
        "https://app.example/cb",
        "--connector",
        "nosuch",
    ]);
    assert!(other.get("setup").is_none());
    let out = s.cli(&["client", "setup", other["client_id"].as_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("\"nosuch\", which the configuration does not load"), "{err}");
}

/// Group sync: the forum's member 42 starts in group 3 with secondary group
/// 12 (not in the map); Gatehouse groups set through the admin API move it.
fn group_sync_forum(reject_key: bool) -> StandInHttp {
    // The member's groups as the forum keeps them: (primary, secondary).
    let groups = std::sync::Mutex::new((3i64, vec![12i64]));
    StandInHttp::start(move |r| {
        if reject_key {
            return ("401 Unauthorized", r#"{"errorCode":"INVALID_API_KEY","errorMessage":"INVALID_API_KEY"}"#.into());
        }
        let mut g = groups.lock().unwrap();
        match r.method.as_str() {
            "GET" if r.target.contains("email=") => (
                "200 OK",
                r#"{"page":1,"perPage":25,"totalResults":1,"totalPages":1,"results":[{"id":42,"email":"sync@example.com"}]}"#
                    .into(),
            ),
            "GET" => {
                let secondary: Vec<serde_json::Value> =
                    g.1.iter().map(|id| serde_json::json!({ "id": id, "name": "x" })).collect();
                let member = serde_json::json!({
                    "id": 42, "email": "sync@example.com",
                    "primaryGroup": { "id": g.0, "name": "x" }, "secondaryGroups": secondary,
                });
                ("200 OK", member.to_string())
            }
            _ => {
                let form: Vec<(String, String)> = url::form_urlencoded::parse(r.body.as_bytes()).into_owned().collect();
                if let Some((_, p)) = form.iter().find(|(k, _)| k == "group") {
                    g.0 = p.parse().unwrap();
                }
                g.1 = form.iter().filter(|(k, v)| k == "secondaryGroups[]" && !v.is_empty()).map(|(_, v)| v.parse().unwrap()).collect();
                ("200 OK", r#"{"id":42}"#.into())
            }
        }
    })
}

fn start_group_sync(forum: &str) -> Server {
    let ipb = build_plugin("gatehouse-ipb", "gatehouse_ipb");
    let config = format!(
        "[[plugins]]\npath = \"{}\"\n[plugins.config]\nforum_url = \"{forum}\"\napi_key = \"KEY123\"\nmember_group = 3\n\
         primary_group_order = [\"staff\"]\n[plugins.config.group_map]\nstaff = 4\nvip = 7\n",
        ipb.display()
    );
    Server::start_with(Backend::Sqlite, ServerOptions { config, ..Default::default() })
}

fn set_groups(server: &Server, admin: &str, user_id: i64, groups: &[&str]) {
    let r = http()
        .put(server.url(&format!("/admin/api/v1/users/{user_id}/groups")))
        .bearer_auth(admin)
        .json(&serde_json::json!({ "groups": groups }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn gatehouse_groups_move_the_forum_member_between_forum_groups() {
    let forum = group_sync_forum(false);
    let server = start_group_sync(&forum.base);
    let user = server.cli_json(&["user", "add", "--email", "sync@example.com", "--name", "Sync"]);
    let uid = user["id"].as_i64().unwrap();
    let admin = crate::oauth_support::admin_token(&server);

    set_groups(&server, &admin, uid, &["vip", "staff", "readers"]);
    let posts: Vec<SeenRequest> = forum.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].target, "/api/index.php?/core/members/42");
    assert_eq!(posts[0].header("authorization"), Some("Basic S0VZMTIzOg=="));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(posts[0].body.as_bytes()).into_owned().collect();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [("group", "4"), ("secondaryGroups[]", "12"), ("secondaryGroups[]", "7")],
        "staff is primary, the unmapped 12 stays"
    );

    // Out of every mapped group: back to the member group, 12 untouched.
    set_groups(&server, &admin, uid, &[]);
    let posts: Vec<SeenRequest> = forum.requests().into_iter().filter(|r| r.method == "POST").collect();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(posts[1].body.as_bytes()).into_owned().collect();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(pairs, [("group", "3"), ("secondaryGroups[]", "12")]);

    // Setting the same groups again changes nothing, so nothing is sent.
    let before = forum.requests().len();
    set_groups(&server, &admin, uid, &[]);
    assert_eq!(forum.requests().len(), before);
}

#[test]
fn group_sync_never_retries_a_rejected_api_key() {
    let forum = group_sync_forum(true);
    let server = start_group_sync(&forum.base);
    let user = server.cli_json(&["user", "add", "--email", "sync@example.com", "--name", "Sync"]);
    let uid = user["id"].as_i64().unwrap();
    let admin = crate::oauth_support::admin_token(&server);
    set_groups(&server, &admin, uid, &["staff"]);
    set_groups(&server, &admin, uid, &["vip"]);
    assert_eq!(forum.requests().len(), 1, "one rejected request, then no more: {:?}", forum.requests());
    assert!(server.logs_within("rejected the API key"), "{}", server.log());
}

//! What members do for themselves: "forgot password" with a real SMTP
//! server (aiosmtpd) reading the mail back, the reset link, and changing
//! the password on the account page; on both backends.

use crate::common::*;

const OLD: &str = "first password 1";
const NEW: &str = "quiet harbour lantern 42";

/// Signs in through the login form; the HTTP status of the answer.
fn sign_in(b: &reqwest::blocking::Client, s: &Server, email: &str, password: &str) -> u16 {
    let page = b.get(s.url("/login")).send().unwrap().text().unwrap();
    submit_form(b, s, &page, &[("email", email), ("password", password)]).status().as_u16()
}

/// The reset link inside a message.
fn link_in(message: &str) -> String {
    let start = message.find("/password/reset?token=").expect("a reset link");
    let begin = message[..start].rfind("http").unwrap();
    message[begin..].split(|c: char| c.is_whitespace() || c == '"' || c == '<').next().unwrap().to_string()
}

#[test]
fn a_member_who_forgot_their_password_resets_it_by_e_mail() {
    let sink = SmtpSink::start();
    for backend in backends() {
        let s = Server::start_with(backend, ServerOptions { config: sink.config(), ..Default::default() });
        let email = format!("ada-{}@example.com", random_hex(4));
        let out = s.cli(&["user", "add", "--email", &email, "--name", "Ada Lovelace", "--password", OLD]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let elsewhere = browser();
        assert_eq!(sign_in(&elsewhere, &s, &email, OLD), 303);

        // The login page leads to the form; known and unknown addresses get the same answer.
        let b = browser();
        let login = b.get(s.url("/login")).send().unwrap().text().unwrap();
        assert!(login.contains("href=\"/password/forgot\""));
        let form = b.get(s.url("/password/forgot")).send().unwrap().text().unwrap();
        let unknown = submit_form(&b, &s, &form, &[("email", "nobody@example.com")]);
        assert_eq!(unknown.status(), 200);
        let unknown = unknown.text().unwrap();
        let known = submit_form(&b, &s, &form, &[("email", &email)]);
        assert_eq!(known.status(), 200);
        let known = known.text().unwrap();
        let strip = |h: &str| h.split("Request id").next().unwrap_or("").to_string();
        assert_eq!(strip(&unknown), strip(&known), "the answer gives nothing away");

        // The mail: text and HTML, the link, and nothing for the unknown address.
        let message = sink.wait_for(&email, 1);
        assert!(message.contains("Subject: Reset your Gatehouse password"), "{message}");
        assert!(message.contains("text/plain") && message.contains("text/html"));
        assert!(!sink.messages().iter().any(|m| m.contains("nobody@example.com")));
        let link = link_in(&message);
        assert!(link.starts_with(&s.base), "{link}");
        let token = link.split("token=").nth(1).unwrap().to_string();

        // The link's page; a weak password is refused without burning it.
        let page = b.get(&link).send().unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().unwrap();
        let weak = submit_form(&b, &s, &page, &[("password", "password123"), ("password2", "password123")]);
        assert_eq!(weak.status(), 400);
        assert!(weak.text().unwrap().contains("too easy to guess"));
        let done = submit_form(&b, &s, &page, &[("password", NEW), ("password2", NEW)]);
        assert_eq!(done.status(), 200);
        assert!(done.text().unwrap().contains("Your new password is set"));
        let again = b.get(&link).send().unwrap();
        assert_eq!(again.status(), 404, "the link works once");
        assert!(again.text().unwrap().contains("/password/forgot"), "a way back");

        // The new password works, the old one does not, every device was signed out.
        assert_eq!(sign_in(&browser(), &s, &email, NEW), 303);
        assert_eq!(sign_in(&browser(), &s, &email, OLD), 401);
        let r = elsewhere.get(s.url("/account")).send().unwrap();
        assert_eq!(r.status(), 303, "the other browser's session ended");

        // The member is told; the audit records the sends, never the token.
        let changed = sink.wait_for(&email, 2);
        assert!(changed.contains("Subject: Your Gatehouse password was changed"), "{changed}");
        let audit = s.cli(&["audit", "list", "--kind", "mail.", "--json"]);
        let audit = String::from_utf8_lossy(&audit.stdout).to_string();
        assert!(audit.contains("mail.sent") && audit.contains("password_reset"), "{audit}");
        let all = s.cli(&["audit", "list", "--limit", "1000", "--json"]);
        assert!(!String::from_utf8_lossy(&all.stdout).contains(&token), "the token is never audited");
        assert!(!s.log().contains(&token), "the token is never logged");
    }
}

#[test]
fn a_member_changes_their_password_on_the_account_page() {
    for backend in backends() {
        let s = Server::start(backend);
        let out = s.cli(&["user", "add", "--email", "bob@example.com", "--name", "Bob Builder", "--password", OLD]);
        assert!(out.status.success());
        let other = browser();
        assert_eq!(sign_in(&other, &s, "bob@example.com", OLD), 303);
        let b = browser();
        assert_eq!(sign_in(&b, &s, "bob@example.com", OLD), 303);
        let account = b.get(s.url("/account")).send().unwrap().text().unwrap();
        let form_html = account
            .split("<form")
            .find(|f| f.contains("action=\"/account/password\""))
            .map(|f| format!("<form{f}"))
            .expect("a password form");
        let r = submit_form(&b, &s, &form_html, &[("current", "not it"), ("password", NEW), ("password2", NEW)]);
        assert_eq!(r.headers()["location"], "/account?password=wrong#password");
        let r = submit_form(
            &b,
            &s,
            &form_html,
            &[("current", OLD), ("password", "bob@example.com"), ("password2", "bob@example.com")],
        );
        assert_eq!(r.headers()["location"], "/account?password=personal#password");
        let r = submit_form(&b, &s, &form_html, &[("current", OLD), ("password", NEW), ("password2", NEW)]);
        assert_eq!(r.headers()["location"], "/account?password=changed#password");
        let page = b.get(s.url("/account?password=changed")).send().unwrap();
        assert_eq!(page.status(), 200, "this browser stays signed in");
        assert!(page.text().unwrap().contains("Your password was changed"));
        assert_eq!(other.get(s.url("/account")).send().unwrap().status(), 303, "the other browser was signed out");
        // An unknown code shows nothing (no text can be injected through the link).
        let page = b.get(s.url("/account?password=Your%20account%20is%20suspended")).send().unwrap().text().unwrap();
        assert!(!page.contains("suspended"));
        assert_eq!(sign_in(&browser(), &s, "bob@example.com", NEW), 303);
    }
}

#[test]
fn without_smtp_the_forgot_page_says_what_to_do() {
    let s = Server::start(Backend::Sqlite);
    let page = browser().get(s.url("/password/forgot")).send().unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().unwrap();
    assert!(text.contains("cannot send e-mail") && text.contains("href=\"/login\""), "{text}");
}

fn link_with(message: &str, path: &str) -> String {
    let start = message.find(path).unwrap_or_else(|| panic!("no {path} link in {message}"));
    let begin = message[..start].rfind("http").unwrap();
    message[begin..].split(|c: char| c.is_whitespace() || c == '"' || c == '<').next().unwrap().to_string()
}

#[test]
fn a_visitor_signs_up_confirms_their_address_and_signs_in_to_an_app() {
    let sink = SmtpSink::start();
    for backend in backends() {
        let config = format!("registration = \"open\"\n{}", sink.config());
        let s = Server::start_with(backend, ServerOptions { config, ..Default::default() });
        let app = s.cli_json(&[
            "client",
            "add",
            "--name",
            "Forum",
            "--redirect-uri",
            "https://forum.example.com/cb",
            "--first-party",
        ]);
        let email = format!("grace-{}@example.com", random_hex(4));
        let b = browser();
        let login = b.get(s.url("/login")).send().unwrap().text().unwrap();
        assert!(login.contains("href=\"/signup\""), "open registration shows the link");
        let form = b.get(s.url("/signup")).send().unwrap().text().unwrap();
        let long_name = "n".repeat(300);
        let r = submit_form(
            &b,
            &s,
            &form,
            &[("email", &email), ("name", &long_name), ("password", NEW), ("password2", NEW)],
        );
        assert_eq!(r.status(), 400, "a client mistake, not a server error");
        let r = submit_form(
            &b,
            &s,
            &form,
            &[("email", &email), ("name", "Grace Hopper"), ("password", NEW), ("password2", NEW)],
        );
        assert_eq!(r.status(), 200);
        assert!(r.text().unwrap().contains("Check your e-mail"));
        let mail = sink.wait_for(&email, 1);
        assert!(mail.contains("Subject: Confirm your e-mail address"), "{mail}");
        let verify = link_with(&mail, "/verify-email?token=");

        // Before confirming: the app cannot sign them in, and the page says why.
        assert_eq!(sign_in(&b, &s, &email, NEW), 303);
        let authorize = s.url(&format!(
            "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fforum.example.com%2Fcb&state=st&scope=openid",
            app["client_id"].as_str().unwrap()
        ));
        let r = b.get(&authorize).send().unwrap();
        assert_eq!(r.status(), 403);
        let text = r.text().unwrap();
        assert!(text.contains("Confirm your e-mail address first") && text.contains("Forum"), "{text}");

        // Confirm, then the app signs them in.
        let r = b.get(&verify).send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().unwrap().contains("is confirmed"));
        assert_eq!(b.get(&verify).send().unwrap().status(), 404, "the link works once");
        let r = b.get(&authorize).send().unwrap();
        assert_eq!(r.status(), 302);
        assert!(r.headers()["location"].to_str().unwrap().starts_with("https://forum.example.com/cb?code="));
        let u = s.cli_json(&["user", "show", &email]);
        assert_eq!(u["email_verified"], true);

        // The same address again: the same answer, no second account, and its owner is told.
        let b2 = browser();
        let form = b2.get(s.url("/signup")).send().unwrap().text().unwrap();
        let r = submit_form(
            &b2,
            &s,
            &form,
            &[("email", &email), ("name", "Someone"), ("password", NEW), ("password2", NEW)],
        );
        assert!(r.text().unwrap().contains("Check your e-mail"));
        assert!(sink.wait_for(&email, 2).contains("already"), "the owner learns of it");
    }
}

#[test]
fn an_invited_member_signs_up_with_the_link_and_closed_registration_refuses() {
    let sink = SmtpSink::start();
    let config = format!("registration = \"invite\"\n{}", sink.config());
    let s = Server::start_with(Backend::Sqlite, ServerOptions { config, ..Default::default() });
    assert_eq!(browser().get(s.url("/signup")).send().unwrap().status(), 404, "no invitation: closed");
    let out = s.cli(&["user", "invite", "invited@example.com", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let link = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["link"].as_str().unwrap().to_string();
    // The CLI names the configured issuer; this test server listens elsewhere.
    let link = s.url(&link[link.find("/signup").unwrap()..]);
    let b = browser();
    let form = b.get(&link).send().unwrap().text().unwrap();
    assert!(form.contains("You were invited as <strong>invited@example.com</strong>"), "{form}");
    let r = submit_form(&b, &s, &form, &[("name", "In Vited"), ("password", NEW), ("password2", NEW)]);
    assert!(r.text().unwrap().contains("Check your e-mail"));
    assert!(sink.wait_for("invited@example.com", 1).contains("/verify-email?token="));
    let again = browser().get(&link).send().unwrap();
    assert_eq!(again.status(), 404, "an invitation works once");

    let closed = Server::start(Backend::Sqlite);
    let r = browser().get(closed.url("/signup")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("/login"));
    assert!(!browser().get(closed.url("/login")).send().unwrap().text().unwrap().contains("/signup"));
}

/// Every member page in a real headless Chromium: axe-core finds no serious
/// or critical violation, nothing scrolls sideways at 390 px, and
/// screenshots at 1280 and 390 px are saved (`target/test-artifacts/members/`).
#[test]
fn member_pages_are_accessible_and_fit_a_phone() {
    use crate::browser_support::Browser;
    let sink = SmtpSink::start();
    // An upstream sign-in (the `good` fixture) puts its button on the sign-in
    // and account pages.
    let upstream = build_plugin("gatehouse-fixture-good", "gatehouse_fixture_good");
    let config = format!(
        "registration = \"open\"\n{}[branding]\nname = \"Example Hosting\"\naccent_color = \"#0b6e4f\"\n\
         [[plugins]]\npath = \"{}\"\n",
        sink.config(),
        upstream.display()
    );
    let s = Server::start_with(Backend::Sqlite, ServerOptions { config, ..Default::default() });
    let app =
        s.cli_json(&["client", "add", "--name", "Example Forum", "--redirect-uri", "https://forum.example.com/cb"]);
    let b = Browser::start();
    let mut report = Vec::new();
    let mut check = |name: &str| {
        b.resize(1280, 900);
        let serious = b.axe_serious();
        report.push(format!("{name}: {} serious/critical", serious.len()));
        assert!(serious.is_empty(), "{name} ({}): {serious:#?}", b.url());
        b.screenshot("members", &format!("{name}-1280.png"));
        b.resize(390, 844);
        assert_eq!(b.overflow(), 0, "{name} scrolls sideways at 390 px ({})", b.url());
        b.screenshot("members", &format!("{name}-390.png"));
        b.resize(1280, 900);
    };

    // Sign up, confirm, sign in to the app with consent.
    b.goto(&s.url("/signup"));
    check("signup");
    b.fill("input[name=email]", "grace@example.com");
    b.fill("input[name=name]", "Grace Hopper");
    b.fill("input[name=password]", NEW);
    b.fill("input[name=password2]", NEW);
    b.follow("form[action='/signup'] button");
    assert!(b.text().contains("Check your e-mail"));
    check("signup-sent");
    let verify = link_with(&sink.wait_for("grace@example.com", 1), "/verify-email?token=");
    b.goto(&verify);
    assert!(b.text().contains("is confirmed"));
    check("email-confirmed");
    b.goto(&s.url(&format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fforum.example.com%2Fcb&state=st&scope=openid%20profile%20email",
        app["client_id"].as_str().unwrap()
    )));
    assert!(b.text().contains("Sign in to continue to Example Forum"), "{}", b.text());
    check("login");
    b.fill("input[name=email]", "grace@example.com");
    b.fill("input[name=password]", NEW);
    b.follow("form[action='/login'] button");
    let consent = b.text();
    assert!(consent.contains("signed in as grace@example.com") && consent.contains("forum.example.com"), "{consent}");
    assert!(consent.contains("See your e-mail address") && !consent.contains("openid"), "{consent}");
    check("consent");

    // The account page, then a password reset by mail.
    b.goto(&s.url("/account"));
    let account = b.text();
    assert!(account.contains("Example Hosting") && account.contains("Allow Single Sign-On"), "{account}");
    assert!(account.contains("Connect"), "an upstream to connect: {account}");
    check("account");
    b.goto(&s.url("/account#linked"));
    check("account-linked");
    b.goto(&s.url("/logout"));
    check("logout");
    b.follow("form[action='/logout'] button");
    b.goto(&s.url("/password/forgot"));
    check("forgot");
    b.fill("input[name=email]", "grace@example.com");
    b.follow("form[action='/password/forgot'] button");
    check("forgot-sent");
    b.goto(&link_in(&sink.wait_for("grace@example.com", 2)));
    check("reset");
    b.fill("input[name=password]", "brand new lantern 77");
    b.fill("input[name=password2]", "brand new lantern 77");
    b.follow("form[action='/password/reset'] button");
    assert!(b.text().contains("Your new password is set"));
    check("reset-done");
    b.goto(&s.url("/no-such-page-oauth2"));
    b.goto(&s.url("/oauth2/authorize?client_id=nobody"));
    assert!(b.text().contains("Request id"), "error pages show the request id: {}", b.text());
    check("error");
    eprintln!("axe-core: {}", report.join("; "));
}

#[test]
fn member_pages_speak_german_when_asked() {
    let s = Server::start_with(
        Backend::Sqlite,
        ServerOptions { config: "registration = \"open\"\n".into(), ..Default::default() },
    );
    let app = s.cli_json(&["client", "add", "--name", "Forum", "--redirect-uri", "https://forum.example.com/cb"]);
    let de = |path: &str| {
        http().get(s.url(path)).header("Accept-Language", "fr-CH, de;q=0.9, en;q=0.5").send().unwrap().text().unwrap()
    };
    let login = de("/login");
    assert!(login.contains("<html lang=\"de\">") && login.contains("Passwort vergessen?"), "{login}");
    assert!(login.contains("Konto erstellen") && login.contains("Anfragenummer"), "{login}");
    let english = http().get(s.url("/login")).header("Accept-Language", "en-GB").send().unwrap().text().unwrap();
    assert!(english.contains("<html lang=\"en\">") && english.contains("Forgot your password?"));
    assert!(de("/password/forgot").contains("Passwort vergessen?"));
    assert!(de("/signup").contains("Passwort wiederholen"));

    // ui_locales on the authorization request decides over the browser's language,
    // through sign-in and consent.
    let b = browser();
    let out =
        s.cli(&["user", "add", "--email", "hans@example.com", "--name", "Hans", "--password", OLD, "--locale", "de"]);
    assert!(out.status.success());
    let start = s.url(&format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fforum.example.com%2Fcb&state=s&scope=openid%20email&ui_locales=de",
        app["client_id"].as_str().unwrap()
    ));
    let r = b.get(&start).header("Accept-Language", "en").send().unwrap();
    let to_login = absolute(&s.base, r.headers()["location"].to_str().unwrap());
    let page = b.get(&to_login).header("Accept-Language", "en").send().unwrap().text().unwrap();
    assert!(page.contains("Melden Sie sich an, um mit <strong>Forum</strong> fortzufahren."), "{page}");
    let r = submit_form(&b, &s, &page, &[("email", "hans@example.com"), ("password", OLD)]);
    let consent_url = absolute(&s.base, r.headers()["location"].to_str().unwrap());
    let consent = b.get(&consent_url).header("Accept-Language", "en").send().unwrap().text().unwrap();
    assert!(consent.contains("Forum Zugriff erlauben?") && consent.contains("Ihre E-Mail-Adresse sehen"), "{consent}");
    assert!(consent.contains(">Erlauben<") && consent.contains(">Ablehnen<"), "{consent}");
    // The member's own language setting decides the account page.
    let account = b.get(s.url("/account")).header("Accept-Language", "en").send().unwrap().text().unwrap();
    assert!(account.contains("<html lang=\"de\">") && account.contains("Profil speichern"), "{account}");
    assert!(account.contains("Single Sign-On ist <strong id=\"sso-state\">an</strong>."), "{account}");
}

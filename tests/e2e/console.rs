//! The admin console in a real headless Chromium: sign in as an
//! administrator, create a client, rotate its secret, unlock a member,
//! find a failed sign-in in the audit log; no page scrolls sideways on a
//! 390 px phone; screenshots at 1280 and 390 px are saved as artifacts
//! (`target/test-artifacts/console/`); axe-core finds no serious or
//! critical violation on any of them.

use crate::browser_support::Browser;
use crate::common::*;

const ADMIN_PASSWORD: &str = "console admin password";
const MEMBER_PASSWORD: &str = "member password 1";

fn token_status(s: &Server, id: &str, secret: &str) -> u16 {
    http()
        .post(s.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn member_login(s: &Server, password: &str) -> u16 {
    let b = browser();
    let page = b.get(s.url("/login")).send().unwrap().text().unwrap();
    submit_form(&b, s, &page, &[("email", "member@example.com"), ("password", password)]).status().as_u16()
}

/// Checks the page at both widths and saves both screenshots.
fn both_widths(b: &Browser, name: &str) {
    b.resize(1280, 900);
    let serious = b.axe_serious();
    assert!(serious.is_empty(), "axe-core on {name} ({}): {serious:#?}", b.url());
    b.screenshot("console", &format!("{name}-1280.png"));
    b.resize(390, 844);
    assert_eq!(b.overflow(), 0, "{name} scrolls sideways at 390 px ({})", b.url());
    b.screenshot("console", &format!("{name}-390.png"));
    b.resize(1280, 900);
}

#[test]
fn an_administrator_runs_the_hub_from_the_console() {
    let s = Server::start(Backend::Sqlite);
    let out =
        s.cli(&["user", "add", "--email", "admin@example.com", "--name", "Ada Admin", "--password", ADMIN_PASSWORD]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.cli(&["user", "grant-admin", "admin@example.com"]).status.success());
    let out =
        s.cli(&["user", "add", "--email", "member@example.com", "--name", "Mem Ber", "--password", MEMBER_PASSWORD]);
    assert!(out.status.success());
    // The member locks themselves out.
    for _ in 0..5 {
        assert_eq!(member_login(&s, "wrong password"), 401);
    }
    assert_eq!(member_login(&s, MEMBER_PASSWORD), 429);

    let b = Browser::start();
    // Signed out: /admin sends the browser to sign in, then back.
    b.goto(&s.url("/admin"));
    assert!(b.url().contains("/login?return_to=%2Fadmin"), "{}", b.url());
    b.fill("input[name=email]", "admin@example.com");
    b.fill("input[name=password]", ADMIN_PASSWORD);
    b.follow("button[type=submit]");
    assert!(b.url().ends_with("/admin"), "{}", b.url());
    let text = b.text();
    assert!(text.contains("Dashboard") && text.contains("failed sign-ins"), "{text}");
    both_widths(&b, "dashboard");

    // Create a client; its secret is shown once and works.
    b.goto(&s.url("/admin/clients"));
    b.fill("input[name=name]", "Billing portal");
    b.fill("textarea[name=redirect_uris]", "https://billing.example.com/callback");
    b.click("input[name=grant][value=client_credentials]");
    b.follow("form[action='/admin/clients'] button[type=submit]");
    assert!(b.text().contains("shown only this once"), "{}", b.text());
    let client_id = b.text_of("#identifier");
    let first_secret = b.text_of("#secret");
    both_widths(&b, "client-secret");
    assert_eq!(token_status(&s, &client_id, &first_secret), 200);

    // Rotate it: the new secret works, the old one does not.
    b.follow("main a");
    assert!(b.text().contains(&client_id));
    both_widths(&b, "client");
    b.follow("form[action$='/secret'] button");
    let second_secret = b.text_of("#secret");
    assert_ne!(first_secret, second_secret);
    assert_eq!(token_status(&s, &client_id, &second_secret), 200);
    assert_eq!(token_status(&s, &client_id, &first_secret), 401);
    b.goto(&s.url("/admin/clients"));
    both_widths(&b, "clients");

    // Unlock the member.
    b.goto(&s.url("/admin/users"));
    b.fill("input[name=q]", "member");
    b.follow("form[role=search] button");
    both_widths(&b, "users");
    b.follow("table a");
    assert!(b.text().contains("member@example.com"));
    b.follow("form[action$='/unlock'] button");
    assert!(b.text().contains("Unlocked"), "{}", b.text());
    both_widths(&b, "user");
    assert_eq!(member_login(&s, MEMBER_PASSWORD), 303, "the member can sign in again");

    // Find the failed sign-in in the audit log.
    b.goto(&s.url("/admin/audit"));
    b.fill("input[name=kind]", "login.failed");
    b.follow("form.filters button");
    let text = b.text();
    assert!(text.contains("login.failed") && text.contains("Failed sign-in attempt"), "{text}");
    both_widths(&b, "audit");

    for (page, name) in
        [("/admin/api-credentials", "api-credentials"), ("/admin/keys", "keys"), ("/admin/plugins", "plugins")]
    {
        b.goto(&s.url(page));
        assert!(!b.text().contains("That did not work"), "{page}");
        both_widths(&b, name);
    }

    // A member is refused with a page that says why.
    let member = browser();
    let page = member.get(s.url("/login")).send().unwrap().text().unwrap();
    let signed_in = submit_form(&member, &s, &page, &[("email", "member@example.com"), ("password", MEMBER_PASSWORD)]);
    assert_eq!(signed_in.status(), 303);
    let r = member.get(s.url("/admin")).send().unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("not an administrator"));
}

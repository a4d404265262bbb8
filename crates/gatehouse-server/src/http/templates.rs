//! Server-rendered pages: minijinja templates compiled into the binary
//! (`crates/gatehouse-server/templates/`), one look for every page
//! (`base.html`). Templates whose name ends in `.html` escape every value
//! they print; only bodies the server built and escaped itself are passed
//! through `|safe`.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("page.html", include_str!("../../templates/page.html")),
    ("admin/dashboard.html", include_str!("../../templates/admin/dashboard.html")),
    ("admin/events.html", include_str!("../../templates/admin/events.html")),
    ("admin/users.html", include_str!("../../templates/admin/users.html")),
    ("admin/user.html", include_str!("../../templates/admin/user.html")),
    ("admin/clients.html", include_str!("../../templates/admin/clients.html")),
    ("admin/client.html", include_str!("../../templates/admin/client.html")),
    ("admin/secret.html", include_str!("../../templates/admin/secret.html")),
    ("admin/api_credentials.html", include_str!("../../templates/admin/api_credentials.html")),
    ("admin/plugins.html", include_str!("../../templates/admin/plugins.html")),
    ("admin/keys.html", include_str!("../../templates/admin/keys.html")),
    ("admin/audit.html", include_str!("../../templates/admin/audit.html")),
    ("mail/password_reset.txt", include_str!("../../templates/mail/password_reset.txt")),
    ("mail/password_reset.html", include_str!("../../templates/mail/password_reset.html")),
    ("mail/password_changed.txt", include_str!("../../templates/mail/password_changed.txt")),
    ("mail/password_changed.html", include_str!("../../templates/mail/password_changed.html")),
    ("mail/verify_email.txt", include_str!("../../templates/mail/verify_email.txt")),
    ("mail/verify_email.html", include_str!("../../templates/mail/verify_email.html")),
    ("mail/already_registered.txt", include_str!("../../templates/mail/already_registered.txt")),
    ("mail/already_registered.html", include_str!("../../templates/mail/already_registered.html")),
    ("mail/invitation.txt", include_str!("../../templates/mail/invitation.txt")),
    ("mail/invitation.html", include_str!("../../templates/mail/invitation.html")),
];

/// How pages and mail present this hub (`[branding]`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Branding {
    pub name: String,
    /// An https URL (or a data: URL) of the logo shown in the page header.
    pub logo_url: Option<String>,
    /// The accent colour (`#1f5fbf`).
    pub accent_color: Option<String>,
}

static BRANDING: OnceLock<Branding> = OnceLock::new();

/// Sets the branding once at start-up (later calls are ignored).
pub fn set_branding(b: Branding) {
    let _ = BRANDING.set(b);
}

/// The hub's name as pages and mail show it.
pub fn brand() -> String {
    BRANDING.get().map(|b| b.name.clone()).unwrap_or_else(|| "Gatehouse".into())
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A misspelt variable is an error (tests render every page), not a blank.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

/// Renders a template as it is, without the page defaults (mail bodies).
pub fn render_plain(name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    environment().get_template(name)?.render(ctx)
}

/// Renders `name` with `ctx` merged over the page defaults (brand, no
/// admin navigation, the request id).
pub fn render(name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    let defaults = minijinja::context! {
        brand => brand(),
        logo_url => BRANDING.get().and_then(|b| b.logo_url.clone()),
        accent_color => BRANDING.get().and_then(|b| b.accent_color.clone()),
        wide => false,
        admin_nav => false,
        current => "",
        request_id => super::request_id::current(),
        lang => "en",
        request_id_label => "Request id",
    };
    // The page's own values win over the defaults (later maps win).
    environment().get_template(name)?.render(minijinja::value::merge_maps([defaults, ctx]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        for (name, _) in super::TEMPLATES {
            super::environment().get_template(name).unwrap();
        }
    }

    #[test]
    fn a_pages_values_win_over_the_defaults() {
        let html = super::render("page.html", minijinja::context! { title => "t", body => "", wide => true }).unwrap();
        assert!(html.contains("max-width:68rem"), "{html}");
        let html = super::render("page.html", minijinja::context! { title => "t", body => "" }).unwrap();
        assert!(html.contains("max-width:34rem"));
    }

    #[test]
    fn values_are_escaped() {
        let html =
            super::render("page.html", minijinja::context! { title => "<b>x</b>", body => "<p>ok</p>" }).unwrap();
        assert!(html.contains("&lt;b&gt;x") && !html.contains("<b>x") && html.contains("<p>ok</p>"));
    }
}

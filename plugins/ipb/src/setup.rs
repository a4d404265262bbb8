//! The forum's settings form, filled in (docs/protocols/ipb.md §2).

use gatehouse_plugin_api::prelude::*;

use crate::Config;

pub fn instructions(config: &Config, req: &SetupRequest) -> SetupInstructions {
    let iss = req.issuer.trim_end_matches('/');
    let c = &req.client;
    let secret = req
        .client_secret
        .clone()
        .unwrap_or_else(|| "(shown only when the client is created or its secret reset)".into());
    let scopes: Vec<&str> =
        ["openid", "profile", "email"].into_iter().filter(|s| c.scopes.iter().any(|x| x == s)).collect();
    let mut fields = vec![
        ("Grant Type".to_string(), "Authorization Code".to_string()),
        ("Client Identifier".into(), c.client_id.clone()),
        ("Client Secret".into(), secret),
        ("Client Authentication".into(), "HTTP Basic (Recommended)".into()),
        ("Scopes to request".into(), scopes.join("\n")),
        ("Authorization Endpoint".into(), format!("{iss}/oauth2/authorize")),
        (
            "Authorization Endpoint for AdminCP & Reauthorizations".into(),
            format!("{iss}/oauth2/authorize?prompt=login"),
        ),
        ("Token Endpoint".into(), format!("{iss}/oauth2/token")),
        ("User Information Endpoint".into(), format!("{iss}/oauth2/userinfo")),
        ("User ID Parameter".into(), "sub".into()),
        ("Display Name Parameter".into(), "name".into()),
        ("Email Address Parameter".into(), "email".into()),
        (
            "Profile Photo URL Parameter".into(),
            if config.photo_url_template.is_empty() { String::new() } else { "picture".into() },
        ),
        ("Login Button Color".into(), "#478F79".into()),
        ("Login Button Text".into(), config.button_text.clone()),
        ("Show in Account Settings?".into(), "Always".into()),
        ("When remote display name changes".into(), "Update local database".into()),
        ("When remote email changes".into(), "Update local database".into()),
        ("When a user signs in for the first time".into(), "Create an account".into()),
    ];
    if let Some(uri) = c.redirect_uris.first() {
        fields.push(("Redirect URI (registered)".into(), uri.clone()));
    }
    let mut notes = String::from(
        "AdminCP → System → Settings → Login & Registration → Login Methods → Create New → Other OAuth 2.0.\n\
         The authorization endpoint must be https in production. Both client authentication methods work.\n",
    );
    if !config.forum_url.is_empty() && !c.redirect_uris.iter().any(|u| *u == config.redirect_uri()) {
        notes.push_str(&format!(
            "Warning: the client's redirect URIs do not include {} (the forum's base URL + oauth/callback/).\n",
            config.redirect_uri()
        ));
    }
    SetupInstructions { title: format!("Invision Community settings for {}", c.name), fields, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_field_is_filled() {
        let req = SetupRequest {
            client: Client {
                client_id: "abc".into(),
                name: "Forum".into(),
                scopes: vec!["openid".into(), "email".into(), "profile".into()],
                redirect_uris: vec!["https://f.example/oauth/callback/".into()],
                ..Default::default()
            },
            client_secret: Some("s3cret".into()),
            issuer: "https://login.example.com/".into(),
        };
        let cfg = Config { forum_url: "https://f.example".into(), ..Default::default() };
        let i = instructions(&cfg, &req);
        let get = |k: &str| i.fields.iter().find(|(l, _)| l == k).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("Token Endpoint"), "https://login.example.com/oauth2/token");
        assert_eq!(get("Client Secret"), "s3cret");
        assert_eq!(get("Scopes to request"), "openid\nprofile\nemail");
        assert_eq!(get("User ID Parameter"), "sub");
        assert!(!i.notes.contains("Warning"));
    }
}

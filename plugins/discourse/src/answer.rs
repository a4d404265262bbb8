//! What the forum learns about a member: the DiscourseConnect answer fields.

use gatehouse_plugin_api::messages::RouteUser;

use crate::Config;

/// The signed answer's fields for `user`, echoing `nonce`.
pub fn for_member(config: &Config, user: &RouteUser, nonce: &str) -> Vec<(&'static str, String)> {
    let in_any = |groups: &[String]| user.groups.iter().any(|g| groups.contains(g));
    let mut fields = vec![
        ("nonce", nonce.to_string()),
        ("email", user.email.clone()),
        // Stable for the member's life, whatever their e-mail becomes.
        ("external_id", user.uuid.clone()),
        ("username", username(user)),
        ("name", user.name.clone()),
        // Discourse then mails the member to confirm the address itself.
        ("require_activation", (!user.email_verified).to_string()),
        ("admin", in_any(&config.admin_groups).to_string()),
        ("moderator", in_any(&config.moderator_groups).to_string()),
    ];
    if !config.avatar_url_template.is_empty() {
        fields.push(("avatar_url", config.avatar_url_template.replace("{uuid}", &user.uuid)));
    }
    if !config.group_map.is_empty() {
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        for (ours, theirs) in &config.group_map {
            if user.groups.contains(ours) {
                add.push(theirs.as_str());
            } else {
                remove.push(theirs.as_str());
            }
        }
        // A forum group mapped from two Gatehouse groups stays if either holds.
        remove.retain(|g| !add.contains(g));
        add.dedup();
        remove.dedup();
        fields.push(("add_groups", add.join(",")));
        fields.push(("remove_groups", remove.join(",")));
    }
    fields
}

/// A forum username: the name (or the e-mail's local part) reduced to the
/// characters Discourse accepts, 3–20 long. Discourse resolves clashes itself.
pub fn username(user: &RouteUser) -> String {
    let source = if user.name.trim().is_empty() { user.email.split('@').next().unwrap_or("") } else { &user.name };
    let mut name: String = source
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' })
        .collect();
    name = name.trim_matches(|c| matches!(c, '_' | '-' | '.')).to_string();
    name.truncate(20);
    while name.len() < 3 {
        name.push('_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(groups: &[&str]) -> RouteUser {
        RouteUser {
            id: 7,
            uuid: "u-1".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: "Ada Lovelace".into(),
            status: "Active".into(),
            allow_sso: true,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn groups_map_to_admin_moderator_and_forum_groups() {
        let config = Config {
            admin_groups: vec!["staff".into()],
            moderator_groups: vec!["mods".into()],
            group_map: [("vip".to_string(), "patrons".to_string()), ("beta".to_string(), "testers".to_string())]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let f = for_member(&config, &user(&["staff", "vip"]), "n");
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("admin"), "true");
        assert_eq!(get("moderator"), "false");
        assert_eq!(get("add_groups"), "patrons");
        assert_eq!(get("remove_groups"), "testers");
        assert_eq!(get("external_id"), "u-1");
        assert_eq!(get("require_activation"), "false");
        assert_eq!(get("username"), "Ada_Lovelace");
    }

    #[test]
    fn usernames_are_what_discourse_accepts() {
        let mut u = user(&[]);
        u.name = "  ".into();
        u.email = "x@example.com".into();
        assert_eq!(username(&u), "x__");
        u.name = "Zoë O'Brien-Smith the Third of Many".into();
        assert_eq!(username(&u), "Zo__O_Brien-Smith_th");
    }
}

//! The claims an Invision Community forum reads: flat keys, the user id as a
//! non-empty string (the forum refuses `0` and `""`), a public photo URL.

use gatehouse_plugin_api::prelude::*;

use crate::Config;

pub fn forum_claims(config: &Config, req: &ShapeClaims) -> Value {
    let mut out = serde_json::Map::new();
    // Keep the standard claims, but only flat ones: the forum's "User ID
    // Parameter" syntax treats nesting specially.
    if let Value::Object(m) = &req.claims {
        for (k, v) in m {
            if !v.is_object() && !v.is_array() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let u = &req.user;
    out.insert("id".into(), json!(u.uuid));
    let scopes: Vec<&str> = req.scope.split(' ').collect();
    if scopes.contains(&"profile") || scopes.contains(&"openid") {
        let name = if u.display_name.trim().is_empty() {
            u.email.split('@').next().unwrap_or_default().to_string()
        } else {
            u.display_name.clone()
        };
        out.insert("name".into(), json!(name));
        if !config.photo_url_template.is_empty() {
            let photo = config.photo_url_template.replace("{sub}", &u.uuid).replace("{id}", &u.id.to_string());
            out.insert("picture".into(), json!(photo));
        }
    }
    if scopes.contains(&"email") {
        out.insert("email".into(), json!(u.email));
        // Verified only when the user proved the address (the host enforces
        // this too: `email_verified` comes from the user's state).
        out.insert("email_verified".into(), json!(u.email_verified));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(scope: &str, claims: Value) -> ShapeClaims {
        ShapeClaims {
            client_id: "c".into(),
            scope: scope.into(),
            user: User {
                id: 7,
                uuid: "abc".into(),
                email: "mia@example.com".into(),
                display_name: "Mia Member".into(),
                ..Default::default()
            },
            claims,
        }
    }

    #[test]
    fn claims_are_flat_and_ids_are_strings() {
        let cfg = Config { photo_url_template: "https://img.example/{sub}.png".into(), ..Default::default() };
        let c = forum_claims(&cfg, &req("openid profile email", json!({"sub": "abc", "address": {"x": 1}})));
        assert_eq!(c["sub"], "abc");
        assert_eq!(c["id"], "abc");
        assert_eq!(c["name"], "Mia Member");
        assert_eq!(c["email"], "mia@example.com");
        assert_eq!(c["picture"], "https://img.example/abc.png");
        assert!(c.get("address").is_none());
        let c = forum_claims(&Config::default(), &req("openid", json!({"sub": "abc"})));
        assert!(c.get("email").is_none());
        assert!(c.get("picture").is_none());
    }
}

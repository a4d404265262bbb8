//! Member provisioning through the forum's REST API (docs/protocols/ipb.md §6):
//! form-encoded bodies, the API key as the Basic user name, and no retry of
//! a rejected key — a second bad-key request within 5 minutes gets 429 and
//! more than 10 ban the IP, so the first rejection switches provisioning off
//! until restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use gatehouse_plugin_api::prelude::*;

use crate::Config;

pub struct Provisioner {
    base: String,
    friendly: bool,
    auth: String,
    group: Option<i64>,
    send_password: bool,
    /// Set when the forum rejected the key: never try again this process.
    key_rejected: AtomicBool,
    agent: ureq::Agent,
}

impl Provisioner {
    pub fn new(config: &Config) -> Provisioner {
        Provisioner {
            base: config.forum_url.trim_end_matches('/').to_string(),
            friendly: config.friendly_urls,
            auth: format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:", config.api_key))),
            group: config.member_group,
            send_password: config.send_password,
            key_rejected: AtomicBool::new(false),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build(),
        }
    }

    /// `/core/members` (+ `extra` query) in the forum's URL style.
    fn url(&self, path: &str, query: &str) -> String {
        match (self.friendly, query.is_empty()) {
            (true, true) => format!("{}/api{path}", self.base),
            (true, false) => format!("{}/api{path}?{query}", self.base),
            (false, true) => format!("{}/api/index.php?{path}", self.base),
            (false, false) => format!("{}/api/index.php?{path}&{query}", self.base),
        }
    }

    fn check(&self, r: Result<ureq::Response, ureq::Error>) -> Result<Value, String> {
        match r {
            Ok(resp) => {
                let text = resp.into_string().map_err(|e| format!("cannot read the forum's answer: {e}"))?;
                serde_json::from_str(&text).map_err(|e| format!("forum answered non-JSON: {e}"))
            }
            Err(ureq::Error::Status(code, resp)) => {
                let body: Value =
                    resp.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
                let err = body["errorCode"].as_str().unwrap_or("?").to_string();
                if matches!(code, 401 | 429) || err == "INVALID_API_KEY" || err == "IP_ADDRESS_NOT_ALLOWED" {
                    self.key_rejected.store(true, Ordering::SeqCst);
                    return Err(format!(
                        "forum rejected the API key ({code} {err}); provisioning is off until restart"
                    ));
                }
                Err(format!("forum answered {code} {err}"))
            }
            Err(e) => Err(format!("forum unreachable: {e}")),
        }
    }

    /// Makes sure a member with the user's e-mail exists; returns what it did.
    pub fn ensure_member(&self, user: &User) -> Result<String, String> {
        if self.key_rejected.load(Ordering::SeqCst) {
            return Err("provisioning is off: the forum rejected the API key".into());
        }
        let query = gatehouse_plugin_api::form::encode(&[("email", &user.email)]);
        let found =
            self.check(self.agent.get(&self.url("/core/members", &query)).set("Authorization", &self.auth).call())?;
        // The forum matches e-mail prefixes: filter exactly.
        if let Some(m) = found["results"]
            .as_array()
            .and_then(|r| r.iter().find(|m| m["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&user.email))))
        {
            return Ok(format!("exists as member {}", m["id"]));
        }
        let name = if user.display_name.trim().is_empty() { user.email.clone() } else { user.display_name.clone() };
        let mut form: Vec<(String, String)> =
            vec![("name".into(), name), ("email".into(), user.email.clone()), ("validated".into(), "1".into())];
        if let Some(g) = self.group {
            form.push(("group".into(), g.to_string()));
        }
        if self.send_password {
            // 4.x requires one; the member signs in through Gatehouse and never uses it.
            form.push(("password".into(), random_password()));
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let created = self.check(
            self.agent.post(&self.url("/core/members", "")).set("Authorization", &self.auth).send_form(&pairs),
        )?;
        Ok(format!("created member {}", created["id"]))
    }
}

fn random_password() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

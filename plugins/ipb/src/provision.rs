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

    /// The forum member with exactly this e-mail (the search matches prefixes).
    fn member_by_email(&self, email: &str) -> Result<Option<i64>, String> {
        let query = gatehouse_plugin_api::form::encode(&[("email", email)]);
        let found =
            self.check(self.agent.get(&self.url("/core/members", &query)).set("Authorization", &self.auth).call())?;
        Ok(found["results"]
            .as_array()
            .and_then(|r| r.iter().find(|m| m["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email))))
            .and_then(|m| m["id"].as_i64()))
    }

    /// Puts the forum member in the forum groups their Gatehouse groups map
    /// to (`group_map`), leaving forum groups outside the map alone.
    pub fn sync_groups(&self, user: &User, config: &Config) -> Result<String, String> {
        if self.key_rejected.load(Ordering::SeqCst) {
            return Err("group sync is off: the forum rejected the API key".into());
        }
        let Some(id) = self.member_by_email(&user.email)? else {
            return Ok("no forum member with this e-mail yet".into());
        };
        let path = format!("/core/members/{id}");
        let member = self.check(self.agent.get(&self.url(&path, "")).set("Authorization", &self.auth).call())?;
        let current_primary = member["primaryGroup"]["id"].as_i64();
        let current_secondary: Vec<i64> = member["secondaryGroups"]
            .as_array()
            .map(|a| a.iter().filter_map(|g| g["id"].as_i64().or_else(|| g.as_i64())).collect())
            .unwrap_or_default();
        let plan = plan_groups(config, &user.groups, current_primary, &current_secondary);
        let mut form: Vec<(String, String)> = Vec::new();
        if let Some(p) = plan.primary {
            form.push(("group".into(), p.to_string()));
        }
        if plan.secondary.is_empty() {
            // An empty array element: the forum's array_filter drops it.
            form.push(("secondaryGroups[]".into(), String::new()));
        }
        for g in &plan.secondary {
            form.push(("secondaryGroups[]".into(), g.to_string()));
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.check(self.agent.post(&self.url(&path, "")).set("Authorization", &self.auth).send_form(&pairs))?;
        Ok(format!("member {id}: primary {:?}, secondary {:?}", plan.primary, plan.secondary))
    }

    /// Makes sure a member with the user's e-mail exists; returns what it did.
    pub fn ensure_member(&self, user: &User) -> Result<String, String> {
        if self.key_rejected.load(Ordering::SeqCst) {
            return Err("provisioning is off: the forum rejected the API key".into());
        }
        if let Some(id) = self.member_by_email(&user.email)? {
            return Ok(format!("exists as member {id}"));
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

/// The forum groups a member should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPlan {
    /// `None`: leave the primary group as it is.
    pub primary: Option<i64>,
    pub secondary: Vec<i64>,
}

/// Works out the member's forum groups: the mapped group that comes first
/// in `primary_group_order` (then by name) is primary, the other mapped
/// groups are secondary; a primary group from the map that no longer
/// applies falls back to `member_group`; groups outside the map stay.
pub fn plan_groups(config: &Config, groups: &[String], primary: Option<i64>, secondary: &[i64]) -> GroupPlan {
    let mapped: Vec<i64> = config.group_map.values().copied().collect();
    let mut ours: Vec<&String> = groups.iter().filter(|g| config.group_map.contains_key(*g)).collect();
    let rank = |g: &String| config.primary_group_order.iter().position(|o| o == g).unwrap_or(usize::MAX);
    ours.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let wanted: Vec<i64> = ours.iter().map(|g| config.group_map[*g]).collect();
    let new_primary = match wanted.first() {
        Some(p) => Some(*p),
        None if primary.is_some_and(|p| mapped.contains(&p)) => config.member_group,
        None => None,
    };
    let effective_primary = new_primary.or(primary);
    let mut new_secondary: Vec<i64> = secondary.iter().copied().filter(|g| !mapped.contains(g)).collect();
    for g in wanted.iter().skip(1) {
        if !new_secondary.contains(g) {
            new_secondary.push(*g);
        }
    }
    new_secondary.retain(|g| Some(*g) != effective_primary);
    GroupPlan { primary: new_primary, secondary: new_secondary }
}

fn random_password() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            group_map: [("staff".to_string(), 4), ("vip".to_string(), 7), ("beta".to_string(), 9)]
                .into_iter()
                .collect(),
            primary_group_order: vec!["staff".into()],
            member_group: Some(3),
            ..Default::default()
        }
    }

    fn g(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_ordered_group_is_primary_and_the_rest_secondary() {
        let p = plan_groups(&config(), &g(&["vip", "staff", "other"]), Some(3), &[12]);
        assert_eq!(p, GroupPlan { primary: Some(4), secondary: vec![12, 7] });
    }

    #[test]
    fn unlisted_groups_rank_by_name_and_unmapped_forum_groups_stay() {
        let p = plan_groups(&config(), &g(&["vip", "beta"]), Some(3), &[4, 12]);
        assert_eq!(p, GroupPlan { primary: Some(9), secondary: vec![12, 7] });
    }

    #[test]
    fn leaving_every_mapped_group_falls_back_to_the_member_group() {
        let p = plan_groups(&config(), &[], Some(4), &[7, 12]);
        assert_eq!(p, GroupPlan { primary: Some(3), secondary: vec![12] });
        // A primary group the map does not own is left alone.
        let p = plan_groups(&config(), &[], Some(8), &[7]);
        assert_eq!(p, GroupPlan { primary: None, secondary: vec![] });
    }
}

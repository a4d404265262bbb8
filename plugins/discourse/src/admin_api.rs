//! Optional: ends a member's forum session when they sign out of Gatehouse,
//! through Discourse's admin API (`GET /u/by-external/{id}.json`, then
//! `POST /admin/users/{id}/log_out`), with the `Api-Key` and `Api-Username`
//! headers Discourse expects.

use std::time::Duration;

use crate::Config;

pub struct AdminApi {
    base: String,
    key: String,
    username: String,
    agent: ureq::Agent,
}

impl AdminApi {
    /// `None` unless both `api_key` and `api_username` are set.
    pub fn new(config: &Config) -> Option<AdminApi> {
        (!config.api_key.is_empty() && !config.api_username.is_empty()).then(|| AdminApi {
            base: config.forum_url.clone(),
            key: config.api_key.clone(),
            username: config.api_username.clone(),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).redirects(0).build(),
        })
    }

    /// Signs the member with this external id out of the forum.
    pub fn log_out(&self, external_id: &str) -> Result<String, String> {
        let id = url::form_urlencoded::byte_serialize(external_id.as_bytes()).collect::<String>();
        let found = self
            .agent
            .get(&format!("{}/u/by-external/{id}.json", self.base))
            .set("Api-Key", &self.key)
            .set("Api-Username", &self.username)
            .call();
        let user: serde_json::Value = match found {
            Ok(r) => {
                let text = r.into_string().map_err(|e| format!("cannot read the forum's answer: {e}"))?;
                serde_json::from_str(&text).map_err(|e| format!("forum answered non-JSON: {e}"))?
            }
            Err(ureq::Error::Status(404, _)) => return Ok("no forum account".into()),
            Err(e) => return Err(format!("forum lookup failed: {e}")),
        };
        let Some(forum_id) = user["user"]["id"].as_i64() else {
            return Err("the forum's answer has no user id".into());
        };
        self.agent
            .post(&format!("{}/admin/users/{forum_id}/log_out", self.base))
            .set("Api-Key", &self.key)
            .set("Api-Username", &self.username)
            .call()
            .map_err(|e| format!("forum log_out failed: {e}"))?;
        Ok(format!("forum user {forum_id} signed out"))
    }
}

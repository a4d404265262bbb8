//! The `ipb` plugin: an Invision Community forum signs its members in
//! through Gatehouse with its built-in "Other OAuth 2.0" login method
//! (contract: `docs/protocols/ipb.md`).
//!
//! - [`shape`]: userinfo in the flat shape the forum reads — `sub` and `id`
//!   as non-empty strings, `name`, `email`, a public `picture` URL.
//! - [`setup`]: the exact value of every field of the forum's settings form.
//! - [`provision`]: optional member provisioning through the forum's REST
//!   API, careful never to retry a rejected key (the forum bans the IP).
#![forbid(unsafe_code)]

pub mod provision;
pub mod setup;
pub mod shape;

use gatehouse_plugin_api::prelude::*;
use serde::Deserialize;

/// The plugin's `[plugins.config]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The forum's base URL (`https://forum.example.com` or `…/forums`).
    pub forum_url: String,
    /// The login button's text ("Sign in with …").
    pub button_text: String,
    /// A public avatar URL template; `{sub}` and `{id}` are replaced. Empty:
    /// no photo (the forum keeps its own).
    pub photo_url_template: String,
    /// The forum's REST API key (for provisioning). Empty: no provisioning.
    pub api_key: String,
    /// Create a forum member when a Gatehouse user is created.
    pub provision: bool,
    /// The group new members join (None: the forum's default).
    pub member_group: Option<i64>,
    /// Whether the forum uses friendly URLs (`/api/core/members`).
    pub friendly_urls: bool,
    /// Invision Community 4.x requires a password when creating members.
    pub send_password: bool,
    /// Group sync: Gatehouse group → forum group id. When a member's
    /// Gatehouse groups change (or the member is provisioned), the forum
    /// member's groups follow through the REST API. Forum groups not in the
    /// map are never touched.
    pub group_map: std::collections::BTreeMap<String, i64>,
    /// Which mapped Gatehouse group wins the forum's primary group, first
    /// first; groups not listed come after, by name. The other mapped groups
    /// become secondary groups.
    pub primary_group_order: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            forum_url: String::new(),
            button_text: "Sign in with Gatehouse".into(),
            photo_url_template: String::new(),
            api_key: String::new(),
            provision: false,
            member_group: None,
            friendly_urls: false,
            send_password: true,
            group_map: Default::default(),
            primary_group_order: Vec::new(),
        }
    }
}

impl Config {
    fn validate(&self) -> Result<(), Error> {
        if !self.forum_url.is_empty() {
            let u = url::Url::parse(&self.forum_url)
                .map_err(|_| Error::invalid(format!("forum_url {:?} is not an absolute URL", self.forum_url)))?;
            if !matches!(u.scheme(), "http" | "https") || u.fragment().is_some() || u.query().is_some() {
                return Err(Error::invalid("forum_url must be an http(s) URL without query or fragment"));
            }
        }
        if self.provision && (self.api_key.is_empty() || self.forum_url.is_empty()) {
            return Err(Error::invalid("provision = true needs forum_url and api_key"));
        }
        if !self.group_map.is_empty() && (self.api_key.is_empty() || self.forum_url.is_empty()) {
            return Err(Error::invalid("group_map needs forum_url and api_key (groups sync through the REST API)"));
        }
        Ok(())
    }

    /// The forum's redirect URI: its base URL + `oauth/callback/`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/oauth/callback/", self.forum_url.trim_end_matches('/'))
    }
}

pub struct Ipb {
    pub(crate) config: Config,
    pub(crate) host: Host,
    pub(crate) provisioner: Option<provision::Provisioner>,
}

impl Plugin for Ipb {
    const NAME: &'static str = "ipb";

    fn describe() -> Manifest {
        Manifest {
            description:
                "Invision Community client connector: forum-shaped userinfo, setup values, member provisioning".into(),
            capabilities: vec![Capability::ClientConnector],
            ..Default::default()
        }
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let config: Config = ctx.config_as()?;
        config.validate()?;
        let uses_api = config.provision || !config.group_map.is_empty();
        let provisioner = uses_api.then(|| provision::Provisioner::new(&config));
        Ok(Ipb { config, host: ctx.host, provisioner })
    }

    fn shape_claims(&self, req: ShapeClaims) -> Result<Value, Error> {
        Ok(shape::forum_claims(&self.config, &req))
    }

    fn setup_instructions(&self, req: SetupRequest) -> Result<SetupInstructions, Error> {
        Ok(setup::instructions(&self.config, &req))
    }

    fn user_event(&self, event: UserEvent) -> Result<(), Error> {
        let Some(p) = &self.provisioner else { return Ok(()) };
        let uid = event.user.id;
        if event.event == "created" && self.config.provision {
            match p.ensure_member(&event.user) {
                Ok(outcome) => self.host.log(LogLevel::Info, format!("forum member for user {uid}: {outcome}")),
                Err(e) => {
                    self.host.log(LogLevel::Warn, format!("forum provisioning for user {uid} failed: {e}"));
                    return Err(Error::internal(e));
                }
            }
        }
        let syncs = matches!(event.event.as_str(), "created" | "groups_changed");
        if syncs && !self.config.group_map.is_empty() {
            match p.sync_groups(&event.user, &self.config) {
                Ok(outcome) => self.host.log(LogLevel::Info, format!("forum groups for user {uid}: {outcome}")),
                Err(e) => {
                    self.host.log(LogLevel::Warn, format!("forum group sync for user {uid} failed: {e}"));
                    return Err(Error::internal(e));
                }
            }
        }
        Ok(())
    }
}

export_plugin!(Ipb);

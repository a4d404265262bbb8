//! The `discourse` plugin: Gatehouse as a DiscourseConnect provider, so a
//! Discourse forum signs its members in through Gatehouse (contract:
//! `docs/protocols/discourse.md`).
//!
//! The forum sends the browser to `GET /session/sso_provider?sso=…&sig=…`
//! with a signed `nonce` and `return_sso_url`. The plugin checks the
//! signature (constant time), accepts each nonce once, checks that
//! `return_sso_url` is the forum's, and answers with a signed payload about
//! the member signed in to Gatehouse (the host hands the route the member;
//! without one, the browser signs in first and comes back). A payload with
//! `logout=true` signs the member out of Gatehouse and returns to the forum.
//!
//! - [`connect`]: the wire format (Base64 payload, HMAC-SHA256 signature);
//! - [`answer`]: what the forum learns about a member;
//! - [`admin_api`]: optional: ends the forum session when the member signs
//!   out of Gatehouse (Discourse's admin API `log_out`).
#![forbid(unsafe_code)]

pub mod admin_api;
pub mod answer;
pub mod connect;

use std::collections::BTreeMap;

use gatehouse_plugin_api::prelude::*;
use serde::Deserialize;

/// The path the forum's `discourse connect url` points at.
pub const PROVIDER_PATH: &str = "/session/sso_provider";

/// How long a nonce is remembered (Discourse forgets its own after 10 minutes).
pub const NONCE_TTL: i64 = 24 * 3600;

/// The plugin's configuration table (`[plugin_config.discourse]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The forum's base URL (`https://forum.example.com`); `return_sso_url`
    /// must be under it.
    pub forum_url: String,
    /// The shared secret (the forum's `discourse connect secret`).
    pub secret: String,
    /// Or a file holding it (first line), kept out of the config file.
    pub secret_file: String,
    /// Members of these Gatehouse groups are forum administrators.
    pub admin_groups: Vec<String>,
    /// Members of these Gatehouse groups are forum moderators.
    pub moderator_groups: Vec<String>,
    /// Gatehouse group → Discourse group: members are added to the mapped
    /// forum groups they belong to and removed from the others.
    pub group_map: BTreeMap<String, String>,
    /// A public avatar URL; `{uuid}` becomes the member's stable id.
    pub avatar_url_template: String,
    /// The forum's admin API key and the user it acts as: when both are
    /// set, signing out of Gatehouse also signs the member out of the forum.
    pub api_key: String,
    pub api_username: String,
}

impl Config {
    fn load(mut self) -> Result<Config, Error> {
        if self.forum_url.is_empty() {
            return Err(Error::not_configured(
                "set forum_url (the forum's base URL) and secret or secret_file in [plugin_config.discourse]",
            ));
        }
        let u = url::Url::parse(&self.forum_url)
            .map_err(|_| Error::invalid(format!("forum_url {:?} is not an absolute URL", self.forum_url)))?;
        if !matches!(u.scheme(), "http" | "https") || u.query().is_some() || u.fragment().is_some() {
            return Err(Error::invalid("forum_url must be an http(s) URL without query or fragment"));
        }
        self.forum_url = self.forum_url.trim_end_matches('/').to_string();
        if !self.secret_file.is_empty() {
            let text = std::fs::read_to_string(&self.secret_file)
                .map_err(|e| Error::invalid(format!("secret_file {}: {e}", self.secret_file)))?;
            self.secret = text.lines().next().unwrap_or("").trim().to_string();
        }
        // Discourse itself asks for at least 10 characters.
        if self.secret.len() < 10 {
            return Err(Error::not_configured(
                "the DiscourseConnect secret (secret or secret_file) must be at least 10 characters",
            ));
        }
        Ok(self)
    }

    /// Whether `url` is on the forum: the same origin, under the forum's path.
    pub fn is_forum_url(&self, url: &str) -> bool {
        let (Ok(forum), Ok(target)) = (url::Url::parse(&self.forum_url), url::Url::parse(url)) else {
            return false;
        };
        let base = forum.path().trim_end_matches('/');
        forum.origin() == target.origin()
            && (target.path() == base || target.path().starts_with(&format!("{base}/")))
            && target.fragment().is_none()
    }
}

pub struct Discourse {
    config: Config,
    host: Host,
    admin: Option<admin_api::AdminApi>,
}

impl Plugin for Discourse {
    const NAME: &'static str = "discourse";

    fn describe() -> Manifest {
        Manifest {
            description: "DiscourseConnect provider: a Discourse forum signs its members in through Gatehouse".into(),
            capabilities: vec![Capability::Routes, Capability::ClientConnector],
            routes: vec![RouteDecl {
                error_content_type: Some("text/html".into()),
                error_body: Some(Value::String(page(
                    "Forum sign-in failed",
                    "Something went wrong on our side while signing you in to the forum. Please try again; \
                     if it keeps happening, quote request <code>{request_id}</code> to the site's operator.",
                ))),
                ..RouteDecl::new(&["GET"], PROVIDER_PATH)
            }],
            ..Default::default()
        }
    }

    fn init(ctx: InitContext) -> Result<Self, Error> {
        let config: Config = ctx.config_as::<Config>()?.load()?;
        let admin = admin_api::AdminApi::new(&config);
        Ok(Discourse { config, host: ctx.host, admin })
    }

    fn route(&self, req: HttpRequest) -> Result<HttpResponse, Error> {
        let q = req.query_params();
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let params = match connect::verify(self.config.secret.as_bytes(), get("sso"), get("sig")) {
            Ok(p) => p,
            Err(e) => return Ok(self.refuse(&req, 403, "bad_signature", &e.to_string())),
        };
        let field = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
        let (nonce, return_url) = (field("nonce"), field("return_sso_url"));
        if nonce.is_empty() || return_url.is_empty() {
            return Ok(self.refuse(&req, 400, "malformed", "the request has no nonce or return_sso_url"));
        }
        if !self.config.is_forum_url(return_url) {
            return Ok(self.refuse(&req, 400, "foreign_return_url", "return_sso_url is not on the configured forum"));
        }
        if field("logout") == "true" {
            return self.logout(&req, nonce, return_url);
        }
        // Sign in first (and come back to this very request); the nonce is
        // spent only when the answer is sent.
        let Some(user) = &req.user else {
            return Ok(sign_in_first(&req));
        };
        if user.status == "Closed" {
            return Ok(self.refuse(&req, 403, "closed", "this account is closed"));
        }
        if !user.allow_sso {
            return Ok(self.refuse(&req, 403, "sso_off", "single sign-on is switched off for this account"));
        }
        if !self.spend_nonce(nonce)? {
            return Ok(self.refuse(&req, 400, "replayed_nonce", "this sign-in request was used already"));
        }
        let fields = answer::for_member(&self.config, user, nonce);
        let (sso, sig) = connect::encode(self.config.secret.as_bytes(), &fields);
        self.audit("sso_issued", &format!("DiscourseConnect sign-in for User ID: {}", user.id), Some(user.id), &req);
        Ok(HttpResponse::redirect(&with_payload(return_url, &sso, &sig)).header("Cache-Control", "no-store"))
    }

    fn user_event(&self, event: UserEvent) -> Result<(), Error> {
        if event.event != "signed_out" {
            return Ok(());
        }
        let Some(api) = &self.admin else { return Ok(()) };
        match api.log_out(&event.user.uuid) {
            Ok(outcome) => {
                self.host.log(LogLevel::Info, format!("forum session of user {}: {outcome}", event.user.id));
                Ok(())
            }
            Err(e) => {
                self.host.log(LogLevel::Warn, format!("forum log_out for user {} failed: {e}", event.user.id));
                Err(Error::internal(e))
            }
        }
    }

    fn setup_instructions(&self, req: SetupRequest) -> Result<SetupInstructions, Error> {
        Ok(SetupInstructions {
            title: "Discourse: Admin → Settings → Login".into(),
            fields: vec![
                ("enable discourse connect".into(), "checked".into()),
                ("discourse connect url".into(), format!("{}{PROVIDER_PATH}", req.issuer.trim_end_matches('/'))),
                (
                    "discourse connect secret".into(),
                    "the secret in Gatehouse's [plugin_config.discourse] (secret or secret_file)".into(),
                ),
                ("logout redirect (optional)".into(), format!("{}/oauth2/logout", req.issuer.trim_end_matches('/'))),
            ],
            notes: format!(
                "Gatehouse answers sign-ins for {forum} only (return_sso_url must be under it). Also list \
                 \"{forum}/*\" in the plugin's redirect_targets, so the host lets the answer through. \
                 The forum's external id is the member's Gatehouse uuid.",
                forum = self.config.forum_url
            ),
        })
    }
}

impl Discourse {
    /// Remembers a nonce once (atomically, across replicas); `false`: seen.
    fn spend_nonce(&self, nonce: &str) -> Result<bool, Error> {
        use sha2::Digest;
        let key = format!("nonce:{}", hex::encode(sha2::Sha256::digest(nonce.as_bytes())));
        self.host.kv_insert_new(&key, "1", Some(NONCE_TTL))
    }

    fn logout(&self, req: &HttpRequest, nonce: &str, return_url: &str) -> Result<HttpResponse, Error> {
        if !self.spend_nonce(nonce)? {
            return Ok(self.refuse(req, 400, "replayed_nonce", "this sign-out request was used already"));
        }
        if let Some(u) = &req.user {
            self.host.end_session(&EndSession { user_id: u.id, session_id: u.session_id })?;
            self.audit("logout", &format!("DiscourseConnect sign-out for User ID: {}", u.id), Some(u.id), req);
        }
        Ok(HttpResponse::redirect(return_url).header("Cache-Control", "no-store"))
    }

    /// A refusal: audited with its reason, and a page that says why with a
    /// way back.
    fn refuse(&self, req: &HttpRequest, status: u16, reason: &str, why: &str) -> HttpResponse {
        let user_id = req.user.as_ref().map(|u| u.id);
        self.audit("refused", &format!("DiscourseConnect request refused: {why}"), user_id, req);
        let _ = reason;
        let hint = match reason {
            "closed" => "Your account is closed, so it cannot sign in to the forum.",
            "sso_off" => {
                "Single sign-on to other sites is switched off for your account. You can switch it on \
                 on your <a href=\"/account\">account page</a>."
            }
            _ => "Go back to the forum and try signing in again.",
        };
        let body = format!(
            "<p>The forum sign-in was refused: {}.</p><p>{hint}</p>\
             <p><a href=\"{}\">Back to the forum</a> · <a href=\"/account\">Your account</a></p>\
             <p><small>Request {}</small></p>",
            escape(why),
            escape(&self.config.forum_url),
            escape(&req.request_id)
        );
        HttpResponse::text(status, "text/html; charset=utf-8", page("Forum sign-in refused", &body))
            .header("Cache-Control", "no-store")
    }

    fn audit(&self, kind: &str, message: &str, user_id: Option<i64>, req: &HttpRequest) {
        let line = AuditLine {
            kind: kind.into(),
            message: message.into(),
            user_id,
            ip: req.peer_addr.clone(),
            details: serde_json::json!({ "request_id": req.request_id }),
            ..Default::default()
        };
        if let Err(e) = self.host.audit(&line) {
            self.host.log(LogLevel::Error, format!("could not audit: {e}"));
        }
    }
}

/// To the sign-in page, and back to this request afterwards.
fn sign_in_first(req: &HttpRequest) -> HttpResponse {
    let back = if req.query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, req.query) };
    let login =
        format!("/login?return_to={}", url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>());
    HttpResponse::new(303).header("Location", &login).header("Cache-Control", "no-store")
}

/// `return_sso_url` with `sso` and `sig` added to its query.
fn with_payload(return_url: &str, sso: &str, sig: &str) -> String {
    match url::Url::parse(return_url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("sso", sso).append_pair("sig", sig);
            u.to_string()
        }
        Err(_) => return_url.to_string(),
    }
}

/// HTML-escapes text for a page.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

/// A small self-contained page (the host adds its security headers).
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;\
         line-height:1.5;color:#1f2328}}a{{color:#0b57d0}}</style></head>\
         <body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    )
}

export_plugin!(Discourse);

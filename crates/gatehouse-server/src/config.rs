//! Configuration: `gatehouse.toml`, overridden by `GATEHOUSE_*` environment
//! variables, overridden by command-line flags.
//!
//! Every key can be set from the environment: `GATEHOUSE_<KEY>` for a
//! top-level key (`GATEHOUSE_BIND`), `GATEHOUSE_<TABLE>__<KEY>` for a key in
//! a table (`GATEHOUSE_TOKENS__ACCESS_TTL`). Values are read as TOML scalars
//! when they parse as one (numbers, booleans) and as strings otherwise.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variables with the prefix that are not configuration keys.
const NOT_KEYS: &[&str] = &[
    "GATEHOUSE_CONFIG",
    "GATEHOUSE_MASTER_KEY",
    "GATEHOUSE_LOG",
    "GATEHOUSE_BOOTSTRAP_ADMIN_EMAIL",
    "GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD_FILE",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// `postgres://…`, `postgresql://…`, `sqlite://PATH` or a file path.
    pub database_url: Option<String>,
    /// The issuer URL (no trailing slash); default `http://<bind>`.
    pub issuer: Option<String>,
    /// Where the embedded database, the master key file and other state live.
    pub data_dir: PathBuf,
    /// A directory whose shared libraries are loaded as plugins.
    pub plugins_dir: Option<PathBuf>,
    /// `human` or `json`.
    pub log_format: String,
    /// Base URL of the client area SSO destinations resolve against.
    pub client_area_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IP addresses).
    /// Without them the TCP peer is the client, as it must be when
    /// Gatehouse faces the internet directly.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Serve `/metrics` on this address only (e.g. `127.0.0.1:9100`);
    /// unset: on the main address.
    pub metrics_bind: Option<String>,
    pub tokens: TokenConfig,
    pub login: LoginConfig,
    /// The operator's name, logo and colour on pages and in mail.
    pub branding: BrandingConfig,
    /// The password policy members' passwords follow.
    pub passwords: PasswordConfig,
    /// Two-step sign-in: who must have a second factor.
    pub mfa: MfaConfig,
    /// Who may create an account: `closed` (default), `open` ("Create an
    /// account" on the sign-in page) or `invite` (administrators' links).
    pub registration: gatehouse_engine::signup::Registration,
    /// Self-registered members confirm their e-mail address before apps
    /// may sign them in.
    pub verify_email_before_apps: bool,
    /// Outgoing mail.
    pub smtp: SmtpConfig,
    /// Sign-in through upstream identity providers (plugins).
    pub federation: FederationConfig,
    /// Deleting expired rows in the background.
    pub janitor: JanitorConfig,
    /// The database connection pool.
    pub database: DatabaseConfig,
    /// Extra scopes for the catalog.
    pub scopes: Vec<gatehouse_core::Scope>,
    /// Plugins to load, each with its own configuration table.
    pub plugins: Vec<PluginConfig>,
    /// With neither `plugins` nor `plugins_dir` set: load the production
    /// plugins found next to the executable (whmcs, ipb, oidc; or every
    /// library in a `plugins` directory beside it).
    pub default_plugins: bool,
    /// Configuration for plugins found in `plugins_dir` or by default,
    /// by plugin name: `[plugin_config.oidc]`.
    pub plugin_config: std::collections::BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    pub code_ttl: i64,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub sso_ttl: i64,
    pub id_token_ttl: i64,
    pub session_ttl: i64,
    /// Seconds a key added by `keys rotate` is published before it signs
    /// (default: the JWKS cache lifetime, so cached JWKS documents expire
    /// first). 0 signs at once.
    pub key_activation_delay: i64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            code_ttl: 60,
            access_ttl: 3600,
            refresh_ttl: 30 * 24 * 3600,
            sso_ttl: 60,
            id_token_ttl: 3600,
            session_ttl: 12 * 3600,
            key_activation_delay: gatehouse_engine::keys::JWKS_MAX_AGE,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Failed logins allowed per account within `window_secs`.
    pub max_failures_per_account: i64,
    /// Failed logins allowed per IP address within `window_secs`.
    pub max_failures_per_ip: i64,
    pub window_secs: i64,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig { max_failures_per_account: 5, max_failures_per_ip: 20, window_secs: 900 }
    }
}

/// How pages and mail present the hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandingConfig {
    /// The operator's name, shown on every page and in mail.
    pub name: String,
    /// The logo in the page header: an https URL.
    pub logo_url: Option<String>,
    /// The accent colour of buttons and links: `#rgb` or `#rrggbb`.
    pub accent_color: Option<String>,
}

impl Default for BrandingConfig {
    fn default() -> Self {
        BrandingConfig { name: "Gatehouse".into(), logo_url: None, accent_color: None }
    }
}

/// The password policy for passwords members choose.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    /// The fewest characters a password may have.
    pub min_length: usize,
    /// The weakest password accepted, as a zxcvbn score from 0 (anything)
    /// to 4 (very strong).
    pub min_strength: u8,
}

/// `[mfa]`: who must use a second factor, and how long members may put
/// off enrolling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// `off` (default: members choose), `admins` or `everyone`. Clients may
    /// also require it (`client add --require-2fa`).
    pub required: gatehouse_engine::mfa::MfaPolicy,
    /// Days a member the policy covers may skip enrolling, counted from the
    /// first time they are asked.
    pub grace_days: i64,
    /// Offer "Sign in with a passkey" (no password) on the sign-in page.
    /// Passkeys need the issuer on a host name (not an IP address).
    pub passwordless: bool,
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig { required: Default::default(), grace_days: 7, passwordless: false }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        PasswordConfig { min_length: 10, min_strength: 2 }
    }
}

/// How mail to members leaves (password reset links…). Unset `host`: the
/// hub sends no mail, and the pages that need it say so.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: Option<String>,
    /// Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (only for a
    /// relay on this machine or a test).
    pub security: String,
    pub username: Option<String>,
    /// Prefer the environment: `GATEHOUSE_SMTP__PASSWORD`.
    pub password: Option<String>,
    /// The sender, e.g. `Example Hosting <login@example.com>`.
    pub from: String,
    /// Seconds one delivery attempt may take.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: None,
            security: "starttls".into(),
            username: None,
            password: None,
            from: "Gatehouse <gatehouse@localhost>".into(),
            timeout_secs: 15,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// When an upstream identity has no link yet and a local user already
    /// has its verified e-mail: link it to that user (true) or refuse and
    /// ask the user to sign in with their password (false, the default).
    /// Only enable it when every upstream verifies the addresses it asserts.
    pub link_verified_email: bool,
    /// Upstream re-validation: when an app refreshes the tokens of a member
    /// who signed in through an upstream, the upstream is asked again (with
    /// the refresh token it gave) at most this often, in seconds (default
    /// 300; 0: at every refresh). A refusal ends the member's sessions.
    pub recheck_every_secs: i64,
    /// Linking or unlinking an upstream sign-in from the account page needs
    /// a sign-in at most this many seconds old (default 600); older
    /// sessions are asked to sign in again first.
    pub reauth_window_secs: i64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig { link_verified_email: false, recheck_every_secs: 300, reauth_window_secs: 600 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JanitorConfig {
    /// Seconds between sweeps; 0 switches the janitor off (another replica
    /// or a cron'd `gatehouse janitor` may do it).
    pub interval_secs: u64,
    /// Rows deleted per statement (small batches never stall token traffic).
    pub batch_size: i64,
    /// Batches per kind of row per sweep (a backlog drains over sweeps).
    pub max_batches: usize,
    /// How long audit events are kept, in days.
    pub audit_retention_days: i64,
}

impl Default for JanitorConfig {
    fn default() -> Self {
        JanitorConfig { interval_secs: 60, batch_size: 500, max_batches: 20, audit_retention_days: 90 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The most connections this process opens to PostgreSQL (opened as
    /// needed, not at start). SQLite uses a small fixed pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { max_connections: 16 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub path: PathBuf,
    #[serde(default = "empty_table")]
    pub config: toml::Value,
}

fn empty_table() -> toml::Value {
    toml::Value::Table(Default::default())
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            database_url: None,
            issuer: None,
            data_dir: PathBuf::from("./data"),
            plugins_dir: None,
            log_format: "human".into(),
            client_area_url: None,
            trusted_proxies: Vec::new(),
            metrics_bind: None,
            tokens: TokenConfig::default(),
            login: LoginConfig::default(),
            branding: BrandingConfig::default(),
            passwords: PasswordConfig::default(),
            mfa: MfaConfig::default(),
            registration: Default::default(),
            verify_email_before_apps: true,
            smtp: SmtpConfig::default(),
            federation: FederationConfig::default(),
            janitor: JanitorConfig::default(),
            database: DatabaseConfig::default(),
            scopes: Vec::new(),
            plugins: Vec::new(),
            default_plugins: true,
            plugin_config: Default::default(),
        }
    }
}

/// A configuration problem, reported as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the file (if any), then applies `GATEHOUSE_*` variables from `env`.
    pub fn load(path: Option<&Path>, env: impl Iterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut root = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Read { path: p.display().to_string(), reason: e.to_string() })?;
                text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
                    path: p.display().to_string(),
                    reason: one_line(&e.to_string()),
                })?
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("GATEHOUSE_") else { continue };
            if NOT_KEYS.contains(&k.as_str()) || rest.starts_with("TEST_") || rest.is_empty() {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut root, &path, scalar(&v));
        }
        let cfg: Config = toml::Value::Table(root).try_into().map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.map(|p| p.display().to_string()).unwrap_or_else(|| "(environment)".into()),
            reason: one_line(&e.to_string()),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.smtp.security.as_str(), "starttls" | "tls" | "none") {
            return Err(ConfigError::Invalid(format!(
                "smtp.security {:?}: expected starttls, tls or none",
                self.smtp.security
            )));
        }
        if self.smtp.host.is_some() && self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "smtp.from {:?} is not an address (e.g. \"Example <login@example.com>\")",
                self.smtp.from
            )));
        }
        if let Some(c) = &self.branding.accent_color {
            let hex = c.strip_prefix('#').unwrap_or("");
            if !matches!(hex.len(), 3 | 6) || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(ConfigError::Invalid(format!("branding.accent_color {c:?}: expected #rgb or #rrggbb")));
            }
        }
        if let Some(l) = &self.branding.logo_url {
            gatehouse_core::redirect::validate_web_url(l)
                .map_err(|e| ConfigError::Invalid(format!("branding.logo_url {l:?}: {e}")))?;
        }
        if self.branding.name.trim().is_empty() || self.branding.name.len() > 80 {
            return Err(ConfigError::Invalid("branding.name must have 1 to 80 characters".into()));
        }
        if self.passwords.min_length < 8 {
            return Err(ConfigError::Invalid("passwords.min_length must be at least 8".into()));
        }
        if self.bind.parse::<std::net::SocketAddr>().is_err() && !self.bind.contains(':') {
            return Err(ConfigError::Invalid(format!("bind address {:?} is not HOST:PORT", self.bind)));
        }
        if let Some(iss) = &self.issuer {
            let u = url::Url::parse(iss)
                .map_err(|_| ConfigError::Invalid(format!("issuer {iss:?} is not an absolute URL")))?;
            if !matches!(u.scheme(), "http" | "https") || u.query().is_some() || u.fragment().is_some() {
                return Err(ConfigError::Invalid(format!(
                    "issuer {iss:?} must be an http(s) URL without query or fragment"
                )));
            }
        }
        if let Some(ca) = &self.client_area_url {
            url::Url::parse(ca)
                .map_err(|_| ConfigError::Invalid(format!("client_area_url {ca:?} is not an absolute URL")))?;
        }
        if !matches!(self.log_format.as_str(), "human" | "json") {
            return Err(ConfigError::Invalid(format!("log_format {:?}: expected human or json", self.log_format)));
        }
        let t = &self.tokens;
        for (name, v) in [
            ("code_ttl", t.code_ttl),
            ("access_ttl", t.access_ttl),
            ("refresh_ttl", t.refresh_ttl),
            ("sso_ttl", t.sso_ttl),
            ("id_token_ttl", t.id_token_ttl),
            ("session_ttl", t.session_ttl),
        ] {
            if v <= 0 {
                return Err(ConfigError::Invalid(format!("tokens.{name} must be a positive number of seconds")));
            }
        }
        if t.key_activation_delay < 0 {
            return Err(ConfigError::Invalid("tokens.key_activation_delay must be 0 or more seconds".into()));
        }
        Ok(())
    }

    /// The database URL in effect: configured, else `<data_dir>/gatehouse.db`.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| self.data_dir.join("gatehouse.db").display().to_string())
    }

    /// The issuer in effect, without a trailing slash.
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| format!("http://{}", self.bind)).trim_end_matches('/').to_string()
    }

    /// The client-area base URL (default: the issuer), without a trailing slash.
    pub fn client_area_url(&self) -> String {
        self.client_area_url.clone().unwrap_or_else(|| self.issuer()).trim_end_matches('/').to_string()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn scalar(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_string()),
    }
}

fn set_path(root: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            root.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = root.entry(first.clone()).or_insert_with(|| toml::Value::Table(Default::default()));
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(kv: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn defaults_serve_on_the_embedded_database() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.issuer(), "http://127.0.0.1:8080");
        assert!(c.database_url().ends_with("gatehouse.db"));
    }

    #[test]
    fn environment_overrides_file_and_nested_keys() {
        let dir = tempfile_dir();
        let p = dir.join("g.toml");
        std::fs::write(&p, "bind = \"127.0.0.1:9000\"\n[tokens]\naccess_ttl = 10\n").unwrap();
        let c = Config::load(
            Some(&p),
            env(&[
                ("GATEHOUSE_BIND", "127.0.0.1:9100"),
                ("GATEHOUSE_TOKENS__CODE_TTL", "30"),
                ("GATEHOUSE_MASTER_KEY", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:9100");
        assert_eq!(c.tokens.access_ttl, 10);
        assert_eq!(c.tokens.code_ttl, 30);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Config::load(None, env(&[("GATEHOUSE_BOGUS", "1")])).is_err());
        assert!(Config::load(None, env(&[("GATEHOUSE_ISSUER", "not a url")])).is_err());
        assert!(Config::load(None, env(&[("GATEHOUSE_TOKENS__CODE_TTL", "-1")])).is_err());
    }

    #[test]
    fn federation_linking_by_email_is_opt_in() {
        assert!(!Config::load(None, env(&[])).unwrap().federation.link_verified_email);
        let c = Config::load(None, env(&[("GATEHOUSE_FEDERATION__LINK_VERIFIED_EMAIL", "true")])).unwrap();
        assert!(c.federation.link_verified_email);
        assert!(Config::load(None, env(&[("GATEHOUSE_FEDERATION__BOGUS", "1")])).is_err());
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("gh-cfg-{}", gatehouse_core::secret::generate_hex(6)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

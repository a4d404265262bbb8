//! `gatehouse user …`, `client …`, `api-credential …`.

use clap::Subcommand;
use serde_json::json;

use gatehouse_core::client::parse_grant_types;
use gatehouse_core::time::format_timestamp;
use gatehouse_core::{ScopeSet, UserStatus};
use gatehouse_engine::directory::{Actor, ClientInput, UserInput};
use gatehouse_engine::model::{Account, ApiCredential, Client, User};
use gatehouse_engine::Engine;

use super::{load_config, Failure, GlobalArgs};
use crate::state::open_engine;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        #[arg(long)]
        email: String,
        /// The password on the command line (lands in shell history and
        /// `ps`: prefer --password-stdin). Without any: the user cannot
        /// sign in with a password until one is set.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// "First Last".
        #[arg(long)]
        name: String,
        /// Active, Inactive or Closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        locale: Option<String>,
    },
    /// List users.
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        offset: i64,
    },
    /// Show one user by id or e-mail.
    Show { user: String },
    /// Set a user's status: Active, Inactive or Closed.
    SetStatus { user: String, status: String },
    /// Make a user an administrator (the admin API and console).
    GrantAdmin { user: String },
    /// Take the admin role from a user (never from the last administrator).
    RevokeAdmin { user: String },
    /// Clear a user's failed sign-in count, so they can sign in again at once.
    Unlock { user: String },
    /// Print a single-use sign-up link for EMAIL (registration = "invite"),
    /// valid seven days.
    Invite { email: String },
    /// Allow or disallow single sign-on for a user: on or off.
    SetSso { user: String, value: String },
    /// Remove every second factor of a user (lost phone and recovery
    /// codes): they sign in with their password alone until they set one up.
    #[command(name = "reset-2fa")]
    Reset2fa { user: String },
    /// Show a user's groups, or replace them with --set (comma-separated;
    /// `--set ""` removes every group).
    Groups {
        user: String,
        #[arg(long)]
        set: Option<String>,
    },
    /// Set a user's password: prompted for on a terminal, or read from
    /// standard input with --password-stdin. Ends the user's sessions and
    /// revokes their tokens.
    SetPassword {
        user: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A password from `--password-stdin`, or a prompt without echo.
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    use std::io::{BufRead, IsTerminal};
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            return Err(Failure("--password-stdin: standard input held no password".into()));
        }
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure("no terminal to prompt on: pass the password with --password-stdin".into()));
    }
    let p = rpassword::prompt_password("New password: ")?;
    if rpassword::prompt_password("Repeat it: ")? != p {
        return Err(Failure("the passwords differ".into()));
    }
    Ok(p)
}

// Parsed once per process: the size of the `Add` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client; prints its id and secret once.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// authorization_code, refresh_token, client_credentials, single_sign_on (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Space-separated scopes the client may receive.
        #[arg(long, default_value = "openid profile email")]
        scope: String,
        #[arg(long, default_value = "")]
        description: String,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// A first-party client (no consent screen).
        #[arg(long)]
        first_party: bool,
        /// ID token algorithm: RS256, ES256 or EdDSA.
        #[arg(long)]
        id_token_alg: Option<String>,
        /// Bind the client to an account (single_sign_on clients).
        #[arg(long)]
        account: Option<i64>,
        /// Attach the client to a connector plugin (e.g. ipb) that shapes its claims.
        #[arg(long)]
        connector: Option<String>,
        /// A single_sign_on client bound to no account may name any user
        /// (`user_id`): it can then sign in as anyone.
        #[arg(long)]
        may_name_users: bool,
        /// OpenID Connect Back-Channel Logout: where logout tokens are posted.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// OpenID Connect Front-Channel Logout: loaded in an iframe at sign-out.
        #[arg(long)]
        frontchannel_logout_uri: Option<String>,
        /// Everyone signing in to this client must use a second factor.
        #[arg(long = "require-2fa")]
        require_2fa: bool,
    },
    /// List clients.
    List,
    /// Show one client by numeric id or client id.
    Show { client: String },
    /// Remove a client and every token issued to it.
    Remove { client: String },
    /// Print what to enter in the client app (its connector plugin's setup
    /// instructions, e.g. a forum's login-method form).
    Setup {
        client: String,
        /// Reset the client's secret and show the new one (once) in the instructions.
        #[arg(long)]
        reset_secret: bool,
    },
    /// Give a client to a connector plugin (e.g. ipb), or `none` to take it away.
    SetConnector { client: String, connector: String },
}

#[derive(Debug, Subcommand)]
pub enum ApiCredentialCommand {
    /// Create an admin API credential; prints identifier and secret once.
    Add {
        /// An allowed action (repeatable), e.g. CreateOAuthCredential.
        #[arg(long = "action")]
        actions: Vec<String>,
        /// A role: "authentication" (every OAuth and SSO action).
        #[arg(long)]
        role: Option<String>,
        /// An IP address allowed to use it (repeatable). None: it works only
        /// from addresses the plugin itself allows (for WHMCS:
        /// api_allowed_ips or the access key); otherwise every call is refused.
        #[arg(long = "allow-ip")]
        allow_ips: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List API credentials.
    List,
    /// Remove an API credential.
    Remove { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account (a billable entity, WHMCS's "client") owned by a user.
    Add {
        /// The owner: user id or e-mail.
        #[arg(long)]
        owner: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Add a user to an account.
    AddMember { account: i64, user: String },
    /// Show an account and its owner.
    Show { account: i64 },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The newest audit events (time, kind, user, client, IP, reason).
    List {
        /// Only events of this kind (e.g. sso.denied, login.failed), or of
        /// every kind starting with a prefix ending in `.` (e.g. oauth.).
        #[arg(long)]
        kind: Option<String>,
        /// Only events about this user (ID or e-mail).
        #[arg(long)]
        user: Option<String>,
        /// Only events about this client (its client id).
        #[arg(long)]
        client: Option<String>,
        /// Only events from this IP address.
        #[arg(long)]
        ip: Option<String>,
        /// Only events this recent: a duration (30m, 24h, 7d) or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

fn engine(g: &GlobalArgs) -> Result<Engine, Failure> {
    let cfg = load_config(g)?;
    // Without --config / --database-url (or their environment variables)
    // the database is a guess: say which one was opened or created.
    let implicit = g.config.is_none()
        && g.database_url.is_none()
        && std::env::var_os("GATEHOUSE_CONFIG").is_none()
        && std::env::var_os("GATEHOUSE_DATABASE_URL").is_none();
    let url = cfg.database_url();
    let existed = !implicit || std::path::Path::new(url.trim_start_matches("sqlite://")).exists();
    let engine = open_engine(&cfg).map_err(Failure)?;
    if implicit {
        let what = if existed { "using" } else { "created" };
        eprintln!("gatehouse: {what} the database {} (no --config or --database-url given)", engine.database());
    }
    Ok(engine)
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id, "sub": u.uuid, "email": u.email, "email_verified": u.email_verified,
        "name": u.display_name, "given_name": u.given_name, "family_name": u.family_name,
        "locale": u.locale, "status": u.status, "allow_sso": u.allow_sso, "is_admin": u.is_admin,
        "created_at": u.created_at, "updated_at": u.updated_at,
    })
}

fn print_user(g: &GlobalArgs, u: &User) {
    if g.json {
        println!("{}", user_json(u));
    } else {
        println!(
            "user {}\n  email: {}\n  name: {}\n  status: {}{}\n  single sign-on: {}\n  created: {}",
            u.id,
            u.email,
            u.display_name,
            u.status,
            if u.is_admin { " (administrator)" } else { "" },
            if u.allow_sso { "allowed" } else { "off" },
            format_timestamp(u.created_at)
        );
    }
}

pub fn user(g: &GlobalArgs, cmd: UserCommand) -> Result<(), Failure> {
    let mut engine = engine(g)?;
    // Closing an account or setting a password ends sessions: their
    // back-channel logout tokens are delivered before the command returns.
    let (sender, logouts) = crate::logout_sender::new();
    engine.set_logout_sender(std::sync::Arc::new(sender));
    let result = user_command(g, &engine, cmd);
    logouts.drain(&engine);
    result
}

fn user_command(g: &GlobalArgs, engine: &Engine, cmd: UserCommand) -> Result<(), Failure> {
    match cmd {
        UserCommand::Add { email, password, password_stdin, name, status, locale } => {
            let status = status.map(|s| s.parse::<UserStatus>()).transpose()?;
            if password.is_some() {
                eprintln!("warning: a password given with --password lands in shell history and `ps`; prefer --password-stdin");
            }
            let password = if password_stdin { Some(read_password(true)?) } else { password };
            let no_password = password.is_none();
            let u = engine.create_user(UserInput { email, password, name, status, locale, ..Default::default() })?;
            print_user(g, &u);
            if no_password {
                eprintln!(
                    "note: user {} has no password and cannot sign in with one until `gatehouse user set-password {}` sets it",
                    u.id, u.email
                );
            }
        }
        UserCommand::SetPassword { user, password_stdin } => {
            let u = engine.find_user(&user)?;
            let password = read_password(password_stdin)?;
            let u = engine.set_password(u.id, &password)?;
            if g.json {
                println!("{}", user_json(&u));
            } else {
                println!("password set for user {} ({}); their sessions ended and tokens were revoked", u.id, u.email);
            }
        }
        UserCommand::List { limit, offset } => {
            let users = engine.list_users(limit, offset)?;
            if g.json {
                println!("{}", serde_json::Value::Array(users.iter().map(user_json).collect()));
            } else {
                for u in &users {
                    println!("{}\t{}\t{}\t{}", u.id, u.email, u.status, u.display_name);
                }
            }
        }
        UserCommand::Show { user } => print_user(g, &engine.find_user(&user)?),
        UserCommand::GrantAdmin { user } => {
            let u = engine.find_user(&user)?;
            print_user(g, &engine.set_admin(u.id, true)?);
        }
        UserCommand::RevokeAdmin { user } => {
            let u = engine.find_user(&user)?;
            print_user(g, &engine.set_admin(u.id, false)?);
        }
        UserCommand::Invite { email } => {
            let link = engine.invite(&email)?;
            if g.json {
                println!("{}", json!({ "email": email, "link": link }));
            } else {
                println!("invitation for {email} (works once, for 7 days):\n{link}");
            }
        }
        UserCommand::Unlock { user } => {
            let u = engine.find_user(&user)?;
            print_user(g, &engine.unlock_user(u.id)?);
        }
        UserCommand::SetStatus { user, status } => {
            let status: UserStatus = status.parse()?;
            let u = engine.find_user(&user)?;
            print_user(g, &engine.set_user_status(u.id, status)?);
        }
        UserCommand::Reset2fa { user } => {
            let u = engine.find_user(&user)?;
            let n = engine.reset_second_factors(u.id)?;
            if g.json {
                println!("{}", json!({ "user_id": u.id, "removed": n }));
            } else {
                println!("removed {n} second factor(s) of {}", u.email);
            }
        }
        UserCommand::Groups { user, set } => {
            let u = engine.find_user(&user)?;
            let groups = match set {
                Some(list) => {
                    let wanted: Vec<String> =
                        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
                    engine.set_user_groups(u.id, &wanted)?.groups
                }
                None => engine.groups_of_user(u.id)?,
            };
            if g.json {
                println!("{}", json!({ "user_id": u.id, "groups": groups }));
            } else {
                println!("{}", groups.join("\n"));
            }
        }
        UserCommand::SetSso { user, value } => {
            let allow = match value.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => true,
                "off" | "false" | "no" | "0" => false,
                other => return Err(Failure(format!("{other:?}: expected on or off"))),
            };
            let u = engine.find_user(&user)?;
            print_user(g, &engine.set_user_allow_sso(u.id, allow)?);
        }
    }
    Ok(())
}

fn client_json(c: &Client) -> serde_json::Value {
    json!({
        "id": c.id, "client_id": c.client_id, "name": c.name, "description": c.description,
        "grant_types": c.grant_types, "scope": c.scopes.to_string(), "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris, "public": c.is_public,
        "first_party": c.first_party, "account": c.bound_account_id, "id_token_alg": c.id_token_alg,
        "connector": c.connector, "may_name_users": c.may_name_users,
        "backchannel_logout_uri": c.backchannel_logout_uri, "frontchannel_logout_uri": c.frontchannel_logout_uri,
        "require_2fa": c.require_2fa,
        "created_at": c.created_at,
    })
}

pub fn client(g: &GlobalArgs, cmd: ClientCommand) -> Result<(), Failure> {
    let engine = engine(g)?;
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            scope,
            description,
            public,
            first_party,
            id_token_alg,
            account,
            connector,
            may_name_users,
            backchannel_logout_uri,
            frontchannel_logout_uri,
            require_2fa,
        } => {
            let grant_types = parse_grant_types(&grants.join(" "))?;
            if let Some(a) = account {
                engine.account(a)?;
            }
            let reg = engine.register_client(ClientInput {
                name,
                description,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes: ScopeSet::parse(&scope),
                is_public: public,
                first_party,
                bound_account_id: account,
                id_token_alg,
                connector,
                may_name_users,
                backchannel_logout_uri,
                frontchannel_logout_uri,
                require_2fa,
                ..Default::default()
            })?;
            // With a connector: its setup instructions, with the fresh secret.
            let setup = reg
                .client
                .connector
                .is_some()
                .then(|| super::setup::for_new_client(g, &engine, &reg.client, reg.secret.clone()))
                .flatten();
            if g.json {
                let mut v = client_json(&reg.client);
                v["client_secret"] = json!(reg.secret);
                if let Some(i) = &setup {
                    v["setup"] = super::setup::to_json(i);
                }
                println!("{v}");
            } else {
                println!("client {} registered", reg.client.id);
                println!("  client_id:     {}", reg.client.client_id);
                match &reg.secret {
                    Some(s) => println!(
                        "  client_secret: {s}\n  (the secret is shown only now; Gatehouse keeps only its digest)"
                    ),
                    None => println!("  public client: no secret, PKCE required"),
                }
                if let Some(i) = &setup {
                    println!();
                    super::setup::print_human(i);
                }
            }
        }
        ClientCommand::List => {
            let clients = engine.clients_as(Actor::Operator)?;
            if g.json {
                println!("{}", serde_json::Value::Array(clients.iter().map(client_json).collect()));
            } else {
                for c in &clients {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.id,
                        c.client_id,
                        c.name,
                        gatehouse_core::client::join_grant_types(&c.grant_types)
                    );
                }
            }
        }
        ClientCommand::Show { client } => {
            let c = engine.find_client(&client)?;
            if g.json {
                println!("{}", client_json(&c));
            } else {
                println!("{:#}", client_json(&c));
            }
        }
        ClientCommand::Setup { client, reset_secret } => return super::setup::run(g, &client, reset_secret),
        ClientCommand::SetConnector { client, connector } => {
            let c = engine.find_client(&client)?;
            let connector = Some(connector.trim()).filter(|c| !c.eq_ignore_ascii_case("none") && !c.is_empty());
            let c = engine.set_client_connector(c.id, connector)?;
            if g.json {
                println!("{}", client_json(&c));
            } else {
                println!("client {} now uses connector {}", c.client_id, c.connector.as_deref().unwrap_or("none"));
            }
        }
        ClientCommand::Remove { client } => {
            let c = engine.find_client(&client)?;
            engine.remove_client(c.id)?;
            if g.json {
                println!("{}", json!({ "removed": c.id, "client_id": c.client_id }));
            } else {
                println!("client {} ({}) removed", c.id, c.client_id);
            }
        }
    }
    Ok(())
}

fn api_json(c: &ApiCredential) -> serde_json::Value {
    json!({
        "id": c.id, "identifier": c.identifier, "description": c.description, "role": c.role,
        "actions": c.action_list(), "allowed_ips": c.ip_list(), "created_at": c.created_at,
    })
}

pub fn api_credential(g: &GlobalArgs, cmd: ApiCredentialCommand) -> Result<(), Failure> {
    let engine = engine(g)?;
    match cmd {
        ApiCredentialCommand::Add { actions, role, allow_ips, description } => {
            let created = engine.create_api_credential(&description, role.as_deref(), &actions, &allow_ips)?;
            if g.json {
                let mut v = api_json(&created.credential);
                v["secret"] = json!(created.secret);
                println!("{v}");
            } else {
                println!("API credential {} created", created.credential.id);
                println!("  identifier: {}", created.credential.identifier);
                println!("  secret:     {}", created.secret);
                println!("  (the secret is shown only now; Gatehouse keeps only its digest)");
            }
        }
        ApiCredentialCommand::List => {
            let list = engine.api_credentials()?;
            if g.json {
                println!("{}", serde_json::Value::Array(list.iter().map(api_json).collect()));
            } else {
                for c in &list {
                    println!("{}\t{}\t{}\t{}", c.id, c.identifier, c.role.as_deref().unwrap_or("-"), c.allowed_ips);
                }
            }
        }
        ApiCredentialCommand::Remove { id } => {
            engine.remove_api_credential(id)?;
            if g.json {
                println!("{}", json!({ "removed": id }));
            } else {
                println!("API credential {id} removed");
            }
        }
    }
    Ok(())
}

fn account_json(a: &Account) -> serde_json::Value {
    json!({ "id": a.id, "name": a.name, "owner_user_id": a.owner_user_id, "created_at": a.created_at })
}

pub fn account(g: &GlobalArgs, cmd: AccountCommand) -> Result<(), Failure> {
    let engine = engine(g)?;
    let acc = match cmd {
        AccountCommand::Add { owner, name } => {
            let owner = engine.find_user(&owner)?;
            engine.create_account(owner.id, &name)?
        }
        AccountCommand::AddMember { account, user } => {
            let user = engine.find_user(&user)?;
            engine.add_account_member(account, user.id)?
        }
        AccountCommand::Show { account } => engine.account(account)?,
    };
    if g.json {
        println!("{}", account_json(&acc));
    } else {
        println!("account {} ({}), owner user {}", acc.id, acc.name, acc.owner_user_id);
    }
    Ok(())
}

pub fn audit(g: &GlobalArgs, cmd: AuditCommand) -> Result<(), Failure> {
    let engine = engine(g)?;
    let AuditCommand::List { kind, user, client, ip, since, limit } = cmd;
    let user_id = match user {
        Some(u) => Some(engine.find_user(&u)?.id),
        None => None,
    };
    let since = since.map(|s| parse_since(&s, gatehouse_core::time::now())).transpose()?;
    let filter = gatehouse_engine::model::AuditFilter {
        kind,
        user_id,
        client_id: client,
        ip,
        since,
        until: None,
        before_id: None,
        limit,
    };
    let events = engine.search_audit(&filter)?;
    // Written line by line; a closed pipe (`| head`) ends the listing quietly.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let dash = |v: Option<String>| v.filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into());
    let written = if g.json {
        let v: Vec<_> = events
            .iter()
            .map(|e| {
                json!({ "id": e.id, "at": e.at, "kind": e.kind, "user_id": e.user_id, "client_id": e.client_id,
                        "ip": e.ip, "message": e.message, "reason": reason_of(&e.details),
                        "request_id": detail(&e.details, "request_id") })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(v))
    } else {
        events.iter().try_for_each(|e| {
            writeln!(
                out,
                "{}\t{}\tuser={}\tclient={}\tip={}\treason={}\t{}",
                format_timestamp(e.at),
                e.kind,
                dash(e.user_id.map(|u| u.to_string())),
                dash(e.client_id.clone()),
                dash(e.ip.clone()),
                dash(reason_of(&e.details)),
                e.message
            )
        })
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure(e.to_string())),
        _ => Ok(()),
    }
}

/// `--since`: `30m`, `24h`, `7d`, `90s`, or Unix seconds.
fn parse_since(s: &str, now: i64) -> Result<i64, Failure> {
    let s = s.trim();
    let bad = || Failure(format!("--since {s:?}: expected a duration such as 30m, 24h or 7d, or Unix seconds"));
    if let Ok(ts) = s.parse::<i64>() {
        return Ok(ts);
    }
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now - secs)
}

fn detail(details: &str, key: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(details).ok()?.get(key)?.as_str().map(str::to_string)
}

/// The reason code of a refusal, when the event has one.
fn reason_of(details: &str) -> Option<String> {
    detail(details, "reason")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_timestamps() {
        assert_eq!(parse_since("24h", 100_000).ok(), Some(100_000 - 86_400));
        assert_eq!(parse_since("30m", 10_000).ok(), Some(10_000 - 1800));
        assert_eq!(parse_since("1700000000", 5).ok(), Some(1_700_000_000));
        assert!(parse_since("soon", 5).is_err());
        assert!(parse_since("", 5).is_err());
    }
}

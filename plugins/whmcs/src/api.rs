//! The admin API, `/includes/api.php` (docs/protocols/whmcs.md §9): authentication,
//! the IP allow-list, and the OAuth-credential and SSO actions.

use std::collections::BTreeMap;

use gatehouse_plugin_api::prelude::*;
use subtle::ConstantTimeEq;

use crate::envelope::{Envelope, ResponseType};
use crate::{Whmcs, SSO_PATH};

/// The request's parameters: body first, then query (WHMCS reads
/// `$_REQUEST`); names are matched case-insensitively (the seed tutorial
/// sends `granttype` where the documentation says `grantType`).
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn from_request(req: &HttpRequest) -> Params {
        let mut v = req.form_params();
        v.extend(req.query_params());
        Params(v)
    }

    /// The first value of a parameter, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// The first value of a parameter exactly as sent (passwords are not trimmed).
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The first of several names that is present.
    pub fn any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }
}

/// Answers one API request in the caller's response type.
pub fn handle(plugin: &Whmcs, req: &HttpRequest) -> HttpResponse {
    if !matches!(req.method.as_str(), "GET" | "POST") {
        return Envelope::error(405, "Unsupported request method: use POST")
            .render(ResponseType::Json, "")
            .header("Allow", "GET, POST");
    }
    let params = Params::from_request(req);
    let action = params.get("action").unwrap_or_default().to_string();
    let format = match ResponseType::parse(params.get("responsetype")) {
        Ok(f) => f,
        // The format is unknown, so the error goes out as JSON.
        Err(msg) => return Envelope::error(400, msg).render(ResponseType::Json, &action),
    };
    let envelope = match authorize(plugin, req, &params, &action) {
        Err(denied) => denied,
        Ok(credential) => run_action(plugin, req, &params, &action, &credential),
    };
    envelope.render(format, &action)
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v.map(|s| s.to_ascii_lowercase()).as_deref(), Some("1" | "true" | "yes" | "on"))
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The actions this plugin answers (lower case); any other, or none, is
/// WHMCS's `Command Not Found`.
const ACTIONS: [&str; 7] = [
    "createoauthcredential",
    "listoauthcredentials",
    "updateoauthcredential",
    "deleteoauthcredential",
    "createssotoken",
    "getclientsdetails",
    "validatelogin",
];

fn known_action(action: &str) -> bool {
    ACTIONS.contains(&action.to_ascii_lowercase().as_str())
}

/// The host's answer to `api_credentials.check`, read with one field more
/// than [`ApiCredentialVerdict`] has today.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
struct Verdict {
    /// The credential, when identifier and secret are right.
    credential: Option<ApiCredential>,
    /// Whether its role or action list allows the action.
    allowed: bool,
    /// The allowed IPs of the credential the identifier names, whether or
    /// not the secret is right; `None` when no credential has that
    /// identifier. A host that does not send it (the current one) makes a
    /// wrong secret look like an unknown identifier, so the caller is told
    /// `Invalid IP` unless the global list admits it.
    identifier_allowed_ips: Option<Vec<String>>,
}

fn check_credential(plugin: &Whmcs, identifier: &str, secret: &str, action: &str) -> Result<Verdict, Error> {
    plugin.host.call(
        host_methods::API_CREDENTIAL_CHECK,
        &ApiCredentialCheck { identifier: identifier.into(), secret: secret.into(), action: action.into() },
    )
}

/// Authentication and authorisation, in WHMCS's order: access key, IP
/// allow-list, credentials, the action's existence, then the credential's
/// permission for it.
fn authorize(plugin: &Whmcs, req: &HttpRequest, params: &Params, action: &str) -> Result<ApiCredential, Envelope> {
    let ip = req.peer_addr.clone().unwrap_or_default();
    let mut ip_allowed = plugin.config.api_allowed_ips.iter().any(|a| same_ip(a, &ip));
    if params.has("accesskey") {
        let given = params.get("accesskey").unwrap_or_default();
        match &plugin.config.access_key {
            Some(key) if ct_eq(key, given) => ip_allowed = true,
            _ => return Err(Envelope::error(403, "Invalid Access Key")),
        }
    }
    let identifier = params.any(&["identifier", "username"]);
    let secret = params.any(&["secret", "password"]);
    let (Some(identifier), Some(secret)) = (identifier, secret) else {
        return Err(if ip_allowed {
            Envelope::error(401, "Invalid or missing credentials")
        } else {
            Envelope::error(403, format!("Invalid IP {ip}"))
        });
    };
    let verdict = check_credential(plugin, identifier, secret, action)
        .map_err(|e| Envelope::error(500, format!("An internal error occurred: {}", e.message)))?;
    decide(&ip, ip_allowed, verdict, action)
}

/// The verdict on an authenticated-or-not caller at `ip` (`ip_allowed`:
/// by the global list or the access key).
fn decide(ip: &str, ip_allowed: bool, verdict: Verdict, action: &str) -> Result<ApiCredential, Envelope> {
    // A credential's own IP list extends the global restriction for it.
    let admits = |own: &[String]| ip_allowed || own.iter().any(|a| same_ip(a, ip));
    let invalid_ip = || Envelope::error(403, format!("Invalid IP {ip}"));
    let Some(credential) = verdict.credential else {
        // A wrong secret for a credential that admits the caller is the
        // secret's fault; an unknown identifier gets no IP exception.
        return Err(if verdict.identifier_allowed_ips.as_deref().is_some_and(admits) || ip_allowed {
            Envelope::error(401, "Authentication Failed")
        } else {
            invalid_ip()
        });
    };
    if !admits(&credential.allowed_ips) {
        return Err(invalid_ip());
    }
    if !known_action(action) {
        return Err(Envelope::error(200, "Command Not Found"));
    }
    if !verdict.allowed {
        return Err(Envelope::error(
            403,
            format!("Invalid Permissions: API action \"{}\" is not allowed", action.to_ascii_lowercase()),
        ));
    }
    Ok(credential)
}

fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y || to_v4(x) == to_v4(y),
        _ => false,
    }
}

/// `::ffff:127.0.0.1` and `127.0.0.1` are the same caller.
fn to_v4(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn run_action(
    plugin: &Whmcs,
    req: &HttpRequest,
    params: &Params,
    action: &str,
    credential: &ApiCredential,
) -> Envelope {
    let result = match action.to_ascii_lowercase().as_str() {
        "createoauthcredential" => create_oauth_credential(plugin, params),
        "listoauthcredentials" => list_oauth_credentials(plugin, params),
        "updateoauthcredential" => update_oauth_credential(plugin, params),
        "deleteoauthcredential" => delete_oauth_credential(plugin, params),
        "createssotoken" => create_sso_token(plugin, params),
        "getclientsdetails" => get_clients_details(plugin, params),
        "validatelogin" => validate_login(plugin, params, req),
        // `authorize` lets through only the actions in `ACTIONS`.
        _ => Err(ActionError::Refused("Command Not Found".into())),
    };
    match result {
        Ok(env) => {
            let _ = plugin.host.audit(&AuditLine {
                kind: "api.call".into(),
                message: format!("API action {action} called by API credential ID {}", credential.id),
                details: json!({ "action": action, "credential_id": credential.id }),
                ..Default::default()
            });
            env
        }
        Err(ActionError::Refused(msg)) => Envelope::error(200, msg),
        Err(ActionError::Host(e)) => {
            plugin.host.log(LogLevel::Error, format!("API action {action} failed: {e}"));
            Envelope::error(500, "An internal error occurred")
        }
    }
}

/// Why an action did not succeed.
enum ActionError {
    /// The caller's mistake: the documented message.
    Refused(String),
    /// The host failed.
    Host(Error),
}

type ActionResult = Result<Envelope, ActionError>;

fn refused<T>(msg: impl Into<String>) -> Result<T, ActionError> {
    Err(ActionError::Refused(msg.into()))
}

/// Host errors the caller caused (bad URI, unknown scope) are shown to
/// them; the rest are the server's.
fn host_err(e: Error) -> ActionError {
    match e.kind {
        ErrorKind::Invalid | ErrorKind::Conflict | ErrorKind::NotFound => ActionError::Refused(e.message),
        _ => ActionError::Host(e),
    }
}

const GRANT_TYPES: [&str; 2] = ["authorization_code", "single_sign_on"];

fn split_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

/// Checks scopes against the catalog: the documented errors.
fn check_scopes(plugin: &Whmcs, scopes: &[String]) -> Result<(), ActionError> {
    if scopes.is_empty() {
        return refused("At least one valid scope is required.");
    }
    let catalog = plugin.host.scopes().map_err(ActionError::Host)?;
    if let Some(bad) = scopes.iter().find(|s| !catalog.iter().any(|c| &c.name == *s)) {
        return refused(format!("The requested scope \"{bad}\" is invalid."));
    }
    Ok(())
}

/// The Gatehouse grant types for a WHMCS grant type.
fn grants_for(plugin: &Whmcs, grant_type: &str) -> Vec<String> {
    let mut g = vec![grant_type.to_string()];
    if grant_type == "authorization_code" && plugin.config.refresh_tokens {
        g.push("refresh_token".into());
    }
    g
}

fn parse_service_id(plugin: &Whmcs, raw: &str) -> Result<i64, ActionError> {
    let id: i64 = match raw.parse() {
        Ok(id) if id > 0 => id,
        _ => return refused("A valid Service ID is required."),
    };
    match plugin.host.account(id) {
        Ok(a) => Ok(a.id),
        Err(e) if e.kind == ErrorKind::NotFound => refused("A valid Service ID is required."),
        Err(e) => Err(ActionError::Host(e)),
    }
}

fn create_oauth_credential(plugin: &Whmcs, p: &Params) -> ActionResult {
    let Some(grant_type) = p.get("grantType") else {
        return refused("A valid grant type is required.");
    };
    if !GRANT_TYPES.contains(&grant_type) {
        return refused(format!("The requested grant type \"{grant_type}\" is invalid."));
    }
    let name = p.get("name");
    if grant_type == "authorization_code" && name.is_none() {
        return refused("A name for the Client Credential is required.");
    }
    let service_id = p.get("serviceId");
    if grant_type == "single_sign_on" && service_id.is_none() {
        return refused("A service ID is required for the single sign-on grant type.");
    }
    let account = service_id.map(|s| parse_service_id(plugin, s)).transpose()?;
    let scopes = split_list(p.get("scope"));
    check_scopes(plugin, &scopes)?;
    let created = plugin
        .host
        .create_client(&NewClient {
            name: name.unwrap_or("Single Sign-On").to_string(),
            description: p.get("description").unwrap_or_default().to_string(),
            logo_uri: p.get("logoUri").unwrap_or_default().to_string(),
            redirect_uris: split_list(p.get("redirectUri")),
            grant_types: grants_for(plugin, grant_type),
            scopes,
            bound_account_id: account,
            client_id_prefix: Some(plugin.config.company_name.clone()),
            connector: Some("whmcs".into()),
            ..Default::default()
        })
        .map_err(host_err)?;
    Ok(Envelope::success(vec![
        ("credentialId", json!(created.client.id)),
        ("clientIdentifier", json!(created.client.client_id)),
        ("clientSecret", json!(created.secret.unwrap_or_default())),
    ]))
}

fn timestamp(ts: i64) -> String {
    // `YYYY-MM-DD HH:MM:SS`, UTC, without a date crate: civil-from-days.
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}")
}

fn credential_json(c: &Client) -> Value {
    json!({
        "credentialId": c.id,
        "name": c.name,
        "description": c.description,
        "grantTypes": c.grant_types.join(" "),
        "scope": c.scopes.join(" "),
        "clientIdentifier": c.client_id,
        // Gatehouse keeps only a digest of the secret.
        "clientSecret": "",
        "serviceId": c.bound_account_id.unwrap_or(0),
        "logoUri": c.logo_uri,
        "redirectUri": c.redirect_uris,
        "createdAt": timestamp(c.created_at),
        "updatedAt": timestamp(c.updated_at),
    })
}

fn list_oauth_credentials(plugin: &Whmcs, p: &Params) -> ActionResult {
    // The host lists only this plugin's clients; the internal SSO client is
    // the plugin's own business, never the API caller's.
    let internal = internal_sso_client(plugin)?;
    let mut clients = plugin.host.clients().map_err(ActionError::Host)?;
    clients.retain(|c| Some(&c.client_id) != internal.as_ref());
    if let Some(g) = p.get("grantType") {
        clients.retain(|c| c.grant_types.iter().any(|x| x == g));
    }
    let descending = p.get("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    match p.get("sortField").map(|f| f.to_ascii_lowercase()).as_deref() {
        Some("name") => clients.sort_by(|a, b| a.name.cmp(&b.name)),
        Some("createdat" | "created_at") => clients.sort_by_key(|c| (c.created_at, c.id)),
        Some("updatedat" | "updated_at") => clients.sort_by_key(|c| (c.updated_at, c.id)),
        Some("clientidentifier" | "identifier") => clients.sort_by(|a, b| a.client_id.cmp(&b.client_id)),
        _ => clients.sort_by_key(|c| c.id),
    }
    if descending {
        clients.reverse();
    }
    if let Some(limit) = p.get("limit").and_then(|l| l.parse::<usize>().ok()) {
        clients.truncate(limit);
    }
    let list: Vec<Value> = clients.iter().map(credential_json).collect();
    Ok(Envelope::success(vec![("totalresults", json!(list.len())), ("clients", Value::Array(list))]))
}

/// Finds the credential an update or delete names: only one the API
/// created (the host hides the rest), never the internal SSO client.
fn credential_from(plugin: &Whmcs, p: &Params, allow_identifier: bool) -> Result<Client, ActionError> {
    let internal = internal_sso_client(plugin)?;
    let found = find_credential(plugin, p, allow_identifier)?;
    if Some(&found.client_id) == internal.as_ref() {
        return refused(if p.get("credentialId").is_some() {
            "Invalid Credential ID provided."
        } else {
            "Invalid Client Identifier provided."
        });
    }
    Ok(found)
}

fn find_credential(plugin: &Whmcs, p: &Params, allow_identifier: bool) -> Result<Client, ActionError> {
    if let Some(id) = p.get("credentialId") {
        let Ok(id) = id.parse::<i64>() else { return refused("Invalid Credential ID provided.") };
        return match plugin.host.client(&id.to_string()) {
            Ok(c) if c.id == id => Ok(c),
            Ok(_) => refused("Invalid Credential ID provided."),
            Err(e) if e.kind == ErrorKind::NotFound => refused("Invalid Credential ID provided."),
            Err(e) => Err(ActionError::Host(e)),
        };
    }
    if allow_identifier {
        if let Some(ident) = p.any(&["clientIdentifier", "clientApiIdentifier"]) {
            return match plugin.host.client(ident) {
                Ok(c) if c.client_id == ident => Ok(c),
                Ok(_) => refused("Invalid Client Identifier provided."),
                Err(e) if e.kind == ErrorKind::NotFound => refused("Invalid Client Identifier provided."),
                Err(e) => Err(ActionError::Host(e)),
            };
        }
        return refused("A Credential ID or Client Identifier is required.");
    }
    refused("Invalid Credential ID provided.")
}

fn update_oauth_credential(plugin: &Whmcs, p: &Params) -> ActionResult {
    let current = credential_from(plugin, p, true)?;
    let grant_types = match p.get("grantType") {
        Some(g) if !GRANT_TYPES.contains(&g) => {
            return refused(format!("The requested grant type \"{g}\" is invalid."))
        }
        Some(g) => Some(grants_for(plugin, g)),
        None => None,
    };
    let scopes = match p.get("scope") {
        Some(s) => {
            let list = split_list(Some(s));
            check_scopes(plugin, &list)?;
            Some(list)
        }
        None => None,
    };
    let account = p.get("serviceId").map(|s| parse_service_id(plugin, s)).transpose()?;
    let reset = truthy(p.get("resetSecret"));
    let updated = plugin
        .host
        .update_client(&ClientUpdate {
            id: current.id,
            name: p.get("name").map(str::to_string),
            description: p.get("description").map(str::to_string),
            logo_uri: p.get("logoUri").map(str::to_string),
            grant_types,
            scopes,
            redirect_uris: p.get("redirectUri").map(|r| split_list(Some(r))),
            bound_account_id: account.map(Some),
            reset_secret: reset,
        })
        .map_err(host_err)?;
    let mut fields = vec![("credentialId", json!(updated.client.id))];
    if let Some(secret) = updated.secret.filter(|_| reset) {
        fields.push(("newClientSecret", json!(secret)));
    }
    Ok(Envelope::success(fields))
}

fn delete_oauth_credential(plugin: &Whmcs, p: &Params) -> ActionResult {
    let current = credential_from(plugin, p, false)?;
    plugin.host.delete_client(current.id).map_err(host_err)?;
    Ok(Envelope::success(vec![("credentialId", json!(current.id))]))
}

const SSO_CLIENT_KEY: &str = "api_sso_client_id";

/// The client id of the internal SSO client, if one was ever made.
fn internal_sso_client(plugin: &Whmcs) -> Result<Option<String>, ActionError> {
    if let Some(id) = plugin.sso_client.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return Ok(Some(id));
    }
    plugin.host.kv_get(SSO_CLIENT_KEY).map_err(ActionError::Host)
}

/// Forgets the cached SSO client (the operator removed it).
fn forget_sso_client(plugin: &Whmcs) {
    *plugin.sso_client.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The client that issues API-made SSO tokens: created once, remembered in
/// the plugin's key-value store, and made again if the operator removed it.
fn sso_client(plugin: &Whmcs) -> Result<String, ActionError> {
    let mut cached = plugin.sso_client.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = cached.as_ref() {
        return Ok(id.clone());
    }
    const KEY: &str = SSO_CLIENT_KEY;
    if let Some(id) = plugin.host.kv_get(KEY).map_err(ActionError::Host)? {
        if plugin.host.client(&id).is_ok() {
            *cached = Some(id.clone());
            return Ok(id);
        }
    }
    let catalog = plugin.host.scopes().map_err(ActionError::Host)?;
    let mut scopes = vec!["clientarea:sso".to_string()];
    scopes.extend(catalog.iter().filter(|s| s.destination.is_some()).map(|s| s.name.clone()));
    let created = plugin
        .host
        .create_client(&NewClient {
            name: "WHMCS API single sign-on".into(),
            description: "Issues the tokens of the admin API's CreateSsoToken".into(),
            grant_types: vec!["single_sign_on".into()],
            scopes,
            client_id_prefix: Some(plugin.config.company_name.clone()),
            connector: Some("whmcs".into()),
            ..Default::default()
        })
        .map_err(ActionError::Host)?;
    plugin.host.kv_set(KEY, &created.client.client_id).map_err(ActionError::Host)?;
    *cached = Some(created.client.client_id.clone());
    Ok(created.client.client_id)
}

fn lookup_user(plugin: &Whmcs, key: &str) -> Result<Option<User>, ActionError> {
    match plugin.host.user(key) {
        Ok(u) => Ok(Some(u)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ActionError::Host(e)),
    }
}

fn lookup_account(plugin: &Whmcs, id: i64) -> Result<Option<Account>, ActionError> {
    match plugin.host.account(id) {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ActionError::Host(e)),
    }
}

fn create_sso_token(plugin: &Whmcs, p: &Params) -> ActionResult {
    let client_id = p.get("client_id");
    let user_id = p.get("user_id");
    if client_id.is_none() && user_id.is_none() {
        return refused("A valid client_id or user_id is required");
    }
    let account = match client_id {
        Some(raw) => match raw.parse::<i64>().ok().filter(|id| *id > 0) {
            Some(id) => match lookup_account(plugin, id)? {
                Some(a) => Some(a),
                None => return refused("Invalid client_id"),
            },
            None => return refused("Invalid client_id"),
        },
        None => None,
    };
    let user = match user_id {
        Some(raw) => {
            let Some(id) = raw.parse::<i64>().ok().filter(|id| *id > 0) else { return refused("Invalid user_id") };
            let Some(user) = lookup_user(plugin, &id.to_string())? else { return refused("Invalid user_id") };
            if let Some(acc) = &account {
                let mine = plugin.host.accounts_of_user(user.id).map_err(ActionError::Host)?;
                if !mine.iter().any(|a| a.id == acc.id) {
                    return refused("Invalid user_id for client");
                }
            }
            user
        }
        None => {
            let acc = account.as_ref().expect("client_id was given");
            match lookup_user(plugin, &acc.owner_user_id.to_string())? {
                Some(u) => u,
                None => return refused("Invalid client_id"),
            }
        }
    };
    let destination = p.get("destination");
    if let Some(d) = destination {
        let catalog = plugin.host.scopes().map_err(ActionError::Host)?;
        if !catalog.iter().any(|s| s.name == d && s.destination.is_some()) {
            return refused("Invalid destination");
        }
    }
    if user.status == "Closed" || !user.allow_sso {
        let who = client_id.map(str::to_string).unwrap_or_else(|| user.id.to_string());
        return refused(format!("SSO authentication blocked for client {who}"));
    }
    let mut params = BTreeMap::new();
    for key in ["service_id", "domain_id", "sso_redirect_path"] {
        if let Some(v) = p.get(key) {
            params.insert(key.to_string(), v.to_string());
        }
    }
    let issuer = sso_client(plugin)?;
    let token = match plugin.host.issue_sso_token(&issuer, user.id, destination, params.clone()) {
        // The cached client was removed behind the plugin's back: make it anew.
        Err(e) if e.kind == ErrorKind::NotFound => {
            forget_sso_client(plugin);
            let issuer = sso_client(plugin)?;
            plugin.host.issue_sso_token(&issuer, user.id, destination, params)
        }
        other => other,
    }
    .map_err(host_err)?;
    let redirect_url = format!("{}{}?access_token={}", plugin.info.issuer, SSO_PATH, urlencode(&token.token));
    Ok(Envelope::success(vec![("access_token", json!(token.token)), ("redirect_url", json!(redirect_url))]))
}

fn urlencode(s: &str) -> String {
    let e = gatehouse_plugin_api::form::encode(&[("", s)]);
    e.strip_prefix('=').unwrap_or(&e).to_string()
}

fn get_clients_details(plugin: &Whmcs, p: &Params) -> ActionResult {
    let (user, account) = if let Some(raw) = p.any(&["clientid", "client_id"]) {
        let Some(acc) =
            raw.parse::<i64>().ok().filter(|i| *i > 0).map(|id| lookup_account(plugin, id)).transpose()?.flatten()
        else {
            return refused("Client Not Found");
        };
        let Some(owner) = lookup_user(plugin, &acc.owner_user_id.to_string())? else {
            return refused("Client Not Found");
        };
        (owner, Some(acc))
    } else if let Some(email) = p.get("email") {
        let Some(user) = lookup_user(plugin, email)? else { return refused("Client Not Found") };
        let acc = plugin.host.accounts_of_user(user.id).map_err(ActionError::Host)?.into_iter().next();
        (user, acc)
    } else {
        return refused("Client ID or Email Address Required");
    };
    let id = account.as_ref().map(|a| a.id).unwrap_or(user.id);
    let client = json!({
        "id": id,
        "userid": id,
        "uuid": user.uuid,
        "owner_user_id": user.id,
        "firstname": user.given_name,
        "lastname": user.family_name,
        "fullname": user.display_name,
        "companyname": account.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
        "email": user.email,
        "status": user.status,
        "allowSingleSignOn": i32::from(user.allow_sso),
        "language": user.locale,
    });
    Ok(Envelope::success(vec![("client", client)]))
}

/// ValidateLogin: checks a user's e-mail and password (`password2`).
/// Closed users cannot log in, so they fail like a wrong password; failures
/// are audited (the API is already limited to trusted callers by credential
/// and IP). WHMCS's `passwordhash` is not returned: Gatehouse never hands
/// out password hashes.
fn validate_login(plugin: &Whmcs, p: &Params, req: &HttpRequest) -> ActionResult {
    let invalid = "Email or Password Invalid";
    let (Some(email), Some(password)) = (p.get("email"), p.get_raw("password2")) else {
        return refused(invalid);
    };
    // The host applies the login page's rate limits (per e-mail and per
    // caller address) and audits failures; too many failures read as a
    // plain refusal.
    let checked = match plugin.host.verify_password_from(email, password, req.peer_addr.as_deref().unwrap_or("")) {
        Err(e) if e.kind == ErrorKind::Forbidden => None,
        other => other.map_err(ActionError::Host)?,
    };
    match checked {
        Some(user) if user.status != "Closed" => Ok(Envelope::success(vec![
            ("userid", json!(user.id)),
            ("twoFactorEnabled", json!(user.two_factor_enabled)),
        ])),
        found => {
            let _ = plugin.host.audit(&AuditLine {
                kind: "api.validate_login_failed".into(),
                message: format!("ValidateLogin failed for {email}"),
                user_id: found.map(|u| u.id),
                ..Default::default()
            });
            refused(invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_like_whmcs() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(timestamp(1_795_380_500), "2026-11-22 20:48:20");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn mapped_ipv4_addresses_match() {
        assert!(same_ip("127.0.0.1", "::ffff:127.0.0.1"));
        assert!(!same_ip("127.0.0.1", "127.0.0.2"));
        assert!(!same_ip("garbage", "127.0.0.1"));
    }

    fn cred(ips: &[&str]) -> ApiCredential {
        ApiCredential {
            id: 1,
            identifier: "ident".into(),
            allowed_ips: ips.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn outcome(r: Result<ApiCredential, Envelope>) -> (u16, String) {
        match r {
            Ok(c) => (0, c.identifier),
            Err(e) => (e.status, e.fields[1].1.as_str().unwrap().to_string()),
        }
    }

    const IP: &str = "127.0.0.1";

    /// Finding 16: who is told `Authentication Failed` and who `Invalid IP`.
    #[test]
    fn a_wrong_secret_is_the_secrets_fault_where_the_credential_admits_the_caller() {
        let wrong = |known: Option<&[&str]>| Verdict {
            credential: None,
            allowed: false,
            identifier_allowed_ips: known.map(|ips| ips.iter().map(|s| s.to_string()).collect()),
        };
        let failed = (401, "Authentication Failed".to_string());
        let invalid_ip = (403, "Invalid IP 127.0.0.1".to_string());
        // The credential's own list admits the caller (mapped IPv6 too).
        assert_eq!(outcome(decide(IP, false, wrong(Some(&["10.0.0.1", IP])), "ListOAuthCredentials")), failed);
        assert_eq!(outcome(decide("::ffff:127.0.0.1", false, wrong(Some(&[IP])), "")), failed);
        // It does not, or has no list: only the address is refused.
        assert_eq!(outcome(decide(IP, false, wrong(Some(&["10.0.0.1"])), "x")), invalid_ip);
        assert_eq!(outcome(decide(IP, false, wrong(Some(&[])), "x")), invalid_ip);
        // Unknown identifier (or a host that does not say): no IP exception.
        assert_eq!(outcome(decide(IP, false, wrong(None), "x")), invalid_ip);
        // Global list or access key: the secret is at fault either way.
        assert_eq!(outcome(decide(IP, true, wrong(None), "x")), failed);
        assert_eq!(outcome(decide(IP, true, wrong(Some(&["10.0.0.1"])), "x")), failed);
    }

    /// WHMCS's order once the secret is right: address, action, permission.
    #[test]
    fn a_missing_or_unknown_action_is_command_not_found() {
        let right = |ips: &[&str], allowed: bool| Verdict {
            credential: Some(cred(ips)),
            allowed,
            identifier_allowed_ips: Some(ips.iter().map(|s| s.to_string()).collect()),
        };
        let not_found = (200, "Command Not Found".to_string());
        for action in ["", "NoSuchAction", "GetClients"] {
            assert_eq!(outcome(decide(IP, false, right(&[IP], false), action)), not_found, "{action:?}");
            assert_eq!(outcome(decide(IP, false, right(&[IP], true), action)), not_found, "{action:?}");
            // The address is checked first.
            assert_eq!(outcome(decide(IP, false, right(&["10.0.0.1"], true), action)).0, 403);
        }
        assert_eq!(
            outcome(decide(IP, false, right(&[IP], false), "CreateSsoToken")),
            (403, "Invalid Permissions: API action \"createssotoken\" is not allowed".to_string())
        );
        assert_eq!(outcome(decide(IP, false, right(&[IP], true), "CreateSsoToken")), (0, "ident".to_string()));
        assert_eq!(outcome(decide(IP, true, right(&[], true), "validatelogin")), (0, "ident".to_string()));
    }

    #[test]
    fn the_verdict_reads_the_hosts_answer_with_or_without_the_new_field() {
        // What the current host sends for a wrong secret.
        let today = json!({ "credential": null, "allowed": false });
        assert_eq!(serde_json::from_value::<Verdict>(today).unwrap(), Verdict::default());
        let v: Verdict = serde_json::from_value(json!({ "credential": null, "identifier_allowed_ips": [IP] })).unwrap();
        assert_eq!(v.identifier_allowed_ips, Some(vec![IP.to_string()]));
    }

    #[test]
    fn parameters_are_case_insensitive_and_body_first() {
        let req = HttpRequest {
            query: "action=Q&granttype=x".into(),
            body: "action=CreateOAuthCredential&scope=a%20b".into(),
            ..Default::default()
        };
        let p = Params::from_request(&req);
        assert_eq!(p.get("action"), Some("CreateOAuthCredential"));
        assert_eq!(p.get("grantType"), Some("x"));
        assert_eq!(p.get("scope"), Some("a b"));
        assert_eq!(p.get("missing"), None);
    }
}

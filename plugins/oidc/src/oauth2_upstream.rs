//! Plain OAuth 2.0 upstreams (no OpenID Connect): GitHub, Discord, a WHMCS
//! install… The protocol work (authorization URL with state and PKCE, the
//! code exchange with Basic or body client authentication) is the `oauth2`
//! crate's; who signed in comes from the userinfo JSON through a claim map
//! (RFC 6901 JSON Pointers, or `a[b][0]` bracket paths).

use std::collections::BTreeMap;

use gatehouse_plugin_api::prelude::*;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

/// Where each profile field is in the userinfo JSON.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClaimMap {
    /// Required: a stable id (a number is taken as its decimal string).
    pub subject: Option<String>,
    pub email: Option<String>,
    /// Absent: the provider's e-mails count as verified only with `trust_email`.
    pub email_verified: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
    pub locale: Option<String>,
    /// A list of strings (or one string).
    pub groups: Option<String>,
}

/// A path as written (`/user/id` or `user[id]`) as an RFC 6901 pointer.
pub fn to_pointer(path: &str) -> String {
    let p = path.trim();
    if p.is_empty() || p.starts_with('/') {
        return p.to_string();
    }
    // Bracket path: a[b][0] → /a/b/0 (with ~ and / escaped per RFC 6901).
    let mut out = String::new();
    for part in p.split(['[', ']']).filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    out
}

fn get<'a>(v: &'a Value, path: &Option<String>) -> Option<&'a Value> {
    path.as_deref().and_then(|p| v.pointer(&to_pointer(p))).filter(|v| !v.is_null())
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.as_str(), "true" | "1" | "yes"),
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// The identity a userinfo answer describes. `emails` is a separate
/// e-mails answer (GitHub's `/user/emails`): the primary verified address.
pub fn map_identity(
    info: &Value,
    emails: Option<&Value>,
    map: &ClaimMap,
    trust_email: bool,
) -> Result<ExternalIdentity, Error> {
    let subject = get(info, &map.subject)
        .and_then(as_text)
        .ok_or_else(|| Error::invalid("the provider's answer has no subject at the configured path"))?;
    let mut email = get(info, &map.email).and_then(as_text);
    // `trust_email`: the operator vouches for every address this upstream gives.
    let mut verified = get(info, &map.email_verified).is_some_and(as_bool) || trust_email;
    if let Some(list) = emails.and_then(Value::as_array) {
        let primary = list.iter().find(|e| e["primary"] == true && e["verified"] == true);
        if let Some(e) = primary.and_then(|e| e["email"].as_str()) {
            email = Some(e.to_string());
            verified = true;
        }
    }
    let groups = match get(info, &map.groups) {
        Some(Value::Array(a)) => a.iter().filter_map(as_text).collect::<Vec<_>>(),
        Some(v) => as_text(v).into_iter().collect(),
        None => Vec::new(),
    };
    let mut claims = info.clone();
    if let (Some(obj), false) = (claims.as_object_mut(), groups.is_empty()) {
        obj.insert("groups".into(), serde_json::json!(groups));
    }
    if let (Some(obj), Some(p)) = (claims.as_object_mut(), get(info, &map.picture).and_then(as_text)) {
        obj.insert("picture".into(), p.into());
    }
    Ok(ExternalIdentity {
        subject,
        email_verified: email.is_some() && verified,
        email,
        name: get(info, &map.name).and_then(as_text),
        given_name: get(info, &map.given_name).and_then(as_text),
        family_name: get(info, &map.family_name).and_then(as_text),
        locale: get(info, &map.locale).and_then(as_text),
        claims,
        refresh_token: None,
    })
}

/// The three endpoints of a plain OAuth 2.0 upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
}

/// A configured plain OAuth 2.0 upstream.
#[derive(Debug)]
pub struct OAuth2Upstream {
    /// The endpoints as configured; what is missing comes from the
    /// authorization server's metadata (RFC 8414) at `metadata_url`.
    pub configured: Endpoints,
    /// RFC 8414 metadata (`<issuer>/.well-known/oauth-authorization-server`).
    pub metadata_url: Option<String>,
    /// The issuer the metadata must name (RFC 8414 §3.3).
    pub issuer: Option<String>,
    /// The metadata's endpoints, fetched once and kept for the TTL.
    pub metadata: crate::Cached<Endpoints>,
    pub emails_endpoint: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    pub body_auth: bool,
    pub pkce: bool,
    pub scopes: Vec<String>,
    pub claims: ClaimMap,
    pub trust_email: bool,
}

/// Where RFC 8414 puts an issuer's metadata: the well-known segment goes
/// between the host and the issuer's path.
pub fn metadata_url_of(issuer: &str) -> Result<String, Error> {
    let u = url::Url::parse(issuer).map_err(|e| err("issuer", e))?;
    let path = u.path().trim_end_matches('/');
    let mut out = u.clone();
    out.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    out.set_query(None);
    Ok(out.to_string())
}

type Http = openidconnect::reqwest::blocking::Client;

/// What travels in the host's state cookie.
#[derive(serde::Serialize, Deserialize)]
struct Pending {
    csrf: String,
    #[serde(default)]
    pkce_verifier: Option<String>,
}

fn err(context: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{context}: {e}"))
}

impl OAuth2Upstream {
    /// The endpoints to use: configured ones win over the metadata's.
    pub fn endpoints(&self, http: &Http) -> Result<Endpoints, Error> {
        let c = &self.configured;
        let Some(meta_url) = self
            .metadata_url
            .as_deref()
            .filter(|_| c.authorization.is_empty() || c.token.is_empty() || c.userinfo.is_empty())
        else {
            return Ok(c.clone());
        };
        let found = self.metadata.get(|| {
            let r = http
                .get(meta_url)
                .header("Accept", "application/json")
                .send()
                .map_err(|e| Error::internal(format!("metadata at {meta_url} failed: {e}")))?;
            if !r.status().is_success() {
                return Err(Error::internal(format!("metadata at {meta_url} answered {}", r.status())));
            }
            let body = r.bytes().map_err(|e| Error::internal(format!("metadata at {meta_url}: {e}")))?;
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|e| Error::internal(format!("metadata at {meta_url} is not JSON: {e}")))?;
            if let Some(want) = &self.issuer {
                if doc["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(want.trim_end_matches('/')) {
                    return Err(Error::internal(format!("metadata at {meta_url} names another issuer")));
                }
            }
            let field = |name: &str| -> Result<String, Error> {
                let v = doc[name].as_str().unwrap_or_default().to_string();
                if !v.is_empty() {
                    crate::check_url(name, &v)?;
                }
                Ok(v)
            };
            Ok(Endpoints {
                authorization: field("authorization_endpoint")?,
                token: field("token_endpoint")?,
                userinfo: field("userinfo_endpoint")?,
            })
        })?;
        let pick = |mine: &String, theirs: String, what: &str| -> Result<String, Error> {
            let v = if mine.is_empty() { theirs } else { mine.clone() };
            if v.is_empty() {
                return Err(Error::internal(format!("no {what}: neither configured nor in the metadata")));
            }
            Ok(v)
        };
        Ok(Endpoints {
            authorization: pick(&c.authorization, found.authorization, "authorization_endpoint")?,
            token: pick(&c.token, found.token, "token_endpoint")?,
            userinfo: pick(&c.userinfo, found.userinfo, "userinfo_endpoint")?,
        })
    }

    fn client(
        &self,
        e: &Endpoints,
        callback: &str,
    ) -> Result<
        oauth2::basic::BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        Error,
    > {
        let mut c = oauth2::basic::BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(e.authorization.clone()).map_err(|e| err("authorization endpoint", e))?)
            .set_token_uri(TokenUrl::new(e.token.clone()).map_err(|e| err("token endpoint", e))?)
            .set_redirect_uri(RedirectUrl::new(callback.to_string()).map_err(|e| err("callback URL", e))?);
        if !self.client_secret.is_empty() {
            c = c.set_client_secret(ClientSecret::new(self.client_secret.clone()));
        }
        if self.body_auth {
            c = c.set_auth_type(AuthType::RequestBody);
        }
        Ok(c)
    }

    pub fn begin(&self, http: &Http, req: &BeginLogin) -> Result<LoginRedirect, Error> {
        let client = self.client(&self.endpoints(http)?, &req.callback_url)?;
        let mut auth = client.authorize_url(CsrfToken::new_random);
        for s in &self.scopes {
            auth = auth.add_scope(Scope::new(s.clone()));
        }
        let verifier = if self.pkce {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            auth = auth.set_pkce_challenge(challenge);
            Some(verifier.secret().clone())
        } else {
            None
        };
        let (url, csrf) = auth.url();
        let pending = Pending { csrf: csrf.secret().clone(), pkce_verifier: verifier };
        Ok(LoginRedirect { redirect_url: url.to_string(), state: crate::encode_state(&pending)? })
    }

    pub fn complete(&self, http: &Http, req: &CompleteLogin) -> Result<ExternalIdentity, Error> {
        let pending: Pending = crate::decode_state(&req.state)?;
        crate::check_callback(&req.params, &pending.csrf)?;
        let code = req.params.get("code").ok_or_else(|| Error::invalid("the provider sent no code"))?;
        let endpoints = self.endpoints(http)?;
        let client = self.client(&endpoints, &req.callback_url)?;
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.clone()));
        if let Some(v) = pending.pkce_verifier {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(v));
        }
        let token = exchange.request(&|r| tolerant(http, r)).map_err(|e| match e {
            oauth2::RequestTokenError::ServerResponse(r) => {
                Error::invalid(format!("code exchange refused: {}", r.error().as_ref()))
            }
            other => Error::internal(format!("code exchange failed: {other}")),
        })?;
        let mut id = self.identity(http, &endpoints, token.access_token().secret())?;
        id.refresh_token = token.refresh_token().map(|t| t.secret().clone());
        Ok(id)
    }

    /// Upstream re-validation: spends the refresh token and reads userinfo
    /// again. The upstream's OAuth error (`invalid_grant`: the account is
    /// disabled, the grant revoked) and a 401/403 from userinfo are its
    /// refusal (`forbidden`); anything else is an outage (`internal`).
    pub fn refresh(&self, http: &Http, req: &RefreshIdentity) -> Result<ExternalIdentity, Error> {
        let endpoints = self.endpoints(http)?;
        let client = self.client(&endpoints, "http://127.0.0.1/unused")?;
        let token = client
            .exchange_refresh_token(&RefreshToken::new(req.refresh_token.clone()))
            .request(&|r| tolerant(http, r))
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    Error::new(ErrorKind::Forbidden, format!("refresh refused: {}", r.error().as_ref()))
                }
                other => Error::internal(format!("refresh failed: {other}")),
            })?;
        let mut id = self.identity(http, &endpoints, token.access_token().secret())?;
        id.refresh_token = Some(token.refresh_token().map(|t| t.secret().clone()).unwrap_or(req.refresh_token.clone()));
        Ok(id)
    }

    /// Who the access token belongs to, from userinfo (and the e-mails endpoint).
    fn identity(&self, http: &Http, endpoints: &Endpoints, bearer: &str) -> Result<ExternalIdentity, Error> {
        let fetch = |url: &str| -> Result<Value, Error> {
            let r = http
                .get(url)
                .bearer_auth(bearer)
                .header("Accept", "application/json")
                .header("User-Agent", "Gatehouse")
                .send()
                .map_err(|e| Error::internal(format!("userinfo at {url} failed: {e}")))?;
            match r.status().as_u16() {
                200..=299 => {}
                401 | 403 => {
                    return Err(Error::new(ErrorKind::Forbidden, format!("userinfo at {url} answered {}", r.status())))
                }
                _ => return Err(Error::internal(format!("userinfo at {url} answered {}", r.status()))),
            }
            let body = r.bytes().map_err(|e| Error::internal(format!("userinfo at {url}: {e}")))?;
            serde_json::from_slice::<Value>(&body).map_err(|e| err("userinfo", e))
        };
        let info = fetch(&endpoints.userinfo)?;
        let emails = match &self.emails_endpoint {
            Some(u) => Some(fetch(u)?),
            None => None,
        };
        map_identity(&info, emails.as_ref(), &self.claims, self.trust_email)
    }
}

/// Sends a token request; a form-encoded answer (GitHub without
/// `Accept: application/json`) is read as JSON too.
fn tolerant(
    http: &Http,
    r: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, oauth2::HttpClientError<oauth2::reqwest::Error>> {
    let mut resp = oauth2::SyncHttpClient::call(http, r)?;
    let form = resp
        .headers()
        .get(oauth2::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded") || ct.starts_with("text/plain"));
    if form {
        let pairs: BTreeMap<String, String> = url::form_urlencoded::parse(resp.body()).into_owned().collect();
        if pairs.contains_key("access_token") || pairs.contains_key("error") {
            *resp.body_mut() = serde_json::to_vec(&pairs).unwrap_or_default();
            resp.headers_mut()
                .insert(oauth2::http::header::CONTENT_TYPE, oauth2::http::HeaderValue::from_static("application/json"));
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> ClaimMap {
        let m: std::collections::HashMap<&str, String> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        ClaimMap {
            subject: m.get("subject").cloned(),
            email: m.get("email").cloned(),
            email_verified: m.get("email_verified").cloned(),
            name: m.get("name").cloned(),
            picture: m.get("picture").cloned(),
            groups: m.get("groups").cloned(),
            ..Default::default()
        }
    }

    #[test]
    fn rfc8414_metadata_lives_between_host_and_path() {
        assert_eq!(
            metadata_url_of("https://as.example.com").unwrap(),
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            metadata_url_of("https://as.example.com/tenant/1/").unwrap(),
            "https://as.example.com/.well-known/oauth-authorization-server/tenant/1"
        );
    }

    #[test]
    fn bracket_paths_become_pointers() {
        assert_eq!(to_pointer("/a/b"), "/a/b");
        assert_eq!(to_pointer("user[id]"), "/user/id");
        assert_eq!(to_pointer("data[roles][0]"), "/data/roles/0");
        assert_eq!(to_pointer("a/b[c~d]"), "/a~1b/c~0d");
    }

    /// GitHub's documented shapes: `GET /user` (numeric id) and `GET /user/emails`.
    #[test]
    fn github_numeric_ids_and_the_primary_verified_email() {
        let user = json!({ "login": "octocat", "id": 1, "avatar_url": "https://github.com/images/error/octocat_happy.gif",
                           "name": "monalisa octocat", "email": null });
        let emails = json!([
            { "email": "octocat@old.example", "verified": true, "primary": false, "visibility": null },
            { "email": "octocat@github.com", "verified": true, "primary": true, "visibility": "public" }
        ]);
        let m = map(&[("subject", "/id"), ("email", "/email"), ("name", "/name"), ("picture", "/avatar_url")]);
        let id = map_identity(&user, Some(&emails), &m, false).unwrap();
        assert_eq!(id.subject, "1");
        assert_eq!(id.email.as_deref(), Some("octocat@github.com"));
        assert!(id.email_verified);
        assert_eq!(id.name.as_deref(), Some("monalisa octocat"));
        assert_eq!(id.claims["picture"], "https://github.com/images/error/octocat_happy.gif");
        // An unverified primary address is not taken as verified.
        let emails = json!([{ "email": "x@y.example", "verified": false, "primary": true }]);
        let id = map_identity(&user, Some(&emails), &m, false).unwrap();
        assert!(id.email.is_none() && !id.email_verified);
    }

    /// Discord's documented `GET /users/@me` (snowflake ids are strings).
    #[test]
    fn discord_user_object() {
        let me = json!({ "id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
                         "email": "nelly@discord.com", "verified": true, "locale": "en-US" });
        let m = ClaimMap {
            subject: Some("/id".into()),
            email: Some("/email".into()),
            email_verified: Some("/verified".into()),
            name: Some("/global_name".into()),
            locale: Some("/locale".into()),
            ..Default::default()
        };
        let id = map_identity(&me, None, &m, false).unwrap();
        assert_eq!((id.subject.as_str(), id.email_verified), ("80351110224678912", true));
        assert_eq!(id.locale.as_deref(), Some("en-US"));
    }

    #[test]
    fn a_missing_subject_is_refused_and_groups_are_collected() {
        let v = json!({ "profile": { "roles": ["staff", "vip", 7] } });
        assert!(map_identity(&v, None, &map(&[("subject", "/id")]), false).is_err());
        let v = json!({ "id": 5, "profile": { "roles": ["staff", "vip", 7] } });
        let id = map_identity(&v, None, &map(&[("subject", "id"), ("groups", "profile[roles]")]), true).unwrap();
        assert_eq!(id.claims["groups"], json!(["staff", "vip", "7"]));
        assert!(!id.email_verified, "no e-mail, nothing verified");
    }
}

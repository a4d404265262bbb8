//! Browser plumbing shared by the pages and the OAuth endpoints: the session
//! cookie, CSRF tokens (double-submit cookie), the caller's address and
//! form parsing.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::HeaderName;
use actix_web::HttpRequest;
use gatehouse_core::secret::{constant_time_eq, generate_token};
use gatehouse_engine::model::{Session, User};

use super::{blocking, State};

/// The browser session cookie: an opaque value whose digest the database keeps.
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// The CSRF cookie; forms repeat its value in a hidden field.
pub const CSRF_COOKIE: &str = "gatehouse_csrf";
/// The hidden form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

fn secure(state: &State) -> bool {
    state.engine.config.issuer.starts_with("https://")
}

fn cookie(state: &State, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value).path("/").http_only(true).same_site(SameSite::Lax).secure(secure(state)).finish()
}

/// The session cookie to set after a sign-in.
pub fn session_cookie(state: &State, value: String) -> Cookie<'static> {
    let mut c = cookie(state, SESSION_COOKIE, value);
    c.set_max_age(actix_web::cookie::time::Duration::seconds(state.engine.config.session_ttl));
    c
}

/// A cookie that removes the session cookie.
pub fn clear_session_cookie(state: &State) -> Cookie<'static> {
    let mut c = cookie(state, SESSION_COOKIE, String::new());
    c.make_removal();
    c
}

/// The session cookie's value, if the browser sent one.
pub fn session_cookie_value(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty())
}

/// The browser's live session and user, if any.
pub async fn current_session(req: &HttpRequest, state: &State) -> Result<Option<(Session, User)>, actix_web::Error> {
    let Some(value) = session_cookie_value(req) else {
        return Ok(None);
    };
    let engine = state.engine.clone();
    match blocking(move || engine.session_from_cookie(&value)).await? {
        Ok(s) => Ok(s),
        Err(e) => Err(actix_web::error::ErrorServiceUnavailable(e)),
    }
}

/// The CSRF token for this browser, and the cookie to set when it is new.
pub fn csrf_token(req: &HttpRequest, state: &State) -> (String, Option<Cookie<'static>>) {
    match req.cookie(CSRF_COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() == 43) {
        Some(v) => (v, None),
        None => {
            let v = generate_token();
            (v.clone(), Some(cookie(state, CSRF_COOKIE, v)))
        }
    }
}

/// Whether a submitted form carries this browser's CSRF token.
pub fn csrf_ok(req: &HttpRequest, submitted: Option<&str>) -> bool {
    match (req.cookie(CSRF_COOKIE), submitted) {
        (Some(c), Some(s)) => c.value().len() == 43 && constant_time_eq(c.value(), s),
        _ => false,
    }
}

/// The caller's address: the TCP peer, unless the peer is a configured
/// trusted proxy — then the right-most `X-Forwarded-For` entry that is not
/// itself a trusted proxy (entries further left are the client's to forge).
pub fn peer_ip(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else { return String::new() };
    let trusted: &[std::net::IpAddr] =
        req.app_data::<State>().map(|s| s.config.trusted_proxies.as_slice()).unwrap_or_default();
    const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    client_ip(peer, trusted, req.headers().get_all(X_FORWARDED_FOR).filter_map(|v| v.to_str().ok())).to_string()
}

/// [`peer_ip`]'s rule, on plain values.
pub fn client_ip<'a>(
    peer: std::net::IpAddr,
    trusted: &[std::net::IpAddr],
    forwarded_for: impl Iterator<Item = &'a str>,
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // Garbage in the chain: stop believing it.
            Err(_) => return peer,
        }
    }
    peer
}

pub fn user_agent(req: &HttpRequest) -> String {
    req.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Whether the request body is declared as an HTML form.
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// A path safe to return to after sign-in: local, absolute, no scheme tricks.
pub fn safe_return_to(v: Option<&str>) -> Option<String> {
    let v = v?;
    let ok = v.starts_with('/')
        && !v.starts_with("//")
        && !v.contains('\\')
        && v.len() <= 8192
        && !v.chars().any(|c| c.is_control());
    ok.then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        // Not from a proxy: the header is the client's to forge.
        assert_eq!(client_ip(ip("203.0.113.9"), &proxies, ["1.2.3.4"].into_iter()), ip("203.0.113.9"));
        // From a proxy: the right-most untrusted hop.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &proxies, ["6.6.6.6, 198.51.100.7, 10.0.0.2"].into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &proxies, ["6.6.6.6", "198.51.100.7"].into_iter()), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("10.0.0.1"), &proxies, ["nonsense"].into_iter()), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &proxies, std::iter::empty()), ip("10.0.0.1"));
    }

    #[test]
    fn return_to_stays_local() {
        assert_eq!(safe_return_to(Some("/oauth2/authorize?x=1")).as_deref(), Some("/oauth2/authorize?x=1"));
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil", "/a\nb"] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
    }
}

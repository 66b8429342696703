//! Who may talk to `mnemograph serve`: every request, to `/mcp` and to the viewer alike,
//! passes [`check`] before anything else sees it.
//!
//! - **Host** must name this server by one of the names it answers to (the loopback names,
//!   the address it listens on, and the names given with `--allow-host`). A page on a
//!   rebound DNS name (`evil.example` resolving to 127.0.0.1) sends its own name, so this is
//!   the MCP specification's guard against DNS rebinding for local servers.
//! - **Origin**, when a browser sends one, must be this server itself (the same host and port
//!   as the Host header): a page of another site, or of another server on localhost, cannot
//!   drive the tools or the viewer's API from a visitor's browser.
//! - **A token**, when the server requires one (always when it listens beyond loopback):
//!   `Authorization: Bearer <token>` (MCP clients), or the cookie a browser gets by opening
//!   the link printed at start (`/?token=<token>`), which answers with the cookie
//!   (`HttpOnly`, `SameSite=Strict`) and a redirect to the same page without the token.
//!
//! rmcp's own Host and Origin checks are switched off (see `super::mcp`): one guard, in
//! front of every route, is easier to keep right than two that must agree.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, COOKIE, HOST, LOCATION, ORIGIN, SET_COOKIE, WWW_AUTHENTICATE,
};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::secret::Secret;

/// The cookie that carries the token for a browser.
const COOKIE_NAME: &str = "mnemograph_token";
/// The query parameter of the link printed at start.
const TOKEN_PARAM: &str = "token";

/// The names every server answers to, whatever it listens on.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// What the guard lets through. Cheap to clone.
#[derive(Clone)]
pub struct Guard(Arc<Policy>);

struct Policy {
    /// Host names (lower case; IPv6 addresses in brackets) a request may name in Host.
    names: Vec<String>,
    /// The token every request must carry, when one is required.
    token: Option<Secret>,
}

impl Guard {
    /// A guard that lets through requests naming one of `names` (any port), carrying `token`
    /// when it is `Some`.
    pub fn new(names: impl IntoIterator<Item = String>, token: Option<Secret>) -> Self {
        let names = names.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        Guard(Arc::new(Policy { names, token }))
    }

    fn host_allowed(&self, host: &Authority) -> bool {
        let name = host.host().to_ascii_lowercase();
        self.0.names.contains(&name)
    }

    /// Whether `headers` carry the token as a bearer credential or as the viewer's cookie.
    fn carries_token(&self, token: &Secret, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get_all(AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "));
        let cookies = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='));
        bearer
            .chain(cookies)
            .any(|offered| same_secret(offered.trim(), token.expose()))
    }
}

/// Why a request was turned away, as the HTTP answer says it.
#[derive(Debug, PartialEq)]
enum Refusal {
    /// 400: no Host header, or one that is not an authority.
    BadHost(String),
    /// 403: a Host this server does not answer to.
    Host(Authority),
    /// 403: an Origin other than this server.
    Origin(String),
    /// 401: no token, or a wrong one.
    Token,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Refusal::BadHost(why) => (StatusCode::BAD_REQUEST, why),
            Refusal::Host(host) => (
                StatusCode::FORBIDDEN,
                format!(
                    "Host {:?} is not a name this server answers to (a guard against DNS \
                     rebinding); reach it as localhost or 127.0.0.1, or start it with \
                     `--allow-host {}`",
                    host.as_str(),
                    host.host()
                ),
            ),
            Refusal::Origin(origin) => (
                StatusCode::FORBIDDEN,
                format!(
                    "Origin {origin:?} is not this server: only its own pages may call it \
                     from a browser"
                ),
            ),
            Refusal::Token => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    "this server requires its token: send `Authorization: Bearer <token>` \
                     (MNEMOGRAPH_SERVE_TOKEN, or the token printed at start), or open the \
                     viewer link printed at start\n",
                )
                    .into_response();
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"mnemograph\""),
                );
                return response;
            }
        };
        (status, format!("{message}\n")).into_response()
    }
}

/// The middleware: refuses what [`Guard`] does not let through, trades a valid token link for
/// the cookie, and passes everything else on.
pub async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = match host_of(&request) {
        Ok(host) => host,
        Err(refusal) => return refusal.into_response(),
    };
    if !guard.host_allowed(&host) {
        return Refusal::Host(host).into_response();
    }
    if let Some(origin) = headers.get(ORIGIN)
        && !same_origin(origin, &host)
    {
        let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return Refusal::Origin(shown).into_response();
    }
    let Some(token) = &guard.0.token else {
        return next.run(request).await;
    };
    if request.method() == Method::GET
        && let Some(offered) = token_param(request.uri())
    {
        return if same_secret(&offered, token.expose()) {
            login(request.uri(), token)
        } else {
            Refusal::Token.into_response()
        };
    }
    if guard.carries_token(token, headers) {
        next.run(request).await
    } else {
        Refusal::Token.into_response()
    }
}

/// The request's Host: the header (HTTP/1.1), else the URI's authority (HTTP/2).
fn host_of(request: &Request) -> Result<Authority, Refusal> {
    match request.headers().get(HOST) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<Authority>().ok())
            .filter(|a| !a.as_str().contains('@'))
            .ok_or_else(|| Refusal::BadHost("the Host header is not a host name".into())),
        None => request
            .uri()
            .authority()
            .cloned()
            .ok_or_else(|| Refusal::BadHost("the request names no Host".into())),
    }
}

/// Whether `origin` is the server `host` names: the same host, and the same port once the
/// scheme's default fills in a missing one (`http://localhost` and `Host: localhost` match).
fn same_origin(origin: &HeaderValue, host: &Authority) -> bool {
    let Some(origin) = origin.to_str().ok().and_then(|o| o.parse::<Uri>().ok()) else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (origin.scheme(), origin.authority()) else {
        return false;
    };
    let default = if *scheme == Scheme::HTTPS {
        443
    } else if *scheme == Scheme::HTTP {
        80
    } else {
        return false;
    };
    origin.path_and_query().is_none_or(|p| p.as_str() == "/")
        && authority.host().eq_ignore_ascii_case(host.host())
        && authority.port_u16().unwrap_or(default) == host.port_u16().unwrap_or(default)
}

/// The `token` query parameter, percent-decoding nothing: a token is hex.
fn token_param(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == TOKEN_PARAM).then(|| value.to_owned())
    })
}

/// The answer to a valid token link: the cookie, and a redirect to the same page without the
/// token, so it does not stay in the address bar.
fn login(uri: &Uri, token: &Secret) -> Response {
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(TOKEN_PARAM))
        .collect();
    let mut location = uri.path().to_owned();
    if !rest.is_empty() {
        location.push('?');
        location.push_str(&rest.join("&"));
    }
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict",
        token.expose()
    );
    match (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) {
        (Ok(location), Ok(cookie)) => (
            StatusCode::SEE_OTHER,
            [(LOCATION, location), (SET_COOKIE, cookie)],
        )
            .into_response(),
        // The path came from a parsed URI and the token is hex: both are valid header values.
        _ => Refusal::Token.into_response(),
    }
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(offered: &str, expected: &str) -> bool {
    offered.len() == expected.len()
        && offered
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Whether `token` travels in a link and a cookie as it is (URL-unreserved characters only,
/// as `openssl rand -hex 32` gives) and is long enough not to be guessed.
pub fn token_is_usable(token: &str) -> bool {
    token.len() >= 16
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A new random token: 32 bytes from the operating system, in hex.
pub fn new_token() -> Result<Secret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(Secret::new(
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(s: &str) -> Authority {
        s.parse().unwrap()
    }

    #[test]
    fn an_origin_matches_only_the_same_host_and_port() {
        let host = authority("localhost:8431");
        let origin = |s: &'static str| same_origin(&HeaderValue::from_static(s), &host);
        assert!(origin("http://localhost:8431"));
        assert!(origin("http://LOCALHOST:8431"));
        assert!(origin("https://localhost:8431"));
        assert!(!origin("http://localhost:3000"), "another local server");
        assert!(!origin("http://localhost"), "port 80 is another server");
        assert!(!origin("http://evil.example:8431"));
        assert!(!origin("null"));
        assert!(!origin("file:///etc/passwd"));
        let default = authority("mem.example.com");
        assert!(same_origin(
            &HeaderValue::from_static("https://mem.example.com"),
            &default
        ));
    }

    #[test]
    fn hosts_match_by_name_on_any_port() {
        let guard = Guard::new(LOOPBACK_NAMES.iter().map(|n| n.to_string()), None::<Secret>);
        assert!(guard.host_allowed(&authority("localhost:1")));
        assert!(guard.host_allowed(&authority("[::1]:8431")));
        assert!(guard.host_allowed(&authority("127.0.0.1")));
        assert!(!guard.host_allowed(&authority("evil.example:8431")));
        assert!(!guard.host_allowed(&authority("127.0.0.2:8431")));
    }

    #[test]
    fn the_token_comes_as_a_bearer_or_as_the_cookie() {
        let token = Secret::new("abc123");
        let guard = Guard::new(Vec::new(), Some(token.clone()));
        let with = |name, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            guard.carries_token(&token, &headers)
        };
        assert!(with(AUTHORIZATION, "Bearer abc123"));
        assert!(with(COOKIE, "a=b; mnemograph_token=abc123"));
        assert!(!with(AUTHORIZATION, "Bearer abc124"));
        assert!(!with(AUTHORIZATION, "Basic abc123"));
        assert!(!with(COOKIE, "mnemograph_token=abc12"));
        assert!(!with(COOKIE, "other_mnemograph_token=abc123"));
        assert!(!guard.carries_token(&token, &HeaderMap::new()));
    }

    #[test]
    fn a_token_link_redirects_to_the_page_without_it() {
        let token = Secret::new("abc123");
        let response = login(&"/memory/1?token=abc123&tab=graph".parse().unwrap(), &token);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/memory/1?tab=graph");
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cookie.contains("mnemograph_token=abc123"), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    }

    #[test]
    fn a_token_must_be_long_and_safe_in_a_link_and_a_cookie() {
        assert!(token_is_usable("0123456789abcdef"));
        assert!(token_is_usable("Abc-._~0123456789"));
        assert!(!token_is_usable("short"), "guessable");
        assert!(!token_is_usable("0123456789abcdef;x"), "ends a cookie");
        assert!(!token_is_usable("0123456789abcdef+/="), "changes in a link");
        assert!(!token_is_usable("0123456789abcdef é"));
    }

    #[test]
    fn tokens_are_long_random_and_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert!(token_is_usable(a.expose()));
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

//! `/-/auth`: the forward-auth endpoint for gateways. Envoy `ext_authz` sends the original method with the
//! original path appended (`/-/auth/api/v4/projects/1/issues`); nginx `auth_request` sends `X-Original-Method`
//! and `X-Original-URI`. Both reach `Authority::decide`, the same decision every way in uses.
//!
//! 200 with identity headers when allowed; 401 with `WWW-Authenticate` (Basic for Git, so that git prompts)
//! when no credential or a bad one is presented; 403 naming the permissions that would allow it otherwise.
//! Method-override headers are ignored: the original method is the method.
//!
//! **Invariant:** the answer is exactly the decision's: nothing here allows what `decide_request` refused.

use axum::extract::Request;
use axum::http::header::IntoHeaderName;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::error::{ApiResult, bad_request, unauthorized};

const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_AUTH_USER_ID: HeaderName = HeaderName::from_static("x-auth-user-id");
const X_AUTH_USER: HeaderName = HeaderName::from_static("x-auth-user");
const X_AUTH_TOKEN_ID: HeaderName = HeaderName::from_static("x-auth-token-id");
const X_AUTH_TOKEN_TYPE: HeaderName = HeaderName::from_static("x-auth-token-type");
const X_AUTH_ORGANIZATION_ID: HeaderName = HeaderName::from_static("x-auth-organization-id");
const X_AUTH_ANONYMOUS: HeaderName = HeaderName::from_static("x-auth-anonymous");

/// The headers forward-auth reads besides the credential, found in one pass (no name hashed): the first
/// `X-Original-Method`, `X-Original-URI` and `Sudo`.
#[derive(Default)]
struct Asked<'r> {
    method: Option<&'r HeaderValue>,
    uri: Option<&'r HeaderValue>,
    sudo: Option<&'r HeaderValue>,
}

impl<'r> Asked<'r> {
    fn of(headers: &'r HeaderMap) -> Asked<'r> {
        let mut asked = Asked::default();
        for (name, value) in headers {
            let slot = if *name == X_ORIGINAL_METHOD {
                &mut asked.method
            } else if *name == X_ORIGINAL_URI {
                &mut asked.uri
            } else if *name == crate::auth::SUDO {
                &mut asked.sudo
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        asked
    }
}

/// The original request the gateway asks about: from the sub-path, from `X-Original-*`, or both if they agree.
/// Borrowed from the request: nothing is copied.
fn original<'r>(method: &'r Method, uri: &'r Uri, asked: &Asked<'r>) -> ApiResult<(&'r str, &'r str)> {
    let path_and_query = uri.path_and_query().map_or("", |pq| pq.as_str());
    let from_path = path_and_query
        .strip_prefix("/-/auth")
        .filter(|rest| !rest.is_empty() && *rest != "/" && !rest.starts_with('?') && !rest.starts_with("/?"))
        .map(|target| (method.as_str(), target));
    let text = |name: &HeaderName, value: Option<&'r HeaderValue>| -> ApiResult<Option<&'r str>> {
        match value {
            None => Ok(None),
            Some(v) => v.to_str().map(Some).map_err(|_| bad_request(format!("{name} is invalid"))),
        }
    };
    let from_headers = match (text(&X_ORIGINAL_METHOD, asked.method)?, text(&X_ORIGINAL_URI, asked.uri)?) {
        (Some(m), Some(u)) => Some((m, u)),
        (None, Some(u)) => Some((method.as_str(), u)),
        (Some(_), None) => return Err(bad_request("X-Original-Method needs X-Original-URI")),
        (None, None) => None,
    };
    match (from_path, from_headers) {
        (Some(a), Some(b)) if !a.0.eq_ignore_ascii_case(b.0) || a.1 != b.1 => {
            Err(bad_request("the sub-path and X-Original-URI name different requests"))
        }
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => Err(bad_request("name the request: a sub-path of /-/auth, or X-Original-URI")),
    }
}

/// How many identity headers an allowed answer has.
const IDENTITIES: usize = 6;
/// The identity headers of an allowed answer, in the order [`identity_headers`] fills them.
const IDENTITY: [HeaderName; IDENTITIES] =
    [X_AUTH_USER_ID, X_AUTH_USER, X_AUTH_TOKEN_ID, X_AUTH_TOKEN_TYPE, X_AUTH_ORGANIZATION_ID, X_AUTH_ANONYMOUS];
const EMPTY: HeaderValue = HeaderValue::from_static("");

/// Every identity header, always set (empty when anonymous), so that a gateway copying them onto the upstream
/// request overwrites whatever a client sent under the same names. A gateway asks about the same credential
/// again and again: the map this thread answered with last is copied when it shows the same identity (its
/// values shared, a reference count each), and a map is made anew only for another identity.
fn identity_headers(who: Option<authority::Who<'_>>) -> HeaderMap {
    let Some(who) = who else { return map_of([EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, TRUE]) };
    LAST.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else { return map_of(values_of(&who)) };
        if let Some(made) = last.as_ref()
            && made.shows(&who)
        {
            return made.headers.clone();
        }
        let headers = map_of(values_of(&who));
        *last = Some(Made {
            user_id: who.user_id,
            username: who.username.into(),
            token_id: who.token_id,
            kind: who.kind,
            organization_id: who.organization_id,
            headers: headers.clone(),
        });
        headers
    })
}

/// The identity headers' values, in [`IDENTITY`]'s order.
type Values = [HeaderValue; IDENTITIES];

const FALSE: HeaderValue = HeaderValue::from_static("false");
const TRUE: HeaderValue = HeaderValue::from_static("true");

/// An identity whose headers this thread answered with last, and those headers.
struct Made {
    user_id: Option<i64>,
    username: Box<str>,
    token_id: i64,
    kind: domain::CredentialKind,
    organization_id: i64,
    headers: HeaderMap,
}

impl Made {
    /// Whether the headers were made of every part of `who` they show.
    fn shows(&self, who: &authority::Who<'_>) -> bool {
        self.token_id == who.token_id
            && self.user_id == who.user_id
            && self.kind == who.kind
            && self.organization_id == who.organization_id
            && *self.username == *who.username
    }
}

thread_local! {
    /// The identity headers this thread answered with last.
    static LAST: std::cell::RefCell<Option<Made>> = const { std::cell::RefCell::new(None) };
}

/// The identity headers with `values`, made anew: a copy of a map of the names made once, its values filled in
/// order (no name is hashed).
fn map_of(values: Values) -> HeaderMap {
    static NAMES: std::sync::LazyLock<HeaderMap> =
        std::sync::LazyLock::new(|| IDENTITY.into_iter().map(|name| (name, EMPTY)).collect());
    let mut headers = NAMES.clone();
    for ((_, slot), value) in headers.iter_mut().zip(values) {
        *slot = value;
    }
    headers
}

/// The identity headers' values of `who`, written anew.
fn values_of(who: &authority::Who<'_>) -> Values {
    // The ids and the name are written into one buffer and each value is a slice of it: one allocation shared
    // by the four, where a value made alone is an allocation each.
    let mut text = Vec::with_capacity(60 + who.username.len());
    let piece = |text: &mut Vec<u8>, bytes: &[u8]| {
        let start = text.len();
        text.extend_from_slice(bytes);
        start..text.len()
    };
    let mut number = itoa::Buffer::new();
    let user_id = piece(&mut text, who.user_id.map_or("", |id| number.format(id)).as_bytes());
    let user = piece(&mut text, who.username.as_bytes());
    let token_id = piece(&mut text, number.format(who.token_id).as_bytes());
    let organization_id = piece(&mut text, number.format(who.organization_id).as_bytes());
    let text = axum::body::Bytes::from(text);
    let value = |range| HeaderValue::from_maybe_shared(text.slice(range)).unwrap_or(EMPTY);
    [
        value(user_id),
        value(user),
        value(token_id),
        HeaderValue::from_static(who.kind.name()),
        value(organization_id),
        FALSE,
    ]
}

/// Forward-auth's answer to `request`, made on a connection from `peer`.
pub(crate) async fn forward_auth(
    state: AppState,
    request: Request,
    peer: Option<std::net::SocketAddr>,
) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    // A body a gateway forwards is ignored, but read so that the connection stays reusable.
    crate::auth::drain(body).await;
    let head = match Head::of(&parts.method, &parts.uri, &parts.headers)? {
        Ok(head) => head,
        Err(answer) => return Ok(answer),
    };
    let mut text = [0; ADDRESS_TEXT];
    let ip = peer.map(|peer| address_text(peer.ip(), &mut text));
    let outcome = state.authority.decide_request(&head.request(ip)).await?;
    answer(&outcome)
}

/// Forward-auth's answer to a request without a body, when it needs no waiting: its decision was kept
/// (`Authority::decided_before`). `None`: answer it with [`forward_auth`].
pub(crate) fn answer_at_once(
    state: &AppState,
    request: &Request,
    peer: Option<std::net::SocketAddr>,
) -> Option<Response> {
    use axum::body::HttpBody;
    if !request.body().is_end_stream() {
        return None;
    }
    let answer = match Head::of(request.method(), request.uri(), request.headers()) {
        Ok(Ok(head)) => {
            let mut text = [0; ADDRESS_TEXT];
            let ip = peer.map(|peer| address_text(peer.ip(), &mut text));
            answer(&state.authority.decided_before(&head.request(ip))?)
        }
        Ok(Err(answer)) => Ok(answer),
        Err(error) => Err(error),
    };
    Some(answer.into_response())
}

/// What forward-auth is asked, read from the request's head.
struct Head<'r> {
    method: &'r str,
    target: &'r str,
    credential: Option<crate::auth::Carried<'r>>,
    sudo: Option<&'r str>,
}

impl<'r> Head<'r> {
    /// The request's head read; `Ok(Err(answer))` when it is answered already (an unreadable credential's 401).
    fn of(method: &'r Method, uri: &'r Uri, headers: &'r HeaderMap) -> ApiResult<Result<Head<'r>, Response>> {
        let asked = Asked::of(headers);
        let (method, target) = original(method, uri, &asked)?;
        if !target.starts_with('/') || target.len() > crate::auth::MAX_TARGET_LEN {
            return Err(bad_request("the original URI must be an absolute path"));
        }
        let (path, query) = catalog::split_target(target);
        let mut credential = crate::auth::credential(headers, query, None);
        if crate::auth::is_trigger_route(path) {
            credential = crate::auth::with_trigger_token(credential, crate::auth::trigger_token(query, None, None));
        }
        let Ok(credential) = credential else {
            return Ok(Err(challenge(false, true)));
        };
        // A `Sudo` header reaches the upstream with the request, so the request is decided as the user it names.
        let sudo = crate::auth::sudo_text(asked.sudo)?;
        Ok(Ok(Head { method, target, credential, sudo }))
    }

    /// The decision's request, from the client at `ip`.
    fn request(&'r self, ip: Option<&'r str>) -> authority::Request<'r> {
        authority::Request {
            credential: self.credential.as_ref().map(crate::auth::Carried::presented),
            method: self.method,
            target: self.target,
            ip,
            sudo: self.sudo,
            served: true,
            ssh_key: None,
        }
    }
}

/// The answer to a decision: 200 with the identity headers, a 401 challenge, a 400, or a 403 naming what would
/// allow it.
fn answer(outcome: &authority::Outcome<'_>) -> ApiResult<Response> {
    if outcome.is_bad_request() {
        return Err(crate::auth::denied(outcome));
    }
    if outcome.bad_credential {
        return Ok(challenge(outcome.git, true));
    }
    if outcome.needs_credential {
        return Ok(challenge(outcome.git, false));
    }
    if outcome.allowed {
        let mut res = Response::new(axum::body::Body::empty());
        *res.headers_mut() = identity_headers(outcome.who());
        return Ok(res);
    }
    let body = json!({
        "allowed": false,
        "layer": outcome.layer.as_str(),
        "error": crate::decisions::error_code(outcome),
        "required": outcome.required,
        "required_granular": outcome.bundles,
        "reasons": outcome.reasons(),
    });
    let mut res = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    put(res.headers_mut(), "x-tessera-denied-layer", outcome.layer.as_str());
    if !outcome.required.is_empty() {
        let required = crate::error::required_alternatives(outcome.required);
        put(res.headers_mut(), "x-tessera-required-permissions", &required);
    }
    if !outcome.bundles.is_empty() {
        let granular = crate::error::granular_alternatives(outcome.bundles);
        put(res.headers_mut(), "x-tessera-required-granular-permissions", &granular);
    }
    Ok(res)
}

/// The longest address text: an IPv6 address with an embedded IPv4 one, with room to spare.
const ADDRESS_TEXT: usize = 48;

/// The client's address as text, written into `text` without allocating (forward-auth is asked on every request
/// a gateway lets through): an IPv4 address digit by digit, an IPv6 one through its `Display`.
fn address_text(ip: std::net::IpAddr, text: &mut [u8; ADDRESS_TEXT]) -> &str {
    let len = match ip {
        std::net::IpAddr::V4(v4) => {
            let mut len = 0;
            let mut push = |byte: u8| {
                if let Some(slot) = text.get_mut(len) {
                    *slot = byte;
                    len += 1;
                }
            };
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    push(b'.');
                }
                if octet >= 100 {
                    push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    push(b'0' + octet / 10 % 10);
                }
                push(b'0' + octet % 10);
            }
            len
        }
        std::net::IpAddr::V6(_) => {
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{ip}"));
            usize::try_from(cursor.position()).unwrap_or(0)
        }
    };
    std::str::from_utf8(text.get(..len).unwrap_or_default()).unwrap_or_default()
}

fn put(headers: &mut HeaderMap, name: impl IntoHeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// A 401 that makes clients present (or re-present) a credential: Basic for Git, Bearer otherwise.
fn challenge(git: bool, bad: bool) -> Response {
    let mut res = unauthorized();
    let value = match (git, bad) {
        (true, _) => "Basic realm=\"GitLab\"",
        (false, true) => "Bearer realm=\"The API\", error=\"invalid_token\"",
        (false, false) => "Bearer realm=\"The API\"",
    };
    res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_written_as_its_display_spells_it() {
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "127.0.0.1",
            "192.168.100.255",
            "9.99.100.250",
            "::1",
            "2001:db8::ff00:42:8329",
            "::ffff:192.0.2.128",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut text = [0; ADDRESS_TEXT];
            assert_eq!(address_text(ip, &mut text), ip.to_string());
        }
    }

    #[test]
    fn identity_headers_copied_from_the_last_answer_are_those_of_the_identity_asked_about() {
        let who = |username: &'static str, token_id: i64, organization_id: i64| authority::Who {
            user_id: Some(7),
            username,
            token_id,
            job: None,
            kind: domain::CredentialKind::PersonalAccessToken,
            organization_id,
        };
        let alice = who("alice", 3, 1);
        let asked = [alice, alice, who("alicia", 3, 1), alice, who("alice", 4, 1), who("alice", 4, 2), alice];
        let text = |headers: HeaderMap| -> Vec<(String, String)> {
            let pairs = headers.iter().map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("?")));
            pairs.map(|(name, value)| (name.to_owned(), value.to_owned())).collect()
        };
        for who in asked {
            let fresh = IDENTITY.into_iter().zip(values_of(&who)).collect();
            assert_eq!(text(identity_headers(Some(who))), text(fresh), "{} {}", who.username, who.token_id);
        }
        let anonymous = text(identity_headers(None));
        let values: Vec<&str> = anonymous.iter().map(|(_, value)| value.as_str()).collect();
        assert_eq!(values, ["", "", "", "", "", "true"]);
        assert_eq!(anonymous.first().map(|(name, _)| name.as_str()), Some("x-auth-user-id"));
    }

    fn ask(method: &str, uri: &str, headers: &[(&'static str, &str)]) -> Option<(String, String)> {
        let (method, uri) = (Method::from_bytes(method.as_bytes()).ok()?, uri.parse::<Uri>().ok()?);
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).ok()?);
        }
        original(&method, &uri, &Asked::of(&map)).ok().map(|(m, t)| (m.to_owned(), t.to_owned()))
    }

    #[test]
    fn the_original_request_comes_from_the_sub_path_with_its_query_or_from_the_nginx_headers() {
        let pair = |m: &str, t: &str| Some((m.to_owned(), t.to_owned()));
        assert_eq!(ask("POST", "/-/auth/api/v4/projects/1?a=b", &[]), pair("POST", "/api/v4/projects/1?a=b"));
        assert_eq!(ask("GET", "/-/auth", &[("x-original-uri", "/api/v4/user")]), pair("GET", "/api/v4/user"));
        let both = [("x-original-method", "put"), ("x-original-uri", "/api/v4/user")];
        assert_eq!(ask("GET", "/-/auth?x=1", &both), pair("put", "/api/v4/user"), "a bare query is no sub-path");
        assert_eq!(ask("PUT", "/-/auth/api/v4/user", &both), pair("PUT", "/api/v4/user"), "both, agreeing");
        assert_eq!(ask("PUT", "/-/auth/api/v4/users", &both), None, "both, disagreeing");
        assert_eq!(ask("GET", "/-/auth/", &[]), None, "nothing named");
        assert_eq!(ask("GET", "/-/auth", &[("x-original-method", "GET")]), None, "a method without a URI");
    }
}

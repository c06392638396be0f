//! `/-/auth`: the forward-auth endpoint for gateways. Envoy `ext_authz` sends the original method with the
//! original path appended (`/-/auth/api/v4/projects/1/issues`); nginx `auth_request` sends `X-Original-Method`
//! and `X-Original-URI`. Both reach `Authority::decide`, the same decision every way in uses.
//!
//! 200 with identity headers when allowed; 401 with `WWW-Authenticate` (Basic for Git, so that git prompts)
//! when no credential or a bad one is presented; 403 naming the permissions that would allow it otherwise.
//! Method-override headers are ignored: the original method is the method.

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use crate::AppState;
use crate::error::{ApiResult, bad_request, unauthorized};

pub fn router() -> Router<AppState> {
    Router::new().route("/-/auth", any(forward_auth)).route("/-/auth/{*rest}", any(forward_auth))
}

/// The original request the gateway asks about: from the sub-path, from `X-Original-*`, or both if they agree.
fn original(method: &Method, uri: &Uri, headers: &HeaderMap) -> ApiResult<(String, String)> {
    let sub_path = uri.path().strip_prefix("/-/auth").filter(|rest| !rest.is_empty() && *rest != "/");
    let from_path = sub_path.map(|p| {
        let target = match uri.query() {
            Some(q) => format!("{p}?{q}"),
            None => p.to_owned(),
        };
        (method.as_str().to_owned(), target)
    });
    let header_text = |name: &str| -> ApiResult<Option<String>> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| bad_request(format!("{name} is invalid"))),
        }
    };
    let from_headers = match (header_text("x-original-method")?, header_text("x-original-uri")?) {
        (Some(m), Some(u)) => Some((m, u)),
        (None, Some(u)) => Some((method.as_str().to_owned(), u)),
        (Some(_), None) => return Err(bad_request("X-Original-Method needs X-Original-URI")),
        (None, None) => None,
    };
    match (from_path, from_headers) {
        (Some(a), Some(b)) if !a.0.eq_ignore_ascii_case(&b.0) || a.1 != b.1 => {
            Err(bad_request("the sub-path and X-Original-URI name different requests"))
        }
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => Err(bad_request("name the request: a sub-path of /-/auth, or X-Original-URI")),
    }
}

async fn forward_auth(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    // A body a gateway forwards is ignored, but read so that the connection stays reusable.
    crate::auth::drain(body).await;
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let connect = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>();
    let (original_method, target) = original(method, uri, headers)?;
    if !target.starts_with('/') || target.len() > crate::auth::MAX_TARGET_LEN {
        return Err(bad_request("the original URI must be an absolute path"));
    }
    let query = target.split_once('?').map(|(_, q)| q);
    let Ok(credential) = crate::auth::credential(headers, query) else {
        return Ok(challenge(false, true));
    };
    let ip = connect.map(|c| c.0.ip().to_string());
    // A `Sudo` header reaches the upstream with the request, so the request is decided as the user it names.
    let sudo = crate::auth::sudo(headers)?;
    let request = authority::Request {
        credential: credential.as_deref(),
        method: &original_method,
        target: &target,
        ip: ip.as_deref(),
        sudo,
    };
    let outcome = state.authority.decide_request(&request).await?;
    if outcome.bad_credential {
        return Ok(challenge(outcome.git, true));
    }
    if outcome.needs_credential {
        return Ok(challenge(outcome.git, false));
    }
    if outcome.allowed {
        let mut res = StatusCode::OK.into_response();
        let h = res.headers_mut();
        // Every identity header is always set (empty when anonymous), so that a gateway copying them onto the
        // upstream request overwrites whatever a client sent under the same names.
        let (user_id, username, token_id, token_type, organization) = match (&outcome.principal, outcome.user()) {
            (Some(p), Some(user)) => (
                user.id.to_string(),
                user.username.clone(),
                p.token.id.to_string(),
                crate::auth::token_type(&p.token),
                p.token.organization_id.to_string(),
            ),
            _ => (String::new(), String::new(), String::new(), "", String::new()),
        };
        put(h, "x-auth-user-id", &user_id);
        put(h, "x-auth-user", &username);
        put(h, "x-auth-token-id", &token_id);
        put(h, "x-auth-token-type", token_type);
        put(h, "x-auth-organization-id", &organization);
        put(h, "x-auth-anonymous", if outcome.principal.is_none() { "true" } else { "false" });
        return Ok(res);
    }
    let body = json!({
        "allowed": false,
        "layer": outcome.layer,
        "error": crate::decisions::error_code(&outcome),
        "required": outcome.required,
        "required_granular": outcome.bundles,
        "reasons": outcome.reasons(),
    });
    let mut res = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    put(res.headers_mut(), "x-tessera-denied-layer", outcome.layer);
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

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
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

//! Who is asking: the credential a request carries, authenticated once, and the checks handlers ask for.
//!
//! A token's kind comes from its prefix and its stored record, never from the header or the Basic username it
//! arrived in. A request carrying two different credentials is refused.

use std::net::SocketAddr;

use authority::{AuditContext, Authenticated, Outcome};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base64::Engine;
use catalog::Boundary;
use domain::{Settings, User};
use policy::{Denial, ScopeRule};

use crate::AppState;
use crate::error::{ApiError, ApiResult, forbidden};

/// The longest header value read as a credential; longer ones are refused as malformed.
pub(crate) const MAX_CREDENTIAL_LEN: usize = 1024;
/// The longest original request target (path and query) a gateway or the decision API may ask about.
pub(crate) const MAX_TARGET_LEN: usize = 8192;

/// The token type a gateway is told, as GitLab names it.
pub(crate) fn token_type(token: &domain::Token) -> &'static str {
    if token.impersonation { "impersonation_token" } else { "personal_access_token" }
}

/// An authenticated principal: the token, its owner, and the user it acts as (differs only with `Sudo`).
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: domain::Token,
    pub owner: User,
    pub user: User,
}

/// The caller of one request: anonymous or authenticated, with its address and method.
pub struct Caller {
    pub principal: Option<Principal>,
    pub ip: Option<String>,
    pub safe: bool,
    pub settings: Settings,
}

impl Caller {
    /// Requires a principal whose token's scopes satisfy `rule`.
    pub fn require(&self, rule: ScopeRule) -> ApiResult<&Principal> {
        let Some(principal) = &self.principal else { return Err(ApiError::Unauthorized) };
        policy::check_scopes(&principal.token.scopes, rule, self.safe).map_err(denial)?;
        Ok(principal)
    }

    /// Requires an administrator (and, with Admin Mode on, the `admin_mode` scope).
    pub fn require_admin(&self, rule: ScopeRule) -> ApiResult<&Principal> {
        let principal = self.require(rule)?;
        policy::check_admin(principal.user.is_admin, &principal.token.scopes, self.settings.admin_mode)
            .map_err(denial)?;
        Ok(principal)
    }

    /// Whether the caller is an administrator who may act as one now.
    pub fn is_admin(&self) -> bool {
        match &self.principal {
            Some(p) => policy::check_admin(p.user.is_admin, &p.token.scopes, self.settings.admin_mode).is_ok(),
            None => false,
        }
    }

    pub fn audit(&self) -> AuditContext {
        AuditContext {
            author_id: self.principal.as_ref().map(|p| p.owner.id),
            author_name: self.principal.as_ref().map(|p| p.owner.username.clone()),
            ip_address: self.ip.clone(),
        }
    }
}

pub fn denial(d: Denial) -> ApiError {
    match d {
        Denial::InsufficientScope(scopes) => ApiError::InsufficientScope(scopes),
        Denial::NotAdmin => forbidden(),
        Denial::AdminModeRequired => ApiError::Authority(authority::Error::Forbidden(
            "403 Forbidden - Admin mode is enabled: the token needs the admin_mode scope".to_owned(),
        )),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        let authority = &state.authority;
        let credential = match credential(&parts.headers, parts.uri.query()) {
            Ok(credential) => credential,
            Err(()) => {
                tracing::info!(
                    ip = ip.as_deref().unwrap_or("-"),
                    "authentication failed: conflicting or malformed credentials"
                );
                return Err(ApiError::Unauthorized);
            }
        };
        let Some(credential) = credential else {
            // Settings matter only to principals; an anonymous request touches no storage here.
            return Ok(Caller { principal: None, ip, safe, settings: Settings::default() });
        };
        let rotate_path = is_rotate_path(parts.uri.path());
        let Authenticated { user: owner, token } =
            match authority.authenticate(&credential, ip.as_deref(), rotate_path).await? {
                Ok(authenticated) => authenticated,
                Err(_) => return Err(ApiError::Unauthorized),
            };
        let settings = authority.settings().await?;
        let user = match parts.headers.get("sudo") {
            None => owner.clone(),
            Some(value) => {
                policy::check_sudo(owner.is_admin, &token.scopes).map_err(denial)?;
                let who = value.to_str().map_err(|_| crate::error::bad_request("Sudo is invalid"))?;
                let target = match who.parse::<i64>() {
                    Ok(id) => authority.store().user(id).await.map_err(authority::Error::from)?,
                    Err(_) => authority.store().user_by_username(who).await.map_err(authority::Error::from)?,
                };
                target.ok_or(crate::error::not_found("User"))?
            }
        };
        Ok(Caller { principal: Some(Principal { token, owner, user }), ip, safe, settings })
    }
}

/// The REST answer to a denied decision, in GitLab's shapes: 401 for a missing or refused credential, 403
/// `insufficient_scope` naming the scopes that would do, 404 for what the caller may not see (another
/// organization's or a private resource looks absent), 403 when the role falls short.
pub(crate) fn denied(outcome: &Outcome) -> ApiError {
    if outcome.bad_credential || outcome.needs_credential {
        return ApiError::Unauthorized;
    }
    let thing = match outcome.boundary {
        Some(Boundary::Project) => "Project",
        Some(Boundary::Group) => "Group",
        _ => "Resource",
    };
    match outcome.layer {
        "route" => ApiError::RouteNotFound,
        "credential" => ApiError::Unauthorized,
        "token_reach" | "scope" => ApiError::InsufficientScope(outcome.allowing_scopes.to_vec()),
        "visibility" | "organization" => crate::error::not_found(thing),
        _ => forbidden(),
    }
}

fn is_rotate_path(path: &str) -> bool {
    let Some(rest) = path.strip_suffix("/rotate") else { return false };
    let Some((before, id)) = rest.rsplit_once('/') else { return false };
    before.ends_with("personal_access_tokens")
        && (id == "self" || (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())))
}

/// The one credential a request carries, from `PRIVATE-TOKEN`, `Authorization` (Bearer, or Basic with the
/// token as password) or the `private_token` parameter. Two different credentials, or an unreadable one, are an
/// error; the same token sent twice is one credential.
pub(crate) fn credential(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, ()> {
    let mut found: Option<String> = None;
    let mut offer = |value: String| -> Result<(), ()> {
        if value.is_empty() || value.len() > MAX_CREDENTIAL_LEN {
            return Err(());
        }
        match &found {
            Some(existing) if *existing != value => Err(()),
            _ => {
                found = Some(value);
                Ok(())
            }
        }
    };
    for name in ["private-token", "job-token", "deploy-token"] {
        for value in headers.get_all(name) {
            offer(value.to_str().map_err(|_| ())?.trim().to_owned())?;
        }
    }
    for value in headers.get_all(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| ())?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(())?;
        if scheme.eq_ignore_ascii_case("bearer") {
            offer(rest.trim().to_owned())?;
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).map_err(|_| ())?;
            let decoded = String::from_utf8(decoded).map_err(|_| ())?;
            let (_user, password) = decoded.split_once(':').ok_or(())?;
            offer(password.to_owned())?;
        } else {
            return Err(());
        }
    }
    if let Some(query) = query {
        for (key, value) in serde_urlencoded::from_str::<Vec<(String, String)>>(query).map_err(|_| ())? {
            if key == "private_token" || key == "job_token" {
                offer(value)?;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_same_token_in_two_places_is_one_credential() {
        let h = headers(&[("private-token", "glpat-a"), ("authorization", "Bearer glpat-a")]);
        assert_eq!(credential(&h, None), Ok(Some("glpat-a".to_owned())));
    }

    #[test]
    fn two_different_credentials_are_refused() {
        let h = headers(&[("private-token", "glpat-a"), ("authorization", "Bearer glpat-b")]);
        assert_eq!(credential(&h, None), Err(()));
        assert_eq!(credential(&headers(&[("private-token", "glpat-a")]), Some("private_token=glpat-b")), Err(()));
    }

    #[test]
    fn basic_auth_carries_the_token_as_password_whatever_the_username() {
        let basic = base64::engine::general_purpose::STANDARD.encode("anything:glpat-a");
        let h = headers(&[("authorization", &format!("Basic {basic}"))]);
        assert_eq!(credential(&h, None), Ok(Some("glpat-a".to_owned())));
    }

    #[test]
    fn rotation_paths_are_recognised() {
        assert!(is_rotate_path("/api/v4/personal_access_tokens/12/rotate"));
        assert!(is_rotate_path("/api/v4/personal_access_tokens/self/rotate"));
        assert!(!is_rotate_path("/api/v4/personal_access_tokens/x1/rotate"));
        assert!(!is_rotate_path("/api/v4/personal_access_tokens/12"));
    }
}

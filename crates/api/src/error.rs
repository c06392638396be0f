//! Errors rendered in GitLab's JSON shapes and status codes.
//!
//! **Invariant:** every refusal is a 4xx in GitLab's shape; a 500 carries no detail, which goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// No credential where one is needed, or any credential failure: one indistinguishable 401.
    Unauthorized,
    /// The token lacks a scope; names the scopes that would allow the request.
    InsufficientScope(Vec<domain::Scope>),
    /// A fine-grained token's grants lack a permission here; names the alternatives of assignable permissions
    /// that would allow the request.
    InsufficientGranularScope(Vec<Vec<String>>),
    /// The token's allowlist rules match no request of this method and path.
    OutsideRouteRules,
    /// The user's role lacks a permission; names the alternatives of raw permissions that would allow it.
    RoleForbidden(Vec<Vec<String>>),
    /// A rule refused the request ([`policy_refusal`]): its code and why, in words.
    Refused {
        code: &'static str,
        why: &'static str,
    },
    /// The route does not exist.
    RouteNotFound,
    /// The body could not be read as its Content-Type says.
    UnsupportedMediaType,
    Authority(authority::Error),
}

impl From<authority::Error> for ApiError {
    fn from(e: authority::Error) -> Self {
        ApiError::Authority(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The refusals that are neither a missing role permission nor a missing scope, as REST, forward-auth and the
/// decision API all name them: an error code and the reason in words (GitLab's own words where it has them).
pub(crate) fn policy_refusal(reason: policy::Reason) -> Option<(&'static str, &'static str)> {
    use policy::Reason;
    match reason {
        Reason::SudoNeedsAdmin => Some(("sudo_needs_admin", "Must be admin to use sudo")),
        Reason::AdminModeRequired => {
            Some(("admin_mode_required", "Admin mode is enabled: the token needs the admin_mode scope"))
        }
        Reason::LegacyTokenRefused => {
            Some(("fine_grained_token_required", "only fine-grained personal access tokens are accepted"))
        }
        Reason::LifetimeBeyondGroupPolicy => {
            Some(("token_lifetime_beyond_group_policy", "the token's lifetime exceeds the maximum this group allows"))
        }
        Reason::NotJobTokenRoute
        | Reason::NotAllowlisted
        | Reason::AllowlistPolicyMissing
        | Reason::JobPermissionMissing
        | Reason::OutsideJobTokenScope
        | Reason::JobTokenPushRefused => Some((job_refusal_code(reason), reason.text())),
        _ => None,
    }
}

fn job_refusal_code(reason: policy::Reason) -> &'static str {
    use policy::Reason;
    match reason {
        Reason::NotJobTokenRoute => "job_token_route_refused",
        Reason::NotAllowlisted => "job_token_not_allowlisted",
        Reason::AllowlistPolicyMissing => "job_token_allowlist_policy_missing",
        Reason::JobPermissionMissing => "job_permission_missing",
        Reason::OutsideJobTokenScope => "job_token_scope_exceeded",
        _ => "job_token_push_refused",
    }
}

pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::Authority(authority::Error::BadRequest(message.into()))
}

pub fn not_found(thing: &'static str) -> ApiError {
    ApiError::Authority(authority::Error::NotFound(thing))
}

pub fn forbidden() -> ApiError {
    ApiError::Authority(authority::Error::forbidden())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized => unauthorized(),
            ApiError::OutsideRouteRules => {
                let body = json!({
                    "error": "outside_route_rules",
                    "error_description": "The token's route rules allow no request of this method and path.",
                });
                (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
            }
            ApiError::RoleForbidden(alternatives) => {
                let body = json!({"message": "403 Forbidden", "required_permissions": alternatives});
                let mut res = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(&required_alternatives(&alternatives)) {
                    res.headers_mut().insert("x-tessera-required-permissions", v);
                }
                res
            }
            ApiError::InsufficientGranularScope(alternatives) => {
                let named = granular_alternatives(&alternatives);
                let body = json!({
                    "error": "insufficient_granular_scope",
                    "error_description": format!(
                        "The request requires higher privileges than provided by the fine-grained access token: it needs {}.",
                        if named.is_empty() { "a permission no fine-grained token can be granted".to_owned() } else { named.clone() }
                    ),
                    "required_permissions": alternatives,
                });
                let mut res = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(&named) {
                    res.headers_mut().insert("x-tessera-required-granular-permissions", v);
                }
                res
            }
            ApiError::InsufficientScope(scopes) => {
                let scope = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
                let body = json!({
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided by the access token.",
                    "scope": scope,
                });
                let mut res = (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(&scope) {
                    res.headers_mut().insert("x-tessera-required-scopes", v);
                }
                res
            }
            ApiError::Refused { code, why } => {
                let body = json!({"message": format!("403 Forbidden - {why}"), "error": code});
                (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
            }
            ApiError::RouteNotFound => {
                (StatusCode::NOT_FOUND, axum::Json(json!({"error": "404 Not Found"}))).into_response()
            }
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                axum::Json(json!({"error": "The provided content-type is not supported"})),
            )
                .into_response(),
            ApiError::Authority(e) => authority_error(e),
        }
    }
}

/// The one 401 every credential failure gets, so nobody learns whether a string was ever a token.
pub fn unauthorized() -> Response {
    let mut res = (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "401 Unauthorized"}))).into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"The API\", error=\"invalid_token\""),
    );
    res
}

fn authority_error(e: authority::Error) -> Response {
    use authority::Error;
    match e {
        Error::BadRequest(message) => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": message}))).into_response(),
        Error::Invalid { field, message } => {
            (StatusCode::BAD_REQUEST, axum::Json(json!({"message": {field: [message]}}))).into_response()
        }
        Error::Unauthorized => unauthorized(),
        Error::Forbidden(reason) => {
            let message = match reason {
                Some(reason) => format!("403 Forbidden - {reason}"),
                None => "403 Forbidden".to_owned(),
            };
            (StatusCode::FORBIDDEN, axum::Json(json!({"message": message}))).into_response()
        }
        Error::NotFound(thing) => {
            (StatusCode::NOT_FOUND, axum::Json(json!({"message": format!("404 {thing} Not Found")}))).into_response()
        }
        Error::Conflict(message) => (StatusCode::CONFLICT, axum::Json(json!({"message": message}))).into_response(),
        Error::Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"message": "500 Internal Server Error"})))
                .into_response()
        }
    }
}

/// Alternatives of raw permissions as the `X-Tessera-Required-Permissions` header gives them:
/// `admin_container_image, destroy_container_image`, with `+` joining the permissions of one alternative.
pub(crate) fn required_alternatives(alternatives: &[Vec<String>]) -> String {
    alternatives.iter().map(|all| all.join("+")).collect::<Vec<_>>().join(", ")
}

/// Alternatives of assignable permissions in words: `run_job` or `read_job and run_job`, alternatives joined by
/// ` or `.
pub(crate) fn granular_alternatives(alternatives: &[Vec<String>]) -> String {
    alternatives.iter().map(|all| all.join(" and ")).collect::<Vec<_>>().join(" or ")
}

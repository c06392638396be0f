//! Who is asking: the credential a request carries, authenticated once, and the checks handlers ask for.
//!
//! A token's kind comes from its prefix and its stored record, never from the header or the Basic username it
//! arrived in. A request carrying two different credentials is refused.
//!
//! **Invariant:** no handler runs before the decision layer has allowed its request; a refused credential is the
//! one 401.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use authority::{Accepted, Actor, AuditContext, Authenticated, Outcome, Presented, Request, Resolved};
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use catalog::Boundary;
use domain::{AccessLevel, Channel, Group, Project, User};
use policy::{Layer, Reason};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

const PRIVATE_TOKEN: HeaderName = HeaderName::from_static("private-token");
const JOB_TOKEN: HeaderName = HeaderName::from_static("job-token");
const DEPLOY_TOKEN: HeaderName = HeaderName::from_static("deploy-token");
pub(crate) const SUDO: HeaderName = HeaderName::from_static("sudo");

/// The longest header value read as a credential; longer ones are refused as malformed.
/// The longest credential read: CI job tokens are signed JWTs of a few kilobytes.
pub(crate) const MAX_CREDENTIAL_LEN: usize = 8 * 1024;
/// The longest original request target (path and query) a gateway or the decision API may ask about.
pub(crate) const MAX_TARGET_LEN: usize = 8192;

/// An authenticated principal: the token, its owner, and the user it acts as (differs only with `Sudo`), shared
/// with the fact cache.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: domain::TokenFacts,
    pub owner: Arc<User>,
    pub user: Arc<User>,
}

/// The caller of one request, as the decision layer (`decided`) allowed it, with the route's group or project
/// already resolved. What is left to a handler are the rules past the route (whose token, which level).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub ip: Option<String>,
    /// The request acts with administrator powers (Admin Mode included).
    pub admin: bool,
    /// The group or project the route names, with the acting user's level on it.
    pub resource: Resolved,
    /// The CI job whose token the request carries (then `principal` is `None`).
    pub job: Option<authority::JobPrincipal>,
    /// The runner whose token the request carries, on the internal CI routes only.
    pub runner: Option<domain::Runner>,
    /// The pipeline trigger whose token the request carries, on the trigger route only.
    pub trigger: Option<Arc<domain::PipelineTrigger>>,
}

impl Principal {
    /// The row of the token the request carries, read now (with its uses so far): what creating or rotating
    /// with it checks (its rules and grants) and what `…/self` shows, which its cached facts do not hold.
    pub async fn token_row(&self, state: &AppState) -> ApiResult<Arc<domain::Token>> {
        state.authority.token(self.token.id).await?.map(Arc::new).ok_or(ApiError::Unauthorized)
    }
}

impl Caller {
    /// The principal, for routes the catalog gives only to signed-in users.
    pub fn require(&self) -> ApiResult<&Principal> {
        self.principal.as_ref().ok_or(ApiError::Unauthorized)
    }

    /// Whether the caller acts with administrator powers now.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// The user the request acts as, if signed in.
    pub fn user(&self) -> Option<&User> {
        self.principal.as_ref().map(|p| &*p.user)
    }

    /// Who performs a change, for `authority`'s rules past the route.
    pub fn actor(&self) -> ApiResult<Actor<'_>> {
        let principal = self.require()?;
        Ok(Actor { user: &principal.user, admin: self.admin, organization_id: Some(principal.token.organization_id) })
    }

    /// The group the route names (the decision found it and the caller may see it).
    pub fn group(&self) -> ApiResult<(&Group, Option<AccessLevel>)> {
        match &self.resource {
            Resolved::Group(group, level) => Ok((group, *level)),
            _ => Err(crate::error::not_found("Group")),
        }
    }

    /// The project the route names (the decision found it and the caller may see it).
    pub fn project(&self) -> ApiResult<(&Project, Option<AccessLevel>)> {
        match &self.resource {
            Resolved::Project(project, level) => Ok((project, *level)),
            _ => Err(crate::error::not_found("Project")),
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

/// The decision every request under `/api/v4` goes through, as a layer in front of every handler and the
/// fallback, so that no endpoint can skip it: the request's own method and path are decided by
/// `Authority::decide_request`, a denial is answered in GitLab's shape, and an allowed request carries its
/// `Caller` to the handler.
pub(crate) async fn decided(State(state): State<AppState>, request: axum::extract::Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // A form body may carry `private_token` or `job_token`, as GitLab reads it, and the trigger route's body its
    // `token` (form or JSON): such a body is read here (it is small: handlers take at most `MAX_BODY_BYTES`) and
    // handed on whole.
    let on_trigger = is_trigger_route(parts.uri.path());
    let form_body = is_form(&parts.headers);
    let (read, body) = if form_body || on_trigger {
        match axum::body::to_bytes(body, crate::params::MAX_BODY_BYTES).await {
            Ok(bytes) => (Some(bytes.clone()), axum::body::Body::from(bytes)),
            Err(_) => {
                let too_large = format!("body is too large (maximum is {} bytes)", crate::params::MAX_BODY_BYTES);
                return crate::error::bad_request(too_large).into_response();
            }
        }
    } else {
        (None, body)
    };
    let form = read.as_deref().filter(|_| form_body);
    let mut carried = credential(&parts.headers, parts.uri.query(), form);
    if on_trigger {
        let json = read.as_deref().filter(|_| !form_body);
        carried = with_trigger_token(carried, trigger_token(parts.uri.query(), form, json));
    }
    let decided = match runner_caller(&parts, &state, &carried).await {
        Some(caller) => caller,
        None => decide(&parts, &state, carried).await,
    };
    match decided {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(axum::extract::Request::from_parts(parts, body)).await
        }
        Err(e) => {
            drain(body).await;
            e.into_response()
        }
    }
}

/// Whether a path is the pipeline trigger route, whose `token` parameter is its credential (GitLab reads
/// `token` there and nowhere else).
pub(crate) fn is_trigger_route(path: &str) -> bool {
    path.strip_prefix("/api/v4/projects/").is_some_and(|rest| rest.ends_with("/trigger/pipeline"))
        || path.strip_prefix("/projects/").is_some_and(|rest| rest.ends_with("/trigger/pipeline"))
}

/// The trigger route's `token`: from the query, a form body or a JSON body. `Err` when it is given twice or is
/// not a string.
pub(crate) fn trigger_token(
    query: Option<&str>,
    form: Option<&[u8]>,
    json: Option<&[u8]>,
) -> Result<Option<String>, ()> {
    let mut found = None;
    let mut offer = |value: String| -> Result<(), ()> {
        if value.is_empty() || value.len() > MAX_CREDENTIAL_LEN || found.replace(value).is_some() {
            return Err(());
        }
        Ok(())
    };
    for pairs in [query.map(str::as_bytes), form].into_iter().flatten() {
        for (key, value) in serde_urlencoded::from_bytes::<Vec<(String, String)>>(pairs).map_err(|_| ())? {
            if key == "token" {
                offer(value)?;
            }
        }
    }
    if let Some(body) = json.filter(|b| !b.is_empty()) {
        // A body that is not JSON is the handler's to refuse; only a `token` that is not a string is refused here.
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
            match map.get("token") {
                None => {}
                Some(serde_json::Value::String(value)) => offer(value.clone())?,
                Some(_) => return Err(()),
            }
        }
    }
    Ok(found)
}

/// The credential of a request on the trigger route: its `token` when it has one, as GitLab reads the route
/// (clients such as python-gitlab send their own `PRIVATE-TOKEN` beside it, which the route does not use: the
/// run acts as the trigger's owner whatever else is sent); otherwise the usual one.
pub(crate) fn with_trigger_token<'a>(
    carried: Result<Option<Carried<'a>>, ()>,
    token: Result<Option<String>, ()>,
) -> Result<Option<Carried<'a>>, ()> {
    let carried = carried?;
    Ok(match token? {
        Some(secret) => {
            Some(Carried { secret: Cow::Owned(secret), channel: Channel::TriggerTokenParam, username: None })
        }
        None => carried,
    })
}

fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// A request body read (up to this much) and dropped when a request is answered without its handler.
const DRAINED_BODY_BYTES: usize = 64 * 1024;

/// Reads and drops a body nobody will use. An unread body makes the server close the connection after
/// answering, and a client that reuses connections (a gateway, python-gitlab) then sends its next request into
/// a closed one. Too large a body is simply left, and the connection closes.
pub(crate) async fn drain(body: axum::body::Body) {
    let _ = axum::body::to_bytes(body, DRAINED_BODY_BYTES).await;
}

/// The internal CI routes also take a runner's `glrt-` token, which is no user's credential and reaches nothing
/// else: it is authenticated here and the handler checks what the runner may do. `None` for any other request.
async fn runner_caller(
    parts: &Parts,
    state: &AppState,
    carried: &Result<Option<Carried<'_>>, ()>,
) -> Option<ApiResult<Caller>> {
    let uri = parts.extensions.get::<OriginalUri>().map(|o| &o.0).unwrap_or(&parts.uri);
    if !uri.path().starts_with("/api/v4/internal/ci/jobs") {
        return None;
    }
    let Ok(Some(credential)) = carried else { return None };
    let runner = domain::CredentialKind::RunnerAuthenticationToken.spec();
    if !credential.secret.starts_with(runner.prefix) {
        return None;
    }
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    if !runner.admits(credential.channel) {
        tracing::info!(ip = ip.as_deref().unwrap_or("-"), "authentication failed: not a channel of its kind");
        return Some(Err(ApiError::Unauthorized));
    }
    Some(match state.authority.authenticate_runner(&credential.secret).await {
        Ok(Some(runner)) => Ok(Caller {
            principal: None,
            ip,
            admin: false,
            resource: Resolved::None,
            job: None,
            runner: Some(runner),
            trigger: None,
        }),
        Ok(None) => {
            tracing::info!(ip = ip.as_deref().unwrap_or("-"), "authentication failed: unknown runner token");
            Err(ApiError::Unauthorized)
        }
        Err(e) => Err(e.into()),
    })
}

async fn decide(parts: &Parts, state: &AppState, carried: Result<Option<Carried<'_>>, ()>) -> ApiResult<Caller> {
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let credential = match carried {
        Ok(credential) => credential,
        Err(()) => {
            tracing::info!(
                ip = ip.as_deref().unwrap_or("-"),
                "authentication failed: conflicting or malformed credentials"
            );
            return Err(ApiError::Unauthorized);
        }
    };
    let sudo = sudo(&parts.headers)?;
    // Nested routers see the path without `/api/v4`; the decision needs the whole of it.
    let uri = parts.extensions.get::<OriginalUri>().map(|o| &o.0).unwrap_or(&parts.uri);
    let target = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let request = Request {
        credential: credential.as_ref().map(Carried::presented),
        method: parts.method.as_str(),
        target,
        ip: ip.as_deref(),
        sudo,
        served: true,
        ssh_key: None,
    };
    let outcome = state.authority.decide_request(&request).await?;
    if !outcome.allowed {
        return Err(denied(&outcome));
    }
    let (mut principal, mut job, mut trigger) = (None, None, None);
    match outcome.credential {
        Accepted::Token(Authenticated { user: owner, token, .. }) => {
            principal = Some(Principal { user: outcome.sudo.unwrap_or_else(|| owner.clone()), token, owner });
        }
        Accepted::Job(accepted) => job = Some(accepted),
        Accepted::Trigger(accepted, _) => trigger = Some(accepted),
        Accepted::Nothing | Accepted::Deploy(_) | Accepted::Feed(..) | Accepted::Ssh(..) => {}
    }
    Ok(Caller { principal, ip, admin: outcome.admin, resource: outcome.resource, job, runner: None, trigger })
}

/// The organization the caller's credential belongs to (a job token's: its project's), by which every listing
/// is filtered; `None` for an anonymous caller, who sees public things only.
pub(crate) fn caller_organization(caller: &Caller) -> Option<i64> {
    caller
        .principal
        .as_ref()
        .map(|p| p.token.organization_id)
        .or_else(|| caller.job.as_ref().map(|j| j.project.organization_id))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The caller the decision layer left; a handler outside that layer has no caller and fails closed.
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts.extensions.remove::<Caller>().ok_or(ApiError::Unauthorized)
    }
}

/// The REST answer to a denied decision, in GitLab's shapes: 401 for a missing or refused credential, 403
/// `insufficient_scope` naming the scopes that would do, 404 for what the caller may not see (another
/// organization's or a private resource looks absent, also to an anonymous caller), 403 when the role falls short.
pub(crate) fn denied(outcome: &Outcome) -> ApiError {
    let thing = match outcome.boundary {
        Some(Boundary::Project) => "Project",
        Some(Boundary::Group) => "Group",
        _ => "Resource",
    };
    if outcome.is_bad_request() {
        return crate::error::bad_request(outcome.detail.unwrap_or("the path has no single reading"));
    }
    if let Some((code, why)) = crate::error::policy_refusal(outcome.reason) {
        return ApiError::Refused { code, why };
    }
    match outcome.reason {
        Reason::SudoUserNotFound => return crate::error::not_found("User"),
        Reason::InsufficientGranularScope => return ApiError::InsufficientGranularScope(outcome.bundles.to_vec()),
        Reason::OutsideRouteRules => return ApiError::OutsideRouteRules,
        _ => {}
    }
    match outcome.layer {
        Layer::Route => ApiError::RouteNotFound,
        Layer::Visibility | Layer::Organization => crate::error::not_found(thing),
        _ if outcome.bad_credential || outcome.needs_credential => ApiError::Unauthorized,
        Layer::Credential => ApiError::Unauthorized,
        Layer::TokenReach | Layer::Scope => ApiError::InsufficientScope(outcome.allowing_scopes.to_vec()),
        _ => ApiError::RoleForbidden(outcome.required.to_vec()),
    }
}

/// The `Sudo` header: the id or username of the user the request asks to act as.
pub(crate) fn sudo(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    sudo_text(headers.get(&SUDO))
}

/// The text of a `Sudo` header's value, if one was sent.
pub(crate) fn sudo_text(value: Option<&axum::http::HeaderValue>) -> ApiResult<Option<&str>> {
    match value {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| crate::error::bad_request("Sudo is invalid")),
    }
}

/// The one credential a request carries, and the channel it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Carried<'a> {
    pub secret: Cow<'a, str>,
    pub channel: Channel,
    /// The Basic username.
    pub username: Option<String>,
}

impl Carried<'_> {
    pub fn presented(&self) -> Presented<'_> {
        Presented { secret: &self.secret, channel: self.channel, username: self.username.as_deref() }
    }
}

/// The one credential a request carries: from `PRIVATE-TOKEN`, `JOB-TOKEN`, `DEPLOY-TOKEN`, `Authorization`
/// (Bearer, or Basic with the token as password and the username choosing the channel), the `private_token` or
/// `job_token` parameter of the query, or of a form body (`form`, already read). A second credential anywhere,
/// even the same string again, or an unreadable one, is an error: a request has one credential, never "the
/// first one wins".
pub(crate) fn credential<'a>(
    headers: &'a HeaderMap,
    query: Option<&str>,
    form: Option<&[u8]>,
) -> Result<Option<Carried<'a>>, ()> {
    let mut found: Option<Carried<'a>> = None;
    let mut offer = |secret: Cow<'a, str>, channel: Channel, username: Option<&str>| -> Result<(), ()> {
        if secret.is_empty() || secret.len() > MAX_CREDENTIAL_LEN || found.is_some() {
            return Err(());
        }
        found = Some(Carried { secret, channel, username: username.map(str::to_owned) });
        Ok(())
    };
    // One pass over the headers (no name hashed): a request carries a handful, and every credential header
    // counts, repeated or not, since two credentials are refused whatever their order.
    for (name, value) in headers {
        let channel = if *name == PRIVATE_TOKEN {
            Channel::PrivateTokenHeader
        } else if *name == JOB_TOKEN {
            Channel::JobTokenHeader
        } else if *name == DEPLOY_TOKEN {
            Channel::DeployTokenHeader
        } else if *name == header::AUTHORIZATION {
            authorization(value.to_str().map_err(|_| ())?, &mut offer)?;
            continue;
        } else {
            continue;
        };
        offer(Cow::Borrowed(value.to_str().map_err(|_| ())?), channel, None)?;
    }
    // Only a query that could name a token is decoded (`%` covers encoded names).
    for pairs in [query.map(str::as_bytes), form].into_iter().flatten() {
        if !(contains(pairs, b"_token") || pairs.contains(&b'%')) {
            continue;
        }
        for (key, value) in serde_urlencoded::from_bytes::<Vec<(String, String)>>(pairs).map_err(|_| ())? {
            match key.as_str() {
                "private_token" => offer(Cow::Owned(value), Channel::PrivateTokenParam, None)?,
                "job_token" => offer(Cow::Owned(value), Channel::JobTokenParam, None)?,
                "feed_token" => offer(Cow::Owned(value), Channel::FeedTokenParam, None)?,
                _ => {}
            }
        }
    }
    Ok(found)
}

/// The credential of an `Authorization` value: a Bearer token, or a Basic password with its username.
fn authorization<'a>(
    value: &'a str,
    offer: &mut impl FnMut(Cow<'a, str>, Channel, Option<&str>) -> Result<(), ()>,
) -> Result<(), ()> {
    let (scheme, rest) = value.split_once(' ').ok_or(())?;
    if scheme.eq_ignore_ascii_case("bearer") {
        offer(Cow::Borrowed(rest), Channel::Bearer, None)
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).map_err(|_| ())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ())?;
        let (username, password) = decoded.split_once(':').ok_or(())?;
        offer(Cow::Owned(password.to_owned()), Channel::basic(username), Some(username))
    } else {
        Err(())
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
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

    fn carried(secret: &str, channel: Channel) -> Result<Option<Carried<'_>>, ()> {
        Ok(Some(Carried { secret: Cow::Borrowed(secret), channel, username: None }))
    }

    fn basic_as<'a>(secret: &'a str, channel: Channel, username: &str) -> Result<Option<Carried<'a>>, ()> {
        Ok(Some(Carried { secret: Cow::Borrowed(secret), channel, username: Some(username.to_owned()) }))
    }

    #[test]
    fn each_place_a_credential_is_read_from_is_its_channel() {
        let h = headers(&[("job-token", "glcbt-a")]);
        assert_eq!(credential(&h, None, None), carried("glcbt-a", Channel::JobTokenHeader));
        let h = headers(&[("authorization", "Bearer glpat-a")]);
        assert_eq!(credential(&h, None, None), carried("glpat-a", Channel::Bearer));
        let none = HeaderMap::new();
        assert_eq!(credential(&none, Some("a=1&job_token=x"), None), carried("x", Channel::JobTokenParam));
        assert_eq!(credential(&none, None, Some(b"private_token=x")), carried("x", Channel::PrivateTokenParam));
        assert_eq!(credential(&none, Some("private%5Ftoken=x"), None), carried("x", Channel::PrivateTokenParam));
        assert_eq!(credential(&none, Some("a=1"), Some(b"name=x")), Ok(None));
    }

    #[test]
    fn two_credentials_are_refused_even_the_same_string_twice() {
        let h = headers(&[("private-token", "glpat-a"), ("authorization", "Bearer glpat-b")]);
        assert_eq!(credential(&h, None, None), Err(()));
        let h = headers(&[("private-token", "glpat-a"), ("authorization", "Bearer glpat-a")]);
        assert_eq!(credential(&h, None, None), Err(()));
        let h = headers(&[("private-token", "glpat-a"), ("private-token", "glpat-a")]);
        assert_eq!(credential(&h, None, None), Err(()));
        let h = headers(&[("private-token", "glpat-a")]);
        assert_eq!(credential(&h, Some("private_token=glpat-b"), None), Err(()));
        assert_eq!(credential(&h, None, Some(b"job_token=glpat-a")), Err(()));
        let none = HeaderMap::new();
        assert_eq!(credential(&none, Some("private_token=a"), Some(b"private_token=a")), Err(()));
    }

    #[test]
    fn the_basic_username_gitlab_ci_token_is_the_job_channel_and_any_other_the_plain_one() {
        let basic = |pair: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
        let h = headers(&[("authorization", &basic("anything:glpat-a"))]);
        assert_eq!(credential(&h, None, None), basic_as("glpat-a", Channel::Basic, "anything"));
        let h = headers(&[("authorization", &basic("gitlab-ci-token:glcbt-a"))]);
        assert_eq!(credential(&h, None, None), basic_as("glcbt-a", Channel::BasicCiToken, "gitlab-ci-token"));
    }

    #[test]
    fn a_credential_is_read_exactly_and_padding_is_not_trimmed_away() {
        let h = headers(&[("authorization", "Bearer  glpat-a")]);
        assert_eq!(credential(&h, None, None), carried(" glpat-a", Channel::Bearer));
    }
}

//! The GitLab-compatible REST API v4: routes, credential extraction, parameters, entities and errors.
//!
//! **Architecture Invariant:** `api` holds no rule of its own: every request under `/api/v4` passes the decision
//! layer (`auth::decided`, which calls `Authority::decide_request`) before any handler runs; handlers parse, ask
//! `authority`, and render. Only `api` knows GitLab's JSON shapes.

mod access_tokens;
mod admin;
mod auth;
mod ci;
mod credentials;
mod decisions;
mod deploy_tokens;
mod directory;
mod entities;
mod error;
mod forward_auth;
mod inventory;
mod pagination;
mod params;
mod service_accounts;
mod ssh_keys;
mod tokens;
mod triggers;
mod user_secrets;
mod users;

use std::sync::Arc;

use authority::Authority;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::Uri;
use axum::http::request::Parts;

pub use auth::{Caller, Principal};
pub use error::{ApiError, ApiResult};
pub use params::{MAX_BODY_BYTES, Params};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub authority: Arc<Authority>,
    /// The URL clients reach Tessera at (for `web_url` and `Link`); the request's Host when absent.
    pub external_url: Option<String>,
    /// Rate limits of public endpoints, per process.
    pub limits: Arc<Limits>,
    /// Where expiry notices' e-mails and webhooks go (the server's mail client).
    pub notices: Arc<dyn authority::NoticeSender>,
    /// gitlab-shell's shared secret, which signs its requests to the internal API.
    pub shell_secret: Arc<Vec<u8>>,
}

/// The rate limits of public endpoints.
#[derive(Debug, Default)]
pub struct Limits {
    /// Leak reports per client address.
    pub leaks: credentials::LeakLimit,
}

/// The whole HTTP application; `server` serves it.
pub fn app(state: AppState) -> App {
    let api = Router::new()
        .merge(users::router())
        .merge(tokens::router())
        .merge(directory::router())
        .merge(admin::router())
        .merge(decisions::router())
        .merge(inventory::router())
        .merge(ci::router())
        .merge(credentials::router())
        .merge(service_accounts::router())
        .merge(access_tokens::router())
        .merge(deploy_tokens::router())
        .merge(triggers::router())
        .merge(user_secrets::router())
        .merge(ssh_keys::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::decided));
    let routed = Router::new()
        .nest("/api/v4", api)
        .merge(ci::public_router())
        .route("/-/health", axum::routing::get(health))
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    // The path is read once, before routing: the router, the decision and the handler all see its canonical
    // spelling, and a path without one is a 400 here as on every other way in.
    let rest = Router::new().fallback_service(routed).layer(axum::middleware::from_fn(one_reading));
    let first = Router::new().route("/-/health", axum::routing::get(health)).with_state(state.clone());
    App { first, rest, state, peer: None }
}

impl App {
    /// The service that makes one `App` per connection, knowing the peer's address: forward-auth reads it from
    /// its connection's `App`, and the routed requests find it as axum's `ConnectInfo`, inserted into theirs
    /// alone (an extension inserted into every request costs a map and a box each).
    pub fn into_make_service(self) -> MakeApp {
        MakeApp(self)
    }
}

/// Makes each connection's [`App`], with its peer's address.
#[derive(Clone)]
pub struct MakeApp(App);

impl<L> tower_service::Service<axum::serve::IncomingStream<'_, L>> for MakeApp
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    type Response = App;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<App, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'_, L>) -> Self::Future {
        let mut app = self.0.clone();
        app.peer = Some(*stream.remote_addr());
        std::future::ready(Ok(app))
    }
}

/// The application as a service. Forward-auth is asked before every request a gateway lets through, so it is
/// told apart by its path's first bytes and its handler called directly, past every layer and the router: it
/// decides the path it is asked about (which the decision canonicalizes as every way in does) and reads a
/// forwarded body only up to a cap. The health check, the trivial handler forward-auth is measured against, is
/// answered the same way (a `GET` or `HEAD`; another method gets the router's 405). Everything else pays nothing
/// for this and goes through the canonical-path reading and the router.
#[derive(Clone)]
pub struct App {
    first: Router,
    rest: Router,
    state: AppState,
    /// The connection's peer, when the app was made for one ([`App::into_make_service`]).
    peer: Option<std::net::SocketAddr>,
}

impl tower_service::Service<axum::extract::Request> for App {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: axum::extract::Request) -> Self::Future {
        use axum::response::IntoResponse;
        let path = request.uri().path();
        let read = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD);
        if path == "/-/auth" || path.starts_with("/-/auth/") {
            // Asked before every request a gateway lets through: its handler is called without routing.
            // A decision kept from before is answered at once, without a future.
            if let Some(response) = forward_auth::answer_at_once(&self.state, &request, self.peer) {
                return AppFuture::Ready { response: Some(response) };
            }
            let (state, peer) = (self.state.clone(), self.peer);
            let future =
                Box::pin(async move { forward_auth::forward_auth(state, request, peer).await.into_response() });
            return AppFuture::Direct { future };
        }
        if path == "/-/health" && read {
            return AppFuture::Ready { response: Some(health_response()) };
        }
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        }
        if request.uri().path() == "/-/health" {
            // Any other method: the router's answer (405, with the methods it takes).
            AppFuture::Routed { future: self.first.call(request) }
        } else {
            AppFuture::Routed { future: self.rest.call(request) }
        }
    }
}

pin_project_lite::pin_project! {
    /// What [`App`] answers with: the router's future, forward-auth's, or the health check's answer.
    #[project = AppFutureProjection]
    pub enum AppFuture {
        Routed { #[pin] future: axum::routing::future::RouteFuture<std::convert::Infallible> },
        Direct { future: std::pin::Pin<Box<dyn std::future::Future<Output = axum::response::Response> + Send>> },
        Ready { response: Option<axum::response::Response> },
    }
}

impl std::future::Future for AppFuture {
    type Output = Result<axum::response::Response, std::convert::Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.project() {
            AppFutureProjection::Routed { future } => future.poll(cx),
            AppFutureProjection::Direct { future } => future.as_mut().poll(cx).map(Ok),
            AppFutureProjection::Ready { response } => {
                std::task::Poll::Ready(Ok(response.take().unwrap_or_else(health_response)))
            }
        }
    }
}

/// The health check's answer (also what a future polled again after answering gives, which hyper never does).
fn health_response() -> axum::response::Response {
    use axum::response::IntoResponse;
    "GitLab OK".into_response()
}

async fn health() -> axum::response::Response {
    health_response()
}

/// Rewrites a request's path to its canonical spelling (`//`, a trailing `/` and needless percent-encoding go),
/// or answers 400 when it has none. Forward-auth is left as it came: the path it decides is the one it is asked
/// about, which the decision canonicalizes the same way.
async fn one_reading(mut request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = request.uri().path();
    // Forward-auth decides the path it is asked about; a path already in its canonical spelling (nearly every
    // request) is known so without decoding or allocating.
    if path == "/-/auth" || path.starts_with("/-/auth/") || catalog::is_canonical(path) {
        return next.run(request).await;
    }
    // Under `/api/v4` the decision layer sees every request and refuses a decoded `/` no route takes; nothing
    // outside it takes one at all.
    let canonical = match catalog::canonical_path(path) {
        Ok(canonical) => {
            let spelled = canonical.to_string();
            if canonical.has_decoded_slash() && !spelled.starts_with("/api/v4/") {
                Err(catalog::PathError::EncodedSlash)
            } else {
                Ok(spelled)
            }
        }
        Err(e) => Err(e),
    };
    let canonical = match canonical {
        Ok(canonical) => canonical,
        Err(e) => {
            auth::drain(std::mem::take(request.body_mut())).await;
            return error::bad_request(e.as_str()).into_response();
        }
    };
    if canonical != path {
        let target = match request.uri().query() {
            Some(query) => format!("{canonical}?{query}"),
            None => canonical,
        };
        let Ok(uri) = target.parse::<Uri>() else {
            return error::bad_request("the path has no single reading").into_response();
        };
        *request.uri_mut() = uri.clone();
        request.extensions_mut().insert(axum::extract::OriginalUri(uri));
    }
    next.run(request).await
}

/// The request's own URL parts, for links: the external base and the URI.
pub struct Here {
    pub base: String,
    pub uri: Uri,
}

impl FromRequestParts<AppState> for Here {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let base = match &state.external_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = parts
                    .headers
                    .get(axum::http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        // Nested routers see the path without `/api/v4`; links need the original.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        Ok(Here { base, uri })
    }
}

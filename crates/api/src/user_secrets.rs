//! A user's feed token (`/user/feed_token`) and incoming-email token (`/user/incoming_email_token`): shown
//! (never the secret), reset (the new one shown once, the old one refused at once) and removed; and the lookup of
//! an incoming e-mail address (`POST /internal/incoming_email`) for mail services.
//!
//! **Invariant:** the plaintext is in the reset's answer only; the lookup answers the same 404 for every address
//! that names no active user.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{CredentialKind, UserSecret};
use serde_json::{Value, json};

use crate::error::{ApiResult, bad_request, not_found};
use crate::{AppState, Caller, Here, Params, entities};

/// The longest address the lookup reads.
const MAX_ADDRESS: usize = 320;

pub fn router() -> Router<AppState> {
    let feed = CredentialKind::FeedToken;
    let mail = CredentialKind::IncomingEmailToken;
    Router::new()
        .route(
            "/user/feed_token",
            get(move |s, c| show(s, c, feed))
                .post(move |s, c| reset(s, c, feed))
                .delete(move |s, c| remove(s, c, feed)),
        )
        .route(
            "/user/incoming_email_token",
            get(move |s, c| show(s, c, mail))
                .post(move |s, c| reset(s, c, mail))
                .delete(move |s, c| remove(s, c, mail)),
        )
        .route("/internal/incoming_email", post(lookup))
}

fn entity(secret: &UserSecret, plaintext: Option<&str>) -> Value {
    let mut v = json!({
        "id": secret.id,
        "type": secret.kind.name(),
        "user_id": secret.user_id,
        "created_at": secret.created_at.to_string(),
        "expires_at": secret.expires_at.map(|d| d.to_string()),
        "last_used_at": secret.last_used_at.map(|t| t.to_string()),
    });
    if let Some(plaintext) = plaintext {
        v["token"] = json!(plaintext);
    }
    v
}

async fn show(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
    kind: CredentialKind,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let secret = state.authority.user_secret_of(&principal.user, kind).await?.ok_or(not_found("Token"))?;
    Ok(axum::Json(entity(&secret, None)).into_response())
}

async fn reset(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
    kind: CredentialKind,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let issued = state
        .authority
        .reset_user_secret(&caller.audit(), &principal.user, kind, Some(&*principal.token_row(&state).await?))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(entity(&issued.secret, Some(&issued.plaintext)))).into_response())
}

async fn remove(
    axum::extract::State(state): axum::extract::State<AppState>,
    caller: Caller,
    kind: CredentialKind,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let secret = state.authority.user_secret_of(&principal.user, kind).await?.ok_or(not_found("Token"))?;
    state.authority.delete_user_secret(&caller.audit(), &secret).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /internal/incoming_email` with `{"address": "…"}`: the user the address names by its incoming-email
/// token, for a mail service (administrators and `authorize` service accounts).
async fn lookup(
    axum::extract::State(state): axum::extract::State<AppState>,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let address = params.str("address")?.ok_or_else(|| bad_request("address is missing"))?;
    if address.len() > MAX_ADDRESS || address.chars().any(char::is_control) {
        return Err(bad_request("address is invalid"));
    }
    let user = state.authority.incoming_email_user(&address).await?.ok_or(not_found("User"))?;
    Ok(axum::Json(json!({"user": entities::user_basic(&user, &here.base)})).into_response())
}

//! The errors use cases return; `api` renders each in GitLab's shape.
//!
//! **Invariant:** no error carries HTTP text or a secret: a refusal gives its reason only, and `api` adds the
//! status.

use crate::StoreError;

#[derive(Debug)]
pub enum Error {
    /// 400 with `{"error": "<message>"}`: a missing or malformed parameter.
    BadRequest(String),
    /// 400 with `{"message": {"<field>": ["<message>"]}}`: a value that breaks a rule.
    Invalid { field: &'static str, message: String },
    /// 401.
    Unauthorized,
    /// 403: refused, with the reason when there is one to tell (`api` adds the status text).
    Forbidden(Option<String>),
    /// 404 with `{"message": "404 <Thing> Not Found"}`.
    NotFound(&'static str),
    /// 409: a unique value already taken.
    Conflict(String),
    /// 500: never carries a secret; the detail goes to the log only.
    Internal(anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(field) => Error::Conflict(format!("{field} has already been taken")),
            StoreError::Other(e) => Error::Internal(e),
        }
    }
}

impl Error {
    pub fn invalid(field: &'static str, message: impl std::fmt::Display) -> Error {
        Error::Invalid { field, message: message.to_string() }
    }

    /// 403 with no reason given.
    pub fn forbidden() -> Error {
        Error::Forbidden(None)
    }

    /// 403 with a reason the caller may read.
    pub fn refused(reason: impl Into<String>) -> Error {
        Error::Forbidden(Some(reason.into()))
    }
}

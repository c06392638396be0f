//! Request parameters as GitLab's Grape reads them: query string and body (JSON or form-encoded) merged into
//! one map, with duplicate keys, malformed bodies and bodies that contradict their Content-Type refused.
//!
//! **Invariant:** bodies are capped at 64 KiB, and a key given twice is refused, never resolved by order.

use std::collections::BTreeMap;
use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::{ApiError, bad_request};

/// The largest body Tessera reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_PARAMS: usize = 200;

/// Merged parameters of one request.
#[derive(Debug, Default)]
pub struct Params(pub BTreeMap<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().unwrap_or("").to_owned();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| bad_request(format!("body is too large (maximum is {MAX_BODY_BYTES} bytes)")))?;
        let mut params = parse_form(&query)?;
        let body_params = if body.iter().all(u8::is_ascii_whitespace) {
            BTreeMap::new()
        } else {
            match content_type.as_deref() {
                Some("application/json") => parse_json(&body)?,
                Some("application/x-www-form-urlencoded") | None => {
                    let text = std::str::from_utf8(&body).map_err(|_| bad_request("body is not valid UTF-8"))?;
                    if content_type.is_none() && text.trim_start().starts_with('{') {
                        parse_json(&body)?
                    } else {
                        parse_form(text)?
                    }
                }
                Some(_) => return Err(ApiError::UnsupportedMediaType),
            }
        };
        params.extend(body_params);
        if params.len() > MAX_PARAMS {
            return Err(bad_request("too many parameters"));
        }
        Ok(Params(params))
    }
}

fn parse_json(body: &[u8]) -> Result<BTreeMap<String, Value>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let map =
        UniqueMap::deserialize(&mut de).map_err(|e| bad_request(format!("body is not a valid JSON object: {e}")))?;
    de.end().map_err(|_| bad_request("body is not a valid JSON object: trailing characters"))?;
    Ok(map.0)
}

/// A JSON object whose keys must be unique.
struct UniqueMap(BTreeMap<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueMap, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.insert(key.clone(), value).is_some() {
                        return Err(de::Error::custom(format!("duplicate key {key:?}")));
                    }
                }
                Ok(UniqueMap(map))
            }
        }
        deserializer.deserialize_map(V)
    }
}

fn parse_form(text: &str) -> Result<BTreeMap<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(text).map_err(|_| bad_request("parameters are not valid form encoding"))?;
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in pairs {
        if let Some(base) = key.strip_suffix("[]") {
            match map.entry(base.to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(items) => items.push(Value::String(value)),
                _ => return Err(bad_request(format!("{base} is given twice"))),
            }
            continue;
        }
        if map.insert(key.clone(), Value::String(value)).is_some() {
            return Err(bad_request(format!("{key} is given twice")));
        }
    }
    Ok(map)
}

impl Params {
    fn invalid(key: &str) -> ApiError {
        bad_request(format!("{key} is invalid"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A string; numbers are accepted as their text. `null` counts as absent.
    pub fn str(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Self::invalid(key)),
        }
    }

    /// An integer given as a JSON number or a decimal string (`"30"`), exactly: `" 30"` is no integer.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| Self::invalid(key)),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.parse::<i64>().map(Some).map_err(|_| Self::invalid(key)),
            Some(_) => Err(Self::invalid(key)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.as_str() {
                "true" | "1" | "yes" | "on" => Ok(Some(true)),
                "false" | "0" | "no" | "off" | "" => Ok(Some(false)),
                _ => Err(Self::invalid(key)),
            },
            Some(Value::Number(n)) => match n.as_i64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(Self::invalid(key)),
            },
            Some(_) => Err(Self::invalid(key)),
        }
    }

    /// A list of strings: a JSON array, repeated `key[]` form fields, or one comma-separated string.
    pub fn list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(Self::invalid(key)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(Value::String(s)) => {
                Ok(Some(s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()))
            }
            Some(_) => Err(Self::invalid(key)),
        }
    }

    /// A list of strings given as a JSON array or repeated `key[]` form fields, never split on commas (for
    /// values that contain commas, such as route rules).
    pub fn list_exact(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(key) {
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            _ => self.list(key),
        }
    }

    pub fn date(&self, key: &str) -> Result<Option<domain::Date>, ApiError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => domain::Date::parse(&s).map(Some).ok_or_else(|| Self::invalid(key)),
        }
    }

    pub fn time(&self, key: &str) -> Result<Option<domain::Timestamp>, ApiError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => domain::Timestamp::parse(&s).map(Some).ok_or_else(|| Self::invalid(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_json_keys_are_refused() {
        assert!(parse_json(br#"{"name":"a","name":"b"}"#).is_err());
        assert!(parse_json(br#"{"name":"a"}"#).is_ok());
    }

    #[test]
    fn a_json_body_that_is_not_an_object_is_refused() {
        assert!(parse_json(b"[1,2]").is_err());
        assert!(parse_json(b"name=a").is_err());
        assert!(parse_json(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn form_arrays_collect_and_plain_duplicates_are_refused() {
        let map = parse_form("name=n&scopes%5B%5D=api&scopes%5B%5D=read_user").unwrap();
        assert_eq!(map["scopes"], serde_json::json!(["api", "read_user"]));
        assert!(parse_form("name=a&name=b").is_err());
    }

    #[test]
    fn integers_may_come_as_strings() {
        let params = Params(parse_form("access_level=30&bad=x").unwrap());
        assert_eq!(params.int("access_level").unwrap(), Some(30));
        assert!(params.int("bad").is_err());
    }

    #[test]
    fn an_integer_is_read_exactly_never_trimmed() {
        let params = Params(parse_form("a=%2B30&b=%2030&c=30%20&d=3%0A0&e=+30").unwrap());
        for key in ["b", "c", "d", "e"] {
            assert!(params.int(key).is_err(), "{key}");
        }
        assert_eq!(params.int("a").unwrap(), Some(30), "a sign is part of an integer's text");
    }
}

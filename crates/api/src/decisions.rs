//! `POST /api/v4/internal/authorize`: the decision API. A gateway or service that cannot use forward-auth asks
//! about up to 1,000 requests at once; each is decided by `Authority::decide`, the function every way in uses,
//! and the answers come back in order with the layer that decided, the permissions that would have been
//! needed and the reasons.
//!
//! The caller is itself decided first, by the decision layer every `/api/v4` request passes: an administrator's
//! token, or a service account's token with the `authorize` scope (the catalog's
//! `POST /api/v4/internal/authorize` route says so).
//!
//! **Invariant:** each request asked about is decided as if it were served, by the same function, and none is noted
//! as exercising its permissions.

use std::borrow::Cow;

use authority::Outcome;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use policy::Reason;
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use serde_json::Value;

mod reading;

use crate::AppState;
use crate::auth::{MAX_CREDENTIAL_LEN, MAX_TARGET_LEN};
use crate::error::{ApiResult, bad_request};
use domain::Channel;

/// Requests one call may ask about.
pub const MAX_REQUESTS: usize = 1000;
/// About what one answer takes in JSON, to size a batch's buffer once.
const ANSWER_BYTES: usize = 320;
/// The body of one call: 1,000 requests of a token and a long path fit.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/authorize", post(authorize))
}

/// A batch, its text borrowed from the body where it holds no escape (a thousand requests are read without
/// copying their strings).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch<'b> {
    #[serde(borrow)]
    requests: Vec<Asked<'b>>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
#[serde(deny_unknown_fields)]
struct Asked<'b> {
    /// The credential to decide for; absent or null for an anonymous request.
    #[serde(default, borrow)]
    credential: Option<Cow<'b, str>>,
    /// Where the request carries it (`PRIVATE-TOKEN`, `JOB-TOKEN`, `DEPLOY-TOKEN`, `Bearer`, `Basic`,
    /// `private_token`, `job_token`); absent: the usual channel of the credential's kind.
    #[serde(default, borrow)]
    channel: Option<Cow<'b, str>>,
    /// The Basic username, with the `Basic` channel (`gitlab-ci-token` takes job tokens).
    #[serde(default, borrow)]
    username: Option<Cow<'b, str>>,
    #[serde(borrow)]
    method: Cow<'b, str>,
    #[serde(borrow)]
    path: Cow<'b, str>,
    /// The `Sudo` header the request would carry.
    #[serde(default, borrow)]
    sudo: Option<Cow<'b, str>>,
}

/// The most room made for a body before it arrives, whatever its `Content-Length` says (a batch of a thousand
/// requests of a token and a project path is ~110 KB); a longer body grows the buffer as it comes.
const PRESIZED_BODY_BYTES: usize = 256 * 1024;

/// Reads a body of at most `limit` bytes into one buffer made at its announced length (its `Content-Length`,
/// as the body's size hint carries it, up to [`PRESIZED_BODY_BYTES`]), so that a batch is not copied again each
/// time a growing buffer doubles.
async fn read_body(mut body: Body, limit: usize) -> Option<Vec<u8>> {
    use axum::body::HttpBody;
    use http_body_util::BodyExt;
    let announced = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(announced.min(limit).min(PRESIZED_BODY_BYTES));
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else { continue };
        if out.len().saturating_add(data.len()) > limit {
            return None;
        }
        out.extend_from_slice(&data);
    }
    Some(out)
}

async fn authorize(State(state): State<AppState>, body: Body) -> ApiResult<Response> {
    let body = read_body(body, MAX_BATCH_BYTES)
        .await
        .ok_or_else(|| bad_request(format!("the body is larger than {MAX_BATCH_BYTES} bytes")))?;
    let batch = parse(&body)?;
    // `{"results": [...]}`, each answer written as soon as it is decided, into one buffer sized for the batch (an
    // answer is a few hundred bytes); a bad request anywhere in the batch discards it.
    let mut out = Vec::with_capacity(batch.requests.len().saturating_mul(ANSWER_BYTES).saturating_add(16));
    out.extend_from_slice(b"{\"results\":[");
    // Requests that present the same user token one after the other share its authentication.
    let mut shared = authority::Batch::default();
    let mut written = Written::default();
    for (i, asked) in batch.requests.iter().enumerate() {
        let credential = asked.credential.as_deref().map(|secret| authority::Presented {
            secret,
            channel: channel_of(asked, secret, &state.authority),
            username: asked.username.as_deref(),
        });
        let request = authority::Request {
            credential,
            method: &asked.method,
            target: &asked.path,
            ip: None,
            sudo: asked.sudo.as_deref(),
            // Asking is not using: the decision API notes no exercised permissions.
            served: false,
            ssh_key: None,
        };
        // A decision this thread kept (or a flood's refusal) needs no future; anything else is decided whole.
        let outcome = match state.authority.decided_before(&request) {
            Some(outcome) => outcome,
            None => state.authority.decide_in_batch(&request, &mut shared).await?,
        };
        // A path with no canonical form is a bad request here as on every other way in.
        if outcome.is_bad_request() {
            let detail = outcome.detail.unwrap_or("the path has no single reading");
            return Err(bad_request(format!("requests[{i}].path: {detail}")));
        }
        if i > 0 {
            out.push(b',');
        }
        result(&outcome).write_json(&mut out, &mut written);
    }
    out.extend_from_slice(b"]}");
    let json = [(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"))];
    Ok((StatusCode::OK, json, out).into_response())
}

fn parse(body: &[u8]) -> ApiResult<Batch<'_>> {
    // Checked as UTF-8 once, whole: read as text, its strings are borrowed without each being checked again.
    let body = std::str::from_utf8(body).map_err(|_| bad_request("the body must be UTF-8 JSON"))?;
    // The shape callers send is read in one pass; anything else, serde reads or refuses.
    let batch = match reading::requests(body) {
        Some(requests) => Batch { requests },
        None => serde_json::from_str(body).map_err(|e| {
            // serde's message names the field and position; it never echoes a credential.
            let what = e.to_string();
            let what = what.split(" at line").next().unwrap_or("invalid JSON").to_owned();
            bad_request(format!(
                "the body must be {{\"requests\": [{{\"credential\", \"method\", \"path\"}}, …]}}: {what}"
            ))
        })?,
    };
    if batch.requests.is_empty() {
        return Err(bad_request("requests is empty"));
    }
    if batch.requests.len() > MAX_REQUESTS {
        return Err(bad_request(format!("requests has more than {MAX_REQUESTS} entries")));
    }
    for (i, asked) in batch.requests.iter().enumerate() {
        let method_ok = (1..=16).contains(&asked.method.len()) && asked.method.bytes().all(|b| b.is_ascii_alphabetic());
        if !method_ok {
            return Err(bad_request(format!("requests[{i}].method must be an HTTP method")));
        }
        if !asked.path.starts_with('/') || asked.path.len() > MAX_TARGET_LEN {
            return Err(bad_request(format!(
                "requests[{i}].path must be an absolute path of at most {MAX_TARGET_LEN} bytes"
            )));
        }
        if let Some(credential) = &asked.credential
            && (credential.is_empty() || credential.len() > MAX_CREDENTIAL_LEN)
        {
            return Err(bad_request(format!("requests[{i}].credential must be 1 to {MAX_CREDENTIAL_LEN} bytes")));
        }
        match asked.channel.as_deref().map(Channel::parse) {
            Some(None) | Some(Some(Channel::BasicCiToken)) => {
                let names = [Channel::PrivateTokenHeader, Channel::JobTokenHeader, Channel::DeployTokenHeader]
                    .into_iter()
                    .chain([Channel::Bearer, Channel::Basic, Channel::PrivateTokenParam, Channel::JobTokenParam])
                    .map(Channel::name)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(bad_request(format!("requests[{i}].channel must be one of {names}")));
            }
            Some(Some(Channel::Basic)) if asked.username.is_none() => {
                return Err(bad_request(format!("requests[{i}].username is required with the Basic channel")));
            }
            _ if asked.username.is_some() && asked.channel.as_deref() != Some(Channel::Basic.name()) => {
                return Err(bad_request(format!("requests[{i}].username goes with the Basic channel only")));
            }
            _ => {}
        }
    }
    Ok(batch)
}

/// The channel a request asked about carries its credential in, as named (checked by `parse`), or the usual one
/// of the kind its prefix names.
fn channel_of(asked: &Asked<'_>, secret: &str, authority: &authority::Authority) -> Channel {
    match asked.channel.as_deref().and_then(Channel::parse) {
        Some(Channel::Basic) => Channel::basic(asked.username.as_deref().unwrap_or("")),
        Some(channel) => channel,
        None => authority.usual_channel(secret),
    }
}

/// One answer, written as JSON by [`Answer::write_json`] (a batch holds up to a thousand: no JSON tree is built
/// for them, and no serializer escapes the words they are made of). Its derived serialization, in tests, is the
/// reference the writer is held to.
#[cfg_attr(test, derive(Serialize))]
struct Answer<'o> {
    allowed: bool,
    status: u16,
    layer: &'static str,
    error: Option<&'static str>,
    required: &'o [Vec<String>],
    required_granular: &'o [Vec<String>],
    reasons: Reasons,
    identity: Option<Identity<'o>>,
}

/// The reason in words, then the detail when there is one.
struct Reasons(&'static str, Option<&'static str>);

#[cfg(test)]
impl Serialize for Reasons {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(1 + usize::from(self.1.is_some())))?;
        seq.serialize_element(self.0)?;
        if let Some(detail) = self.1 {
            seq.serialize_element(detail)?;
        }
        seq.end()
    }
}

/// Who an accepted credential is: a job's has its job and project, any other its token.
#[cfg_attr(test, derive(Serialize))]
struct Identity<'o> {
    user_id: Option<i64>,
    username: &'o str,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    token_id: Option<i64>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    job_id: Option<i64>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    project_id: Option<i64>,
    token_type: &'static str,
    organization_id: i64,
}

/// Where the answers written so far wrote the parts the answers of a batch most often share: the permissions
/// of a route (many requests of one kind) and an identity (many requests of one credential). An answer whose part
/// is the one written last copies its text.
#[derive(Default)]
struct Written {
    /// The route's alternatives, told by where the catalog holds them (address and length), and where their text
    /// stands.
    lists: Option<(Place, Place, std::ops::Range<usize>)>,
    /// The identity (its username kept apart) and where its text stands.
    identity: Option<(IdentityKey, String, std::ops::Range<usize>)>,
}

/// Where a list is held: its address and length (two lists at one place are the same list).
type Place = (usize, usize);

fn place(list: &[Vec<String>]) -> Place {
    (list.as_ptr().addr(), list.len())
}

/// An identity's fields but its username.
#[derive(PartialEq)]
struct IdentityKey(Option<i64>, Option<i64>, Option<i64>, Option<i64>, &'static str, i64);

impl IdentityKey {
    fn of(who: &Identity<'_>) -> IdentityKey {
        IdentityKey(who.user_id, who.token_id, who.job_id, who.project_id, who.token_type, who.organization_id)
    }
}

impl Written {
    /// Whether `required` and `granular` are the lists written last, the same in memory.
    fn has_lists(&self, required: &[Vec<String>], granular: &[Vec<String>]) -> Option<std::ops::Range<usize>> {
        let (r, g, range) = self.lists.as_ref()?;
        (*r == place(required) && *g == place(granular)).then(|| range.clone())
    }

    fn has_identity(&self, who: &Identity<'_>) -> Option<std::ops::Range<usize>> {
        let (kept, username, range) = self.identity.as_ref()?;
        let same = *kept == IdentityKey::of(who) && *username == who.username;
        same.then(|| range.clone())
    }
}

impl Answer<'_> {
    /// Appends this answer's JSON to `out`: what its derived serialization writes, field for field, written as
    /// whole pieces (most of it is fixed text and words that need no escaping), the parts it shares with the
    /// answer before it copied from there (`written`).
    fn write_json(&self, out: &mut Vec<u8>, written: &mut Written) {
        out.extend_from_slice(if self.allowed {
            b"{\"allowed\":true,\"status\":"
        } else {
            b"{\"allowed\":false,\"status\":"
        });
        number(out, self.status);
        out.extend_from_slice(b",\"layer\":");
        string(out, self.layer);
        out.extend_from_slice(b",\"error\":");
        optional(out, self.error, string);
        match written.has_lists(self.required, self.required_granular) {
            Some(range) => out.extend_from_within(range),
            None => {
                let start = out.len();
                out.extend_from_slice(b",\"required\":");
                lists(out, self.required);
                out.extend_from_slice(b",\"required_granular\":");
                lists(out, self.required_granular);
                written.lists = Some((place(self.required), place(self.required_granular), start..out.len()));
            }
        }
        out.extend_from_slice(b",\"reasons\":[");
        string(out, self.reasons.0);
        if let Some(detail) = self.reasons.1 {
            out.push(b',');
            string(out, detail);
        }
        out.extend_from_slice(b"],\"identity\":");
        match &self.identity {
            None => out.extend_from_slice(b"null"),
            Some(who) if let Some(range) = written.has_identity(who) => out.extend_from_within(range),
            Some(who) => {
                let start = out.len();
                out.extend_from_slice(b"{\"user_id\":");
                optional(out, who.user_id, number);
                out.extend_from_slice(b",\"username\":");
                string(out, who.username);
                for (name, value) in [(&b",\"token_id\":"[..], who.token_id), (b",\"job_id\":", who.job_id)]
                    .into_iter()
                    .chain([(&b",\"project_id\":"[..], who.project_id)])
                {
                    if let Some(value) = value {
                        out.extend_from_slice(name);
                        number(out, value);
                    }
                }
                out.extend_from_slice(b",\"token_type\":");
                string(out, who.token_type);
                out.extend_from_slice(b",\"organization_id\":");
                number(out, who.organization_id);
                out.push(b'}');
                written.identity = Some((IdentityKey::of(who), who.username.to_owned(), start..out.len()));
            }
        }
        out.push(b'}');
    }
}

/// A JSON string: written as it is when no byte needs escaping (as for every name and code), else escaped by
/// serde_json. JSON escapes only `"`, `\\` and bytes below 0x20; other text, UTF-8 included, stands as it is.
fn string(out: &mut Vec<u8>, text: &str) {
    if !needs_escape(text.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, text).is_err() {
        // Writing into a `Vec` cannot fail; were it to, the text is left out rather than half written.
        out.extend_from_slice(b"null");
    }
}

/// Whether JSON needs any byte of `bytes` escaped (`"`, `\\`, or below 0x20).
fn needs_escape(bytes: &[u8]) -> bool {
    first_to_escape(bytes).is_some()
}

/// Where the first byte of `bytes` that JSON escapes (`"`, `\\`, or below 0x20) stands, found eight bytes at a time.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    use domain::bytes::{below, equal, first_flagged};
    let flags = |word| below(word, 0x20) | equal(word, b'"') | equal(word, b'\\');
    first_flagged(bytes, flags, |b| b < 0x20 || b == b'"' || b == b'\\')
}

fn number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn optional<T>(out: &mut Vec<u8>, value: Option<T>, write: fn(&mut Vec<u8>, T)) {
    match value {
        Some(value) => write(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

/// Alternatives of names: `[["a","b"],["c"]]`.
fn lists(out: &mut Vec<u8>, alternatives: &[Vec<String>]) {
    out.push(b'[');
    for (i, names) in alternatives.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"[" } else { b",[" });
        for (j, name) in names.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            string(out, name);
        }
        out.push(b']');
    }
    out.push(b']');
}

/// One answer. The identity of an accepted credential comes along so that a gateway need not ask twice.
fn result<'o>(outcome: &'o authority::Outcome) -> Answer<'o> {
    // A job token is named by its job and project, any other by its token.
    let identity = outcome.who().map(|who| Identity {
        user_id: who.user_id,
        username: who.username,
        token_id: who.job.is_none().then_some(who.token_id),
        job_id: who.job.map(|(job, _)| job),
        project_id: who.job.map(|(_, project)| project),
        token_type: who.kind.name(),
        organization_id: who.organization_id,
    });
    let status = match () {
        _ if outcome.allowed => 200,
        _ if outcome.bad_credential || outcome.needs_credential => 401,
        _ => 403,
    };
    Answer {
        allowed: outcome.allowed,
        status,
        layer: outcome.layer.as_str(),
        error: error_name(outcome),
        required: outcome.required,
        required_granular: outcome.bundles,
        reasons: Reasons(outcome.reason.text(), outcome.detail),
        identity,
    }
}

/// The error a REST call would answer with, as GitLab names it (`insufficient_scope`,
/// `insufficient_granular_scope`), or null when allowed or when the answer carries no such code.
pub(crate) fn error_code(outcome: &Outcome<'_>) -> Value {
    error_name(outcome).map_or(Value::Null, Value::from)
}

fn error_name(outcome: &Outcome<'_>) -> Option<&'static str> {
    match outcome.reason {
        _ if outcome.allowed => None,
        Reason::InsufficientGranularScope => Some("insufficient_granular_scope"),
        Reason::OutsideRouteRules => Some("outside_route_rules"),
        reason if let Some((code, _)) = crate::error::policy_refusal(reason) => Some(code),
        Reason::InsufficientScope | Reason::OutsideReach | Reason::ReadOnlyScope | Reason::SudoNeedsScope => {
            Some("insufficient_scope")
        }
        _ if outcome.bad_credential => Some("invalid_token"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_byte_json_escapes_is_found_at_every_place_of_a_word_and_no_other_byte_is() {
        for place in 0..19 {
            for byte in 0..=255u8 {
                let mut text = vec![b'a'; 19];
                text[place] = byte;
                let escaped = byte < 0x20 || byte == b'"' || byte == b'\\';
                let want = escaped.then_some(place);
                assert_eq!(first_to_escape(&text), want, "byte {byte:#x} at {place}");
                assert_eq!(needs_escape(&text), escaped, "byte {byte:#x} at {place}");
                // Beside bytes that stop a borrow in the word trick's subtraction: still exact.
                text.iter_mut().filter(|b| **b == b'a').for_each(|b| *b = 0x20);
                assert_eq!(first_to_escape(&text), want, "byte {byte:#x} at {place}, among spaces");
                text.iter_mut().filter(|b| **b == 0x20).for_each(|b| *b = 0xff);
                assert_eq!(first_to_escape(&text), want, "byte {byte:#x} at {place}, among 0xff");
                // The first of two is found, whichever follows it.
                for later in [0u8, b'"', b'\\', 0x1f] {
                    let mut two = text.clone();
                    if let Some(after) = two.get_mut(place + 1..) {
                        after.fill(later);
                    }
                    let first = if escaped { Some(place) } else { (place + 1 < two.len()).then_some(place + 1) };
                    assert_eq!(first_to_escape(&two), first, "byte {byte:#x} at {place}, then {later:#x}");
                }
            }
        }
    }

    fn written(answer: &Answer<'_>) -> String {
        let mut out = Vec::new();
        answer.write_json(&mut out, &mut Written::default());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn answers_written_one_after_another_copy_only_what_is_the_same() {
        let (one, two) = (vec![vec!["read_issue".to_owned()]], vec![vec!["read_issue".to_owned()]]);
        let (none, other): (Vec<Vec<String>>, _) = (vec![], vec![vec!["admin_issue".to_owned()]]);
        let identity = |username, user_id, token_id| Identity {
            user_id: Some(user_id),
            username,
            token_id: Some(token_id),
            job_id: None,
            project_id: None,
            token_type: "personal_access_token",
            organization_id: 1,
        };
        let answer = |required, granular, identity| Answer {
            allowed: true,
            status: 200,
            layer: "role",
            error: None,
            required,
            required_granular: granular,
            reasons: Reasons("allowed", None),
            identity,
        };
        let answers = [
            answer(&one, &none, Some(identity("dev", 7, 12))),
            answer(&one, &none, Some(identity("dev", 7, 12))),
            // The same names elsewhere in memory, then the lists swapped: written anew.
            answer(&two, &none, Some(identity("dev", 7, 12))),
            answer(&other, &none, Some(identity("dev", 7, 12))),
            answer(&none, &two, Some(identity("dev", 7, 12))),
            answer(&none, &two, Some(identity("dev", 7, 13))),
            answer(&none, &two, Some(identity("rep", 7, 13))),
            answer(&other, &other, None),
            answer(&other, &other, Some(identity("rep", 8, 13))),
            answer(&other, &other, Some(identity("rep", 7, 13))),
        ];
        let (mut out, mut shared) = (Vec::new(), Written::default());
        let mut alone = String::new();
        for answer in &answers {
            answer.write_json(&mut out, &mut shared);
            alone.push_str(&serde_json::to_string(answer).unwrap());
        }
        assert_eq!(String::from_utf8(out).unwrap(), alone);
    }

    #[test]
    fn an_answer_is_written_as_its_serialization_would_be_whatever_its_names_hold() {
        let required = vec![vec!["read_issue".to_owned(), "create_issue".to_owned()], vec!["admin_issue".to_owned()]];
        let granular = vec![vec!["issue:write".to_owned()]];
        let identity = |username, user_id, token_id, job| Identity {
            user_id,
            username,
            token_id,
            job_id: job,
            project_id: job.map(|j| j + 1),
            token_type: "personal_access_token",
            organization_id: 3,
        };
        let names =
            ["dev", "", "say \"hi\"", "back\\slash", "tab\there", "\u{1}\u{1f}", "caf\u{e9} \u{7f} \u{2028}", "😀/"];
        for (i, name) in names.into_iter().enumerate() {
            for who in [
                None,
                Some(identity(name, Some(7), Some(12), None)),
                Some(identity(name, Some(7), None, Some(40))),
                Some(identity(name, None, Some(-1), None)),
            ] {
                let answer = Answer {
                    allowed: i % 2 == 0,
                    status: [200, 401, 403][i % 3],
                    layer: "role",
                    error: (i % 2 == 1).then_some("insufficient_scope"),
                    required: if i % 3 == 0 { &required } else { &[] },
                    required_granular: if i % 4 == 0 { &granular } else { &[] },
                    reasons: Reasons("the role does not hold \"this\"", (i % 2 == 0).then_some(name)),
                    identity: who,
                };
                assert_eq!(written(&answer), serde_json::to_string(&answer).unwrap(), "{name:?}");
            }
        }
    }

    #[test]
    fn a_batch_over_the_limit_is_refused() {
        let one = json!({"method": "GET", "path": "/api/v4/user"});
        let body = json!({ "requests": vec![one; MAX_REQUESTS + 1] }).to_string();
        assert!(parse(body.as_bytes()).is_err());
    }

    #[test]
    fn unknown_fields_and_relative_paths_are_refused() {
        assert!(parse(br#"{"requests": [{"method": "GET", "path": "/", "extra": 1}]}"#).is_err());
        assert!(parse(br#"{"requests": [{"method": "GET", "path": "api/v4/user"}]}"#).is_err());
        assert!(parse(br#"{"requests": [{"method": "G T", "path": "/"}]}"#).is_err());
        assert!(parse(br#"{"requests": []}"#).is_err());
        assert!(parse(b"{\"requests\": [{\"method\": \"GET\", \"path\": \"/\xff\"}]}").is_err(), "not UTF-8");
        assert!(parse(br#"{"requests": [{"method": "GET", "path": "/", "credential": null}]}"#).is_ok());
    }
}

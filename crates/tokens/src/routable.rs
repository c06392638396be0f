//! GitLab's routable token format, version 1.
//!
//! ```text
//! <prefix><base64url_nopad(P)>.<ver:2 base36>.<len:2 base36><crc:7 base36>
//! P   = random(16 bytes) ++ routing_payload ++ u8(len(routing_payload))
//! routing_payload = sorted "k:v" lines joined by "\n", integers in lowercase base36
//! crc = CRC32 over everything before it, including the prefix
//! ```
//!
//! **Invariant:** a string with the wrong prefix, shape, version or checksum is refused before anything reads
//! storage.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Bytes of randomness in every token.
pub const RANDOM_BYTES: usize = 16;
/// No token is longer than this; longer strings are refused before any other work.
pub const MAX_TOKEN_LEN: usize = 512;
const VERSION: &str = "01";
const CRC_LEN: usize = 7;
const MAX_PAYLOAD_LEN: usize = 159;

/// The prefix tokens of one type are minted with, and the prefixes accepted when parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// What new tokens start with, such as `glpat-` or `acme-glpat-`.
    pub mint: String,
    /// Every prefix a presented token may start with (the minting prefix and the type's default).
    pub accepted: Vec<String>,
}

impl Prefix {
    /// The prefix for a token type, with an optional instance prefix before the type's own prefix.
    pub fn new(type_prefix: &str, instance_prefix: Option<&str>, default_type_prefix: &str) -> Prefix {
        let mint = match instance_prefix {
            Some(instance) if !instance.is_empty() => format!("{instance}{type_prefix}"),
            _ => type_prefix.to_owned(),
        };
        let mut accepted = vec![mint.clone()];
        if !accepted.iter().any(|p| p == default_type_prefix) {
            accepted.push(default_type_prefix.to_owned());
        }
        Prefix { mint, accepted }
    }
}

/// The routing facts a token carries in the clear: cell, organization, and optionally group, project, user and type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutingPayload {
    /// The cell that issued the token (`c`).
    pub cell: Option<u64>,
    /// The group it belongs to, for group tokens (`g`).
    pub group: Option<u64>,
    /// Its organization (`o`).
    pub organization: Option<u64>,
    /// The project it belongs to, for project tokens (`p`).
    pub project: Option<u64>,
    /// Its token type (`t`).
    pub token_type: Option<u64>,
    /// Its user (`u`).
    pub user: Option<u64>,
}

impl RoutingPayload {
    fn encode(&self) -> String {
        // Keys sorted: c g o p t u.
        let fields = [
            ('c', self.cell),
            ('g', self.group),
            ('o', self.organization),
            ('p', self.project),
            ('t', self.token_type),
            ('u', self.user),
        ];
        let mut out = String::new();
        for (key, value) in fields {
            let Some(value) = value else { continue };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push(key);
            out.push(':');
            out.push_str(&base36(value, 0));
        }
        out
    }

    fn decode(text: &str) -> Result<RoutingPayload, FormatError> {
        let mut payload = RoutingPayload::default();
        for line in text.split('\n') {
            let (key, value) = line.split_once(':').ok_or(FormatError::Payload)?;
            let value = u64::from_str_radix(value, 36).map_err(|_| FormatError::Payload)?;
            if !value_is_canonical(line) {
                return Err(FormatError::Payload);
            }
            let slot = match key {
                "c" => &mut payload.cell,
                "g" => &mut payload.group,
                "o" => &mut payload.organization,
                "p" => &mut payload.project,
                "t" => &mut payload.token_type,
                "u" => &mut payload.user,
                _ => return Err(FormatError::Payload),
            };
            if slot.replace(value).is_some() {
                return Err(FormatError::Payload);
            }
        }
        Ok(payload)
    }
}

fn value_is_canonical(line: &str) -> bool {
    line.bytes().skip(2).all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Why a string is not a token. Callers must not tell these apart to an unauthenticated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Longer than a token may be.
    TooLong,
    /// No accepted prefix.
    Prefix,
    /// Not the shape of a routable token (parts, alphabet, length).
    Shape,
    /// The CRC32 does not match.
    Checksum,
    /// An unknown format version.
    Version,
    /// The routing payload cannot be read.
    Payload,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            FormatError::TooLong => "token too long",
            FormatError::Prefix => "unknown token prefix",
            FormatError::Shape => "malformed token",
            FormatError::Checksum => "token checksum mismatch",
            FormatError::Version => "unknown token version",
            FormatError::Payload => "malformed routing payload",
        };
        f.write_str(what)
    }
}

/// Mints a token from 16 random bytes and a routing payload. The payload must carry an organization.
pub fn mint(prefix: &str, random: &[u8; RANDOM_BYTES], payload: &RoutingPayload) -> Option<String> {
    payload.organization?;
    let routing = payload.encode();
    if routing.len() > MAX_PAYLOAD_LEN {
        return None;
    }
    let mut raw = Vec::with_capacity(RANDOM_BYTES + routing.len() + 1);
    raw.extend_from_slice(random);
    raw.extend_from_slice(routing.as_bytes());
    raw.push(u8::try_from(routing.len()).ok()?);
    let body = URL_SAFE_NO_PAD.encode(&raw);
    let mut token = String::with_capacity(prefix.len() + body.len() + 16);
    token.push_str(prefix);
    token.push_str(&body);
    token.push('.');
    token.push_str(VERSION);
    token.push('.');
    token.push_str(&base36(body.len() as u64, 2));
    let crc = crc32fast::hash(token.as_bytes());
    token.push_str(&base36(u64::from(crc), CRC_LEN));
    Some(token)
}

/// The checks that need no decoding: length, prefix, shape, checksum and version. This is all the hot path
/// asks before looking a token up (a string that passes and is not stored is simply unknown); `parse` goes on to
/// decode the routing payload. Returns the accepted prefix and the part of the token before the version.
pub fn check<'t, 'p>(token: &'t str, prefix: &'p Prefix) -> Result<(&'p str, &'t str), FormatError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(FormatError::TooLong);
    }
    let Some(matched) = prefix.accepted.iter().find(|p| token.starts_with(p.as_str())) else {
        return Err(FormatError::Prefix);
    };
    if !token.is_ascii() || token.len() < matched.len() + CRC_LEN + 6 {
        return Err(FormatError::Shape);
    }
    let (signed, crc_text) = token.split_at(token.len() - CRC_LEN);
    let crc = parse_base36(crc_text).ok_or(FormatError::Shape)?;
    if u64::from(crc32fast::hash(signed.as_bytes())) != crc {
        return Err(FormatError::Checksum);
    }
    let mut parts = signed.rsplitn(3, '.');
    let (Some(len_text), Some(version), Some(prefixed_body)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(FormatError::Shape);
    };
    if version != VERSION {
        return Err(FormatError::Version);
    }
    if len_text.len() != 2 {
        return Err(FormatError::Shape);
    }
    let body_len =
        usize::try_from(parse_base36(len_text).ok_or(FormatError::Shape)?).map_err(|_| FormatError::Shape)?;
    if prefixed_body.len() != matched.len() + body_len {
        return Err(FormatError::Shape);
    }
    Ok((matched.as_str(), prefixed_body))
}

/// Parses a presented token: the checks of `check`, then the routing payload. No storage is involved.
/// Returns the accepted prefix it starts with and its routing payload.
pub fn parse<'a>(token: &str, prefix: &'a Prefix) -> Result<(&'a str, RoutingPayload), FormatError> {
    let (matched, prefixed_body) = check(token, prefix)?;
    let body = prefixed_body.strip_prefix(matched).ok_or(FormatError::Prefix)?;
    let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| FormatError::Shape)?;
    let (&n, rest) = raw.split_last().ok_or(FormatError::Shape)?;
    if rest.len() != RANDOM_BYTES + usize::from(n) || n == 0 {
        return Err(FormatError::Payload);
    }
    let routing = rest.get(RANDOM_BYTES..).ok_or(FormatError::Payload)?;
    let routing = std::str::from_utf8(routing).map_err(|_| FormatError::Payload)?;
    let payload = RoutingPayload::decode(routing)?;
    if payload.organization.is_none() {
        return Err(FormatError::Payload);
    }
    Ok((matched, payload))
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = Vec::with_capacity(13);
    loop {
        buf.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    while buf.len() < width {
        buf.push(b'0');
    }
    buf.reverse();
    String::from_utf8(buf).unwrap_or_default()
}

fn parse_base36(s: &str) -> Option<u64> {
    if !s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()) {
        return None;
    }
    u64::from_str_radix(s, 36).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn glpat() -> Prefix {
        Prefix::new("glpat-", None, "glpat-")
    }

    fn payload() -> RoutingPayload {
        RoutingPayload { cell: Some(1), organization: Some(1), user: Some(42), ..RoutingPayload::default() }
    }

    #[test]
    fn a_minted_token_matches_gitlabs_secret_detection_rule() {
        let token = mint("glpat-", &[7; 16], &payload()).unwrap();
        let rest = token.strip_prefix("glpat-").unwrap();
        let (body, tail) = rest.split_once('.').unwrap();
        assert!((27..=300).contains(&body.len()));
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_eq!(&tail[..3], "01.");
        assert_eq!(tail.len(), 3 + 2 + 7);
    }

    #[test]
    fn base36_renders_like_ruby() {
        assert_eq!(base36(0, 2), "00");
        assert_eq!(base36(35, 0), "z");
        assert_eq!(base36(u64::from(u32::MAX), 7), "1z141z3");
    }

    #[test]
    fn a_wrong_prefix_is_refused() {
        let token = mint("glpat-", &[7; 16], &payload()).unwrap();
        let other = token.replacen("glpat-", "glptt-", 1);
        assert_eq!(parse(&other, &glpat()), Err(FormatError::Prefix));
    }

    #[test]
    fn the_instance_prefix_is_minted_and_the_default_still_accepted() {
        let prefix = Prefix::new("glpat-", Some("acme-"), "glpat-");
        let token = mint(&prefix.mint, &[1; 16], &payload()).unwrap();
        assert!(token.starts_with("acme-glpat-"));
        assert_eq!(parse(&token, &prefix).unwrap().0, "acme-glpat-");
        let plain = mint("glpat-", &[1; 16], &payload()).unwrap();
        assert_eq!(parse(&plain, &prefix).unwrap().0, "glpat-");
    }

    #[test]
    fn a_token_without_an_organization_is_not_minted() {
        assert_eq!(mint("glpat-", &[0; 16], &RoutingPayload::default()), None);
    }

    #[test]
    fn an_overlong_string_is_refused_before_the_checksum() {
        assert_eq!(parse(&format!("glpat-{}", "a".repeat(10_000)), &glpat()), Err(FormatError::TooLong));
    }

    #[test]
    fn a_legacy_twenty_character_token_is_refused() {
        assert!(parse("glpat-abcdefghij0123456789", &glpat()).is_err());
    }

    proptest! {
        #[test]
        fn every_minted_token_parses_back_to_its_payload(
            random in proptest::array::uniform16(any::<u8>()),
            cell in proptest::option::of(0u64..1_000_000),
            organization in 1u64..u64::MAX,
            user in proptest::option::of(any::<u64>()),
            project in proptest::option::of(any::<u64>()),
        ) {
            let payload = RoutingPayload { cell, organization: Some(organization), user, project, ..RoutingPayload::default() };
            let token = mint("glpat-", &random, &payload).unwrap();
            let prefix = glpat();
            prop_assert_eq!(check(&token, &prefix).map(|(p, _)| p), Ok("glpat-"));
            prop_assert_eq!(parse(&token, &prefix), Ok(("glpat-", payload)));
        }

        #[test]
        fn any_single_changed_character_fails(
            random in proptest::array::uniform16(any::<u8>()),
            idx in any::<proptest::sample::Index>(),
            replacement in proptest::char::range('!', '~'),
        ) {
            let token = mint("glpat-", &random, &payload()).unwrap();
            let i = idx.index(token.len());
            let original = token.as_bytes()[i] as char;
            prop_assume!(original != replacement);
            let mut changed = token.clone().into_bytes();
            changed[i] = replacement as u8;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(check(&changed, &glpat()).is_err());
            prop_assert!(parse(&changed, &glpat()).is_err());
        }
    }
}

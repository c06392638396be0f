//! Canonical requests: one spelling of a method and a path, so that no alias reaches a different decision.
//!
//! Percent-encoding is decoded per segment (an encoded `/` stays inside its segment, as in GitLab's
//! `group%2Fproject` ids), empty segments (`//`, a trailing slash) and `.` are dropped, `..` removes the previous
//! segment, `HEAD` is `GET`. A fragment, a NUL, a control character, an invalid encoding, or a `..` above the root
//! is refused.
//!
//! **Invariant:** there is one canonical form per request; a path that has none is refused, never guessed.

use std::fmt;

/// The longest path accepted.
pub const MAX_PATH_LEN: usize = 4096;
const MAX_SEGMENTS: usize = 128;

/// A path as a list of decoded segments, kept in one buffer (the hot path makes one path per request).
#[derive(Clone)]
pub struct CanonicalPath {
    text: String,
    /// Where each of the first `len` segments ends in `text` (segment `i` starts where segment `i - 1` ends), kept
    /// inline: `MAX_PATH_LEN` fits a `u16`, and `MAX_SEGMENTS` bounds the count.
    ends: [u16; MAX_SEGMENTS],
    len: usize,
}

const _: () = assert!(MAX_PATH_LEN <= u16::MAX as usize);

impl PartialEq for CanonicalPath {
    fn eq(&self, other: &CanonicalPath) -> bool {
        self.text == other.text && self.ends() == other.ends()
    }
}

impl Eq for CanonicalPath {}

impl std::hash::Hash for CanonicalPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
        self.ends().hash(state);
    }
}

impl fmt::Debug for CanonicalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.segments()).finish()
    }
}

/// Why a request path has no canonical form (every one is a 400 or an unknown route, never decoded around).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Longer than a request path may be.
    TooLong,
    /// It holds a `#`.
    Fragment,
    /// It holds a NUL.
    Nul,
    /// It holds a control character.
    Control,
    /// A malformed percent-encoding.
    BadEncoding,
    /// A `..` climbs above the root.
    AboveRoot,
    /// It does not start with `/`.
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::TooLong => "path too long",
            PathError::Fragment => "path contains a fragment",
            PathError::Nul => "path contains a NUL",
            PathError::Control => "path contains a control character",
            PathError::BadEncoding => "path has an invalid percent-encoding",
            PathError::AboveRoot => "path climbs above the root",
            PathError::NotAbsolute => "path must start with /",
        })
    }
}

impl CanonicalPath {
    /// The decoded segments, in order.
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> + '_ {
        let ends = self.ends();
        ends.iter().enumerate().map(move |(i, &end)| {
            let start = if i == 0 { 0 } else { ends.get(i - 1).copied().unwrap_or(0) };
            self.text.get(usize::from(start)..usize::from(end)).unwrap_or_default()
        })
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the path is `/` alone.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn ends(&self) -> &[u16] {
        self.ends.get(..self.len).unwrap_or_default()
    }

    /// Appends a segment; the caller keeps within `MAX_SEGMENTS` and `MAX_PATH_LEN`.
    fn push(&mut self, segment: &str) {
        self.text.push_str(segment);
        if let Some(end) = self.ends.get_mut(self.len) {
            *end = u16::try_from(self.text.len()).unwrap_or(u16::MAX);
            self.len += 1;
        }
    }

    fn pop(&mut self) -> bool {
        if self.len == 0 {
            return false;
        }
        self.len -= 1;
        let end = self.ends().last().copied().unwrap_or(0);
        self.text.truncate(usize::from(end));
        true
    }
}

impl fmt::Display for CanonicalPath {
    /// The canonical spelling: every segment re-encoded where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("/");
        }
        for segment in self.segments() {
            f.write_str("/")?;
            for b in segment.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~@:+=,;!$&'()*".contains(&b) {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "%{b:02X}")?;
                }
            }
        }
        Ok(())
    }
}

/// `HEAD` is `GET`; methods are upper case. Override headers are the caller's business: never pass them here.
pub fn canonical_method(method: &str) -> std::borrow::Cow<'static, str> {
    const KNOWN: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    if method.eq_ignore_ascii_case("HEAD") {
        return std::borrow::Cow::Borrowed("GET");
    }
    match KNOWN.iter().find(|known| known.eq_ignore_ascii_case(method)) {
        Some(known) => std::borrow::Cow::Borrowed(known),
        None => std::borrow::Cow::Owned(method.to_ascii_uppercase()),
    }
}

/// Canonicalizes the path part of a request target (no query).
pub fn canonical_path(raw: &str) -> Result<CanonicalPath, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if raw.contains('#') {
        return Err(PathError::Fragment);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut path = CanonicalPath { text: String::with_capacity(raw.len()), ends: [0; MAX_SEGMENTS], len: 0 };
    for raw_segment in raw.split('/') {
        let segment = decode(raw_segment)?;
        match &*segment {
            "" | "." => {}
            ".." => {
                if !path.pop() {
                    return Err(PathError::AboveRoot);
                }
            }
            _ => {
                if path.len() >= MAX_SEGMENTS {
                    return Err(PathError::TooLong);
                }
                path.push(&segment);
            }
        }
    }
    Ok(path)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one segment; one without `%` is checked and borrowed as it is.
fn decode(segment: &str) -> Result<std::borrow::Cow<'_, str>, PathError> {
    let bytes = segment.as_bytes();
    let text = if bytes.contains(&b'%') {
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'%' {
                let hi = bytes.get(i + 1).copied().and_then(hex).ok_or(PathError::BadEncoding)?;
                let lo = bytes.get(i + 2).copied().and_then(hex).ok_or(PathError::BadEncoding)?;
                out.push(hi << 4 | lo);
                i += 3;
            } else {
                out.push(b);
                i += 1;
            }
        }
        std::borrow::Cow::Owned(String::from_utf8(out).map_err(|_| PathError::BadEncoding)?)
    } else {
        std::borrow::Cow::Borrowed(segment)
    };
    // One pass over the bytes; only text with non-ASCII characters is decoded to look for C1 controls.
    let (mut nul, mut control, mut fragment) = (false, false, false);
    for &b in text.as_bytes() {
        match b {
            0 => nul = true,
            0x01..=0x1f | 0x7f => control = true,
            b'#' => fragment = true,
            _ => {}
        }
    }
    if nul {
        return Err(PathError::Nul);
    }
    if control || (!text.is_ascii() && text.chars().any(char::is_control)) {
        return Err(PathError::Control);
    }
    if fragment {
        return Err(PathError::Fragment);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        canonical_path(s).unwrap().to_string()
    }

    #[test]
    fn aliases_collapse_to_one_path() {
        let want = "/api/v4/projects/1/issues";
        for alias in [
            "/api/v4/projects/1/issues",
            "/api/v4/projects/1/issues/",
            "//api//v4/projects/1/issues",
            "/api/v4/./projects/1/issues",
            "/api/v4/groups/../projects/1/issues",
            "/api/%76%34/projects/1/issues",
            "/api/v4/projects/%31/issues",
        ] {
            assert_eq!(canon(alias), want, "{alias}");
        }
    }

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        let path = canonical_path("/api/v4/projects/group%2Fsub%2Fproj").unwrap();
        assert_eq!(path.segments().last(), Some("group/sub/proj"));
        assert_eq!(path.to_string(), "/api/v4/projects/group%2Fsub%2Fproj");
    }

    #[test]
    fn dangerous_paths_are_refused() {
        assert_eq!(canonical_path("/a#b"), Err(PathError::Fragment));
        assert_eq!(canonical_path("/a%23b"), Err(PathError::Fragment));
        assert_eq!(canonical_path("/a%00b"), Err(PathError::Nul));
        assert_eq!(canonical_path("/a%zz"), Err(PathError::BadEncoding));
        assert_eq!(canonical_path("/a%ff"), Err(PathError::BadEncoding));
        assert_eq!(canonical_path("/../etc"), Err(PathError::AboveRoot));
        assert_eq!(canonical_path("/a%0ab"), Err(PathError::Control));
        assert_eq!(canonical_path("/a%7Fb"), Err(PathError::Control), "DEL");
        assert_eq!(canonical_path("/a%C2%85b"), Err(PathError::Control), "a C1 control (NEL)");
        assert_eq!(
            canonical_path("/caf%C3%A9"),
            Ok(canonical_path("/caf\u{e9}").unwrap()),
            "other non-ASCII text is kept"
        );
        assert_eq!(canonical_path("relative"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn encoded_dots_climb_like_plain_ones() {
        assert_eq!(canon("/api/v4/groups/%2e%2e/projects/1"), "/api/v4/projects/1");
    }

    #[test]
    fn head_is_get() {
        assert_eq!(canonical_method("head"), "GET");
        assert_eq!(canonical_method("post"), "POST");
    }
}

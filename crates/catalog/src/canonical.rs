//! Canonical requests: one spelling of a method and a path, so that no alias reaches a different decision.
//!
//! Percent-encoding is decoded per segment (an encoded `/` stays inside its segment, as in GitLab's
//! `group%2Fproject` ids), empty segments (`//`, a trailing slash) and `.` are dropped, `..` removes the previous
//! segment, `HEAD` is `GET`. A fragment, a NUL, a control character, an invalid encoding, or a `..` above the root
//! is refused.

use std::fmt;

/// The longest path accepted.
pub const MAX_PATH_LEN: usize = 4096;
const MAX_SEGMENTS: usize = 128;

/// A path as a list of decoded segments, kept in one buffer (the hot path makes one path per request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalPath {
    text: String,
    /// Where each segment ends in `text`; segment `i` starts where segment `i - 1` ends.
    ends: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    TooLong,
    Fragment,
    Nul,
    Control,
    BadEncoding,
    AboveRoot,
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
        self.ends.iter().enumerate().map(|(i, &end)| {
            let start = if i == 0 { 0 } else { self.ends.get(i - 1).copied().unwrap_or(0) };
            self.text.get(start..end).unwrap_or_default()
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn push(&mut self, segment: &str) {
        self.text.push_str(segment);
        self.ends.push(self.text.len());
    }

    fn pop(&mut self) -> bool {
        let Some(_) = self.ends.pop() else { return false };
        self.text.truncate(self.ends.last().copied().unwrap_or(0));
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
    let mut path = CanonicalPath { text: String::with_capacity(raw.len()), ends: Vec::with_capacity(16) };
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
    if text.contains('\0') {
        return Err(PathError::Nul);
    }
    if text.chars().any(char::is_control) {
        return Err(PathError::Control);
    }
    if text.contains('#') {
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

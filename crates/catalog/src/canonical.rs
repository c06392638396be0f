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

/// A path as a list of decoded segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalPath {
    segments: Vec<String>,
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
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

impl fmt::Display for CanonicalPath {
    /// The canonical spelling: every segment re-encoded where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
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
pub fn canonical_method(method: &str) -> String {
    let upper = method.to_ascii_uppercase();
    if upper == "HEAD" { "GET".to_owned() } else { upper }
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
    let mut segments: Vec<String> = Vec::new();
    for raw_segment in raw.split('/') {
        let segment = decode(raw_segment)?;
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            _ => {
                if segments.len() >= MAX_SEGMENTS {
                    return Err(PathError::TooLong);
                }
                segments.push(segment);
            }
        }
    }
    Ok(CanonicalPath { segments })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(segment: &str) -> Result<String, PathError> {
    let bytes = segment.as_bytes();
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
    let text = String::from_utf8(out).map_err(|_| PathError::BadEncoding)?;
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
        assert_eq!(path.segments().last().map(String::as_str), Some("group/sub/proj"));
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

//! Names that must be checked once, at the boundary: token names, usernames, paths and e-mail addresses.
//!
//! **Invariant:** a value of these types has passed its rules; their fields are private.

use std::fmt;

/// The longest name, path or e-mail address GitLab accepts.
pub const MAX_NAME_LEN: usize = 255;

/// Why a name, path, username or e-mail address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// It is empty or only whitespace.
    Blank,
    /// It is longer than [`MAX_NAME_LEN`].
    TooLong,
    /// It breaks a rule, which the text names.
    Invalid(&'static str),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Blank => f.write_str("can't be blank"),
            NameError::TooLong => write!(f, "is too long (maximum is {MAX_NAME_LEN} characters)"),
            NameError::Invalid(why) => f.write_str(why),
        }
    }
}

fn check_length(s: &str) -> Result<(), NameError> {
    if s.trim().is_empty() {
        return Err(NameError::Blank);
    }
    if s.chars().count() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// A display name (user, group or project name): not blank, at most 255 characters, no control characters.
pub fn validate_display_name(s: &str) -> Result<(), NameError> {
    check_length(s)?;
    if s.chars().any(char::is_control) {
        return Err(NameError::Invalid("can't contain control characters"));
    }
    Ok(())
}

/// A token's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    /// A token's name, as a display name: not blank, at most [`MAX_NAME_LEN`] characters, no control characters.
    pub fn parse(s: &str) -> Result<TokenName, NameError> {
        validate_display_name(s)?;
        Ok(TokenName(s.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL path segment of a user, group or project, with GitLab's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A group or project path, by GitLab's rules.
    pub fn parse(s: &str) -> Result<Path, NameError> {
        check_length(s)?;
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if !s.chars().all(ok_char) {
            return Err(NameError::Invalid(
                "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'",
            ));
        }
        let lower = s.to_ascii_lowercase();
        if s.starts_with('-')
            || s.ends_with('.')
            || s.ends_with('-') && s.len() == 1
            || lower.ends_with(".git")
            || lower.ends_with(".atom")
            || s.contains("..")
        {
            return Err(NameError::Invalid(
                "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'",
            ));
        }
        Ok(Path(s.to_owned()))
    }

    /// Parses a path at the top of the namespace tree (a user or a top-level group), where the routes of the
    /// platform itself are reserved.
    pub fn parse_top_level(s: &str) -> Result<Path, NameError> {
        let path = Path::parse(s)?;
        let lower = s.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "api" | "help" | "admin" | "users" | "groups" | "projects" | "oauth" | "v2" | "explore" | "dashboard"
        ) {
            return Err(NameError::Invalid("is a reserved name"));
        }
        Ok(path)
    }

    /// The path as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: a path with the same rules, since a user owns a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(Path);

impl Username {
    /// A username: a top-level path, since a user owns a namespace.
    pub fn parse(s: &str) -> Result<Username, NameError> {
        Path::parse_top_level(s).map(Username)
    }

    /// The username as given.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// An e-mail address, checked for shape only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// An e-mail address, by shape: one `@`, text before it, a dotted domain after it, no whitespace.
    pub fn parse(s: &str) -> Result<Email, NameError> {
        check_length(s)?;
        let invalid = NameError::Invalid("is invalid");
        let Some((local, domain)) = s.split_once('@') else { return Err(invalid) };
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid);
        }
        Ok(Email(s.to_owned()))
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_token_name_is_refused() {
        assert_eq!(TokenName::parse("  "), Err(NameError::Blank));
    }

    #[test]
    fn a_name_over_255_characters_is_refused() {
        assert_eq!(TokenName::parse(&"x".repeat(256)), Err(NameError::TooLong));
        assert!(TokenName::parse(&"é".repeat(255)).is_ok());
    }

    #[test]
    fn paths_follow_gitlab_rules() {
        assert!(Path::parse("my-group.sub_1").is_ok());
        for bad in ["-x", "x.git", "a/b", "a b", "x.", "a..b"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn platform_routes_are_reserved_only_at_the_top() {
        assert!(Path::parse("api").is_ok());
        assert!(Path::parse_top_level("api").is_err());
        assert!(Username::parse("Admin").is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert!(Email::parse("a@example.com").is_ok());
        for bad in ["a", "a@", "@b.c", "a@b", "a b@c.d", "a@b@c.d"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}

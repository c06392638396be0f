//! What a token actually did: the (assignable permission, boundary) pairs its allowed requests exercised, from
//! which Tessera proposes the smallest fine-grained grant that covers them.
//!
//! **Invariant:** a boundary's stored form reads back to itself, and anything else reads as nothing.

use crate::Timestamp;

/// Where a use happened: a project or group (by id), the token owner's own user, or the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsageBoundary {
    /// A project, by id.
    Project(i64),
    /// A group, by id.
    Group(i64),
    /// The token owner's own user.
    User,
    /// The instance as a whole.
    Instance,
}

impl UsageBoundary {
    /// The stored and shown form: `project:7`, `group:5`, `user`, `instance`.
    pub fn to_stored(self) -> String {
        match self {
            UsageBoundary::Project(id) => format!("project:{id}"),
            UsageBoundary::Group(id) => format!("group:{id}"),
            UsageBoundary::User => "user".to_owned(),
            UsageBoundary::Instance => "instance".to_owned(),
        }
    }

    /// Reads the stored form; `None` for anything else.
    pub fn from_stored(text: &str) -> Option<UsageBoundary> {
        match text.split_once(':') {
            Some(("project", id)) => id.parse().ok().map(UsageBoundary::Project),
            Some(("group", id)) => id.parse().ok().map(UsageBoundary::Group),
            None if text == "user" => Some(UsageBoundary::User),
            None if text == "instance" => Some(UsageBoundary::Instance),
            _ => None,
        }
    }
}

/// One exercised pair of one token: how often, first and last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUsage {
    /// The token that exercised the pair.
    pub token_id: i64,
    /// An assignable permission (a catalog bundle).
    pub permission: String,
    /// Where.
    pub boundary: UsageBoundary,
    /// The first use.
    pub first_used_at: Timestamp,
    /// The last use.
    pub last_used_at: Timestamp,
    /// How many uses.
    pub uses: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_boundary_reads_back_as_stored(id in any::<i64>(), kind in 0..4u8) {
            let boundary = match kind {
                0 => UsageBoundary::Project(id),
                1 => UsageBoundary::Group(id),
                2 => UsageBoundary::User,
                _ => UsageBoundary::Instance,
            };
            prop_assert_eq!(UsageBoundary::from_stored(&boundary.to_stored()), Some(boundary));
        }
    }
}

//! What a token actually did: the (assignable permission, boundary) pairs its allowed requests exercised, from
//! which Tessera proposes the smallest fine-grained grant that covers them.

use crate::Timestamp;

/// Where a use happened: a project or group (by id), the token owner's own user, or the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsageBoundary {
    Project(i64),
    Group(i64),
    User,
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
    pub token_id: i64,
    /// An assignable permission (a catalog bundle).
    pub permission: String,
    pub boundary: UsageBoundary,
    pub first_used_at: Timestamp,
    pub last_used_at: Timestamp,
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

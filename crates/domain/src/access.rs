//! GitLab's access levels.
//!
//! **Invariant:** levels are ordered and each has exactly one GitLab number.

/// A member's role, with GitLab's numeric levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    /// Guest (10).
    Guest,
    /// Planner (15).
    Planner,
    /// Reporter (20).
    Reporter,
    /// Developer (30).
    Developer,
    /// Maintainer (40).
    Maintainer,
    /// Owner (50).
    Owner,
}

impl AccessLevel {
    /// Every level, lowest first.
    pub const ALL: [AccessLevel; 6] = [
        AccessLevel::Guest,
        AccessLevel::Planner,
        AccessLevel::Reporter,
        AccessLevel::Developer,
        AccessLevel::Maintainer,
        AccessLevel::Owner,
    ];

    /// GitLab's number for the level (`access_level`).
    pub fn value(self) -> i64 {
        match self {
            AccessLevel::Guest => 10,
            AccessLevel::Planner => 15,
            AccessLevel::Reporter => 20,
            AccessLevel::Developer => 30,
            AccessLevel::Maintainer => 40,
            AccessLevel::Owner => 50,
        }
    }

    /// The level's name, as GitLab shows it.
    pub fn name(self) -> &'static str {
        match self {
            AccessLevel::Guest => "Guest",
            AccessLevel::Planner => "Planner",
            AccessLevel::Reporter => "Reporter",
            AccessLevel::Developer => "Developer",
            AccessLevel::Maintainer => "Maintainer",
            AccessLevel::Owner => "Owner",
        }
    }
}

impl TryFrom<i64> for AccessLevel {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            10 => Ok(AccessLevel::Guest),
            15 => Ok(AccessLevel::Planner),
            20 => Ok(AccessLevel::Reporter),
            30 => Ok(AccessLevel::Developer),
            40 => Ok(AccessLevel::Maintainer),
            50 => Ok(AccessLevel::Owner),
            other => Err(format!("{other} is not a valid access level")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_round_trips_through_its_number() {
        for level in AccessLevel::ALL {
            assert_eq!(AccessLevel::try_from(level.value()), Ok(level));
        }
    }

    #[test]
    fn numbers_between_levels_are_refused() {
        for n in [0, 5, 11, 25, 60, -10] {
            assert!(AccessLevel::try_from(n).is_err());
        }
    }

    #[test]
    fn levels_order_as_their_numbers() {
        assert!(AccessLevel::Planner > AccessLevel::Guest);
        assert!(AccessLevel::Owner > AccessLevel::Maintainer);
    }
}

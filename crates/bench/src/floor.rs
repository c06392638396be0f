//! The floor: the same decision written by hand as plainly as possible, with nothing a product needs beyond the
//! answer (no route table, no audit, no usage, no cache invalidation, no error shapes). It checks the presented
//! string's prefix and CRC-32 checksum, hashes it with a keyed SipHash (as Tessera's cache keys it), looks the
//! token up among a million, checks revocation, expiry and scope, and looks the owner's role up in a map of
//! memberships. What Tessera costs above this is what its generality and its guarantees cost.
//!
//! **Invariant:** the floor checks everything the rule asks (checksum, token, revocation, expiry, scope, role)
//! and nothing else.

use std::collections::HashMap;
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::scenario::{PROJECTS, Role, Scenario};

/// A token as the floor keeps it.
#[derive(Debug, Clone, Copy)]
struct Row {
    owner: u32,
    reads_api: bool,
    revoked: bool,
    expires_at: i64,
}

/// The floor's world: tokens by keyed hash, roles by (user, project).
pub struct Floor {
    keys: (u64, u64),
    tokens: HashMap<u128, Row>,
    roles: HashMap<(u32, u32), Role>,
}

/// How many tokens the benchmark's floor holds besides the scenario's, so that its lookup is among a million.
pub const FILLER: usize = 1_000_000;

impl Floor {
    /// The scenario, with `plaintexts[t]` the presented string of token `t`, and `filler` other tokens.
    pub fn new(scenario: &Scenario, plaintexts: &[String], filler: usize) -> Floor {
        let keys = (0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        let mut floor =
            Floor { keys, tokens: HashMap::with_capacity(filler + plaintexts.len()), roles: HashMap::new() };
        for i in 0..filler {
            let row = Row { owner: u32::MAX, reads_api: true, revoked: false, expires_at: i64::MAX };
            floor.tokens.insert(floor.key(&format!("filler-{i}")), row);
        }
        for (spec, plaintext) in scenario.tokens.iter().zip(plaintexts) {
            let row = Row {
                owner: u32::try_from(spec.owner).unwrap_or(u32::MAX),
                reads_api: matches!(spec.scope, "read_api" | "api"),
                revoked: spec.revoked,
                expires_at: crate::scenario::EXPIRES_AT,
            };
            floor.tokens.insert(floor.key(plaintext), row);
        }
        for (u, p, role) in &scenario.members {
            let key = (u32::try_from(*u).unwrap_or(u32::MAX), u32::try_from(*p).unwrap_or(u32::MAX));
            let held = floor.roles.entry(key).or_insert(*role);
            *held = (*held).max(*role);
        }
        floor
    }

    fn key(&self, presented: &str) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(presented.as_bytes());
        hasher.finish128().as_u128()
    }

    /// The floor's answer for the presented string on project `project` at `now` (seconds since the epoch).
    pub fn allows(&self, presented: &str, project: usize, now: i64) -> bool {
        if !presented.starts_with("glpat-") || presented.len() < 20 || presented.len() > 256 {
            return false;
        }
        let (signed, crc) = presented.split_at(presented.len() - 7);
        if u32::from_str_radix(crc, 36).ok() != Some(crc32fast::hash(signed.as_bytes())) {
            return false;
        }
        let Some(row) = self.tokens.get(&self.key(presented)) else { return false };
        if row.revoked || now >= row.expires_at || !row.reads_api || project >= PROJECTS {
            return false;
        }
        let project = u32::try_from(project).unwrap_or(u32::MAX);
        self.roles.get(&(row.owner, project)).is_some_and(|role| *role >= Role::Reporter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens of the instance's format, one per scenario token.
    fn plaintexts(scenario: &Scenario) -> Vec<String> {
        let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), ..Default::default() };
        (0..scenario.tokens.len())
            .map(|t| {
                let mut random = [0u8; tokens::RANDOM_BYTES];
                random[..8].copy_from_slice(&(t as u64).to_le_bytes());
                tokens::mint("glpat-", &random, &payload).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_floor_answers_every_question_of_the_scenario_as_the_rule_says() {
        let scenario = Scenario::new();
        let plaintexts = plaintexts(&scenario);
        let floor = Floor::new(&scenario, &plaintexts, 1_000);
        let now = 1_800_000_000;
        for (t, p) in scenario.questions() {
            assert_eq!(floor.allows(&plaintexts[t], p, now), scenario.expected(t, p), "token {t} on project {p}");
        }
    }

    #[test]
    fn the_floor_refuses_a_bad_checksum_and_an_expired_token() {
        let scenario = Scenario::new();
        let plaintexts = plaintexts(&scenario);
        let floor = Floor::new(&scenario, &plaintexts, 0);
        let ((t, p), _) = scenario.allowed_and_refused();
        assert!(floor.allows(&plaintexts[t], p, 1_800_000_000));
        assert!(!floor.allows(&plaintexts[t], p, crate::scenario::EXPIRES_AT));
        let mut forged = plaintexts[t].clone();
        forged.replace_range(8..9, if &forged[8..9] == "A" { "B" } else { "A" });
        assert!(!floor.allows(&forged, p, 1_800_000_000));
    }
}

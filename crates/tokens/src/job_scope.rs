//! The `scope` claim of a CI job token: the job-token policies it holds on each project. It is written as GitLab
//! writes it, a map from each policy's name to the global ids of the projects the policy is bound to
//! (`{"read_releases": ["gid://gitlab/Project/3"]}`), and read straight into projects and policy sets, so that a
//! token's first sight allocates no string per entry and its verified form keeps none.
//!
//! **Invariant:** a claim naming an unknown policy or anything but a project's global id is not a scope: reading
//! it fails, and so does the token's verification.

use std::collections::BTreeMap;
use std::fmt;

use domain::{JobPolicies, JobPolicy};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::jwt::PROJECT_GID_PREFIX;

/// Each project a job token is bound to, once, with its policies there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobScope(Vec<(i64, JobPolicies)>);

impl JobScope {
    /// The scope of these projects' policies (a project named twice holds the union).
    pub fn new(projects: impl IntoIterator<Item = (i64, JobPolicies)>) -> JobScope {
        let mut scope = JobScope::default();
        for (project, policies) in projects {
            scope.add(project, policies);
        }
        scope
    }

    fn add(&mut self, project: i64, policies: JobPolicies) {
        match self.0.iter_mut().find(|(id, _)| *id == project) {
            Some((_, held)) => *held = held.union(policies),
            None => self.0.push((project, policies)),
        }
    }

    /// The policies held on `project` (none if it is not in the scope).
    pub fn on(&self, project: i64) -> JobPolicies {
        self.0.iter().find(|(id, _)| *id == project).map_or(JobPolicies::NONE, |(_, p)| *p)
    }

    /// Each project and its policies, in the order first named.
    pub fn projects(&self) -> &[(i64, JobPolicies)] {
        &self.0
    }
}

impl Serialize for JobScope {
    /// Each policy's name, in name order, with the global ids of its projects in the scope's order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut claim: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (project, policies) in &self.0 {
            for policy in policies.iter() {
                claim.entry(policy.to_string()).or_default().push(format!("{PROJECT_GID_PREFIX}{project}"));
            }
        }
        claim.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JobScope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JobScope, D::Error> {
        deserializer.deserialize_map(ScopeVisitor)
    }
}

struct ScopeVisitor;

impl<'de> Visitor<'de> for ScopeVisitor {
    type Value = JobScope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of job-token policies to project global ids")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobScope, A::Error> {
        let mut scope = JobScope::default();
        while let Some(policy) = map.next_key_seed(POLICY_NAME)? {
            let mut policies = JobPolicies::NONE;
            policies.insert(policy);
            map.next_value_seed(Projects { policies, scope: &mut scope })?;
        }
        Ok(scope)
    }
}

/// A string read as what `parse` makes of it (`what` names it in errors), without keeping the string.
struct Text<T> {
    what: &'static str,
    parse: fn(&str) -> Option<T>,
}

/// A policy's name, read as the policy.
const POLICY_NAME: Text<JobPolicy> = Text { what: "a job-token policy's name", parse: JobPolicy::parse };

/// A project's global id (`gid://gitlab/Project/3`), read as its id.
const PROJECT_GID: Text<i64> = Text { what: "a project's global id", parse: project_id };

/// The id a project's global id names: digits only, as `+3` or ` 3` would parse as 3 and name the project in
/// another spelling.
fn project_id(gid: &str) -> Option<i64> {
    let id = gid.strip_prefix(PROJECT_GID_PREFIX)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

impl<'de, T> DeserializeSeed<'de> for Text<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for Text<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// The projects a policy is bound to, added to the scope with it.
struct Projects<'s> {
    policies: JobPolicies,
    scope: &'s mut JobScope,
}

impl<'de> DeserializeSeed<'de> for Projects<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Projects<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of project global ids")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(project) = seq.next_element_seed(PROJECT_GID)? {
            self.scope.add(project, self.policies);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str) -> JobPolicies {
        JobPolicies::parse_names([name]).expect("a policy")
    }

    #[test]
    fn a_scope_reads_back_as_it_was_written() {
        let scope =
            JobScope::new([(3, policy("read_releases").union(policy("admin_packages"))), (9, policy("read_releases"))]);
        let text = serde_json::to_string(&scope).expect("written");
        assert_eq!(
            text,
            r#"{"admin_packages":["gid://gitlab/Project/3"],"read_packages":["gid://gitlab/Project/3"],"read_releases":["gid://gitlab/Project/3","gid://gitlab/Project/9"]}"#
        );
        assert_eq!(serde_json::from_str::<JobScope>(&text).expect("read"), scope);
    }

    #[test]
    fn a_project_named_under_several_policies_holds_them_all() {
        let text = r#"{"read_releases":["gid://gitlab/Project/3"],"admin_packages":["gid://gitlab/Project/3"]}"#;
        let scope: JobScope = serde_json::from_str(text).expect("read");
        assert_eq!(scope.on(3), policy("read_releases").union(policy("admin_packages")));
        assert_eq!(scope.on(4), JobPolicies::NONE);
    }

    #[test]
    fn unknown_policies_and_anything_but_project_ids_are_no_scope() {
        for text in [
            r#"{"read_everything":["gid://gitlab/Project/3"]}"#,
            r#"{"read_releases":["gid://gitlab/Group/3"]}"#,
            r#"{"read_releases":["gid://gitlab/Project/+3"]}"#,
            r#"{"read_releases":["gid://gitlab/Project/"]}"#,
            r#"{"read_releases":["gid://gitlab/Project/99999999999999999999"]}"#,
            r#"{"read_releases":"gid://gitlab/Project/3"}"#,
            r#"{"read_releases":[3]}"#,
            r#"["read_releases"]"#,
        ] {
            assert!(serde_json::from_str::<JobScope>(text).is_err(), "{text}");
        }
    }
}

//! The rule in Cedar, written as its documentation's role-based examples are: a project's Reporters, Developers
//! and Guests are `Role` entities (Developers inside Reporters inside Guests, so that `in` reads "at least"), a
//! user is in the role groups of their memberships, and a token is the principal, with its owner, scopes,
//! revocation and expiry as attributes. The policy set is parsed once and the entities are loaded once, as a
//! service using Cedar keeps them; each question builds its `Request` (with the time in its context) and asks
//! `Authorizer::is_authorized`.
//!
//! **Invariant:** the policy and entities say the scenario's rule and nothing more; a question builds only its
//! request.

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use serde_json::{Value, json};

use crate::scenario::{ACTION, EXPIRES_AT, PROJECTS, Role, Scenario, USERS};

/// The one policy: Reporters and above read a project's code with a live token that reads the API.
pub const POLICY: &str = r#"
permit (
    principal is Token,
    action == Action::"download_code",
    resource is Project
)
when {
    !principal.revoked &&
    context.now < principal.expires_at &&
    (principal.scopes.contains("read_api") || principal.scopes.contains("api")) &&
    principal.owner in resource.reporters
};
"#;

/// The scenario, loaded into Cedar.
pub struct CedarWorld {
    authorizer: Authorizer,
    policies: PolicySet,
    entities: Entities,
    token_type: EntityTypeName,
    project_type: EntityTypeName,
    action: EntityUid,
}

fn uid(kind: &str, id: String) -> Value {
    json!({ "type": kind, "id": id })
}

fn role_id(project: usize, role: Role) -> String {
    format!("p{project}#{}", role.name())
}

impl CedarWorld {
    pub fn new(scenario: &Scenario) -> CedarWorld {
        let mut entities = Vec::new();
        for p in 0..PROJECTS {
            let reporters = uid("Role", role_id(p, Role::Reporter));
            entities.push(json!({ "uid": uid("Project", format!("p{p}")), "attrs": { "reporters": { "__entity": reporters } }, "parents": [] }));
            for role in Role::ALL {
                // Each role sits inside the one below it: a Developer is also a Reporter and a Guest.
                let parents: Vec<Value> = match role {
                    Role::Guest => vec![],
                    Role::Reporter => vec![uid("Role", role_id(p, Role::Guest))],
                    Role::Developer => vec![uid("Role", role_id(p, Role::Reporter))],
                };
                entities.push(json!({ "uid": uid("Role", role_id(p, role)), "attrs": {}, "parents": parents }));
            }
        }
        for u in 0..USERS {
            let parents: Vec<Value> =
                scenario.members.iter().filter(|m| m.0 == u).map(|(_, p, r)| uid("Role", role_id(*p, *r))).collect();
            entities.push(json!({ "uid": uid("User", format!("u{u}")), "attrs": {}, "parents": parents }));
        }
        for (t, token) in scenario.tokens.iter().enumerate() {
            entities.push(json!({
                "uid": uid("Token", format!("t{t}")),
                "attrs": {
                    "owner": { "__entity": uid("User", format!("u{}", token.owner)) },
                    "scopes": [token.scope],
                    "revoked": token.revoked,
                    "expires_at": EXPIRES_AT,
                },
                "parents": [],
            }));
        }
        let entities = Entities::from_json_value(Value::Array(entities), None).expect("Cedar entities");
        CedarWorld {
            authorizer: Authorizer::new(),
            policies: POLICY.parse().expect("Cedar policy"),
            entities,
            token_type: "Token".parse().expect("type"),
            project_type: "Project".parse().expect("type"),
            action: format!(r#"Action::"{ACTION}""#).parse().expect("action"),
        }
    }

    /// How many entities Cedar holds.
    pub fn entity_count(&self) -> usize {
        self.entities.iter().count()
    }

    /// Cedar's answer for token `t` on project `p` at time `now` (seconds since the epoch); `token_id` and
    /// `project_id` are the ids as a request names them (`t0`, `p0`).
    pub fn allows(&self, token_id: &str, project_id: &str, now: i64) -> bool {
        let principal = EntityUid::from_type_name_and_id(self.token_type.clone(), EntityId::new(token_id));
        let resource = EntityUid::from_type_name_and_id(self.project_type.clone(), EntityId::new(project_id));
        let Ok(context) = Context::from_pairs([("now".to_owned(), RestrictedExpression::new_long(now))]) else {
            return false;
        };
        let Ok(request) = Request::new(principal, self.action.clone(), resource, context, None) else {
            return false;
        };
        self.authorizer.is_authorized(&request, &self.policies, &self.entities).decision() == Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cedar_answers_every_question_of_the_scenario_as_the_rule_says() {
        let scenario = Scenario::new();
        let cedar = CedarWorld::new(&scenario);
        assert_eq!(cedar.entity_count(), 1_000);
        let now = 1_800_000_000;
        for (t, p) in scenario.questions() {
            let answer = cedar.allows(&format!("t{t}"), &format!("p{p}"), now);
            assert_eq!(answer, scenario.expected(t, p), "token {t} on project {p}");
        }
    }

    #[test]
    fn cedar_refuses_a_token_past_its_expiry() {
        let scenario = Scenario::new();
        let cedar = CedarWorld::new(&scenario);
        let ((t, p), _) = scenario.allowed_and_refused();
        assert!(cedar.allows(&format!("t{t}"), &format!("p{p}"), 1_800_000_000));
        assert!(!cedar.allows(&format!("t{t}"), &format!("p{p}"), EXPIRES_AT));
    }
}

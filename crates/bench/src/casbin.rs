//! The rule in casbin, as its RBAC-with-domains model is meant to be used: a project is a domain, a member holds a
//! role there (`g`, with Developer → Reporter → Guest linked in every domain so that roles inherit), a token holds
//! its scopes (`g2`), and a live token is linked to its owner (`g3`). casbin has no attributes without its
//! expression engine, so revocation and expiry are what a casbin user would do: remove the token's `g3` line.
//! The enforcer is built once; each question is one `enforce` of (token, owner, project, action).
//!
//! **Invariant:** the model and policy lines say the scenario's rule and nothing more.

use casbin::prelude::*;

use crate::scenario::{ACTION, PROJECTS, Scenario};

/// The model.
pub const MODEL: &str = r#"
[request_definition]
r = tok, sub, dom, act

[policy_definition]
p = role, scope, act

[role_definition]
g = _, _, _
g2 = _, _
g3 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g3(r.tok, r.sub) && g2(r.tok, p.scope) && g(r.sub, p.role, r.dom) && r.act == p.act
"#;

/// The scenario, loaded into a casbin enforcer.
pub struct CasbinWorld {
    enforcer: Enforcer,
}

fn line(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl CasbinWorld {
    pub fn new(scenario: &Scenario) -> CasbinWorld {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let enforcer = rt.block_on(async {
            let model = DefaultModel::from_str(MODEL).await.expect("casbin model");
            let mut e = Enforcer::new(model, MemoryAdapter::default()).await.expect("casbin enforcer");
            let policies = ["read_api", "api"].map(|scope| line(&["reporter", scope, ACTION])).to_vec();
            e.add_policies(policies).await.expect("policies");
            let mut roles = Vec::new();
            for p in 0..PROJECTS {
                let domain = format!("p{p}");
                roles.push(line(&["developer", "reporter", &domain]));
                roles.push(line(&["reporter", "guest", &domain]));
            }
            for (u, p, role) in &scenario.members {
                roles.push(line(&[&format!("u{u}"), role.name(), &format!("p{p}")]));
            }
            e.add_grouping_policies(roles).await.expect("roles");
            let scopes = scenario.tokens.iter().enumerate().map(|(t, s)| line(&[&format!("t{t}"), s.scope])).collect();
            e.add_named_grouping_policies("g2", scopes).await.expect("scopes");
            let live = scenario
                .tokens
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.revoked)
                .map(|(t, s)| line(&[&format!("t{t}"), &format!("u{}", s.owner)]))
                .collect();
            e.add_named_grouping_policies("g3", live).await.expect("live tokens");
            e
        });
        CasbinWorld { enforcer }
    }

    /// casbin's answer for token `token_id` of user `owner_id` on project `project_id`.
    pub fn allows(&self, token_id: &str, owner_id: &str, project_id: &str) -> bool {
        self.enforcer.enforce((token_id, owner_id, project_id, ACTION)).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casbin_answers_every_question_of_the_scenario_as_the_rule_says() {
        let scenario = Scenario::new();
        let casbin = CasbinWorld::new(&scenario);
        for (t, p) in scenario.questions() {
            let owner = scenario.tokens.get(t).map_or(0, |s| s.owner);
            let answer = casbin.allows(&format!("t{t}"), &format!("u{owner}"), &format!("p{p}"));
            assert_eq!(answer, scenario.expected(t, p), "token {t} on project {p}");
        }
    }
}

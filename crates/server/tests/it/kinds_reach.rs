//! No kind reaches a surface outside its declared reach (issue 15's property): every route of the catalog, asked
//! through the decision API with a credential of every kind (each through its usual channel), is allowed only
//! where the kind's row of the table says it may reach. Exhaustive over the catalog, not sampled.

use domain::{Channel, CredentialKind, Reach};
use serde_json::{Value, json};

use crate::channels::world;

/// A concrete path for a route template: `:id` the world's project (or its group), `*project` its repository,
/// any other parameter a plain `1`, and the template's required query.
fn instantiate(route: &catalog::Route) -> String {
    let groups = route.template.starts_with("/api/v4/groups/");
    let mut out = String::new();
    for segment in route.template.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if let Some(rest) = segment.strip_prefix(':') {
            let (name, suffix) = rest.split_once('.').map_or((rest, ""), |(n, s)| (n, s));
            let value = match name {
                "id" if groups => "acme",
                "id" => "acme%2Fapp",
                _ => "1",
            };
            out.push_str(value);
            if !suffix.is_empty() {
                out.push('.');
                out.push_str(suffix);
            }
        } else if let Some(rest) = segment.strip_prefix('*') {
            let (name, suffix) = rest.split_once('.').map_or((rest, ""), |(n, s)| (n, s));
            out.push_str(match name {
                "project" | "name" => "acme/app",
                _ => "a/b",
            });
            if !suffix.is_empty() {
                out.push('.');
                out.push_str(suffix);
            }
        } else {
            out.push_str(segment);
        }
    }
    if let Some((key, value)) = &route.query {
        out.push_str(&format!("?{key}={value}"));
    }
    out
}

#[test]
fn no_kind_is_allowed_a_route_outside_its_declared_reach() {
    let w = world();
    let catalog = catalog::Catalog::builtin().unwrap();
    let routes = catalog.routes();
    let mut asked: Vec<(usize, CredentialKind, Value)> = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        for (kind, secret) in &w.credentials {
            let channel = kind.spec().usual_channel();
            let mut request = json!({"credential": secret, "method": route.method, "path": instantiate(route)});
            match channel {
                Channel::Basic => {
                    request["channel"] = json!("Basic");
                    request["username"] = json!("dev");
                }
                _ => request["channel"] = json!(channel.name()),
            }
            asked.push((i, *kind, request));
        }
    }
    let mut allowed = 0;
    for batch in asked.chunks(1000) {
        let requests: Vec<Value> = batch.iter().map(|(_, _, r)| r.clone()).collect();
        let reply = w.app.post(&w.app.admin_token, "/internal/authorize", json!({"requests": requests}));
        assert_eq!(reply.status, 200, "{}", reply.text);
        for ((i, kind, request), result) in batch.iter().zip(reply.body["results"].as_array().unwrap()) {
            if result["allowed"] != true {
                continue;
            }
            allowed += 1;
            let route = &routes[*i];
            let spec = kind.spec();
            let within = match spec.reach {
                Reach::JobPolicies => route.job_token.is_some(),
                Reach::InternalCi | Reach::IncomingEmail => false,
                Reach::Scoped | Reach::Deploy | Reach::Trigger | Reach::Ssh => spec.reaches(route.surface),
            };
            assert!(within, "{kind} was allowed {} {} ({:?}): {request}", route.method, route.template, route.surface);
        }
    }
    assert!(allowed > 100, "the credentials must be allowed somewhere for this to mean anything: {allowed}");
}

//! The credential inventory: administrators see every credential, a top-level group's owners those that reach
//! its hierarchy; both filter, sort, revoke (the owner is told) and export as JSON and CSV.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn names(reply: &Reply) -> Vec<String> {
    let items = reply.body.as_array().unwrap_or_else(|| panic!("no list in {}", reply.text));
    let mut names: Vec<String> = items.iter().map(|t| t["name"].as_str().unwrap_or_default().to_owned()).collect();
    names.sort();
    names
}

/// Group `top` (Carol owns it, Alice is a Developer) with `top/sub/app`; group `other` with `other/lib`, where
/// Alice is a Reporter and Bob a Developer. Every token is named after what it is.
struct Inventory {
    app: TestApp,
    alice: i64,
    top: i64,
    sub: i64,
    carol_api: String,
    tokens: Vec<(String, i64, String)>,
}

impl Inventory {
    fn token(&self, name: &str) -> (i64, &str) {
        let (_, id, token) = self.tokens.iter().find(|(n, _, _)| n == name).unwrap();
        (*id, token)
    }
}

fn inventory() -> Inventory {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let top = id(&app.post(&admin, "/groups", json!({"name": "Top", "path": "top"})));
    let sub = id(&app.post(&admin, "/groups", json!({"name": "Sub", "path": "sub", "parent_id": top})));
    let project = id(&app.post(&admin, "/projects", json!({"name": "App", "path": "app", "namespace_id": sub})));
    let other = id(&app.post(&admin, "/groups", json!({"name": "Other", "path": "other"})));
    let lib = id(&app.post(&admin, "/projects", json!({"name": "Lib", "path": "lib", "namespace_id": other})));
    let (alice, bob, carol) = (app.create_user("alice"), app.create_user("bob"), app.create_user("carol"));
    for (group, user, level) in [(top, alice, 30), (other, alice, 20), (other, bob, 30), (top, carol, 50)] {
        let added =
            app.post(&admin, &format!("/groups/{group}/members"), json!({"user_id": user, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let mut tokens = Vec::new();
    let mut issue = |name: &str, user: i64, body: Value| {
        let mut body = body;
        body["name"] = json!(name);
        let reply = app.post(&admin, &format!("/users/{user}/personal_access_tokens"), body);
        assert_eq!(reply.status, 201, "{name}: {}", reply.text);
        tokens.push((name.to_owned(), id(&reply), reply.body["token"].as_str().unwrap().to_owned()));
    };
    issue("alice-legacy", alice, json!({"scopes": ["api"]}));
    issue("=alice-formula", alice, json!({"scopes": ["read_user"]}));
    let fine = |grant: Value| json!({"granular_scopes": [grant]});
    issue(
        "alice-app",
        alice,
        fine(json!({"access": "selected_memberships", "project_ids": [project], "permissions": ["read_project"]})),
    );
    issue("alice-all", alice, fine(json!({"access": "all_memberships", "permissions": ["read_project"]})));
    issue(
        "alice-lib",
        alice,
        fine(json!({"access": "selected_memberships", "project_ids": [lib], "permissions": ["read_project"]})),
    );
    issue("alice-user", alice, fine(json!({"access": "user", "permissions": ["read_user"]})));
    issue("bob-legacy", bob, json!({"scopes": ["api"]}));
    issue(
        "carol-owner",
        carol,
        fine(
            json!({"access": "selected_memberships", "group_ids": [top], "permissions": ["read_credential_inventory", "revoke_credential"]}),
        ),
    );
    let (_, carol_api) = app.token_for(carol, &["api"]);
    Inventory { app, alice, top, sub, carol_api, tokens }
}

#[test]
fn administrators_list_every_credential_with_its_owner_reach_use_and_warnings_filtered_and_sorted() {
    let inv = inventory();
    let app = &inv.app;
    let all = app.get(&app.admin_token, "/admin/credentials?per_page=100");
    assert_eq!(all.status, 200, "{}", all.text);
    let total: usize = all.header("x-total").unwrap().parse().unwrap();
    assert_eq!(total, all.body.as_array().unwrap().len());
    assert!(total >= inv.tokens.len() + 2, "the seeded tokens, Carol's and the administrator's: {total}");
    let (legacy_id, legacy) = inv.token("alice-legacy");
    assert_eq!(app.get(legacy, "/user").status, 200);
    let listed = app.get(&app.admin_token, &format!("/admin/credentials?user_id={}&search=alice-legacy", inv.alice));
    let entry = &listed.body[0];
    assert_eq!(entry["id"], legacy_id, "{}", listed.text);
    assert_eq!(entry["type"], "personal_access_token");
    assert_eq!(entry["owner"]["username"], "alice");
    assert_eq!(entry["boundary"], json!(["all"]));
    assert_eq!(entry["scopes"], json!(["api"]));
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(entry["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "broad_scope"), "{entry}");
    assert!(entry.get("token").is_none() && !listed.text.contains(legacy), "no secret is listed");

    let fine = app.get(&app.admin_token, &format!("/admin/credentials?granular=true&user_id={}", inv.alice));
    assert_eq!(names(&fine), ["alice-all", "alice-app", "alice-lib", "alice-user"]);
    let app_entry = fine.body.as_array().unwrap().iter().find(|t| t["name"] == "alice-app").unwrap();
    assert!(app_entry["boundary"][0].as_str().unwrap().starts_with("project:"), "{app_entry}");
    assert_eq!(app_entry["granular_scopes"][0]["permissions"], json!(["read_project"]));
    let sorted = app.get(&app.admin_token, &format!("/admin/credentials?user_id={}&sort=name_desc", inv.alice));
    let order: Vec<&str> = sorted.body.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(order.first(), Some(&"alice-user"), "{order:?}");
    let none = app.get(&app.admin_token, "/admin/credentials?type=impersonation_token");
    assert_eq!(none.body, json!([]), "{}", none.text);
    assert_eq!(app.get(&app.admin_token, "/admin/credentials?type=ssh_key").status, 400);
    assert_eq!(app.get(&app.admin_token, "/admin/credentials?sort=sideways").status, 400);
    assert_eq!(app.get(&inv.carol_api, "/admin/credentials").status, 403, "owners of a group are no administrators");
}

#[test]
fn a_top_level_groups_owners_see_exactly_the_credentials_that_reach_its_hierarchy() {
    let inv = inventory();
    let app = &inv.app;
    let (_, carol_fine) = inv.token("carol-owner");
    let path = format!("/groups/{}/manage/personal_access_tokens?per_page=100", inv.top);
    for token in [inv.carol_api.as_str(), carol_fine] {
        let listed = app.get(token, &path);
        assert_eq!(listed.status, 200, "{}", listed.text);
        let names = names(&listed);
        for reaching in ["=alice-formula", "alice-all", "alice-app", "alice-legacy", "carol-owner"] {
            assert!(names.contains(&reaching.to_owned()), "{reaching} reaches top: {names:?}");
        }
        for elsewhere in ["alice-lib", "alice-user", "bob-legacy"] {
            assert!(!names.contains(&elsewhere.to_owned()), "{elsewhere} does not reach top: {names:?}");
        }
    }
    let (_, alice_legacy) = inv.token("alice-legacy");
    assert_eq!(app.get(alice_legacy, &path).status, 403, "a Developer has no inventory");
    let on_subgroup = app.get(&inv.carol_api, &format!("/groups/{}/manage/personal_access_tokens", inv.sub));
    assert_eq!(on_subgroup.status, 400, "{}", on_subgroup.text);
    let filtered = app.get(&inv.carol_api, &format!("{path}&granular=false&search=alice"));
    assert_eq!(names(&filtered), ["=alice-formula", "alice-legacy"]);
}

#[test]
fn revoking_from_an_inventory_tells_the_owner_in_the_audit_log_and_their_notifications() {
    let inv = inventory();
    let app = &inv.app;
    let (bob_id, _) = inv.token("bob-legacy");
    let (legacy_id, legacy) = inv.token("alice-legacy");
    let (_, alice_user) = inv.token("alice-user");
    let revoke = |token: &str, id: i64| {
        app.call(token, "DELETE", &format!("/groups/{}/manage/personal_access_tokens/{id}", inv.top), None)
    };
    assert_eq!(revoke(&inv.carol_api, bob_id).status, 404, "a credential outside the hierarchy looks absent");
    assert_eq!(app.get(&app.admin_token, &format!("/personal_access_tokens/{bob_id}")).body["revoked"], false);
    let revoked = revoke(&inv.carol_api, legacy_id);
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_eq!(app.get(legacy, "/user").status, 401);

    let told = app.get(alice_user, "/user/notifications");
    assert_eq!(told.status, 200, "{}", told.text);
    let message = told.body[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("alice-legacy") && message.contains("carol") && message.contains("top"), "{message}");
    assert_eq!(told.body[0]["kind"], "personal_access_token_revoked");
    let audit = app.get(&app.admin_token, &format!("/audit_events?entity_type=User&entity_id={}", inv.alice));
    assert!(audit.text.contains("credential_revoked_from_inventory"), "{}", audit.text);

    let (bob_id, _) = inv.token("bob-legacy");
    let by_admin = app.call(&app.admin_token, "DELETE", &format!("/admin/credentials/{bob_id}"), None);
    assert_eq!(by_admin.status, 204, "{}", by_admin.text);
    let again = app.call(&app.admin_token, "DELETE", &format!("/admin/credentials/{bob_id}"), None);
    assert_eq!(again.status, 400, "{}", again.text);
    let missing = app.call(&app.admin_token, "DELETE", "/admin/credentials/999999", None);
    assert_eq!(missing.status, 404, "{}", missing.text);
}

#[test]
fn an_inventory_exports_as_json_and_as_csv_that_no_spreadsheet_runs_as_a_formula() {
    let inv = inventory();
    let app = &inv.app;
    let json_export = app.get(&app.admin_token, "/admin/credentials/export");
    assert_eq!(json_export.status, 200, "{}", json_export.text);
    let total: usize = json_export.header("x-total").unwrap().parse().unwrap();
    assert_eq!(json_export.body.as_array().unwrap().len(), total);
    let csv = app.get(&app.admin_token, "/admin/credentials/export?format=csv");
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), total + 1, "a header and one line per credential");
    assert!(lines[0].starts_with("id,type,name,owner_id,owner_username,scopes"), "{}", lines[0]);
    assert!(csv.text.contains(",'=alice-formula,"), "{}", csv.text);
    assert!(!csv.text.contains(",=alice"), "{}", csv.text);
    let group_csv =
        app.get(&inv.carol_api, &format!("/groups/{}/manage/personal_access_tokens/export?format=csv", inv.top));
    assert_eq!(group_csv.status, 200, "{}", group_csv.text);
    assert!(!group_csv.text.contains("bob-legacy") && group_csv.text.contains("alice-app"), "{}", group_csv.text);
    assert_eq!(app.get(&app.admin_token, "/admin/credentials/export?format=xml").status, 400);
}

/// Every stored kind is one row of the inventories (issue 15, point 7): listed, filtered by type, paged in one
/// order, and revoked from there with its owner told.
#[test]
fn every_kind_of_credential_is_one_row_of_the_inventories() {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let group = app.post(&admin, "/groups", json!({"name": "G", "path": "g"})).body["id"].as_i64().unwrap();
    let project = app.post(&admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})).body["id"]
        .as_i64()
        .unwrap();
    let owner = app.create_user("owner");
    app.post(&admin, &format!("/groups/{group}/members"), json!({"user_id": owner, "access_level": 50}));
    let (_, owner_token) = app.token_for(owner, &["api"]);
    let deploy = app.post(
        &owner_token,
        &format!("/projects/{project}/deploy_tokens"),
        json!({"name": "d", "scopes": ["read_repository"]}),
    );
    assert_eq!(deploy.status, 201, "{}", deploy.text);
    let trigger = app.post(&owner_token, &format!("/projects/{project}/triggers"), json!({"description": "nightly"}));
    assert_eq!(trigger.status, 201, "{}", trigger.text);
    assert_eq!(app.post(&owner_token, "/user/feed_token", json!({})).status, 201);
    let bot =
        app.post(&owner_token, &format!("/projects/{project}/access_tokens"), json!({"name": "b", "scopes": ["api"]}));
    assert_eq!(bot.status, 201, "{}", bot.text);

    let all = app.get(&admin, "/admin/credentials?per_page=100");
    let types: std::collections::BTreeSet<String> =
        all.body.as_array().unwrap().iter().map(|row| row["type"].as_str().unwrap().to_owned()).collect();
    for kind in
        ["personal_access_token", "project_access_token", "deploy_token", "pipeline_trigger_token", "feed_token"]
    {
        assert!(types.contains(kind), "{kind} missing from {types:?}");
    }
    assert!(!all.text.contains("glft-") && !all.text.contains("gldt-") && !all.text.contains("glptt-"), "no secret");
    let only = app.get(&admin, "/admin/credentials?type=deploy_token");
    assert_eq!(only.body.as_array().map(Vec::len), Some(1), "{}", only.text);
    assert_eq!(only.body[0]["warnings"], json!([]), "a project's read-only deploy token with an expiry");
    assert_eq!(only.body[0]["boundary"], json!([format!("project:{project}")]));
    assert_eq!(only.body[0]["owner"]["id"], owner, "a deploy token's owner is who made it");
    assert_eq!(app.get(&admin, "/admin/credentials?type=runner_authentication_token").status, 400, "not inventoried");

    // One order across kinds: small pages cover every row once.
    let total: usize = all.header("x-total").unwrap().parse().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for page in 1..=total.div_ceil(2) {
        let rows = app.get(&admin, &format!("/admin/credentials?per_page=2&page={page}"));
        for row in rows.body.as_array().unwrap() {
            assert!(seen.insert((row["type"].to_string(), row["id"].to_string())), "a row twice: {row}");
        }
    }
    assert_eq!(seen.len(), total);

    // The group's inventory: its projects' deploy tokens and triggers, its members' feed tokens.
    let group_rows = app.get(&owner_token, &format!("/groups/{group}/manage/personal_access_tokens?per_page=100"));
    let group_types: Vec<&str> =
        group_rows.body.as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    for kind in ["deploy_token", "pipeline_trigger_token", "feed_token", "project_access_token"] {
        assert!(group_types.contains(&kind), "{kind} missing from the group's inventory {group_types:?}");
    }

    // Revoked from the inventory by type and id; the owner is told.
    let trigger_id = trigger.body["id"].as_i64().unwrap();
    let path = format!("/admin/credentials/{trigger_id}?type=pipeline_trigger_token");
    assert_eq!(app.call(&admin, "DELETE", &path, None).status, 204);
    assert_eq!(app.call(&admin, "DELETE", &path, None).status, 404);
    let told = app.get(&owner_token, "/user/notifications");
    assert!(told.text.contains("pipeline_trigger_token_revoked"), "{}", told.text);
    let deploy_id = deploy.body["id"].as_i64().unwrap();
    let by_group = format!("/groups/{group}/manage/personal_access_tokens/{deploy_id}?type=deploy_token");
    assert_eq!(app.call(&owner_token, "DELETE", &by_group, None).status, 204);
    let listed = app.get(&admin, "/admin/credentials?type=deploy_token");
    assert_eq!(listed.body[0]["revoked"], true, "{}", listed.text);
}

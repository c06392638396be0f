//! Service accounts (issue 15, point 6): administrators make them for the instance, a top-level group's owners
//! for their group; owners create, list, rotate and revoke the account's tokens, and reach no other group's.

use serde_json::json;

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

#[test]
fn a_top_level_groups_owners_make_service_accounts_and_manage_their_tokens() {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let group = id(&app.post(&admin, "/groups", json!({"name": "G", "path": "g"})));
    let sub = id(&app.post(&admin, "/groups", json!({"name": "S", "path": "s", "parent_id": group})));
    let other = id(&app.post(&admin, "/groups", json!({"name": "H", "path": "h"})));
    let (owner, maintainer) = (app.create_user("owner"), app.create_user("maint"));
    for (user, level, at) in [(owner, 50, group), (maintainer, 40, group), (owner, 50, other)] {
        let added = app.post(&admin, &format!("/groups/{at}/members"), json!({"user_id": user, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let (_, owner_token) = app.token_for(owner, &["api"]);
    let (_, maintainer_token) = app.token_for(maintainer, &["api"]);

    let made = app.post(
        &owner_token,
        &format!("/groups/{group}/service_accounts"),
        json!({"name": "Deployer", "username": "deployer"}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let account = id(&made);
    let refused = app.post(&maintainer_token, &format!("/groups/{group}/service_accounts"), json!({"name": "X"}));
    assert_eq!(refused.status, 403, "a maintainer is no owner: {}", refused.text);
    let in_sub = app.post(&admin, &format!("/groups/{sub}/service_accounts"), json!({"name": "X"}));
    assert_eq!(in_sub.status, 400, "service accounts belong to top-level groups: {}", in_sub.text);
    let listed = app.get(&owner_token, &format!("/groups/{group}/service_accounts"));
    assert_eq!(
        listed.body.as_array().map(|a| a.iter().map(|u| u["username"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("deployer")])
    );
    assert_eq!(app.get(&owner_token, &format!("/groups/{other}/service_accounts")).body, json!([]));

    let tokens = format!("/groups/{group}/service_accounts/{account}/personal_access_tokens");
    let minted = app.post(&owner_token, &tokens, json!({"name": "ci", "scopes": ["read_api"]}));
    assert_eq!(minted.status, 201, "{}", minted.text);
    let secret = minted.body["token"].as_str().unwrap().to_owned();
    let me = app.get(&secret, "/user");
    assert_eq!((me.status, me.body["username"].as_str()), (200, Some("deployer")), "{}", me.text);
    let bad = app.post(&owner_token, &tokens, json!({"name": "ci", "scopes": ["api "]}));
    assert_eq!(bad.status, 400, "{}", bad.text);
    let elsewhere = app.post(
        &owner_token,
        &format!("/groups/{other}/service_accounts/{account}/personal_access_tokens"),
        json!({"name": "x", "scopes": ["api"]}),
    );
    assert_eq!(elsewhere.status, 404, "another group's owners do not reach this account: {}", elsewhere.text);
    let human = app.post(
        &owner_token,
        &format!("/groups/{group}/service_accounts/{maintainer}/personal_access_tokens"),
        json!({"name": "x", "scopes": ["api"]}),
    );
    assert_eq!(human.status, 404, "a member is no service account: {}", human.text);

    let listed = app.get(&owner_token, &tokens);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.text);
    let token_id = id(&minted);
    let rotated = app.post(&owner_token, &format!("{tokens}/{token_id}/rotate"), json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(app.get(&secret, "/user").status, 401, "the rotated token is refused");
    let fresh = rotated.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&fresh, "/user").status, 200);
    let revoked = app.call(&owner_token, "DELETE", &format!("{tokens}/{}", id(&rotated)), None);
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_eq!(app.get(&fresh, "/user").status, 401);

    let instance = app.post(&admin, "/service_accounts", json!({"name": "Bot"}));
    assert_eq!(instance.status, 201, "{}", instance.text);
    let all = app.get(&admin, "/service_accounts");
    assert_eq!(all.body.as_array().map(Vec::len), Some(2), "{}", all.text);
    assert_eq!(app.get(&owner_token, "/service_accounts").status, 403);
}

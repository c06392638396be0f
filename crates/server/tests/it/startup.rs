//! First start and restart.

use crate::helpers::{TestApp, config};

#[test]
fn a_second_start_on_the_same_data_prints_no_token_and_keeps_the_first_one_working() {
    let app = TestApp::spawn();
    let token = app.admin_token.clone();
    let (runtime, database, data_dir) = app.stop_keeping_data();
    let config = config(&data_dir, &database.url);
    let running = runtime.block_on(server::start(&config)).unwrap();
    assert!(running.admin_token.is_none());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let response =
        agent.get(&format!("http://{}/api/v4/user", running.addr)).header("PRIVATE-TOKEN", &token).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    runtime.block_on(running.stop()).unwrap();
    runtime.block_on(database.drop_database()).unwrap();
    let _ = std::fs::remove_dir_all(data_dir);
}

#[test]
fn the_first_administrator_is_root_and_an_admin() {
    let app = TestApp::spawn();
    let me = app.get(&app.admin_token, "/user");
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "root");
    assert_eq!(me.body["is_admin"], true);
}

#[test]
fn the_printed_token_has_gitlabs_routable_format() {
    let app = TestApp::spawn();
    let token = &app.admin_token;
    assert!(token.starts_with("glpat-"));
    let tail: Vec<&str> = token.rsplitn(3, '.').collect();
    assert_eq!(tail[1], "01");
    assert_eq!(tail[0].len(), 9);
    let prefix = tokens::Prefix::new("glpat-", None, "glpat-");
    let (_, payload) = tokens::parse(token, &prefix).unwrap();
    let me = app.get(token, "/user");
    assert_eq!(payload.user, me.body["id"].as_u64(), "the payload names the owner");
    assert_eq!(payload.organization, Some(1));
    assert_eq!(payload.cell, Some(1));
}

#[test]
fn a_tokens_last_use_is_stored_even_when_the_server_stops_right_after_it() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (id, token) = app.token_for(user, &["api"]);
    assert_eq!(app.get(&token, "/user").status, 200);
    let (runtime, database, data_dir) = app.stop_keeping_data();
    let stored = runtime.block_on(async {
        let store = store::SqlStore::connect(&database.url, 1).await.unwrap();
        let token = authority::TokenStore::token(&store, id).await.unwrap().unwrap();
        store.close().await;
        token
    });
    assert!(stored.last_used_at.is_some(), "the use was written to the database");
    assert_eq!(stored.last_used_ips, vec!["127.0.0.1".to_owned()]);
    runtime.block_on(database.drop_database()).unwrap();
    let _ = std::fs::remove_dir_all(data_dir);
}

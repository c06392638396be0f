//! Expiry notices (issue 15, point 9): GitLab's 60-, 30- and 7-day notices for every expiring credential, to its
//! owner or, for a project's credential, its Maintainers and Owners; each notice once, however many runs and
//! nodes race for it. E-mail through a real SMTP server is tested in `tests/python/test_expiry_notices.py`.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn run(app: &TestApp) -> Value {
    let reply = app.post(&app.admin_token, "/admin/expiry_notices/run", json!({}));
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

fn notices(app: &TestApp, token: &str) -> Vec<String> {
    let reply = app.get(token, "/user/notifications?per_page=100");
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"].as_str().is_some_and(|k| k.ends_with("_expiring")))
        .map(|n| n["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_token_gets_each_of_gitlabs_notices_once_and_none_after_it_expired() {
    let app = TestApp::spawn();
    let dev = app.create_user("dev");
    let (_, own) = app.token_for(dev, &["api"]);
    let in_days = |days: i64| app.clock_today().add_days(days).to_string();
    let made = app.post(
        &own,
        "/user/personal_access_tokens",
        json!({"name": "ci", "scopes": ["read_api"], "expires_at": in_days(40)}),
    );
    assert_eq!(made.status, 201, "{}", made.text);

    assert_eq!(run(&app)["claimed"], 1, "the 60-day notice");
    assert_eq!(run(&app)["claimed"], 0, "once");
    let told = notices(&app, &own);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("\"ci\"") && told[0].contains("sixty days"), "{told:?}");
    app.advance_days(15);
    assert_eq!(run(&app)["claimed"], 1, "the 30-day notice");
    app.advance_days(20);
    assert_eq!(run(&app)["claimed"], 1, "the 7-day notice");
    assert_eq!(run(&app)["claimed"], 0);
    app.advance_days(5);
    assert_eq!(run(&app)["claimed"], 0, "expired: no notice");
    assert_eq!(notices(&app, &own).len(), 3);
}

#[test]
fn a_projects_credentials_are_noticed_to_its_maintainers_and_owners_and_never_to_a_bot() {
    let app = TestApp::spawn();
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    let mut tokens = Vec::new();
    for (name, at, level) in [("own", format!("groups/{group}"), 50), ("mai", format!("projects/{project}"), 40)]
        .into_iter()
        .chain([("dev", format!("projects/{project}"), 30)])
    {
        let user = app.create_user(name);
        app.post(admin, &format!("/{at}/members"), json!({"user_id": user, "access_level": level}));
        tokens.push(app.token_for(user, &["api"]).1);
    }
    let in_days = |days: i64| app.clock_today().add_days(days).to_string();
    let bot = app.post(
        admin,
        &format!("/projects/{project}/access_tokens"),
        json!({"name": "deployer", "scopes": ["api"], "access_level": 30, "expires_at": in_days(5)}),
    );
    assert_eq!(bot.status, 201, "{}", bot.text);
    let deploy = app.post(
        admin,
        &format!("/projects/{project}/deploy_tokens"),
        json!({"name": "registry", "scopes": ["read_registry"], "expires_at": in_days(20)}),
    );
    assert_eq!(deploy.status, 201, "{}", deploy.text);
    let trigger = app.post(
        &tokens[1],
        &format!("/projects/{project}/triggers"),
        json!({"description": "nightly", "expires_at": in_days(50)}),
    );
    assert_eq!(trigger.status, 201, "{}", trigger.text);

    let done = run(&app);
    assert_eq!(done["claimed"], 3, "{done}");
    let (owner, maintainer, developer) = (&tokens[0], &tokens[1], &tokens[2]);
    let told = notices(&app, owner);
    assert!(told.iter().any(|n| n.contains("project access token \"deployer\"")), "{told:?}");
    assert!(told.iter().any(|n| n.contains("deploy token \"registry\"")), "{told:?}");
    let told = notices(&app, maintainer);
    assert_eq!(told.len(), 3, "the project's credentials and their own trigger: {told:?}");
    assert!(notices(&app, developer).is_empty(), "a Developer is not told");
    let bot_token = bot.body["token"].as_str().unwrap();
    assert!(notices(&app, bot_token).is_empty(), "the bot is never told");
}

#[test]
fn racing_runs_send_each_notice_once() {
    let app = TestApp::spawn();
    let mut owners = Vec::new();
    for n in 0..12 {
        let user = app.create_user(&format!("u{n}"));
        let (_, token) = app.token_for(user, &["api"]);
        let expires = app.clock_today().add_days(3 + n).to_string();
        let made = app.post(
            &token,
            "/user/personal_access_tokens",
            json!({"name": "t", "scopes": ["read_api"], "expires_at": expires}),
        );
        assert_eq!(made.status, 201, "{}", made.text);
        owners.push(token);
    }
    let second = app.start_second_node().ok();
    let claimed: i64 = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..6)
            .map(|i| {
                let (app, second) = (&app, &second);
                scope.spawn(move || {
                    let reply = match second.as_ref().filter(|_| i % 2 == 1) {
                        Some(node) => {
                            let headers = [("PRIVATE-TOKEN", app.admin_token.as_str())];
                            app.raw_at(&node.base, "POST", "/api/v4/admin/expiry_notices/run", &headers)
                        }
                        None => app.post(&app.admin_token, "/admin/expiry_notices/run", json!({})),
                    };
                    assert_eq!(reply.status, 200, "{}", reply.text);
                    reply.body["claimed"].as_i64().unwrap()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).sum()
    });
    // A node also runs the schedule when it starts, so the runs here may find some notices claimed already.
    assert!(claimed <= 12, "{claimed}");
    for token in &owners {
        assert_eq!(notices(&app, token).len(), 1, "every notice exactly once across racing runs and nodes");
    }
    if let Some(node) = second {
        app.stop_node(node);
    }
}

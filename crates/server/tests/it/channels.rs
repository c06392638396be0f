//! One channel per kind (issue 21, point 1): every credential kind, presented through every channel, on every
//! way in (REST, forward-auth in the Envoy and the nginx form, Git over HTTP through forward-auth, the decision
//! API), is accepted exactly when its row of the table of credential kinds names the channel, and is otherwise
//! the same 401 as an unknown token. Two credentials in one request are 401 too.

use base64::Engine;
use domain::{Channel, CredentialKind};
use serde_json::json;

use crate::helpers::{Reply, TestApp};

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) project: i64,
    /// A credential of each kind, each able to read `project`'s releases (the runner's reaches nothing here).
    pub(crate) credentials: Vec<(CredentialKind, String)>,
}

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

pub(crate) fn world() -> World {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let acme = id(&app.post(&admin, "/groups", json!({"name": "Acme", "path": "acme"})));
    let project = id(&app.post(&admin, "/projects", json!({"name": "App", "path": "app", "namespace_id": acme})));
    let dev = app.create_user("dev");
    let added = app.post(&admin, &format!("/groups/{acme}/members"), json!({"user_id": dev, "access_level": 30}));
    assert_eq!(added.status, 201, "{}", added.text);
    let (_, personal) = app.token_for(dev, &["api"]);
    let impersonation =
        app.post(&admin, &format!("/users/{dev}/impersonation_tokens"), json!({"name": "i", "scopes": ["api"]}));
    assert_eq!(impersonation.status, 201, "{}", impersonation.text);
    let runner = app.post(&admin, "/user/runners", json!({"runner_type": "instance_type", "description": "r"}));
    assert_eq!(runner.status, 201, "{}", runner.text);
    let job = app.post(&admin, "/internal/ci/jobs", json!({"project_id": project, "user_id": dev, "ref": "main"}));
    assert_eq!(job.status, 201, "{}", job.text);
    let project_token = app.post(
        &admin,
        &format!("/projects/{project}/access_tokens"),
        json!({"name": "p", "scopes": ["api"], "access_level": 30}),
    );
    assert_eq!(project_token.status, 201, "{}", project_token.text);
    let group_token = app.post(
        &admin,
        &format!("/groups/{acme}/access_tokens"),
        json!({"name": "g", "scopes": ["api"], "access_level": 30}),
    );
    assert_eq!(group_token.status, 201, "{}", group_token.text);
    // Named `dev`, the Basic username this test sends: a deploy token's Basic username must be its own.
    let deploy = app.post(
        &admin,
        &format!("/projects/{project}/deploy_tokens"),
        json!({"name": "d", "username": "dev", "scopes": ["read_repository"]}),
    );
    assert_eq!(deploy.status, 201, "{}", deploy.text);
    let trigger = app.post(&admin, &format!("/projects/{project}/triggers"), json!({"description": "t"}));
    assert_eq!(trigger.status, 201, "{}", trigger.text);
    let (_, dev_token) = app.token_for(dev, &["api"]);
    let feed = app.post(&dev_token, "/user/feed_token", json!({}));
    assert_eq!(feed.status, 201, "{}", feed.text);
    let mail = app.post(&dev_token, "/user/incoming_email_token", json!({}));
    assert_eq!(mail.status, 201, "{}", mail.text);
    let text = |reply: &Reply| reply.body["token"].as_str().unwrap().to_owned();
    let credentials = vec![
        (CredentialKind::PersonalAccessToken, personal),
        (CredentialKind::ImpersonationToken, text(&impersonation)),
        (CredentialKind::RunnerAuthenticationToken, text(&runner)),
        (CredentialKind::CiJobToken, text(&job)),
        (CredentialKind::ProjectAccessToken, text(&project_token)),
        (CredentialKind::GroupAccessToken, text(&group_token)),
        (CredentialKind::DeployToken, text(&deploy)),
        (CredentialKind::PipelineTriggerToken, text(&trigger)),
        (CredentialKind::FeedToken, text(&feed)),
        (CredentialKind::IncomingEmailToken, text(&mail)),
    ];
    // SSH keys are never presented in a request: `ssh_keys.rs` tests them through gitlab-shell's API.
    for kind in CredentialKind::ALL.into_iter().filter(|k| k.spec().secret != domain::SecretHome::SshKey) {
        assert!(credentials.iter().any(|(k, _)| *k == kind), "the test covers every kind: {kind} is missing");
    }
    World { app, project, credentials }
}

/// How a request carries `secret` through `channel`: its headers, and a query parameter to append.
fn carry(channel: Channel, secret: &str) -> (Vec<(&'static str, String)>, Option<String>) {
    let basic = |user: &str| {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        vec![("Authorization", format!("Basic {pair}"))]
    };
    match channel {
        Channel::PrivateTokenHeader => (vec![("PRIVATE-TOKEN", secret.to_owned())], None),
        Channel::JobTokenHeader => (vec![("JOB-TOKEN", secret.to_owned())], None),
        Channel::DeployTokenHeader => (vec![("DEPLOY-TOKEN", secret.to_owned())], None),
        Channel::Bearer => (vec![("Authorization", format!("Bearer {secret}"))], None),
        Channel::Basic => (basic("dev"), None),
        Channel::BasicCiToken => (basic("gitlab-ci-token"), None),
        Channel::PrivateTokenParam => (vec![], Some(format!("private_token={secret}"))),
        Channel::JobTokenParam => (vec![], Some(format!("job_token={secret}"))),
        Channel::TriggerTokenParam => (vec![], Some(format!("token={secret}"))),
        Channel::FeedTokenParam => (vec![], Some(format!("feed_token={secret}"))),
    }
}

fn with_query(target: &str, query: &Option<String>) -> String {
    match query {
        None => target.to_owned(),
        Some(q) if target.contains('?') => format!("{target}&{q}"),
        Some(q) => format!("{target}?{q}"),
    }
}

/// The statuses of one request, carried through `channel`, on each way in: REST, Envoy, nginx, Git, decision API.
/// Forward-auth and the decision API are asked about the project's releases; REST serves the kind's own route
/// (`GET /job` for a job token, the project otherwise).
fn on_every_way_in(w: &World, kind: CredentialKind, channel: Channel, secret: &str) -> [(&'static str, u16); 5] {
    let (headers, query) = carry(channel, secret);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let releases = format!("/api/v4/projects/{}/releases", w.project);
    let served = match kind {
        CredentialKind::CiJobToken => "/api/v4/job".to_owned(),
        _ => format!("/api/v4/projects/{}", w.project),
    };
    let rest = w.app.raw("GET", &with_query(&served, &query), &headers, None).status;
    let envoy = w.app.raw("GET", &format!("/-/auth{}", with_query(&releases, &query)), &headers, None).status;
    let nginx_target = with_query(&releases, &query);
    let mut nginx_headers = headers.clone();
    nginx_headers.extend([("X-Original-Method", "GET"), ("X-Original-URI", nginx_target.as_str())]);
    let nginx = w.app.raw("GET", "/-/auth", &nginx_headers, None).status;
    let clone = with_query("/acme/app.git/info/refs?service=git-upload-pack", &query);
    let mut git_headers = headers.clone();
    git_headers.extend([("X-Original-Method", "GET"), ("X-Original-URI", clone.as_str())]);
    let git = w.app.raw("GET", "/-/auth", &git_headers, None).status;
    let mut asked = json!({"credential": secret, "method": "GET", "path": releases, "channel": channel.name()});
    match channel {
        Channel::Basic => asked["username"] = json!("dev"),
        Channel::BasicCiToken => {
            asked["channel"] = json!("Basic");
            asked["username"] = json!(Channel::CI_TOKEN_USER);
        }
        _ => {}
    }
    let decided = w.app.post(&w.app.admin_token, "/internal/authorize", json!({"requests": [asked]}));
    assert_eq!(decided.status, 200, "{}", decided.text);
    let api = decided.body["results"][0]["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
    [("REST", rest), ("Envoy", envoy), ("nginx", nginx), ("Git", git), ("decision API", api)]
}

#[test]
fn every_kind_is_accepted_through_the_channels_of_its_row_and_is_the_one_401_through_any_other() {
    let w = world();
    for (kind, secret) in &w.credentials {
        for channel in Channel::ALL {
            // A runner's token reaches the internal CI API alone, a trigger's the trigger route alone: on these
            // routes they are refused everywhere.
            let elsewhere = [
                CredentialKind::RunnerAuthenticationToken,
                CredentialKind::PipelineTriggerToken,
                CredentialKind::FeedToken,
                CredentialKind::IncomingEmailToken,
            ];
            let accepted = kind.spec().admits(channel) && !elsewhere.contains(kind);
            for (way_in, status) in on_every_way_in(&w, *kind, channel, secret) {
                // A deploy token reaches Git (and the registries), never the REST API's releases.
                let accepted = accepted && (*kind != CredentialKind::DeployToken || way_in == "Git");
                if accepted {
                    assert_eq!(status, 200, "{kind} through {channel} on {way_in}");
                } else if channel == Channel::TriggerTokenParam && way_in == "REST" {
                    // `token` is a credential on the trigger route alone: elsewhere the request is anonymous.
                    let served = match kind {
                        CredentialKind::CiJobToken => "/api/v4/job".to_owned(),
                        _ => format!("/api/v4/projects/{}", w.project),
                    };
                    let anonymous = w.app.raw("GET", &served, &[], None).status;
                    assert_eq!(status, anonymous, "{kind} through {channel} on {way_in} is no credential");
                } else {
                    assert_eq!(status, 401, "{kind} through {channel} on {way_in} must be the one 401");
                }
            }
        }
    }
}

#[test]
fn a_runner_token_starts_jobs_through_bearer_alone() {
    let w = world();
    let runner = &w.credentials.iter().find(|(k, _)| *k == CredentialKind::RunnerAuthenticationToken).unwrap().1;
    let dev = w.app.get(&w.app.admin_token, "/users?username=dev").body[0]["id"].as_i64().unwrap();
    let body = json!({"project_id": w.project, "user_id": dev, "ref": "main"}).to_string();
    for channel in Channel::ALL {
        let (headers, query) = carry(channel, runner);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = with_query("/api/v4/internal/ci/jobs", &query);
        let reply = w.app.raw("POST", &path, &headers, Some(("application/json", body.as_bytes())));
        let want = if channel == Channel::Bearer { 201 } else { 401 };
        assert_eq!(reply.status, want, "a runner token through {channel}: {}", reply.text);
    }
}

#[test]
fn two_credentials_in_one_request_are_the_one_401_even_when_each_alone_would_do() {
    let w = world();
    let personal = &w.credentials[0].1;
    let releases = format!("/api/v4/projects/{}", w.project);
    let admitted: Vec<Channel> =
        Channel::ALL.into_iter().filter(|c| CredentialKind::PersonalAccessToken.spec().admits(*c)).collect();
    for (i, first) in admitted.iter().enumerate() {
        for second in admitted.iter().skip(i + 1) {
            let (mut headers, query) = carry(*first, personal);
            let (more, more_query) = carry(*second, personal);
            if headers.iter().any(|(k, _)| more.iter().any(|(m, _)| m == k)) {
                continue; // one header cannot hold two values through these channels
            }
            headers.extend(more);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let target = with_query(&with_query(&releases, &query), &more_query);
            let rest = w.app.raw("GET", &target, &headers, None);
            assert_eq!(rest.status, 401, "{first} and {second}: {}", rest.text);
            let envoy = w.app.raw("GET", &format!("/-/auth{target}"), &headers, None);
            assert_eq!(envoy.status, 401, "{first} and {second} on forward-auth");
        }
    }
    let twice = [("PRIVATE-TOKEN", personal.as_str()), ("PRIVATE-TOKEN", personal.as_str())];
    assert_eq!(w.app.raw("GET", &releases, &twice, None).status, 401, "one header twice");
    let job = &w.credentials[3].1;
    let mixed = [("PRIVATE-TOKEN", personal.as_str()), ("JOB-TOKEN", job.as_str())];
    assert_eq!(w.app.raw("GET", &releases, &mixed, None).status, 401, "a personal and a job token");
}

#[test]
fn private_token_in_a_form_body_authenticates_like_the_query_parameter() {
    let w = world();
    let personal = &w.credentials[0].1;
    let job = &w.credentials[3].1;
    let form = |query: &str, body: &str| {
        w.app.raw(
            "POST",
            &format!("/api/v4/user/personal_access_tokens{query}"),
            &[],
            Some(("application/x-www-form-urlencoded", body.as_bytes())),
        )
    };
    let created = form("", &format!("name=from+a+form&scopes%5B%5D=read_api&private_token={personal}"));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["name"], "from a form");
    assert_eq!(form("", "name=x&scopes%5B%5D=read_api&private_token=glpat-unknown").status, 401);
    let wrong = form("", &format!("name=x&scopes%5B%5D=read_api&job_token={personal}"));
    assert_eq!(wrong.status, 401, "a personal token is no job token");
    let wrong = form("", &format!("name=x&scopes%5B%5D=read_api&private_token={job}"));
    assert_eq!(wrong.status, 401, "a job token is no private token");
    let both =
        form(&format!("?private_token={personal}"), &format!("name=x&scopes%5B%5D=read_api&private_token={personal}"));
    assert_eq!(both.status, 401, "query and body: two credentials");
}

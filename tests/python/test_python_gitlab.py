"""python-gitlab 8.x drives Tessera's token endpoints unchanged."""

import datetime

import gitlab
import pytest


def client_for(server, token):
    client = gitlab.Gitlab(server["url"], private_token=token)
    client.auth()
    return client


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def test_auth_sets_the_current_user(gl):
    assert gl.user.username == "root"


def test_a_bad_token_raises_an_authentication_error(server):
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        gitlab.Gitlab(server["url"], private_token="glpat-not-a-token").auth()


def test_an_administrator_creates_a_token_for_a_user_who_then_uses_it(gl, server, user):
    created = gl.users.get(user.id, lazy=True).personal_access_tokens.create(
        {"name": "cli", "scopes": ["api"], "expires_at": in_days(30)}
    )
    assert created.token.startswith("glpat-")
    assert created.expires_at == in_days(30)
    as_user = client_for(server, created.token)
    assert as_user.user.id == user.id
    mine = as_user.personal_access_tokens.list()
    assert [t.id for t in mine] == [created.id]


def test_get_list_and_delete_by_id_and_self(gl, server, user):
    created = gl.users.get(user.id, lazy=True).personal_access_tokens.create({"name": "t", "scopes": ["api"]})
    as_user = client_for(server, created.token)
    assert as_user.personal_access_tokens.get(created.id).name == "t"
    assert as_user.personal_access_tokens.get("self").id == created.id
    listed = gl.personal_access_tokens.list(user_id=user.id, get_all=True)
    assert created.id in [t.id for t in listed]
    gl.personal_access_tokens.delete(created.id)
    assert gl.personal_access_tokens.get(created.id).revoked is True
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        as_user.auth()


def test_rotation_by_id_returns_the_new_token(gl, server, user):
    created = gl.users.get(user.id, lazy=True).personal_access_tokens.create({"name": "r", "scopes": ["api"]})
    rotated = gl.personal_access_tokens.rotate(created.id, expires_at=in_days(10))
    assert rotated["id"] != created.id
    assert rotated["expires_at"] == in_days(10)
    assert client_for(server, rotated["token"]).user.id == user.id


def test_an_object_rotates_itself_and_takes_the_new_id(gl, server, user):
    created = gl.users.get(user.id, lazy=True).personal_access_tokens.create({"name": "s", "scopes": ["api"]})
    as_user = client_for(server, created.token)
    pat = as_user.personal_access_tokens.get("self")
    old_id = pat.id
    pat.rotate(self_rotate=True)
    assert pat.id != old_id
    as_new = client_for(server, pat.token)
    as_new.personal_access_tokens.delete(pat.id)
    assert gl.personal_access_tokens.get(pat.id).revoked is True


def test_impersonation_tokens(gl, server, user):
    tokens = gl.users.get(user.id, lazy=True).impersonationtokens
    created = tokens.create({"name": "imp", "scopes": ["api"]})
    assert created.impersonation is True
    assert client_for(server, created.token).user.id == user.id
    assert [t.id for t in tokens.list(state="active")] == [created.id]
    assert tokens.get(created.id).name == "imp"
    tokens.delete(created.id)
    assert tokens.list(state="active") == []


def test_lists_follow_pagination_links(gl, user):
    manager = gl.users.get(user.id, lazy=True).personal_access_tokens
    for i in range(5):
        manager.create({"name": f"p{i}", "scopes": ["read_api"]})
    everything = gl.personal_access_tokens.list(user_id=user.id, per_page=2, get_all=True)
    assert len(everything) == 5
    pages = gl.personal_access_tokens.list(user_id=user.id, per_page=2, iterator=True)
    assert pages.total == 5
    assert len(list(pages)) == 5


def test_scope_errors_are_reported(gl, server, user):
    created = gl.users.get(user.id, lazy=True).personal_access_tokens.create({"name": "ro", "scopes": ["read_api"]})
    as_user = client_for(server, created.token)
    with pytest.raises(gitlab.exceptions.GitlabHttpError) as err:
        as_user.http_post("/user/personal_access_tokens", post_data={"name": "x", "scopes": ["api"]})
    assert err.value.response_code == 403


def test_raw_calls_create_own_tokens(gl):
    created = gl.http_post("/user/personal_access_tokens", post_data={"name": "raw", "scopes": ["read_api"]})
    assert created["token"].startswith("glpat-")
    assert created["scopes"] == ["read_api"]


def test_raw_calls_create_a_fine_grained_token_that_lists_and_is_bounded(gl, server, user):
    group = gl.groups.create({"name": f"fg{user.id}", "path": f"fg{user.id}"})
    project = gl.projects.create({"name": "app", "path": "app", "namespace_id": group.id})
    other = gl.projects.create({"name": f"other{user.id}", "path": f"other{user.id}", "visibility": "public"})
    group.members.create({"user_id": user.id, "access_level": 30})
    legacy = gl.users.get(user.id, lazy=True).personal_access_tokens.create({"name": "api", "scopes": ["api"]})
    as_user = client_for(server, legacy.token)
    created = as_user.http_post(
        "/user/personal_access_tokens",
        post_data={
            "name": "fine",
            "granular_scopes": [
                {"access": "selected_memberships", "group_ids": [group.id], "permissions": ["read_project"]},
                {"access": "user", "permissions": ["read_user", "read_personal_access_token"]},
            ],
        },
    )
    assert created["scopes"] == ["granular"]
    assert created["granular"] is True
    assert {"access": "selected_memberships", "permissions": ["read_project"], "group_id": group.id,
            "project_id": None} in created["granular_scopes"]
    listed = {t.id: t for t in as_user.personal_access_tokens.list()}
    assert listed[created["id"]].scopes == ["granular"]
    assert listed[created["id"]].granular_scopes == created["granular_scopes"]
    fine = gitlab.Gitlab(server["url"], private_token=created["token"])
    fine.auth()
    assert fine.user.id == user.id
    assert fine.projects.get(project.id).id == project.id
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        fine.projects.get(other.id)
    assert err.value.response_code == 403, "a public project outside the grant"


def test_members_by_username_ordered_lists_and_a_taken_path_as_gitlab_answers_them(gl, user):
    group = gl.groups.create({"name": "Ordered", "path": "ordered"})
    member = group.members.create({"username": user.username, "access_level": 30})
    assert member.id == user.id
    for name in ["b-proj", "a-proj", "c-proj"]:
        gl.projects.create({"name": name, "namespace_id": group.id})
    ascending = [p.name for p in gl.projects.list(order_by="name", sort="asc", search="-proj", get_all=True)]
    assert ascending == ["a-proj", "b-proj", "c-proj"]
    newest_first = [p.name for p in gl.projects.list(search="-proj", get_all=True)]
    assert newest_first == ["c-proj", "a-proj", "b-proj"]
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as taken:
        gl.projects.create({"name": "a-proj", "namespace_id": group.id})
    assert taken.value.response_code == 400
    assert "has already been taken" in str(taken.value.error_message)


def test_a_group_owner_manages_a_service_account_and_its_tokens(gl, server):
    group = gl.groups.create({"name": "Robots", "path": "robots"})
    account = group.service_accounts.create({"name": "Deployer", "username": "robots-deployer"})
    assert [a.username for a in group.service_accounts.list(get_all=True)] == ["robots-deployer"]
    token = account.access_tokens.create({"name": "ci", "scopes": ["read_api"], "expires_at": in_days(20)})
    assert token.token.startswith("glpat-")
    as_account = client_for(server, token.token)
    assert as_account.user.username == "robots-deployer"
    assert [t.name for t in account.access_tokens.list(get_all=True)] == ["ci"]
    rotated = account.access_tokens.rotate(token.id, expires_at=in_days(10))
    assert client_for(server, rotated["token"]).user.username == "robots-deployer"
    account.access_tokens.delete(rotated["id"])
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        client_for(server, rotated["token"])


def test_project_and_group_access_tokens_through_python_gitlab(gl, server, user):
    group = gl.groups.create({"name": "Bots", "path": "bots"})
    project = gl.projects.create({"name": "Site", "path": "site", "namespace_id": group.id})
    sibling = gl.projects.create({"name": "Other", "path": "other", "namespace_id": group.id})
    made = project.access_tokens.create(
        {"name": "deploy", "scopes": ["api"], "access_level": 30, "expires_at": in_days(30)}
    )
    assert made.token.startswith("glpat-")
    assert made.access_level == 30
    as_bot = client_for(server, made.token)
    assert as_bot.user.username.startswith(f"project_{project.id}_bot_")
    assert as_bot.projects.get(project.id).path == "site"
    with pytest.raises(gitlab.exceptions.GitlabGetError):
        as_bot.projects.get(sibling.id)
    assert [t.name for t in project.access_tokens.list(get_all=True)] == ["deploy"]
    assert project.access_tokens.get(made.id).access_level == 30

    shown = project.access_tokens.get(made.id)
    shown.rotate(expires_at=in_days(10))
    assert shown.id != made.id
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        client_for(server, made.token)
    assert client_for(server, shown.token).projects.get(project.id).id == project.id
    project.access_tokens.delete(shown.id)
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        client_for(server, shown.token)

    with pytest.raises(gitlab.exceptions.GitlabCreateError) as refused:
        project.access_tokens.create({"name": "x", "scopes": ["read_user"]})
    assert refused.value.response_code == 400

    group_token = group.access_tokens.create({"name": "g", "scopes": ["read_api"], "access_level": 20})
    as_group_bot = client_for(server, group_token.token)
    assert {p.path for p in as_group_bot.groups.get(group.id).projects.list(get_all=True)} == {"site", "other"}
    rotated = group.access_tokens.rotate(group_token.id)
    assert rotated["access_level"] == 20
    group.access_tokens.delete(rotated["id"])
    assert [t.active for t in group.access_tokens.list(get_all=True)] == [False, False]


def test_deploy_tokens_through_python_gitlab(gl, server):
    group = gl.groups.create({"name": "Deploys", "path": "deploys"})
    project = gl.projects.create({"name": "App", "path": "app", "namespace_id": group.id})
    token = project.deploytokens.create(
        {"name": "ci", "scopes": ["read_repository", "read_registry"], "username": "ci-bot", "expires_at": in_days(30)}
    )
    assert token.token.startswith("gldt-")
    assert token.username == "ci-bot"
    assert [t.name for t in project.deploytokens.list(get_all=True)] == ["ci"]
    assert project.deploytokens.get(token.id).scopes == ["read_repository", "read_registry"]
    assert [t.id for t in gl.deploytokens.list(get_all=True)] == [token.id]
    # A deploy token is no credential of the REST API.
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        client_for(server, token.token)
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as refused:
        project.deploytokens.create({"name": "x", "scopes": ["api"]})
    assert refused.value.response_code == 400
    group_token = group.deploytokens.create({"name": "g", "scopes": ["read_package_registry"]})
    assert group_token.username == f"gitlab+deploy-token-{group_token.id}"
    project.deploytokens.delete(token.id)
    assert [t.revoked for t in project.deploytokens.list(get_all=True)] == [True]


def test_pipeline_triggers_through_python_gitlab(gl, server):
    group = gl.groups.create({"name": "Triggers", "path": "triggers"})
    project = gl.projects.create({"name": "Svc", "path": "svc", "namespace_id": group.id})
    trigger = project.triggers.create({"description": "nightly"})
    assert trigger.token.startswith("glptt-")
    assert [t.description for t in project.triggers.list(get_all=True)] == ["nightly"]
    shown = project.triggers.get(trigger.id)
    shown.description = "weekly"
    shown.save()
    assert project.triggers.get(trigger.id).description == "weekly"
    pipeline = project.trigger_pipeline("main", trigger.token, variables={"DEPLOY": "true"})
    assert pipeline.ref == "main"
    assert pipeline.source == "trigger"
    project.triggers.delete(trigger.id)
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        project.trigger_pipeline("main", trigger.token)


def test_deploy_keys_and_user_keys_through_python_gitlab(gl, tmp_path):
    import subprocess

    def keygen(name):
        path = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        return (tmp_path / (name + ".pub")).read_text().strip()

    group = gl.groups.create({"name": "Keys", "path": "keys"})
    project = gl.projects.create({"name": "App", "path": "app", "namespace_id": group.id})
    other = gl.projects.create({"name": "Lib", "path": "lib", "namespace_id": group.id})
    key = project.keys.create({"title": "ci", "key": keygen("deploy"), "can_push": True})
    assert key.can_push is True
    assert key.fingerprint_sha256.startswith("SHA256:")
    assert [k.title for k in project.keys.list(get_all=True)] == ["ci"]
    other.keys.enable(key.id)
    assert [k.id for k in other.keys.list(get_all=True)] == [key.id]
    assert key.id in [k.id for k in gl.deploykeys.list(get_all=True)]
    project.keys.delete(key.id)
    assert project.keys.list(get_all=True) == []
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as refused:
        project.keys.create({"title": "bad", "key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"})
    assert refused.value.response_code == 400

    mine = gl.user.keys.create({"title": "laptop", "key": keygen("user")})
    assert [k.title for k in gl.user.keys.list(get_all=True)] == ["laptop"]
    gl.user.keys.delete(mine.id)
    assert gl.user.keys.list(get_all=True) == []

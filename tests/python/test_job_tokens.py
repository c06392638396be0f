"""CI job tokens seen from outside Tessera: PyJWT verifies them with only the published keys, and python-gitlab's
`project.job_token_scope` drives the allowlist endpoints unchanged."""

import base64
import json

import gitlab
import jwt
import pytest
import requests

JOB_TOKEN_AUDIENCE = "gitlab-authz-token"
VAULT = "https://vault.example.com"

_counter = [0]


def unique(prefix):
    _counter[0] += 1
    return f"{prefix}{_counter[0]}"


@pytest.fixture
def ci(gl, user):
    """A group with two projects, `user` a developer of the group, and a way to start jobs as the administrator."""
    name = unique("ci")
    group = gl.groups.create({"name": name, "path": name})
    app = gl.projects.create({"name": "app", "path": "app", "namespace_id": group.id})
    lib = gl.projects.create({"name": "lib", "path": "lib", "namespace_id": group.id})
    group.members.create({"user_id": user.id, "access_level": 30})
    return {"group": group, "app": app, "lib": lib, "user": user}


def start_job(server, project_id, user_id, **extra):
    reply = requests.post(
        server["url"] + "/api/v4/internal/ci/jobs",
        headers={"PRIVATE-TOKEN": server["token"]},
        json={"project_id": project_id, "user_id": user_id, "ref": "main", "ref_protected": True, "timeout": 600, **extra},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def finish_job(server, job_id, status="success"):
    reply = requests.put(
        f"{server['url']}/api/v4/internal/ci/jobs/{job_id}",
        headers={"PRIVATE-TOKEN": server["token"]},
        json={"status": status},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


def discovery(server):
    reply = requests.get(server["url"] + "/.well-known/openid-configuration", timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def published_key(server, compact):
    """The key that verifies `compact`, found in the JWKS the discovery document names, by PyJWT's own client."""
    client = jwt.PyJWKClient(discovery(server)["jwks_uri"], cache_keys=False, cache_jwk_set=False)
    return client.get_signing_key_from_jwt(compact).key


def bare_jwt(job_token):
    assert job_token.startswith("glcbt-"), job_token[:8]
    return job_token[len("glcbt-"):]


def b64(value):
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).rstrip(b"=").decode()


def test_pyjwt_verifies_a_job_token_with_only_the_published_keys(server, ci):
    job = start_job(server, ci["app"].id, ci["user"].id, permissions="permissions:\n  releases: read\n")
    compact = bare_jwt(job["token"])
    issuer = discovery(server)["issuer"]
    claims = jwt.decode(
        compact,
        published_key(server, compact),
        algorithms=["RS256"],
        audience=JOB_TOKEN_AUDIENCE,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "sub", "jti"]},
    )
    assert claims["sub"] == f"gid://gitlab/Ci::Build/{job['id']}"
    assert claims["scoped_user_id"] == ci["user"].id
    assert claims["scope"] == {"read_releases": [f"gid://gitlab/Project/{ci['app'].id}"]}
    assert claims["exp"] - claims["iat"] == 600 + 300, "the job's timeout plus five minutes"
    assert jwt.get_unverified_header(compact)["kid"] in {k["kid"] for k in requests.get(discovery(server)["jwks_uri"], timeout=10).json()["keys"]}


def test_pyjwt_rejects_a_job_token_whose_claims_were_widened(server, ci):
    job = start_job(server, ci["app"].id, ci["user"].id, permissions="permissions: {releases: read}")
    compact = bare_jwt(job["token"])
    header, payload, signature = compact.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"]["admin_releases"] = claims["scope"]["read_releases"]
    forged = ".".join([header, b64(claims), signature])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, published_key(server, compact), algorithms=["RS256"], audience=JOB_TOKEN_AUDIENCE)


def test_pyjwt_verifies_an_id_token_for_its_own_audience_only(server, ci):
    job = start_job(server, ci["app"].id, ci["user"].id, id_tokens={"VAULT_ID_TOKEN": {"aud": VAULT}})
    compact = job["id_tokens"]["VAULT_ID_TOKEN"]
    key = published_key(server, compact)
    claims = jwt.decode(compact, key, algorithms=["RS256"], audience=VAULT, issuer=discovery(server)["issuer"])
    path = f"{ci['group'].path}/app"
    assert claims["project_path"] == path
    assert claims["sub"] == f"project_path:{path}:ref_type:branch:ref:main"
    assert claims["ref"] == "main"
    assert claims["ref_protected"] == "true"
    assert claims["user_login"] == ci["user"].username
    assert claims["pipeline_id"] == str(job["pipeline_id"])
    assert claims["job_id"] == str(job["id"])
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(compact, key, algorithms=["RS256"], audience=JOB_TOKEN_AUDIENCE)
    assert jwt.get_unverified_header(compact)["kid"] != jwt.get_unverified_header(bare_jwt(job["token"]))["kid"], (
        "ID tokens and job tokens are signed with different keys"
    )


def test_tokens_signed_before_a_rotation_still_verify_with_the_published_keys(gl, server, ci):
    before = start_job(server, ci["app"].id, ci["user"].id)
    gl.http_post("/admin/ci/job_token_keys/rotate")
    after = start_job(server, ci["app"].id, ci["user"].id)
    old, new = bare_jwt(before["token"]), bare_jwt(after["token"])
    assert jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"]
    for compact in (old, new):
        jwt.decode(compact, published_key(server, compact), algorithms=["RS256"], audience=JOB_TOKEN_AUDIENCE)


def test_python_gitlab_uses_a_job_token_for_its_own_job_and_nothing_else(server, ci):
    job = start_job(server, ci["app"].id, ci["user"].id)
    as_job = gitlab.Gitlab(server["url"], job_token=job["token"])
    shown = as_job.http_get("/job")
    assert shown["id"] == job["id"]
    assert shown["user"]["username"] == ci["user"].username
    for outside in ("/user", "/personal_access_tokens"):
        with pytest.raises(gitlab.exceptions.GitlabHttpError) as err:
            as_job.http_get(outside)
        assert err.value.response_code == 403, f"{outside} is outside a job token's routes"
        assert err.value.response_body and b"job_token_route_refused" in err.value.response_body
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as err:
        as_job.users.get(ci["user"].id, lazy=True).personal_access_tokens.create({"name": "escalate", "scopes": ["api"]})
    assert err.value.response_code == 403, "a job token cannot mint a token for its user"
    finish_job(server, job["id"])
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError) as err:
        as_job.http_get("/job")
    assert err.value.response_code == 401, "a finished job's token is rejected on its next use"


def test_job_token_scope_is_enabled_for_new_projects_and_can_be_turned_off(ci):
    scope = ci["app"].job_token_scope.get()
    assert scope.inbound_enabled is True
    assert scope.outbound_enabled is False
    scope.enabled = False
    scope.save()
    scope.refresh()
    assert scope.inbound_enabled is False
    scope.enabled = True
    scope.save()
    scope.refresh()
    assert scope.inbound_enabled is True


def test_projects_are_added_listed_and_removed_from_the_allowlist(ci):
    scope = ci["lib"].job_token_scope.get()
    created = scope.allowlist.create({"target_project_id": ci["app"].id})
    assert created.source_project_id == ci["lib"].id
    assert created.target_project_id == ci["app"].id
    listed = scope.allowlist.list(get_all=True)
    assert any(p.id == ci["app"].id and p.name == "app" for p in listed)
    scope.allowlist.delete(ci["app"].id)
    assert not any(p.id == ci["app"].id for p in scope.allowlist.list(get_all=True))


def test_groups_are_added_listed_and_removed_from_the_allowlist(gl, ci):
    other = unique("allowed")
    group = gl.groups.create({"name": other, "path": other})
    scope = ci["lib"].job_token_scope.get()
    created = scope.groups_allowlist.create({"target_group_id": group.id})
    assert created.source_project_id == ci["lib"].id
    assert created.target_group_id == group.id
    assert any(g.id == group.id and g.name == other for g in scope.groups_allowlist.list(get_all=True))
    scope.groups_allowlist.delete(group.id)
    assert not any(g.id == group.id for g in scope.groups_allowlist.list(get_all=True))


def test_an_allowlist_entry_carries_its_job_token_policies(ci):
    scope = ci["lib"].job_token_scope.get()
    scope.allowlist.create(
        {"target_project_id": ci["app"].id, "default_permissions": False, "job_token_policies": ["read_packages"]}
    )
    entry = next(p for p in scope.allowlist.list(get_all=True) if p.id == ci["app"].id)
    assert entry.default_permissions is False
    assert entry.job_token_policies == ["read_packages"]
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as err:
        scope.allowlist.create({"target_project_id": ci["group"].id + 100000})
    assert err.value.response_code == 404

"""Envoy `ext_authz` (HTTP service, `path_prefix: /-/auth`) in front of an upstream that echoes its headers."""

import pytest
import requests


@pytest.fixture(scope="module")
def world(tessera):
    """A private project env/app, a public project env/open, a developer and a reporter with `api` tokens."""
    group = tessera.api("POST", "/groups", json={"name": "Env", "path": "env"})
    app = tessera.api("POST", "/projects", json={"name": "App", "path": "app", "namespace_id": group["id"]})
    public = tessera.api(
        "POST", "/projects", json={"name": "Open", "path": "open", "namespace_id": group["id"], "visibility": "public"}
    )
    dev_id, dev = tessera.user_with_token("envoydev", ["api"])
    rep_id, rep = tessera.user_with_token("envoyrep", ["api"])
    tessera.api("POST", f"/groups/{group['id']}/members", json={"user_id": dev_id, "access_level": 30})
    tessera.api("POST", f"/groups/{group['id']}/members", json={"user_id": rep_id, "access_level": 20})
    return {"app": app["id"], "public": public["id"], "dev": dev, "dev_id": dev_id, "rep": rep}


def test_an_allowed_request_reaches_the_upstream_with_identity_headers(envoy, world):
    reply = requests.post(
        f"{envoy}/api/v4/projects/{world['app']}/deployments", headers={"PRIVATE-TOKEN": world["dev"]}, timeout=10
    )
    assert reply.status_code == 200, reply.text
    seen = reply.json()
    assert seen["method"] == "POST"
    assert seen["path"] == f"/api/v4/projects/{world['app']}/deployments"
    assert seen["headers"]["x-auth-user"] == "envoydev"
    assert seen["headers"]["x-auth-user-id"] == str(world["dev_id"])
    assert seen["headers"]["x-auth-token-type"] == "personal_access_token"
    assert seen["headers"]["x-auth-organization-id"] == "1"


def test_a_denied_request_gets_403_naming_the_missing_permission(envoy, world):
    reply = requests.post(
        f"{envoy}/api/v4/projects/{world['app']}/deployments", headers={"PRIVATE-TOKEN": world["rep"]}, timeout=10
    )
    assert reply.status_code == 403
    assert "create_deployment" in reply.headers.get("x-tessera-required-permissions", ""), reply.headers


def test_an_unauthenticated_request_gets_401_and_a_bad_token_too(envoy, world):
    anonymous = requests.get(f"{envoy}/api/v4/projects/{world['app']}/issues", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers.get("www-authenticate", "").startswith("Bearer")
    bad = requests.get(
        f"{envoy}/api/v4/projects/{world['app']}/issues", headers={"PRIVATE-TOKEN": "glpat-nope"}, timeout=10
    )
    assert bad.status_code == 401


def test_each_token_is_accepted_only_through_its_own_channel(envoy, world):
    """A personal token in `JOB-TOKEN` or in the `job_token` parameter is the same 401 as an unknown token, and
    so is a request with two credentials."""
    path = f"{envoy}/api/v4/projects/{world['app']}/deployments"
    as_job = requests.post(path, headers={"JOB-TOKEN": world["dev"]}, timeout=10)
    assert as_job.status_code == 401, as_job.text
    as_param = requests.post(path, params={"job_token": world["dev"]}, timeout=10)
    assert as_param.status_code == 401, as_param.text
    as_deploy = requests.post(path, headers={"DEPLOY-TOKEN": world["dev"]}, timeout=10)
    assert as_deploy.status_code == 401, as_deploy.text
    two = requests.post(path, headers={"PRIVATE-TOKEN": world["dev"], "Authorization": f"Bearer {world['dev']}"}, timeout=10)
    assert two.status_code == 401, two.text
    bearer = requests.post(path, headers={"Authorization": f"Bearer {world['dev']}"}, timeout=10)
    assert bearer.status_code == 200, bearer.text


def test_a_public_read_passes_anonymously_and_spoofed_identity_headers_are_overwritten(envoy, world):
    reply = requests.get(
        f"{envoy}/api/v4/projects/{world['public']}/issues",
        headers={"X-Auth-User": "root", "X-Auth-User-Id": "1"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    seen = reply.json()["headers"]
    assert seen.get("x-auth-user", "") == ""
    assert seen.get("x-auth-user-id", "") == ""
    assert seen["x-auth-anonymous"] == "true"


def test_a_method_override_header_does_not_change_the_decision(envoy, world):
    reply = requests.post(
        f"{envoy}/api/v4/projects/{world['app']}/deployments",
        headers={"PRIVATE-TOKEN": world["rep"], "X-HTTP-Method-Override": "GET"},
        timeout=10,
    )
    assert reply.status_code == 403


def raw_get(base, target, headers):
    """Sends `GET target` exactly as written (no client cleans it first) and returns the status and body."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        reply = conn.getresponse()
        return reply.status, reply.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_a_path_with_no_single_reading_never_reaches_the_upstream(envoy, world):
    """A developer of env/app only: aliases that a decoding gateway or upstream could read as another project's
    path are refused through Envoy, and the upstream never answers them."""
    app, other = world["app"], world["public"]
    auth = {"PRIVATE-TOKEN": world["dev"]}
    status, body = raw_get(envoy, f"/api/v4/projects/{app}/issues", auth)
    assert status == 200 and '"path"' in body, body
    for target in [
        f"/api/v4/projects/{app}/issues/..%2F..%2F{other}%2Fissues",
        f"/api/v4/projects/{app}/jobs/..%2F..%2F{other}%2Fjobs",
        f"/api/v4/projects/{app}/issues/%2e%2e/%2e%2e/{other}/issues",
        f"/api/v4/projects/{app}/issues/..%5C..%5C{other}",
        f"/api/v4/projects/{app}#/../{other}/issues",
    ]:
        status, body = raw_get(envoy, target, auth)
        assert status == 400, f"{target}: {status} {body}"
        assert '"path"' not in body, f"the upstream answered {target}: {body}"

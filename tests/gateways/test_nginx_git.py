"""Git over HTTP through nginx `auth_request` to Tessera's `/-/auth`, in front of git-http-backend."""

import os
import subprocess
import tempfile

import pytest
import requests


def git(*args, cwd=None):
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", HOME=tempfile.gettempdir())
    env.pop("SSH_ASKPASS", None)
    base = ["git", "-c", "user.name=Tessera Test", "-c", "user.email=test@example.com", "-c", "credential.helper="]
    return subprocess.run(base + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def with_token(url, token):
    return url.replace("http://", f"http://oauth2:{token}@", 1)


@pytest.fixture(scope="module")
def project(tessera, git_gateway):
    """Project gw/repo in Tessera with a developer and a reporter, and its bare repository with one commit."""
    group = tessera.api("POST", "/groups", json={"name": "GW", "path": "gw"})
    tessera.api("POST", "/projects", json={"name": "Repo", "path": "repo", "namespace_id": group["id"]})
    dev_id, dev_read = tessera.user_with_token("gitdev", ["read_repository"])
    dev_write = tessera.api(
        "POST", f"/users/{dev_id}/personal_access_tokens", json={"name": "w", "scopes": ["write_repository"]}
    )["token"]
    rep_id, rep_write = tessera.user_with_token("gitrep", ["write_repository"])
    tessera.api("POST", f"/groups/{group['id']}/members", json={"user_id": dev_id, "access_level": 30})
    tessera.api("POST", f"/groups/{group['id']}/members", json={"user_id": rep_id, "access_level": 20})

    bare = os.path.join(git_gateway["repos"], "gw", "repo.git")
    os.makedirs(os.path.dirname(bare))
    assert git("init", "--bare", "-b", "main", bare).returncode == 0
    seed = tempfile.mkdtemp(prefix="seed-")
    assert git("init", "-b", "main", seed).returncode == 0
    with open(os.path.join(seed, "README.md"), "w") as f:
        f.write("hello\n")
    git("add", ".", cwd=seed)
    assert git("commit", "-m", "first", cwd=seed).returncode == 0
    assert git("push", bare, "main", cwd=seed).returncode == 0
    return {
        "url": git_gateway["url"] + "/gw/repo.git",
        "dev_read": dev_read,
        "dev_write": dev_write,
        "rep_write": rep_write,
        "dev_id": dev_id,
    }


def clone(project, token):
    target = tempfile.mkdtemp(prefix="clone-")
    result = git("clone", with_token(project["url"], token), target)
    return result, target


def commit_and_push(work, name):
    with open(os.path.join(work, name), "w") as f:
        f.write(name + "\n")
    git("add", ".", cwd=work)
    assert git("commit", "-m", name, cwd=work).returncode == 0
    return git("push", "origin", "HEAD:main", cwd=work)


def test_a_read_repository_token_clones_but_cannot_push(project):
    result, work = clone(project, project["dev_read"])
    assert result.returncode == 0, result.stderr
    assert os.path.exists(os.path.join(work, "README.md"))
    pushed = commit_and_push(work, "from-read-token")
    assert pushed.returncode != 0
    assert "403" in pushed.stderr, pushed.stderr


def test_a_developers_write_repository_token_pushes(project):
    result, work = clone(project, project["dev_write"])
    assert result.returncode == 0, result.stderr
    pushed = commit_and_push(work, "from-developer")
    assert pushed.returncode == 0, pushed.stderr
    again, check = clone(project, project["dev_read"])
    assert again.returncode == 0 and os.path.exists(os.path.join(check, "from-developer"))


def test_a_reporters_write_repository_token_cannot_push(project):
    result, work = clone(project, project["rep_write"])
    assert result.returncode == 0, result.stderr
    pushed = commit_and_push(work, "from-reporter")
    assert pushed.returncode != 0
    assert "403" in pushed.stderr, pushed.stderr


def test_a_clone_without_credentials_gets_the_basic_prompt(project):
    reply = requests.get(project["url"] + "/info/refs?service=git-upload-pack", timeout=10)
    assert reply.status_code == 401
    assert reply.headers.get("www-authenticate", "").startswith("Basic"), reply.headers
    target = tempfile.mkdtemp(prefix="anon-")
    result = git("clone", project["url"], target)
    assert result.returncode != 0
    assert "could not read Username" in result.stderr or "Authentication failed" in result.stderr, result.stderr


def test_a_wrong_token_is_refused_like_no_token(project):
    result, _ = clone(project, "glpat-not-a-real-token")
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr or "401" in result.stderr, result.stderr


def start_job(tessera, project_path, user_id, permissions=None):
    """Starts a CI job as the administrator; without `permissions`, the job gets the default set."""
    encoded = project_path.replace("/", "%2F")
    project = tessera.api("GET", f"/projects/{encoded}")
    request = {"project_id": project["id"], "user_id": user_id, "ref": "main", "timeout": 600}
    if permissions:
        request["permissions"] = permissions
    return tessera.api("POST", "/internal/ci/jobs", json=request)


def test_a_job_token_clones_as_gitlab_ci_token_while_its_job_runs_and_not_after(tessera, project):
    job = start_job(tessera, "gw/repo", project["dev_id"])
    url = project["url"].replace("http://", f"http://gitlab-ci-token:{job['token']}@", 1)
    target = tempfile.mkdtemp(prefix="job-clone-")
    result = git("clone", url, target)
    assert result.returncode == 0, result.stderr
    assert os.path.exists(os.path.join(target, "README.md"))
    pushed = commit_and_push(target, "from-job")
    assert pushed.returncode != 0, "pushing with a job token needs the project setting"
    assert "403" in pushed.stderr, pushed.stderr

    tessera.api("PUT", f"/internal/ci/jobs/{job['id']}", json={"status": "success"})
    again = git("clone", url, tempfile.mkdtemp(prefix="job-clone-after-"))
    assert again.returncode != 0
    assert "Authentication failed" in again.stderr or "401" in again.stderr, again.stderr


def test_a_job_token_pushes_to_its_own_project_only_once_the_project_allows_it(tessera, project):
    job = start_job(tessera, "gw/repo", project["dev_id"], permissions="{repositories: admin}")
    url = project["url"].replace("http://", f"http://gitlab-ci-token:{job['token']}@", 1)
    target = tempfile.mkdtemp(prefix="job-push-")
    assert git("clone", url, target).returncode == 0
    tessera.api("PATCH", "/projects/gw%2Frepo/job_token_scope", json={"ci_push_repository_for_job_token_allowed": True})
    try:
        pushed = commit_and_push(target, "pushed-by-job")
        assert pushed.returncode == 0, pushed.stderr
    finally:
        tessera.api(
            "PATCH", "/projects/gw%2Frepo/job_token_scope", json={"ci_push_repository_for_job_token_allowed": False}
        )
        tessera.api("PUT", f"/internal/ci/jobs/{job['id']}", json={"status": "success"})


def test_a_personal_token_as_gitlab_ci_token_is_refused_like_a_wrong_token(project):
    """The username `gitlab-ci-token` is the job-token channel: a personal token there is the one 401."""
    url = project["url"].replace("http://", f"http://gitlab-ci-token:{project['dev_read']}@", 1)
    result = git("clone", url, tempfile.mkdtemp(prefix="pat-as-ci-"))
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr or "401" in result.stderr, result.stderr


def test_a_repository_path_with_no_single_reading_is_refused(project, git_gateway):
    """nginx decodes `%2F` and resolves dot segments before choosing a location, while Tessera is asked about the
    raw request: such a path is refused by Tessera (400, which nginx's auth_request turns into an error), never
    read as another repository."""
    token = project["dev_read"]
    base = git_gateway["url"]
    for path in ["/gw%2Frepo.git/info/refs", "/gw/x/..%2Frepo.git/info/refs", "/gw/x/%2e%2e/repo.git/info/refs"]:
        reply = requests.get(
            base + path, params={"service": "git-upload-pack"}, auth=("oauth2", token), timeout=10
        )
        assert reply.status_code not in (200, 401, 403), f"{path}: {reply.status_code}"
        assert reply.status_code >= 400
    ok = requests.get(
        base + "/gw/repo.git/info/refs", params={"service": "git-upload-pack"}, auth=("oauth2", token), timeout=10
    )
    assert ok.status_code == 200


def as_user(url, username, token):
    return url.replace("http://", f"http://{username}:{token}@", 1)


def test_a_deploy_token_clones_with_its_own_username_only_and_never_pushes(tessera, project):
    made = tessera.api("POST", "/projects/gw%2Frepo/deploy_tokens", json={"name": "d", "scopes": ["read_repository"]})
    username, token = made["username"], made["token"]
    target = tempfile.mkdtemp(prefix="deploy-clone-")
    result = git("clone", as_user(project["url"], username, token), target)
    assert result.returncode == 0, result.stderr
    assert os.path.exists(os.path.join(target, "README.md"))
    pushed = commit_and_push(target, "from-deploy-token")
    assert pushed.returncode != 0, "a deploy token never pushes"
    other = git("clone", as_user(project["url"], "someone", token), tempfile.mkdtemp(prefix="deploy-other-"))
    assert other.returncode != 0
    assert "Authentication failed" in other.stderr or "401" in other.stderr, other.stderr


def test_a_project_access_token_clones_and_pushes_as_its_bot(tessera, project):
    made = tessera.api(
        "POST", "/projects/gw%2Frepo/access_tokens", json={"name": "bot", "scopes": ["write_repository"], "access_level": 30}
    )
    target = tempfile.mkdtemp(prefix="bot-clone-")
    assert git("clone", with_token(project["url"], made["token"]), target).returncode == 0
    pushed = commit_and_push(target, "pushed-by-bot")
    assert pushed.returncode == 0, pushed.stderr
    tessera.api("DELETE", f"/projects/gw%2Frepo/access_tokens/{made['id']}")
    again = git("clone", with_token(project["url"], made["token"]), tempfile.mkdtemp(prefix="bot-after-"))
    assert again.returncode != 0

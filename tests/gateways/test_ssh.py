"""Git over SSH as gitlab-shell does it, with a real OpenSSH sshd and git: sshd's `AuthorizedKeysCommand` asks
Tessera (`internal/authorized_keys`) by the fingerprint of the key it was offered and answers an `authorized_keys`
line whose forced command asks `internal/allowed` for the repository and action before it runs git. Both requests
are signed with the shared secret (`.gitlab_shell_secret` in Tessera's data directory), as gitlab-shell signs them."""

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import free_port, stop, wait_for_port

SSHD = "/usr/sbin/sshd"

# The two programs gitlab-shell would be: both sign their requests with the shared secret.
COMMON = """
import json, os, sys, time, urllib.parse, urllib.request
import jwt
URL = {url!r}
SECRET = open({secret!r}).read().strip()

def call(method, path, body=None):
    token = jwt.encode({{"iss": "gitlab-shell", "iat": int(time.time())}}, SECRET, algorithm="HS256")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(URL + "/api/v4" + path, data=data, method=method)
    request.add_header("Gitlab-Shell-Api-Request", token)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
"""

AUTHORIZED_KEYS = """
fingerprint = sys.argv[1]
status, found = call("GET", "/internal/authorized_keys?fingerprint=" + urllib.parse.quote(fingerprint, safe=""))
if status == 200:
    print('command="{python} {shell} key-%d",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty %s'
          % (found["id"], found["key"]))
"""

SHELL = """
key_id = sys.argv[1]
command = os.environ.get("SSH_ORIGINAL_COMMAND", "")
action, _, path = command.partition(" ")
path = path.strip().strip("'")
if action not in ("git-upload-pack", "git-receive-pack") or not path:
    sys.stderr.write("only git commands\\n")
    sys.exit(1)
status, answer = call("POST", "/internal/allowed",
                      {{"key_id": key_id, "project": path, "action": action, "protocol": "ssh"}})
if status != 200 or not answer.get("status"):
    sys.stderr.write("GitLab: %s\\n" % (answer or {{}}).get("message", "denied"))
    sys.exit(1)
repository = os.path.join({repos!r}, path.lstrip("/"))
os.execvp(action, [action, repository])
"""


def git(*args, cwd=None, key=None, port=None):
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", HOME=tempfile.gettempdir())
    if key:
        env["GIT_SSH_COMMAND"] = (
            f"ssh -i {key} -p {port} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
        )
    base = ["git", "-c", "user.name=Tessera Test", "-c", "user.email=test@example.com"]
    return subprocess.run(base + list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def keygen(directory, name):
    path = os.path.join(directory, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(path + ".pub") as f:
        return path, f.read().strip()


@pytest.fixture(scope="module")
def ssh_world(tessera):
    if not os.path.exists(SSHD):
        pytest.fail("sshd is missing: scripts/gateway-deps.sh installs openssh-server")
    os.makedirs("/run/sshd", exist_ok=True)
    # sshd runs AuthorizedKeysCommand only from a path no one but root can write to: not under /tmp.
    home = tempfile.mkdtemp(prefix="tessera-ssh-", dir="/run")
    repos = os.path.join(home, "repos")
    secret = os.path.join(tessera.data_dir, ".gitlab_shell_secret")
    common = COMMON.format(url=tessera.url, secret=secret)
    shell = os.path.join(home, "gitlab-shell")
    authorized = os.path.join(home, "authorized-keys")
    for path, body in [
        (shell, SHELL.format(repos=repos)),
        (authorized, AUTHORIZED_KEYS.format(python=sys.executable, shell=shell)),
    ]:
        with open(path, "w") as f:
            f.write(f"#!{sys.executable}\n" + textwrap.dedent(common) + textwrap.dedent(body))
        os.chmod(path, 0o755)
    host_key, _ = keygen(home, "host_key")
    port = free_port()
    config = os.path.join(home, "sshd_config")
    with open(config, "w") as f:
        f.write(textwrap.dedent(f"""\
            Port {port}
            ListenAddress 127.0.0.1
            HostKey {host_key}
            PidFile {home}/sshd.pid
            AuthorizedKeysFile none
            AuthorizedKeysCommand {authorized} %f
            AuthorizedKeysCommandUser root
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            LogLevel ERROR
            """))
    sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_port(port, sshd, "sshd")

    group = tessera.api("POST", "/groups", json={"name": "SSH", "path": "sshg"})
    project = tessera.api("POST", "/projects", json={"name": "Repo", "path": "repo", "namespace_id": group["id"]})
    bare = os.path.join(repos, "sshg", "repo.git")
    os.makedirs(os.path.dirname(bare))
    assert git("init", "--bare", "-b", "main", bare).returncode == 0
    seed = tempfile.mkdtemp(prefix="ssh-seed-")
    assert git("init", "-b", "main", seed).returncode == 0
    with open(os.path.join(seed, "README.md"), "w") as f:
        f.write("over ssh\n")
    git("add", ".", cwd=seed)
    assert git("commit", "-m", "first", cwd=seed).returncode == 0
    assert git("push", bare, "main", cwd=seed).returncode == 0
    yield {"port": port, "home": home, "project": project, "url": f"ssh://root@127.0.0.1:{port}/sshg/repo.git"}
    stop(sshd)


def clone(world, key):
    target = tempfile.mkdtemp(prefix="ssh-clone-")
    result = git("clone", world["url"], target, key=key, port=world["port"])
    return result, target


def push(world, work, key, name):
    with open(os.path.join(work, name), "w") as f:
        f.write(name + "\n")
    git("add", ".", cwd=work)
    assert git("commit", "-m", name, cwd=work).returncode == 0
    return git("push", "origin", "HEAD:main", cwd=work, key=key, port=world["port"])


def test_a_read_only_deploy_key_clones_and_cannot_push_until_it_may(tessera, ssh_world):
    key, public = keygen(ssh_world["home"], "deploy")
    project_id = ssh_world["project"]["id"]
    made = tessera.api("POST", f"/projects/{project_id}/deploy_keys", json={"title": "ci", "key": public})
    result, work = clone(ssh_world, key)
    assert result.returncode == 0, result.stderr
    assert os.path.exists(os.path.join(work, "README.md"))
    refused = push(ssh_world, work, key, "by-read-only-key")
    assert refused.returncode != 0, "a read-only deploy key never pushes"
    tessera.api("PUT", f"/projects/{project_id}/deploy_keys/{made['id']}", json={"can_push": True})
    pushed = git("push", "origin", "HEAD:main", cwd=work, key=key, port=ssh_world["port"])
    assert pushed.returncode == 0, pushed.stderr
    tessera.api("DELETE", f"/projects/{project_id}/deploy_keys/{made['id']}")
    again, _ = clone(ssh_world, key)
    assert again.returncode != 0, "a removed key is refused by sshd itself"


def test_a_users_key_clones_and_pushes_by_the_users_role(tessera, ssh_world):
    key, public = keygen(ssh_world["home"], "user")
    user_id, token = tessera.user_with_token("sshdev", ["api"])
    import requests

    added = requests.post(
        tessera.url + "/api/v4/user/keys", headers={"PRIVATE-TOKEN": token}, json={"title": "laptop", "key": public}
    )
    assert added.status_code == 201, added.text
    outsider, _ = clone(ssh_world, key)
    assert outsider.returncode != 0, "not a member of the private project"
    project_id = ssh_world["project"]["id"]
    tessera.api("POST", f"/projects/{project_id}/members", json={"user_id": user_id, "access_level": 20})
    result, work = clone(ssh_world, key)
    assert result.returncode == 0, result.stderr
    assert push(ssh_world, work, key, "by-reporter").returncode != 0, "a Reporter does not push"
    tessera.api("PUT", f"/projects/{project_id}/members/{user_id}", json={"access_level": 30})
    pushed = git("push", "origin", "HEAD:main", cwd=work, key=key, port=ssh_world["port"])
    assert pushed.returncode == 0, pushed.stderr

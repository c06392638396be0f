"""Fixtures: a real `tessera serve` on a free port with a fresh SQLite data directory, and python-gitlab clients."""

import os
import re
import subprocess
import tempfile
import time

import gitlab
import pytest

BINARY = os.environ.get("TESSERA_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "tessera"))


def start_tessera(*extra_args):
    """Starts `tessera serve` with a fresh data directory; answers the process, its URL and the admin token."""
    data_dir = tempfile.mkdtemp(prefix="tessera-pytest-")
    env = dict(os.environ, TESSERA_LOG="warn")
    proc = subprocess.Popen(
        [BINARY, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    token = None
    url = None
    deadline = time.time() + 60
    while time.time() < deadline and url is None:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError("tessera exited: " + proc.stderr.read())
            continue
        if line.startswith("glpat-"):
            token = line.strip()
        match = re.search(r"http://(\S+)/api/v4", line)
        if match:
            url = "http://" + match.group(1)
    assert url and token, "tessera did not start"
    return proc, url, token


@pytest.fixture(scope="session")
def server():
    proc, url, token = start_tessera()
    yield {"url": url, "token": token}
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def gl(server):
    client = gitlab.Gitlab(server["url"], private_token=server["token"])
    client.auth()
    return client


_counter = [0]


@pytest.fixture
def user(gl):
    _counter[0] += 1
    name = f"user{_counter[0]}"
    return gl.users.create(
        {"username": name, "email": f"{name}@example.com", "name": name.title(), "password": "a long password 1"}
    )

"""Real gateways in front of a real Tessera: nginx (`auth_request`) before git-http-backend through fcgiwrap,
and Envoy (`ext_authz`) before a small upstream that echoes the headers it receives.

Each fixture starts its process on a free port in a temporary directory and stops it at the end."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

BINARY = os.environ.get("TESSERA_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "tessera"))
ENVOY = os.environ.get("ENVOY_BIN", shutil.which("envoy") or "envoy")
NGINX = os.environ.get("NGINX_BIN", shutil.which("nginx") or "/usr/sbin/nginx")
FCGIWRAP = os.environ.get("FCGIWRAP_BIN", shutil.which("fcgiwrap") or "/usr/sbin/fcgiwrap")
GIT_HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def stop_group(proc):
    """Stops a process started with `start_new_session` and every process of its group."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


class Tessera:
    """A running `tessera serve` and an administrator's session on its REST API."""

    def __init__(self, url, token, data_dir=None):
        self.url = url
        self.data_dir = data_dir
        self.admin = requests.Session()
        self.admin.headers["PRIVATE-TOKEN"] = token

    def api(self, method, path, **kwargs):
        reply = self.admin.request(method, self.url + "/api/v4" + path, **kwargs)
        assert reply.status_code < 300, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json() if reply.text else None

    def user_with_token(self, name, scopes):
        user = self.api(
            "POST",
            "/users",
            json={"username": name, "email": f"{name}@example.com", "name": name, "password": "a long password 1"},
        )
        token = self.api("POST", f"/users/{user['id']}/personal_access_tokens", json={"name": "t", "scopes": scopes})
        return user["id"], token["token"]


@pytest.fixture(scope="session")
def tessera():
    data_dir = tempfile.mkdtemp(prefix="tessera-gw-")
    proc = subprocess.Popen(
        [BINARY, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TESSERA_LOG="warn"),
    )
    token = url = None
    deadline = time.time() + 60
    while time.time() < deadline and url is None:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError("tessera exited")
        if line.startswith("glpat-"):
            token = line.strip()
        match = re.search(r"http://(\S+)/api/v4", line)
        if match:
            url = "http://" + match.group(1)
    assert url and token, "tessera did not start"
    yield Tessera(url, token, data_dir)
    stop(proc)
    shutil.rmtree(data_dir, ignore_errors=True)


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp-body;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    proxy_temp_path {dir}/tmp-proxy;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /-/tessera-auth {{
            internal;
            proxy_pass {tessera}/-/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
        location ~ ^/.+\\.git/ {{
            auth_request /-/tessera-auth;
            auth_request_set $tessera_user $upstream_http_x_auth_user;
            client_max_body_size 0;
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{dir}/fcgiwrap.sock;
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {dir}/repos;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param REMOTE_USER $tessera_user;
        }}
    }}
}}
"""


@pytest.fixture(scope="session")
def git_gateway(tessera):
    """nginx on a free port serving bare repositories under <dir>/repos through git-http-backend."""
    work = tempfile.mkdtemp(prefix="tessera-nginx-")
    os.makedirs(os.path.join(work, "repos"))
    socket_path = os.path.join(work, "fcgiwrap.sock")
    # In its own process group: fcgiwrap forks workers that outlive a parent stopped alone.
    fcgi = subprocess.Popen(
        [FCGIWRAP, "-c", "2", "-s", "unix:" + socket_path], stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 10
    while not os.path.exists(socket_path) and time.time() < deadline:
        time.sleep(0.05)
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=work, port=port, tessera=tessera.url, backend=GIT_HTTP_BACKEND))
    nginx = subprocess.Popen([NGINX, "-c", conf, "-p", work], stderr=subprocess.DEVNULL)
    wait_for_port(port, nginx, "nginx")
    yield {"url": f"http://127.0.0.1:{port}", "repos": os.path.join(work, "repos"), "dir": work}
    stop(nginx)
    stop_group(fcgi)
    shutil.rmtree(work, ignore_errors=True)


class Echo(BaseHTTPRequestHandler):
    """The upstream behind Envoy: answers every request with the headers it received, as JSON."""

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


ENVOY_CONF = """
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route: {{cluster: upstream}}
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              allowed_headers:
                patterns:
                - exact: private-token
                - exact: authorization
                - exact: job-token
                - exact: deploy-token
              http_service:
                server_uri: {{uri: "{tessera}", cluster: tessera, timeout: 2s}}
                path_prefix: /-/auth
                authorization_response:
                  allowed_upstream_headers:
                    patterns:
                    - prefix: x-auth-
                  allowed_client_headers:
                    patterns:
                    - exact: www-authenticate
                    - prefix: x-tessera-
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream}}}}}}}}}]}}]
  - name: tessera
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: tessera
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {tessera_port}}}}}}}}}]}}]
"""


@pytest.fixture(scope="session")
def envoy(tessera):
    """Envoy with ext_authz to Tessera, in front of the echoing upstream."""
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp(prefix="tessera-envoy-")
    port, admin = free_port(), free_port()
    tessera_port = int(tessera.url.rsplit(":", 1)[1])
    conf = os.path.join(work, "envoy.yaml")
    with open(conf, "w") as f:
        f.write(
            ENVOY_CONF.format(
                admin=admin, port=port, upstream=upstream.server_address[1], tessera=tessera.url, tessera_port=tessera_port
            )
        )
    log = open(os.path.join(work, "envoy.log"), "w")
    proc = subprocess.Popen([ENVOY, "-c", conf, "--log-level", "warn", "--base-id", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port, proc, "envoy", timeout=60)
    except RuntimeError:
        log.flush()
        print(open(os.path.join(work, "envoy.log")).read())
        raise
    yield f"http://127.0.0.1:{port}"
    stop(proc)
    upstream.shutdown()
    shutil.rmtree(work, ignore_errors=True)

"""Expiry notices through a real SMTP server (aiosmtpd) and a real webhook receiver: GitLab's 7/30/60-day notices
e-mailed to a token's owner (a project token's to the project's Maintainers), each once however often the
schedule runs."""

import datetime
import email
import email.policy
import http.server
import json
import socket
import threading

import gitlab
import pytest
from aiosmtpd.controller import Controller

from conftest import start_tessera


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"to": list(envelope.rcpt_tos), "subject": str(message["subject"]), "body": message.get_content()})
        return "250 OK"


class Hooks(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        Hooks.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mail_world():
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    proc, url, token = start_tessera(
        "--smtp-url", f"smtp://127.0.0.1:{smtp_port}",
        "--smtp-from", "tessera@example.com",
        "--expiry-webhook-url", f"http://127.0.0.1:{hooks.server_address[1]}/hook",
        "--expiry-check-interval", "86400",
    )
    gl = gitlab.Gitlab(url, private_token=token)
    gl.auth()
    yield {"gl": gl, "url": url, "inbox": inbox}
    proc.terminate()
    proc.wait(timeout=30)
    hooks.shutdown()
    controller.stop()


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def test_an_expiring_token_is_emailed_to_its_owner_and_a_project_token_to_the_maintainers_once(mail_world):
    gl, inbox = mail_world["gl"], mail_world["inbox"]
    dev = gl.users.create({"username": "maildev", "email": "maildev@example.com", "name": "Mail Dev", "password": "a long password 1"})
    dev.personal_access_tokens.create({"name": "laptop", "scopes": ["read_api"], "expires_at": in_days(5)})
    group = gl.groups.create({"name": "Mail", "path": "mail"})
    project = gl.projects.create({"name": "Site", "path": "site", "namespace_id": group.id})
    maintainer = gl.users.create({"username": "mailmai", "email": "mailmai@example.com", "name": "Mai", "password": "a long password 1"})
    project.members.create({"user_id": maintainer.id, "access_level": 40})
    project.access_tokens.create({"name": "deployer", "scopes": ["api"], "access_level": 30, "expires_at": in_days(20)})

    first = gl.http_post("/admin/expiry_notices/run")
    assert first == {"claimed": 2, "emailed": 2, "failed": 0}, first
    def to(address):
        return [m for m in inbox.messages if address in m["to"]]

    [mine] = to("maildev@example.com")
    assert 'personal access token "laptop"' in mine["subject"], mine
    assert "in 5 days" in mine["subject"]
    [theirs] = to("mailmai@example.com")
    assert 'project access token "deployer"' in theirs["body"], theirs
    assert "thirty days" in theirs["body"]

    again = gl.http_post("/admin/expiry_notices/run")
    assert again == {"claimed": 0, "emailed": 0, "failed": 0}, again
    assert len(inbox.messages) == 2, "each notice is sent once"
    events = [h["event_name"] for h in Hooks.received]
    assert sorted(events) == ["expiring_personal_access_token", "expiring_project_access_token"], Hooks.received
    assert all(h["recipients"] for h in Hooks.received)

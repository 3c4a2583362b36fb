"""Delivering the digest: real SMTP (aiosmtpd) and HTTP servers on 127.0.0.1.

Covers the parts of the received mail, the Slack-compatible webhook body,
idempotent delivery (``--force`` sends again), failures (server down, refused,
timeout) giving a clear error, exit 1 and no delivery record, and secrets never
appearing in the output.
"""

from __future__ import annotations

import base64
import email
import email.policy
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.digest import deliver as deliver_mod
from tests.test_digest_numbers import make_store

aiosmtpd = pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUSY = "2026-11-23"
QUIET = "2026-11-19"
PASSWORD = "Pa55-w0rd-that-must-not-leak"
SECRET_HOOK = "/services/T000/B000/XXXXsecretTOKENxxxx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def db(tmp_path):
    return make_store(tmp_path / "store.duckdb")


def run(db, day, *args, env=None):
    """``pipeline digest`` of ``day`` over the store ``db``, in this process (stdout and
    stderr kept apart)."""
    return CliRunner().invoke(cli, ["digest", "--db", str(db), "--date", day, *args], env=env, catch_exceptions=False)


# --- SMTP ---------------------------------------------------------------------------------------


class Inbox:
    def __init__(self, refuse_rcpt: bool = False):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        self.logins: list[tuple[str, str]] = []
        self.refuse_rcpt = refuse_rcpt

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((login, password))
            return AuthResult(success=(login == "ops" and password == PASSWORD), handled=False)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_server():
    servers = []

    def start(**inbox_kwargs):
        inbox = Inbox(**inbox_kwargs)
        port = free_port()
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, auth_require_tls=False
        )
        controller.start()
        servers.append(controller)
        return inbox, f"smtp://127.0.0.1:{port}"

    yield start
    for c in servers:
        c.stop()


def _parts(msg):
    return {part.get_content_type(): part for part in msg.walk() if not part.is_multipart()}


def test_mail_has_text_html_and_image(db, smtp_server):
    inbox, url = smtp_server()
    r = run(
        db,
        BUSY,
        "--mail-to",
        "ops@example.com",
        "--mail-to",
        "dba@example.com",
        "--mail-from",
        "digest@example.com",
        "--smtp",
        url,
    )
    assert r.exit_code == 0, r.stderr
    assert "mail: delivered ops@example.com, dba@example.com" not in r.stderr
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"] == "Connection drops digest 2026-11-23: 8 incidents, 79 drops"
    assert sorted(inbox.envelopes[0].rcpt_tos) == ["dba@example.com", "ops@example.com"]
    parts = _parts(msg)
    assert set(parts) == {"text/plain", "text/html", "image/png"}
    text = parts["text/plain"].get_content()
    assert text.startswith("# Connection drops digest: 2026-11-23 (UTC)")
    assert "| **total** | **8** | **79** |" in text
    html = parts["text/html"].get_content()
    assert 'src="cid:timeline"' in html and "<script" not in html
    image = parts["image/png"]
    assert image["Content-ID"] == "<timeline>"
    assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    # the image belongs to the HTML: multipart/alternative(text, multipart/related(html, png))
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "multipart/related"]
    rows = deliver_mod.deliveries(db)
    assert [(x["period"], x["channel"], x["target"], x["forced"]) for x in rows] == [
        ("2026-11-23 UTC", "mail", "dba@example.com, ops@example.com", False)
    ]


def test_mail_quiet_day_has_no_image(db, smtp_server):
    inbox, url = smtp_server()
    r = run(db, QUIET, "--mail-to", "ops@example.com", "--smtp", url)
    assert r.exit_code == 0, r.stderr
    parts = _parts(inbox.messages[0])
    assert set(parts) == {"text/plain", "text/html"}
    assert inbox.messages[0]["Subject"].endswith(": quiet")
    assert "Quiet day: no connection drops on 2026-11-19" in parts["text/plain"].get_content()


def test_mail_login_uses_the_environment_password(db, smtp_server):
    inbox, url = smtp_server()
    env = {"PIPELINE_SMTP_PASSWORD": PASSWORD, "PIPELINE_SMTP_USER": "ops"}
    r = run(db, QUIET, "--mail-to", "ops@example.com", "--smtp", url, env=env)
    assert r.exit_code == 0, r.stderr
    assert inbox.logins == [("ops", PASSWORD)]
    assert PASSWORD not in r.stdout + r.stderr
    # a password in the URL is refused, without echoing it
    r = run(db, QUIET, "--mail-to", "ops@example.com", "--force", "--smtp", f"smtp://ops:{PASSWORD}@127.0.0.1:25")
    assert r.exit_code == 1
    assert "PIPELINE_SMTP_PASSWORD" in r.stderr and PASSWORD not in r.stdout + r.stderr


def test_mail_is_sent_once_unless_forced(db, smtp_server):
    inbox, url = smtp_server()
    args = ["--mail-to", "ops@example.com", "--smtp", url]
    assert run(db, QUIET, *args).exit_code == 0
    again = run(db, QUIET, *args)
    assert again.exit_code == 0
    assert "already delivered" in again.stdout and "--force" in again.stdout
    assert len(inbox.messages) == 1
    # another recipient is another delivery
    assert run(db, QUIET, "--mail-to", "dba@example.com", "--smtp", url).exit_code == 0
    assert len(inbox.messages) == 2
    forced = run(db, QUIET, *args, "--force")
    assert forced.exit_code == 0 and "mail: delivered" in forced.stdout
    assert len(inbox.messages) == 3
    rows = deliver_mod.deliveries(db)
    assert [(x["target"], x["forced"]) for x in rows] == [
        ("ops@example.com", False),
        ("dba@example.com", False),
        ("ops@example.com", True),
    ]


def test_mail_refused_recipient(db, smtp_server):
    inbox, url = smtp_server(refuse_rcpt=True)
    r = run(db, BUSY, "--mail-to", "nobody@example.com", "--smtp", url, "--no-image")
    assert r.exit_code == 1
    assert "refused the recipients" in r.stderr and "550" in r.stderr
    assert inbox.messages == [] and deliver_mod.deliveries(db) == []


def test_mail_bad_login(db, smtp_server):
    inbox, url = smtp_server()
    env = {"PIPELINE_SMTP_PASSWORD": "wrong-" + PASSWORD}
    r = run(db, QUIET, "--mail-to", "ops@example.com", "--smtp", url, "--smtp-user", "ops", env=env)
    assert r.exit_code == 1
    assert "refused the login of 'ops'" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert inbox.messages == [] and deliver_mod.deliveries(db) == []


def test_mail_server_down(db):
    port = free_port()  # nothing listens there
    r = run(db, QUIET, "--mail-to", "ops@example.com", "--smtp", f"smtp://127.0.0.1:{port}")
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        f"error: mail: cannot connect to smtp://127.0.0.1:{port}: connection refused (is the SMTP server up?)"
    )
    assert deliver_mod.deliveries(db) == []


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    conns = []
    stop = threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(sock.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    sock.close()


def test_mail_timeout(db, silent_server):
    started = time.monotonic()
    r = run(db, QUIET, "--mail-to", "ops@example.com", "--smtp", f"smtp://127.0.0.1:{silent_server}", "--timeout", "1")
    assert time.monotonic() - started < 15
    assert r.exit_code == 1
    assert f"smtp://127.0.0.1:{silent_server} did not answer within 1s" in r.stderr
    assert deliver_mod.deliveries(db) == []


# --- webhook ------------------------------------------------------------------------------------


@pytest.fixture
def http_server():
    servers = []

    def start(status: int = 200, delay: float = 0.0):
        received: list[dict] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)})
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"invalid_token")

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return received, f"http://127.0.0.1:{server.server_address[1]}{SECRET_HOOK}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_webhook_posts_slack_json_once(db, http_server):
    received, url = http_server()
    r = run(db, BUSY, "--webhook", url)
    assert r.exit_code == 0, r.stderr
    assert len(received) == 1
    body = received[0]["json"]
    assert received[0]["path"] == SECRET_HOOK and received[0]["type"].startswith("application/json")
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("Connection drops digest 2026-11-23 (UTC): 8 incidents, 79 drops")
    assert body["blocks"][0]["type"] == "header"
    assert all(b["type"] in ("header", "section", "context") for b in body["blocks"])
    assert any("*Worst:* max_connections" in b.get("text", {}).get("text", "") for b in body["blocks"])
    # the URL's token is not printed nor stored
    assert "secretTOKEN" not in r.stdout + r.stderr
    rows = deliver_mod.deliveries(db)
    assert len(rows) == 1 and "secretTOKEN" not in rows[0]["target"]
    assert rows[0]["target"].startswith(f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}/... #")
    # once per period and URL, unless forced
    again = run(db, BUSY, "--webhook", url)
    assert again.exit_code == 0 and "already delivered" in again.stdout and len(received) == 1
    assert run(db, BUSY, "--webhook", url, "--force").exit_code == 0
    assert len(received) == 2


def test_webhook_from_environment(db, http_server):
    received, url = http_server()
    r = run(db, QUIET, env={"PIPELINE_DIGEST_WEBHOOK": url})
    assert r.exit_code == 0, r.stderr
    assert received[0]["json"]["text"].startswith("Connection drops digest 2026-11-19 (UTC): Quiet day")


def test_webhook_refused_with_http_error(db, http_server):
    _received, url = http_server(status=403)
    r = run(db, BUSY, "--webhook", url)
    assert r.exit_code == 1
    assert "answered HTTP 403" in r.stderr and "invalid_token" in r.stderr
    assert "secretTOKEN" not in r.stderr
    assert deliver_mod.deliveries(db) == []


def test_webhook_server_down(db):
    port = free_port()
    r = run(db, BUSY, "--webhook", f"http://127.0.0.1:{port}{SECRET_HOOK}")
    assert r.exit_code == 1
    assert r.stderr.strip() == f"error: webhook: cannot connect to http://127.0.0.1:{port}/...: connection refused"
    assert deliver_mod.deliveries(db) == []


def test_webhook_timeout(db, http_server):
    _received, url = http_server(delay=5)
    started = time.monotonic()
    r = run(db, BUSY, "--webhook", url, "--timeout", "1")
    assert time.monotonic() - started < 5
    assert r.exit_code == 1
    assert "did not answer within 1s" in r.stderr
    assert deliver_mod.deliveries(db) == []


def test_one_failure_does_not_undo_the_other(db, http_server):
    _received, url = http_server()
    port = free_port()
    r = run(db, QUIET, "--webhook", url, "--mail-to", "ops@example.com", "--smtp", f"smtp://127.0.0.1:{port}")
    assert r.exit_code == 1
    assert "webhook: delivered" in r.stdout and "mail: cannot connect" in r.stderr
    assert [x["channel"] for x in deliver_mod.deliveries(db)] == ["webhook"]


# --- secrets, through a real process ------------------------------------------------------------


@pytest.mark.parametrize("server", ["down", "silent", "bad-login"])
def test_secrets_never_printed(db, tmp_path, server, silent_server, smtp_server):
    if server == "down":
        smtp = f"smtp://127.0.0.1:{free_port()}"
    elif server == "silent":
        smtp = f"smtp://127.0.0.1:{silent_server}"
    else:
        _, smtp = smtp_server()
    env = {
        **os.environ,
        "PIPELINE_SMTP_PASSWORD": PASSWORD + "x" * (server == "bad-login"),
        "PIPELINE_SMTP_USER": "ops",
        "PIPELINE_DB": str(db),
        "PIPELINE_DIGEST_WEBHOOK": f"http://127.0.0.1:{free_port()}{SECRET_HOOK}",
    }
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "digest",
                "--date",
                BUSY,
                "--no-image",
                "--timeout",
                "1",
                "--mail-to",
                "ops@example.com",
                "--smtp",
                smtp,
                *extra,
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "error: mail:" in proc.stderr and "error: webhook:" in proc.stderr
        for secret in (PASSWORD, "secretTOKEN", base64.b64encode(f"\0ops\0{PASSWORD}".encode()).decode()):
            assert secret not in out
    assert deliver_mod.deliveries(db) == []

"""Deliver a digest by mail (SMTP) or webhook, and remember what was delivered.

Secrets: the SMTP password comes from the environment only (``PIPELINE_SMTP_PASSWORD``
or the variable named by ``smtp_password_env`` in the config's ``[digest]`` table),
never from the command line, and never appears in a message.  A webhook URL is a
secret too (Slack puts its token in the path): messages show only its scheme and
host, and the deliveries table keeps the host and a hash.

A delivery is recorded in the store's ``deliveries`` table only after the server
accepted it; a failure raises :class:`DeliveryError` and records nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, MIMEPart
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline import store as store_mod

if TYPE_CHECKING:
    import duckdb

ENV_SMTP_PASSWORD = "PIPELINE_SMTP_PASSWORD"
IMAGE_CID = "timeline"


class DeliveryError(RuntimeError):
    """A delivery failed; the message is safe to print."""


def scrub(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# --- mail -------------------------------------------------------------------------------------


@dataclass
class MailSettings:
    smtp_url: str
    to: list[str]
    mail_from: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    def endpoint(self) -> tuple[str, str, int]:
        """(scheme, host, port) from ``smtp://host:port`` or ``smtps://host:port``."""
        parts = urlsplit(self.smtp_url if "://" in self.smtp_url else f"smtp://{self.smtp_url}")
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise DeliveryError(f"mail: --smtp must be smtp://host:port or smtps://host:port, not {scheme}://")
        if parts.password:
            raise DeliveryError(f"mail: do not put the password in the SMTP URL; set ${ENV_SMTP_PASSWORD}")
        if not parts.hostname:
            raise DeliveryError("mail: the SMTP URL has no host")
        try:
            port = parts.port or (465 if scheme == "smtps" else 25)
        except ValueError as exc:
            raise DeliveryError(f"mail: bad port in the SMTP URL: {exc}") from None
        return scheme, parts.hostname, port

    def target(self) -> str:
        return ", ".join(sorted(self.to))


def build_message(settings: MailSettings, subject: str, text: str, html: str, png: bytes | None) -> EmailMessage:
    """multipart/alternative: the Markdown as text/plain, and HTML with the image as a related part."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if png:
        html_part = msg.get_payload(1)  # the alternative just added
        assert isinstance(html_part, MIMEPart)
        html_part.add_related(
            png, maintype="image", subtype="png", cid=f"<{IMAGE_CID}>", filename="timeline.png", disposition="inline"
        )
    return msg


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_mail(settings: MailSettings, msg: EmailMessage) -> None:
    scheme, host, port = settings.endpoint()
    where = f"{scheme}://{host}:{port}"
    secrets = [settings.password]
    try:
        client: smtplib.SMTP
        if scheme == "smtps":
            client = smtplib.SMTP_SSL(host, port, timeout=settings.timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if settings.user:
                if settings.password is None:
                    raise DeliveryError(f"mail: --smtp-user is set but ${ENV_SMTP_PASSWORD} is not")
                encrypted = isinstance(client.sock, ssl.SSLSocket)
                if not encrypted and not _is_loopback(host):
                    raise DeliveryError(
                        f"mail: {where} offers no STARTTLS; refusing to send the password in clear "
                        "(use smtps:// or a server with STARTTLS)"
                    )
                client.login(settings.user, settings.password)
            refused = client.send_message(msg)
            if refused:
                raise DeliveryError(f"mail: {where} refused some recipients: {', '.join(sorted(refused))}")
    except DeliveryError:
        raise
    except ConnectionRefusedError:
        raise DeliveryError(f"mail: cannot connect to {where}: connection refused (is the SMTP server up?)") from None
    except TimeoutError:
        raise DeliveryError(f"mail: {where} did not answer within {settings.timeout:g}s") from None
    except smtplib.SMTPServerDisconnected as exc:
        if "timed out" in str(exc):  # smtplib reports a read timeout as a disconnect
            raise DeliveryError(f"mail: {where} did not answer within {settings.timeout:g}s") from None
        raise DeliveryError(scrub(f"mail: {where} closed the connection: {exc}", secrets)) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            scrub(
                f"mail: {where} refused the login of {settings.user!r}: {exc.smtp_code} {_text(exc.smtp_error)}",
                secrets,
            )
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        detail = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in sorted(exc.recipients.items()))
        raise DeliveryError(scrub(f"mail: {where} refused the recipients: {detail}", secrets)) from None
    except smtplib.SMTPSenderRefused as exc:
        raise DeliveryError(
            scrub(f"mail: {where} refused the sender {exc.sender}: {exc.smtp_code} {_text(exc.smtp_error)}", secrets)
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            scrub(f"mail: {where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}", secrets)
        ) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DeliveryError(
            scrub(f"mail: delivery through {where} failed: {exc.__class__.__name__}: {exc}", secrets)
        ) from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- webhook ----------------------------------------------------------------------------------


def webhook_label(url: str) -> str:
    """``https://hooks.slack.com/...``: enough to recognize it, without the token."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


def webhook_target(url: str) -> str:
    return f"{webhook_label(url)} #{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 30.0) -> None:
    label = webhook_label(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"webhook: the URL must be http:// or https://, not {label}")
    body = json.dumps(payload).encode()
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "dropout-pipeline-digest"},
    )
    secrets = [url, urlsplit(url).path if len(urlsplit(url).path) > 1 else None]
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise DeliveryError(
            scrub(
                f"webhook: {label} answered HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else ""), secrets
            )
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            raise DeliveryError(f"webhook: cannot connect to {label}: connection refused") from None
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise DeliveryError(f"webhook: {label} did not answer within {timeout:g}s") from None
        raise DeliveryError(scrub(f"webhook: cannot reach {label}: {reason}", secrets)) from None
    except TimeoutError:
        raise DeliveryError(f"webhook: {label} did not answer within {timeout:g}s") from None
    except OSError as exc:
        raise DeliveryError(scrub(f"webhook: posting to {label} failed: {exc}", secrets)) from None


# --- delivery records -------------------------------------------------------------------------


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'deliveries'").fetchone()
    assert row is not None  # count(*) always gives a row
    return bool(row[0])


def previous_delivery(db: str | Path, period_key: str, channel: str, target: str) -> datetime | None:
    """When this digest was last delivered to this target, or None."""
    if not Path(db).exists():
        return None
    with store_mod.opened(db, read_only=True) as con:
        if not _has_table(con):
            return None
        row = con.execute(
            "SELECT max(delivered_at) FROM deliveries WHERE period = ? AND channel = ? AND target = ?",
            [period_key, channel, target],
        ).fetchone()
    return row[0] if row else None


def record_delivery(
    db: str | Path, period_key: str, channel: str, target: str, *, forced: bool, digest_sha256: str
) -> None:
    """One short write (opening read-write applies the deliveries migration if needed)."""
    with store_mod.opened(db) as con:
        con.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?)",
            [period_key, channel, target, datetime.now(UTC), forced, digest_sha256],
        )


def deliveries(db: str | Path) -> list[dict[str, Any]]:
    with store_mod.opened(db, read_only=True) as con:
        if not _has_table(con):
            return []
        return store_mod.fetch_dicts(con, "SELECT * FROM deliveries ORDER BY delivered_at")

"""``pipeline digest``: a period's drops, causes and advice, to stdout, files, mail or a webhook."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from pipeline.commands.common import config_option, db_option, exit_code_for, fail, json_option, print_json
from pipeline.config import CONFIG_NAME, Config, ConfigError
from pipeline.digest import compute as compute_mod
from pipeline.digest import deliver as deliver_mod
from pipeline.digest import render
from pipeline.store import StoreError, resolve_db_path


def _digest_config(config_path: str | None) -> dict[str, Any]:
    """The ``[digest]`` table of ``--config`` or ``./pipeline.toml``."""
    if config_path:
        return Config.load(config_path).digest
    candidate = Path.cwd() / CONFIG_NAME
    return Config.load(candidate).digest if candidate.is_file() else {}


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _default_day(db_path: Path, tz: str) -> date:
    """The day to report when none is given: the store's last day with data (a store
    read weeks ago would otherwise give a quiet "yesterday"), said on stderr."""
    try:
        days = compute_mod.last_data_days(db_path, tz)
    except StoreError as exc:
        fail(str(exc))
    if days is None:
        fail(f"the store at {db_path} holds no data yet: run `pipeline ingest` first, or give --date")
    day, last = days
    if day == last:
        _echo_err(f"no --date given: the store's last day with data is {day}")
    else:
        _echo_err(
            f"no --date given: {day}, the store's last complete day with data (it has more from {last}, a day not over yet)"
        )
    return day


@click.command()
@db_option
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The calendar day to report (in --tz); default: the store's last day with data.",
)
@click.option("--yesterday", is_flag=True, help="The last complete day in --tz, whatever the store holds.")
@click.option("--since", metavar="DURATION", help="The last DURATION up to now instead of a day, e.g. 24h.")
@click.option("--tz", help="Time zone of the day and of the times shown (default: [digest] timezone, else UTC).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write digest-<day>.md and digest-<day>.html into this folder.",
)
@click.option("--mail-to", multiple=True, metavar="ADDRESS", help="Mail the digest to ADDRESS (repeatable).")
@click.option("--mail-from", metavar="ADDRESS", help="Sender (default: [digest] mail_from, else pipeline@<hostname>).")
@click.option(
    "--smtp",
    "smtp_url",
    envvar="PIPELINE_SMTP",
    metavar="URL",
    help="smtp://host:port (STARTTLS when offered) or smtps://host:port; or $PIPELINE_SMTP.",
)
@click.option(
    "--smtp-user",
    envvar="PIPELINE_SMTP_USER",
    metavar="USER",
    help="SMTP login (or $PIPELINE_SMTP_USER); the password only from $PIPELINE_SMTP_PASSWORD.",
)
@click.option(
    "--webhook",
    "webhook_url",
    envvar="PIPELINE_DIGEST_WEBHOOK",
    metavar="URL",
    help="POST Slack-compatible JSON here (or $PIPELINE_DIGEST_WEBHOOK; keeps the URL out of history).",
)
@click.option("--send", is_flag=True, help="Deliver to the mail_to and webhook set in the config's [digest] table.")
@click.option("--force", is_flag=True, help="Deliver again even if this period was already delivered there.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 600),
    default=None,
    help="Seconds to wait for the SMTP or webhook server (default 30).",
)
@click.option("--no-image", is_flag=True, help="Leave the timeline image out of the HTML.")
@config_option("pipeline.toml whose [digest] table has the defaults (default: ./pipeline.toml).")
@json_option
def digest(
    db: str,
    day: datetime | None,
    yesterday: bool,
    since: str | None,
    tz: str | None,
    out_dir: str | None,
    mail_to: tuple[str, ...],
    mail_from: str | None,
    smtp_url: str | None,
    smtp_user: str | None,
    webhook_url: str | None,
    send: bool,
    force: bool,
    timeout: float | None,
    no_image: bool,
    config: str | None,
    as_json: bool,
) -> None:
    """Summarize a day's connection drops: causes, hosts, the worst incident and its advice,
    the trend against the previous 7 days, new causes and data health.

    Without --out, --mail-to, --webhook or --send the Markdown goes to stdout.
    A mail or webhook delivery is recorded in the store; the same period is not
    delivered to the same place twice unless --force.
    """
    try:
        cfg = _digest_config(config)
    except ConfigError as exc:
        fail(str(exc), exit_code_for(exc))
    tz = tz or cfg.get("timezone") or "UTC"
    timeout = timeout or float(cfg.get("timeout", 30))
    if sum(bool(x) for x in (day, yesterday, since)) > 1:
        fail("give only one of --date, --yesterday and --since")
    db_path = resolve_db_path(db)
    try:
        if day:
            period = compute_mod.day_period(date(day.year, day.month, day.day), tz)
        elif since:
            period = compute_mod.since_period(since, tz)
        elif yesterday:
            period = compute_mod.yesterday_period(tz)
        else:
            period = compute_mod.day_period(_default_day(db_path, tz), tz)
    except compute_mod.DigestError as exc:
        fail(str(exc))

    silence = cfg.get("silence_hours")
    kwargs = {"silence": timedelta(hours=float(silence))} if silence else {}
    try:
        d = compute_mod.compute_from_store(db_path, period, **kwargs)
    except StoreError as exc:
        fail(str(exc))
    md = render.markdown(d)

    if send:
        mail_to = tuple(mail_to) or tuple(_as_list(cfg.get("mail_to")))
        webhook_url = webhook_url or cfg.get("webhook")
        if not mail_to and not webhook_url:
            fail("--send: the config's [digest] table sets neither mail_to nor webhook")
    deliveries = bool(mail_to or webhook_url)

    if not out_dir and not deliveries:
        if as_json:
            print_json(d.to_dict())
        else:
            sys.stdout.write(md)
        return

    png = None
    if not d.quiet and not no_image:
        try:
            from pipeline.digest.image import timeline_png

            png = timeline_png(d, db_path, on_warning=lambda m: _echo_err(f"warning: {m}"))
        except Exception as exc:  # the digest still goes out, with a note instead of the image
            _echo_err(f"warning: timeline image unavailable ({exc.__class__.__name__}: {str(exc)[:200]})")

    results: list[dict[str, Any]] = []
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        src = f"data:image/png;base64,{base64.b64encode(png).decode()}" if png else None
        md_path = out / f"{period.file_stem}.md"
        html_path = out / f"{period.file_stem}.html"
        md_path.write_text(md, encoding="utf-8")
        html_path.write_text(render.html_page(d, src), encoding="utf-8")
        results.append({"channel": "file", "target": str(md_path), "status": "written"})
        results.append({"channel": "file", "target": str(html_path), "status": "written"})

    digest_sha = hashlib.sha256(md.encode()).hexdigest()
    failures: list[str] = []

    def deliver(channel: str, target: str, send_it: Callable[[], object]) -> None:
        if not force:
            try:
                when = deliver_mod.previous_delivery(db_path, period.key, channel, target)
            except StoreError as exc:
                failures.append(f"{channel}: cannot check earlier deliveries: {exc}")
                return
            if when is not None:
                results.append(
                    {
                        "channel": channel,
                        "target": target,
                        "status": "already delivered",
                        "delivered_at": when.isoformat(),
                    }
                )
                return
        try:
            send_it()
        except deliver_mod.DeliveryError as exc:
            failures.append(str(exc))
            results.append({"channel": channel, "target": target, "status": "failed"})
            return
        try:
            deliver_mod.record_delivery(db_path, period.key, channel, target, forced=force, digest_sha256=digest_sha)
        except StoreError as exc:
            failures.append(f"{channel}: delivered, but recording the delivery failed: {exc}")
        results.append({"channel": channel, "target": target, "status": "delivered"})

    if mail_to:
        smtp_url = smtp_url or cfg.get("smtp")
        if not smtp_url:
            fail("mail: no SMTP server (--smtp URL, $PIPELINE_SMTP or smtp in the config's [digest] table)")
        password_env = cfg.get("smtp_password_env") or deliver_mod.ENV_SMTP_PASSWORD
        settings = deliver_mod.MailSettings(
            smtp_url=smtp_url,
            to=list(mail_to),
            mail_from=mail_from or cfg.get("mail_from") or f"pipeline@{socket.gethostname() or 'localhost'}",
            user=smtp_user or cfg.get("smtp_user"),
            password=os.environ.get(password_env),
            timeout=timeout,
        )

        def send_mail() -> None:
            msg = deliver_mod.build_message(
                settings,
                render.subject(d),
                md,
                render.html_page(d, f"cid:{deliver_mod.IMAGE_CID}" if png else None),
                png,
            )
            deliver_mod.send_mail(settings, msg)

        deliver("mail", settings.target(), send_mail)

    if webhook_url:
        payload = render.slack_payload(d)
        deliver(
            "webhook",
            deliver_mod.webhook_target(webhook_url),
            lambda: deliver_mod.post_webhook(webhook_url, payload, timeout),
        )

    if as_json:
        print_json(
            {
                "period": period.key,
                "quiet": d.quiet,
                "incidents": d.incidents,
                "drops": d.drops,
                "results": results,
                "errors": failures,
            }
        )
    else:
        for r in results:
            line = f"{r['channel']}: {r['status']} {r['target']}"
            if r["status"] == "already delivered":
                line += f" at {r['delivered_at']} (--force sends it again)"
            click.echo(line)
    for message in failures:
        _echo_err(f"error: {message}")
    if failures:
        sys.exit(1)


COMMANDS = [digest]

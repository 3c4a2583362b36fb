"""Turn a computed :class:`Digest` into Markdown, HTML (for mail and files) and Slack blocks.

The renderers only format numbers already in the digest; none of them queries
the store.  Markdown is also the plain-text part of the mail.

Names and texts in the digest (hosts, causes, summaries, advice, file names, reject
reasons) come from logs and config: each renderer escapes them for its format
(:func:`_md`, :func:`_html`, :func:`_slack`), after making control characters printable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pipeline.digest.compute import BASELINE_PERIODS, Digest
from pipeline.terminal import printable

TITLE = "Connection drops digest"


def fmt_int(n: int) -> str:
    return f"{n:,}"


def fmt_avg(x: float) -> str:
    return f"{x:.2f}"


def fmt_duration(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h {m:02d}m {sec:02d}s"
    if m:
        return f"{m}m {sec:02d}s"
    return f"{sec}s"


def fmt_ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S")


def fmt_delta(current: float, average: float) -> str:
    """``more (+2.00)``, ``fewer (-0.43)`` or ``same``."""
    diff = round(current - average, 2)
    if diff > 0:
        return f"more (+{diff:.2f})"
    if diff < 0:
        return f"fewer ({diff:.2f})"
    return "same"


def per(d: Digest) -> str:
    """The unit of the period: ``day``, or its length such as ``24h``."""
    if d.period.day is not None:
        return "day"
    secs = int(d.period.length.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and (unit != "d" or secs > 86400):
            return f"{secs // size}{unit}"
    return f"{secs}s"


def baseline(d: Digest) -> str:
    """``7-day`` or ``7 x 24h``."""
    return f"{BASELINE_PERIODS}-day" if d.period.day is not None else f"{BASELINE_PERIODS} x {per(d)}"


def previous(d: Digest) -> str:
    return f"{BASELINE_PERIODS} days" if d.period.day is not None else f"{BASELINE_PERIODS} x {per(d)}"


def period_title(d: Digest) -> str:
    return f"{d.period.label} ({d.period.tz})"


def headline(d: Digest) -> str:
    """The one line that sums the period up (and is the whole story on a quiet day)."""
    if d.quiet:
        when = f"on {d.period.label}" if d.period.day is not None else f"from {d.period.label}"
        return (
            f"Quiet {'day' if d.period.day is not None else 'period'}: no connection drops {when} ({d.period.tz}); "
            f"{baseline(d)} average {fmt_avg(d.baseline_avg_incidents)} incidents."
        )
    return (
        f"{plural(d.incidents, 'incident')}, {plural(d.drops, 'drop')}, "
        f"{fmt_duration(d.duration_s)} in total on {plural(len(d.by_host), 'host')}; "
        f"the {baseline(d)} average is {fmt_avg(d.baseline_avg_incidents)} incidents and "
        f"{fmt_avg(d.baseline_avg_drops)} drops per {per(d)}: {fmt_delta(d.drops, d.baseline_avg_drops)}."
    )


def plural(n: int, word: str) -> str:
    return f"{fmt_int(n)} {word}{'' if n == 1 else 's'}"


def subject(d: Digest) -> str:
    if d.quiet:
        return f"{TITLE} {d.period.label}: quiet"
    return f"{TITLE} {d.period.label}: {plural(d.incidents, 'incident')}, {plural(d.drops, 'drop')}"


def _plain(text: str) -> str:
    return text


def _health_lines(d: Digest, esc: Callable[[str], str] = _plain, code: Callable[[str], str] = _plain) -> list[str]:
    """Data-health problems; on a quiet day only silent sources (the quiet may be theirs).
    ``esc`` escapes a name for the output format, ``code`` a file name."""
    lines = []
    for s in d.stopped:
        what = (
            f"latency to {esc(s.source)}"
            if s.stream == "latency"
            else ("status metrics" if s.stream == "metrics" else f"{esc(s.source)} events")
        )
        lines.append(f"Stopped sending: {what} from {esc(s.host)}, last seen {fmt_ts(s.last_seen)}")
    if d.rejects and not d.quiet:
        lines.append(
            f"Rejected lines: {fmt_int(d.reject_total)} in {len(d.rejects)} file{'s' if len(d.rejects) != 1 else ''}"
        )
        for r in d.rejects[:10]:
            lines.append(f"  {code(r.file)}: {fmt_int(r.rejects)} ({esc(r.top_reason)})")
    return lines


def _events_line(d: Digest, esc: Callable[[str], str] = _plain) -> str:
    if not d.events_by_source:
        return "Events in the period: none"
    return "Events in the period: " + ", ".join(f"{esc(src)} {fmt_int(n)}" for src, n in d.events_by_source.items())


# --- Markdown -------------------------------------------------------------------------------

# What a value could start in CommonMark/GFM: a table cell (|), code (`), emphasis (*, _),
# a link ([ ]), HTML or an autolink (< >), and the backslash itself (else "\*" in a name
# would turn the escape of "*" into a literal backslash).  "_" inside a word, as in
# wait_timeout, starts no emphasis, so it stays as it is.
_MD_SPECIAL = re.compile(r"[\\`*|\[\]<>]|(?<![^\W_])_|_(?![^\W_])")


def _md(text: str) -> str:
    """A value from the data, literal in Markdown: one line, control characters printable."""
    return _MD_SPECIAL.sub(r"\\\g<0>", printable(str(text).replace("\n", " ")))


def _md_code(text: str) -> str:
    """A code span that holds any text: its fence is longer than any run of backticks inside."""
    text = printable(str(text), one_line=True)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown(d: Digest) -> str:
    out = [f"# {TITLE}: {period_title(d)}", "", headline(d)]
    health = _health_lines(d, _md, _md_code)
    if d.quiet:
        if health:
            out += ["", "## Data health", ""]
            out += [_md_health(line) for line in health]
        return "\n".join(out) + "\n"

    avg = f"{baseline(d)} avg"
    out += [
        "",
        "## Incidents by cause",
        "",
        f"| cause | incidents | drops | duration | hosts | {avg} incidents | {avg} drops | trend |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in d.by_cause:
        out.append(
            f"| {_md(r.cause)} | {fmt_int(r.incidents)} | {fmt_int(r.drops)} | {fmt_duration(r.duration_s)} "
            f"| {_md(', '.join(r.hosts)) or '-'} | {fmt_avg(r.baseline_avg_incidents)} "
            f"| {fmt_avg(r.baseline_avg_drops)} | {fmt_delta(r.drops, r.baseline_avg_drops)} |"
        )
    out.append(
        f"| **total** | **{fmt_int(d.incidents)}** | **{fmt_int(d.drops)}** | **{fmt_duration(d.duration_s)}** "
        f"| | {fmt_avg(d.baseline_avg_incidents)} | {fmt_avg(d.baseline_avg_drops)} "
        f"| {fmt_delta(d.drops, d.baseline_avg_drops)} |"
    )

    out += ["", "## Incidents by host", "", "| host | incidents | drops | causes |", "|---|---:|---:|---|"]
    for h in d.by_host:
        out.append(f"| {_md(h.host)} | {fmt_int(h.incidents)} | {fmt_int(h.drops)} | {_md(', '.join(h.causes))} |")

    w = d.worst
    if w is not None:
        out += [
            "",
            "## Worst incident",
            "",
            f"**{_md(w.cause)}** on {_md(', '.join(w.hosts)) or 'unknown hosts'}, {fmt_ts(w.start)} to "
            f"{w.end.strftime('%H:%M:%S')} ({fmt_duration(w.duration_s)}), {plural(w.drops, 'drop')}, "
            f"confidence {w.confidence:.2f} ({_md_code(w.incident_id)})",
            "",
            f"> {_md(w.summary)}",
        ]
        if w.advice:
            out += ["", "What to change:", ""] + [f"- {_md(a)}" for a in w.advice]

    out += ["", f"## Trend against the previous {previous(d)}", ""]
    out.append(
        f"- all causes: {plural(d.drops, 'drop')} vs {fmt_avg(d.baseline_avg_drops)} per {per(d)}, "
        f"{fmt_delta(d.drops, d.baseline_avg_drops)}"
    )
    for r in d.by_cause:
        out.append(
            f"- {_md(r.cause)}: {plural(r.drops, 'drop')} vs {fmt_avg(r.baseline_avg_drops)} per {per(d)}, "
            f"{fmt_delta(r.drops, r.baseline_avg_drops)}"
        )
    if d.new_causes:
        new = ", ".join(f"**{_md(c)}**" for c in d.new_causes)
        out += ["", f"New causes (none in the previous {previous(d)}): {new}"]
    else:
        out += ["", "New causes: none"]

    out += ["", "## Data health", ""]
    out += [_md_health(line) for line in health] or ["- All sources kept sending; no rejected lines."]
    out.append(f"- {_events_line(d, _md)}")
    return "\n".join(out) + "\n"


def _md_health(line: str) -> str:
    """A health line as a list item; a file's rejects (indented) under the line before."""
    return f"  - {line.strip()}" if line.startswith("  ") else f"- {line}"


# --- HTML (mail clients run no JavaScript: tables, inline styles, a static image) -----------

_TD = 'style="padding:3px 8px;border-bottom:1px solid #ddd;text-align:{align}"'


def _html(text: str) -> str:
    """Text as HTML; control characters printable too (a bidi override would reorder the page)."""
    return html.escape(printable(text))


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    th = "".join(
        f"<th {_TD.format(align='right' if i in right else 'left')}>{html.escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td {_TD.format(align='right' if i in right else 'left')}>{_html(c)}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table style="border-collapse:collapse;font-size:14px"><tr>{th}</tr>{body}</table>'


def html_page(d: Digest, image_src: str | None = None) -> str:
    """A self-contained HTML digest; ``image_src`` is ``cid:...`` in mail, a data: URI in files."""
    esc = _html
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(TITLE)}: {esc(period_title(d))}</title></head>",
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:900px">',
        f'<h1 style="font-size:20px">{esc(TITLE)}: {esc(period_title(d))}</h1>',
        f"<p><b>{esc(headline(d))}</b></p>",
    ]
    health = _health_lines(d)
    if not d.quiet:
        if image_src:
            parts.append(
                f'<p><img src="{esc(image_src)}" alt="Timeline of the incidents" '
                'width="860" style="max-width:100%"></p>'
            )
        avg = f"{baseline(d)} avg"
        parts.append('<h2 style="font-size:16px">Incidents by cause</h2>')
        rows = [
            [
                r.cause,
                fmt_int(r.incidents),
                fmt_int(r.drops),
                fmt_duration(r.duration_s),
                ", ".join(r.hosts) or "-",
                fmt_avg(r.baseline_avg_incidents),
                fmt_avg(r.baseline_avg_drops),
                fmt_delta(r.drops, r.baseline_avg_drops),
            ]
            for r in d.by_cause
        ]
        rows.append(
            [
                "total",
                fmt_int(d.incidents),
                fmt_int(d.drops),
                fmt_duration(d.duration_s),
                "",
                fmt_avg(d.baseline_avg_incidents),
                fmt_avg(d.baseline_avg_drops),
                fmt_delta(d.drops, d.baseline_avg_drops),
            ]
        )
        parts.append(
            _table(
                ["cause", "incidents", "drops", "duration", "hosts", f"{avg} incidents", f"{avg} drops", "trend"],
                rows,
                {1, 2, 3, 5, 6},
            )
        )
        parts.append('<h2 style="font-size:16px">Incidents by host</h2>')
        parts.append(
            _table(
                ["host", "incidents", "drops", "causes"],
                [[h.host, fmt_int(h.incidents), fmt_int(h.drops), ", ".join(h.causes)] for h in d.by_host],
                {1, 2},
            )
        )
        w = d.worst
        if w is not None:
            parts.append('<h2 style="font-size:16px">Worst incident</h2>')
            parts.append(
                f"<p><b>{esc(w.cause)}</b> on {esc(', '.join(w.hosts) or 'unknown hosts')}, "
                f"{esc(fmt_ts(w.start))} to {esc(w.end.strftime('%H:%M:%S'))} ({esc(fmt_duration(w.duration_s))}), "
                f"{esc(fmt_int(w.drops))} drops, confidence {w.confidence:.2f} "
                f"(<code>{esc(w.incident_id)}</code>)</p>"
            )
            parts.append(
                f'<blockquote style="border-left:3px solid #ccc;margin:0;padding-left:10px">'
                f"{esc(w.summary)}</blockquote>"
            )
            if w.advice:
                parts.append("<p>What to change:</p><ul>" + "".join(f"<li>{esc(a)}</li>" for a in w.advice) + "</ul>")
        parts.append(f'<h2 style="font-size:16px">Trend against the previous {previous(d)}</h2>')
        items = [
            f"all causes: {plural(d.drops, 'drop')} vs {fmt_avg(d.baseline_avg_drops)} per {per(d)}, "
            f"{fmt_delta(d.drops, d.baseline_avg_drops)}"
        ]
        items += [
            f"{r.cause}: {plural(r.drops, 'drop')} vs {fmt_avg(r.baseline_avg_drops)} per {per(d)}, "
            f"{fmt_delta(r.drops, r.baseline_avg_drops)}"
            for r in d.by_cause
        ]
        parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")
        parts.append("<p>New causes: " + (esc(", ".join(d.new_causes)) if d.new_causes else "none") + "</p>")
    if health or not d.quiet:
        parts.append('<h2 style="font-size:16px">Data health</h2><ul>')
        for line in health or ["All sources kept sending; no rejected lines."]:
            parts.append(f"<li>{esc(line.strip())}</li>")
        if not d.quiet:
            parts.append(f"<li>{esc(_events_line(d))}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --- Slack-compatible webhook payload -----------------------------------------------------------


def _slack(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` as entities, so a name cannot
    make a link or a mention (``<!channel>``); control characters printable."""
    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(d: Digest) -> dict[str, Any]:
    """``{"text", "blocks"}``: text is the notification fallback, blocks the message."""
    text = f"{TITLE} {period_title(d)}: {headline(d)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{TITLE}: {period_title(d)}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": headline(d)}},
    ]
    if not d.quiet:
        lines = [
            f"*{_slack(r.cause)}*: {plural(r.incidents, 'incident')}, {plural(r.drops, 'drop')}, {fmt_duration(r.duration_s)} "
            f"({fmt_delta(r.drops, r.baseline_avg_drops)} vs {fmt_avg(r.baseline_avg_drops)}/{per(d)})"
            for r in d.by_cause
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}})
        hosts = [f"*{_slack(h.host)}*: {plural(h.incidents, 'incident')}, {plural(h.drops, 'drop')}" for h in d.by_host]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(hosts)[:3000]}})
        w = d.worst
        if w is not None:
            advice = "".join(f"\n• {_slack(a)}" for a in w.advice)
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": (
                            f"*Worst:* {_slack(w.cause)} on {_slack(', '.join(w.hosts)) or 'unknown hosts'} "
                            f"at {fmt_ts(w.start)}, {w.drops} drops\n>{_slack(w.summary)}{advice}"
                        )[:3000],
                    },
                }
            )
        if d.new_causes:
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "New causes: " + ", ".join(f"*{_slack(c)}*" for c in d.new_causes),
                    },
                }
            )
    health = _health_lines(d)
    if health:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "\n".join(_slack(line.strip()) for line in health)[:3000]}],
            }
        )
    return {"text": text, "blocks": blocks}

"""Turn a computed :class:`Digest` into Markdown, HTML (for mail and files) and Slack blocks.

The renderers only format numbers already in the digest; none of them queries
the store.  Markdown is also the plain-text part of the mail.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from pipeline.digest.compute import BASELINE_PERIODS, Digest

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


def _health_lines(d: Digest) -> list[str]:
    """Data-health problems; on a quiet day only silent sources (the quiet may be theirs)."""
    lines = []
    for s in d.stopped:
        what = (
            f"latency to {s.source}"
            if s.stream == "latency"
            else ("status metrics" if s.stream == "metrics" else f"{s.source} events")
        )
        lines.append(f"Stopped sending: {what} from {s.host}, last seen {fmt_ts(s.last_seen)}")
    if d.rejects and not d.quiet:
        lines.append(
            f"Rejected lines: {fmt_int(d.reject_total)} in {len(d.rejects)} file{'s' if len(d.rejects) != 1 else ''}"
        )
        for r in d.rejects[:10]:
            lines.append(f"  {r.file}: {fmt_int(r.rejects)} ({r.top_reason})")
    return lines


def _events_line(d: Digest) -> str:
    if not d.events_by_source:
        return "Events in the period: none"
    return "Events in the period: " + ", ".join(f"{src} {fmt_int(n)}" for src, n in d.events_by_source.items())


# --- Markdown -------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(d: Digest) -> str:
    out = [f"# {TITLE}: {period_title(d)}", "", headline(d)]
    health = _health_lines(d)
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
            f"| {r.cause} | {fmt_int(r.incidents)} | {fmt_int(r.drops)} | {fmt_duration(r.duration_s)} "
            f"| {_md_cell(', '.join(r.hosts)) or '-'} | {fmt_avg(r.baseline_avg_incidents)} "
            f"| {fmt_avg(r.baseline_avg_drops)} | {fmt_delta(r.drops, r.baseline_avg_drops)} |"
        )
    out.append(
        f"| **total** | **{fmt_int(d.incidents)}** | **{fmt_int(d.drops)}** | **{fmt_duration(d.duration_s)}** "
        f"| | {fmt_avg(d.baseline_avg_incidents)} | {fmt_avg(d.baseline_avg_drops)} "
        f"| {fmt_delta(d.drops, d.baseline_avg_drops)} |"
    )

    out += ["", "## Incidents by host", "", "| host | incidents | drops | causes |", "|---|---:|---:|---|"]
    for h in d.by_host:
        out.append(f"| {_md_cell(h.host)} | {fmt_int(h.incidents)} | {fmt_int(h.drops)} | {', '.join(h.causes)} |")

    w = d.worst
    if w is not None:
        out += [
            "",
            "## Worst incident",
            "",
            f"**{w.cause}** on {', '.join(w.hosts) or 'unknown hosts'}, {fmt_ts(w.start)} to "
            f"{w.end.strftime('%H:%M:%S')} ({fmt_duration(w.duration_s)}), {plural(w.drops, 'drop')}, "
            f"confidence {w.confidence:.2f} (`{w.incident_id}`)",
            "",
            f"> {_md_cell(w.summary)}",
        ]
        if w.advice:
            out += ["", "What to change:", ""] + [f"- {_md_cell(a)}" for a in w.advice]

    out += ["", f"## Trend against the previous {previous(d)}", ""]
    out.append(
        f"- all causes: {plural(d.drops, 'drop')} vs {fmt_avg(d.baseline_avg_drops)} per {per(d)}, "
        f"{fmt_delta(d.drops, d.baseline_avg_drops)}"
    )
    for r in d.by_cause:
        out.append(
            f"- {r.cause}: {plural(r.drops, 'drop')} vs {fmt_avg(r.baseline_avg_drops)} per {per(d)}, "
            f"{fmt_delta(r.drops, r.baseline_avg_drops)}"
        )
    if d.new_causes:
        out += ["", f"New causes (none in the previous {previous(d)}): " + ", ".join(f"**{c}**" for c in d.new_causes)]
    else:
        out += ["", "New causes: none"]

    out += ["", "## Data health", ""]
    out += [_md_health(line) for line in health] or ["- All sources kept sending; no rejected lines."]
    out.append(f"- {_events_line(d)}")
    return "\n".join(out) + "\n"


def _md_health(line: str) -> str:
    if line.startswith("  "):
        return f"  - `{line.strip().split(': ', 1)[0]}`: {line.strip().split(': ', 1)[1]}"
    return f"- {line}"


# --- HTML (mail clients run no JavaScript: tables, inline styles, a static image) -----------

_TD = 'style="padding:3px 8px;border-bottom:1px solid #ddd;text-align:{align}"'


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> str:
    th = "".join(
        f"<th {_TD.format(align='right' if i in right else 'left')}>{html.escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td {_TD.format(align='right' if i in right else 'left')}>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table style="border-collapse:collapse;font-size:14px"><tr>{th}</tr>{body}</table>'


def html_page(d: Digest, image_src: str | None = None) -> str:
    """A self-contained HTML digest; ``image_src`` is ``cid:...`` in mail, a data: URI in files."""
    esc = html.escape
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


def slack_payload(d: Digest) -> dict[str, Any]:
    """``{"text", "blocks"}``: text is the notification fallback, blocks the message."""
    text = f"{TITLE} {period_title(d)}: {headline(d)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{TITLE}: {period_title(d)}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": headline(d)}},
    ]
    if not d.quiet:
        lines = [
            f"*{r.cause}*: {plural(r.incidents, 'incident')}, {plural(r.drops, 'drop')}, {fmt_duration(r.duration_s)} "
            f"({fmt_delta(r.drops, r.baseline_avg_drops)} vs {fmt_avg(r.baseline_avg_drops)}/{per(d)})"
            for r in d.by_cause
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}})
        hosts = [f"*{h.host}*: {plural(h.incidents, 'incident')}, {plural(h.drops, 'drop')}" for h in d.by_host]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(hosts)[:3000]}})
        w = d.worst
        if w is not None:
            advice = "".join(f"\n• {a}" for a in w.advice)
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": (
                            f"*Worst:* {w.cause} on {', '.join(w.hosts) or 'unknown hosts'} at {fmt_ts(w.start)}, "
                            f"{w.drops} drops\n>{w.summary}{advice}"
                        )[:3000],
                    },
                }
            )
        if d.new_causes:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "New causes: " + ", ".join(f"*{c}*" for c in d.new_causes)},
                }
            )
    health = _health_lines(d)
    if health:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "\n".join(line.strip() for line in health)[:3000]}],
            }
        )
    return {"text": text, "blocks": blocks}

"""Building blocks families share: folding multi-line events, time zones, rejects and
sniff scores.

All of it is polars expressions over a whole chunk; nothing here loops per line.
"""

from __future__ import annotations

import polars as pl

from pipeline.ingest.families.base import EVENT_SCHEMA, REJECT_SCHEMA, Parsed

LEVELS = {
    "WARN": "WARNING",
    "WARNI": "WARNING",  # %(levelname)-5.5s
    "CRITI": "CRITICAL",
    "ERR": "ERROR",
    "FATAL": "CRITICAL",
    "CRIT": "CRITICAL",
    "NOTE": "INFO",
    "SYSTEM": "INFO",
    "TRACE": "DEBUG",
}


def normalize_level(expr: pl.Expr) -> pl.Expr:
    """Upper-case and map aliases (WARN -> WARNING, Note -> INFO ...)."""
    upper = expr.str.strip_chars().str.to_uppercase()
    return upper.replace(LEVELS)


def fold(chunk: pl.DataFrame, starts: pl.Expr | pl.Series) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fold continuation lines into the event that precedes them.

    ``starts`` marks the lines that begin an event.  Returns ``(heads, orphans)``:
    ``heads`` holds every column of ``chunk`` for each event's first line plus
    ``raw`` (all its lines joined by newlines) and ``n_lines``; ``orphans`` are
    the lines before the first event start (``line_no``, ``line``), which the
    caller rejects.  Only continuation lines are aggregated (most events are one
    line), then joined back: much cheaper than grouping every line.
    """
    df = chunk.with_columns(_start=starts).with_columns(_ev=pl.col("_start").cast(pl.Int64).cum_sum())
    if df.height and df["_ev"][0] == 0:  # lines before the first event start
        orphans = df.filter(pl.col("_ev") == 0).select("line_no", "line", *_ENVELOPE_COLUMNS.intersection(df.columns))
        orphans = as_written(orphans)
        df = df.filter(pl.col("_ev") > 0)
    else:
        orphans = df.clear().select("line_no", "line")
    heads = df.filter(pl.col("_start"))
    # an envelope was removed: raw keeps the lines as written, the payload is classified
    texts = {"raw": "line", **({"_raw_orig": "_orig"} if "_orig" in df.columns else {})}
    per_row = pl.col("_nl") if "_nl" in df.columns else pl.lit(1, pl.Int64)
    # only the columns the continuations give (the others would be copied for nothing)
    cont = df.select("_start", "_ev", *texts.values(), *(["_nl"] if "_nl" in df.columns else [])).filter(
        ~pl.col("_start")
    )
    if cont.height == 0:
        heads = heads.with_columns(**{out: pl.col(col) for out, col in texts.items()}, n_lines=per_row)
        return heads.drop("_start", "_ev"), orphans
    # only continuation lines are aggregated (most events are one line), then placed by
    # position: event k (1-based) is row k-1 of heads.  Only the few events with
    # continuations get new text; the others keep their line.
    agg = cont.group_by("_ev").agg(
        *[pl.col(col).str.join("\n").alias(f"_c{out}") for out, col in texts.items()],
        per_row.sum().alias("_nc") if "_nl" in df.columns else pl.len().alias("_nc"),
    )
    at = agg["_ev"] - 1
    new = {}
    for out, col in texts.items():
        line = heads[col]
        new[out] = line.clone().scatter(at, line.gather(at) + "\n" + agg[f"_c{out}"])
    own = heads["_nl"] if "_nl" in df.columns else pl.repeat(1, heads.height, dtype=pl.Int64, eager=True)
    extra = pl.zeros(heads.height, pl.Int64, eager=True).scatter(at, agg["_nc"].cast(pl.Int64))
    heads = heads.with_columns(**new, n_lines=own + extra)
    return heads.drop("_start", "_ev"), orphans


# Columns an envelope adds to a chunk (see pipeline/ingest/envelopes.py)
_ENVELOPE_COLUMNS = {"_orig", "_nl"}


def as_written(orphans: pl.DataFrame) -> pl.DataFrame:
    """Rejected lines as written: the envelope kept, lines an envelope joined split again."""
    if "_orig" not in orphans.columns:
        return orphans.select("line_no", "line")
    out = orphans.select("line_no", line=pl.col("_orig"))
    if "_nl" in orphans.columns and (orphans["_nl"] > 1).any():
        out = (
            out.with_columns(pl.col("line").str.split("\n"))
            .with_columns(_i=pl.int_ranges(0, pl.col("line").list.len()))
            .explode("line", "_i")
            .with_columns(line_no=pl.col("line_no") + pl.col("_i"))
            .drop("_i")
        )
    return out


def pending_from(heads: pl.DataFrame, final: bool) -> int | None:
    """Line number of the last event start, when more lines may still follow it."""
    if final or heads.height == 0:
        return None
    return int(heads["line_no"][-1])


def to_utc(naive: pl.Expr, tz: str) -> pl.Expr:
    """Local wall-clock datetimes in ``tz`` -> UTC.

    A time that does not exist (a DST gap) becomes null, so the caller rejects it
    with a reason; a repeated hour takes its first occurrence.
    """
    if tz in ("UTC", "Etc/UTC", "Z"):
        return naive.dt.replace_time_zone("UTC")
    return naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def event_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Select and cast the event columns in schema order; missing ones become null."""
    cols = []
    if "_raw_orig" in frame.columns:  # an envelope was removed: store the lines as written
        frame = frame.with_columns(raw=pl.col("_raw_orig"))
    for name, dtype in EVENT_SCHEMA.items():
        if name in frame.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype).alias(name))
    return frame.select(cols)


def reject_frame(frame: pl.DataFrame, reason: str | pl.Expr, raw_col: str = "line") -> pl.DataFrame:
    """Rejects from a frame with ``line_no`` and a raw text column."""
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.select(
        pl.col("line_no").cast(pl.Int64),
        reason_expr.cast(pl.Utf8).alias("reason"),
        pl.col(raw_col).cast(pl.Utf8).alias("raw"),
    )


def concat_rejects(*frames: pl.DataFrame) -> pl.DataFrame:
    nonempty = [f for f in frames if f.height]
    if not nonempty:
        return pl.DataFrame(schema=REJECT_SCHEMA)
    return pl.concat([f.cast(REJECT_SCHEMA) for f in nonempty])


def parsed_events(
    events: pl.DataFrame, *, orphans: pl.DataFrame, orphans_reason: str, bad_ts: pl.DataFrame, pending: int | None
) -> Parsed:
    """What a text-log family returns: its events, and as rejects the lines before the
    first event (``orphans``, from :func:`fold`) and the events whose time could not be
    read (``bad_ts``, from :func:`split_bad_timestamps`)."""
    return Parsed(
        events=event_frame(events),
        rejects=concat_rejects(reject_frame(orphans, orphans_reason), bad_ts),
        pending_from=pending,
    )


def split_bad_timestamps(heads: pl.DataFrame, tz: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events whose timestamp came out null (DST gap, impossible date) become rejects,
    one per input line (the head and each folded continuation), so the accounting "one
    line, one place" holds for multi-line events too."""
    bad = heads.filter(pl.col("ts").is_null())
    if bad.height == 0:
        return heads, pl.DataFrame(schema=REJECT_SCHEMA)
    good = heads.filter(pl.col("ts").is_not_null())
    reason = f"timestamp does not exist or cannot be read in time zone {tz}"
    # as many rejects as the event folded lines (n_lines): its raw text need not hold one
    # newline per line (an envelope's payload may end in its own newline, or carry none)
    count = pl.max_horizontal(pl.col("n_lines"), pl.lit(1)) if "n_lines" in bad.columns else pl.lit(1)
    lines = (
        bad.select("line_no", pl.col("raw").str.split("\n").alias("parts"), count.alias("_n"))
        .with_columns(_i=pl.int_ranges(0, pl.col("_n")))
        .explode("_i")
        .with_columns(
            line_no=pl.col("line_no") + pl.col("_i"),
            raw=pl.col("parts").list.get(pl.col("_i"), null_on_oob=True),
        )
    )
    return good, lines.select(
        pl.col("line_no").cast(pl.Int64), pl.lit(reason).alias("reason"), pl.col("raw").cast(pl.Utf8)
    )


def share_score(share: float, *, confident_from: float, slope_below: float = 1.0) -> float:
    """A sniff score from the share of head lines in the family's layout: from
    ``confident_from`` on it rises from at least 0.5 to 1; below, ``share * slope_below``."""
    return min(1.0, 0.5 + share / 2) if share >= confident_from else share * slope_below


class NonBlankLinesSniff:
    """``sniff`` for a family that judges its head by the non-blank lines: a head without
    any scores 0, and so does an unexpected error (sniff must never raise).  The family
    scores the lines in ``score``."""

    def sniff(self, head: list[str]) -> float:
        try:
            lines = [h for h in head if h.strip()]
            return self.score(lines) if lines else 0.0
        except Exception:  # pragma: no cover - sniff must never raise
            return 0.0

    def score(self, lines: list[str]) -> float:
        """How sure the family is that these non-blank head lines (at least one) are its format."""
        raise NotImplementedError


__all__ = [
    "NonBlankLinesSniff",
    "Parsed",
    "as_written",
    "concat_rejects",
    "event_frame",
    "fold",
    "normalize_level",
    "parsed_events",
    "pending_from",
    "reject_frame",
    "share_score",
    "split_bad_timestamps",
    "to_utc",
]

#!/usr/bin/env python3
"""Generate ``pipeline/ingest/families/postgres_i18n.py`` from PostgreSQL's own
message catalogues (``src/backend/po/<lang>.po``).

A PostgreSQL server started with ``lc_messages`` other than English writes its log
in that language: the severity word (``FEHLER:  ``, ``ОШИБКА:  ``), the secondary
labels (``TIPP:  ``, ``ПОДРОБНОСТИ:  ``) and the messages themselves come from
``gettext``.  This script reads the catalogues and keeps only what the parser needs:

* the translations of the severity words and of the secondary labels (``elog.c``
  translates ``_("ERROR")``, ``_("DETAIL:  ")``, ``_("LOCATION:  %s, %s:%d\\n")`` ...);
* for every message whose English text the English ``KIND_RULES`` of
  ``pipeline/ingest/families/postgres.py`` classify, its translation turned into a
  regex (printf placeholders become wildcards, the rest is escaped) with the kind.

Usage (the catalogues come from any git copy of postgres/postgres)::

    python scripts/gen_postgres_i18n.py \\
        --source /path/to/postgres.git@REL_17_STABLE \\
        --source /path/to/older-postgres.git@REL_12_STABLE   # optional, older wording

The first ``--source`` is the main one; later ones only add translations of
messages whose wording the earlier ones lack (messages reworded between major
versions, e.g. "remaining connection slots are reserved for non-replication
superuser connections" before PostgreSQL 16).  ``--source`` may also name a plain
directory of ``<lang>.po`` files.  The output is deterministic: the same
catalogues give the same module byte for byte.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "pipeline" / "ingest" / "families" / "postgres_i18n.py"
PO_DIR = "src/backend/po"

# The languages PostgreSQL ships server catalogues for (src/backend/po/LINGUAS).
DEFAULT_LANGS = (
    "de",
    "es",
    "fr",
    "id",
    "it",
    "ja",
    "ka",
    "ko",
    "pl",
    "pt_BR",
    "ru",
    "sv",
    "tr",
    "uk",
    "zh_CN",
    "zh_TW",
)

# elog.c error_severity(): the words printed before ":  "
SEVERITY_MSGIDS = ("DEBUG", "LOG", "INFO", "NOTICE", "WARNING", "ERROR", "FATAL", "PANIC")
# elog.c send_message_to_server_log(): the secondary labels, printed with their own separator
SECONDARY_MSGIDS = {
    "DETAIL:  ": "DETAIL",
    "HINT:  ": "HINT",
    "QUERY:  ": "QUERY",
    "CONTEXT:  ": "CONTEXT",
    "STATEMENT:  ": "STATEMENT",
    "LOCATION:  %s, %s:%d\n": "LOCATION",
    "LOCATION:  %s:%d\n": "LOCATION",
}
# When two English words share one translation, the more severe one is kept.
SEVERITY_RANK = {w: i for i, w in enumerate(SEVERITY_MSGIDS)}

# A printf conversion as PostgreSQL uses them (positional %1$s too).
PRINTF = re.compile(r"%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?([diouxXeEfFgGaAcspm%])")
SAMPLE = {"d": "1", "i": "1", "o": "1", "u": "1", "x": "1", "X": "1", "m": "x", "%": "%"}
# Only translations with at least this many literal (non-placeholder, non-space)
# characters are kept: shorter ones would match too much.
MIN_LITERAL = 6


# --------------------------------------------------------------------------- .po reading


def parse_po(text: str) -> list[tuple[str, str, bool]]:
    """``(msgid, msgstr, fuzzy)`` of every singular entry of a .po file."""
    entries = []
    for block in re.split(r"\n[ \t]*\n", text):
        fuzzy = False
        cur = None
        parts: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if line.startswith("#"):
                continue
            m = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+(".*")\s*$', line)
            if m:
                cur = m.group(1)
                parts[cur] = ast.literal_eval(m.group(2))
            elif line.startswith('"') and cur:
                parts[cur] += ast.literal_eval(line)
        if "msgid" in parts and "msgid_plural" not in parts and "msgctxt" not in parts:
            entries.append((parts["msgid"], parts.get("msgstr", ""), fuzzy))
    return entries


def header_field(entries: list[tuple[str, str, bool]], name: str) -> str | None:
    for msgid, msgstr, _ in entries:
        if msgid == "":
            m = re.search(rf"^{re.escape(name)}:\s*(.*)$", msgstr, re.M)
            return m.group(1).strip() if m else None
    return None


@dataclass
class Source:
    spec: str
    label: str
    rev: str | None = None
    commit: str | None = None
    date: str | None = None
    version: str | None = None
    texts: dict[str, str] = field(default_factory=dict)


def _repo_label(git_dir: Path) -> str:
    """A readable name for a git directory: ``/x/owner+name/repo`` -> ``owner/name``."""
    parts = [p for p in git_dir.resolve().parts if p not in ("repo", ".git")]
    return parts[-1].replace("+", "/") if parts else str(git_dir)


def load_source(spec: str, langs: tuple[str, ...]) -> Source:
    """``GITDIR@REV`` (a bare or normal git directory) or a directory of .po files."""
    if "@" in spec and not Path(spec).is_dir():
        git_dir, rev = spec.rsplit("@", 1)

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
            ).stdout

        commit = git("rev-parse", f"{rev}^{{commit}}").strip()
        date = git("log", "-1", "--format=%cs", commit).strip()
        src = Source(spec=spec, label=_repo_label(Path(git_dir)), rev=rev, commit=commit, date=date)
        present = set(git("ls-tree", "--name-only", commit, f"{PO_DIR}/").split())
        for lang in langs:
            path = f"{PO_DIR}/{lang}.po"
            if path in present:
                src.texts[lang] = subprocess.run(
                    ["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"], check=True, capture_output=True
                ).stdout.decode("utf-8")
    else:
        d = Path(spec)
        src = Source(spec=spec, label=d.name)
        for lang in langs:
            p = d / f"{lang}.po"
            if p.exists():
                src.texts[lang] = p.read_text(encoding="utf-8")
    return src


# --------------------------------------------------------------------------- patterns


def english_rules() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    from pipeline.ingest.families.postgres import KIND_RULES

    return KIND_RULES


def sample_text(fmt: str) -> str:
    """A printf format with its placeholders filled, as a message would read."""
    return PRINTF.sub(lambda m: SAMPLE.get(m.group(1), "x"), fmt)


def english_kind(msgid: str, rules: list[tuple[str, str]]) -> str | None:
    """The kind the English rules give the message ``msgid`` (None: "other")."""
    if "\n" in msgid.rstrip("\n") or not msgid.strip():
        return None
    text = sample_text(msgid)
    for pattern, kind in rules:
        if re.search(pattern, text):
            return kind
    return None


def escape(text: str) -> str:
    """Escape the regex metacharacters only, so the pattern stays readable and is read
    the same by Python's ``re`` and by the Rust regex engine polars uses."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def to_regex(msgstr: str) -> str | None:
    """The translated message as a regex matching the whole message (``^...$``):
    placeholders become wildcards.  None when the translation has too little literal
    text to be told apart from other messages."""
    out: list[str] = []
    pos = 0
    literal = 0
    for m in PRINTF.finditer(msgstr):
        chunk = msgstr[pos : m.start()]
        literal += len(re.sub(r"\s", "", chunk))
        out.append(escape(chunk))
        conv = m.group(1)
        if conv == "%":
            out.append("%")
        elif conv in "diu":
            out.append(r"-?\d+")
        elif conv in "xX":
            out.append(r"[0-9A-Fa-f]+")
        else:
            out.append(".*")
        pos = m.end()
    tail = msgstr[pos:].rstrip("\n")
    literal += len(re.sub(r"\s", "", tail))
    out.append(escape(tail))
    if literal < MIN_LITERAL:
        return None
    return "^" + "".join(out) + "$"


def label_of(msgstr: str) -> str:
    """A secondary label as printed: the msgstr up to its first placeholder."""
    cut = msgstr.find("%")
    return (msgstr if cut < 0 else msgstr[:cut]).rstrip("\n")


@dataclass
class Table:
    sources: list[dict[str, str | None]]
    severities: dict[str, str]  # translated word -> English word
    labels: dict[str, str]  # translated secondary label with its separator -> English word
    patterns: dict[str, list[tuple[str, str, str]]]  # lang -> [(kind, regex, English msgid)]


def build(sources: list[Source], rules: list[tuple[str, str]]) -> Table:
    severities: dict[str, str] = {}
    labels: dict[str, str] = {}
    patterns: dict[str, list[tuple[str, str, str]]] = {}
    langs = sorted({lang for s in sources for lang in s.texts})
    kind_order = {kind: i for i, (_, kind) in enumerate(rules)}
    for lang in langs:
        seen: set[str] = set()
        rows: list[tuple[str, str, str]] = []
        for src in sources:
            if lang not in src.texts:
                continue
            for msgid, msgstr, fuzzy in parse_po(src.texts[lang]):
                if fuzzy or not msgstr or not msgid:
                    continue
                if msgid in SEVERITY_RANK:
                    word = msgstr.strip()
                    if word != msgid and word:
                        old = severities.get(word)
                        if old is None or SEVERITY_RANK[msgid] > SEVERITY_RANK[old]:
                            severities[word] = msgid
                    continue
                if msgid in SECONDARY_MSGIDS:
                    lab = label_of(msgstr)
                    if lab != label_of(msgid) and lab.strip():
                        labels.setdefault(lab, SECONDARY_MSGIDS[msgid])
                    continue
                kind = english_kind(msgid, rules)
                if kind is None or msgstr == msgid:
                    continue
                rx = to_regex(msgstr)
                if rx is None or rx in seen:
                    continue
                seen.add(rx)
                rows.append((kind, rx, msgid))
        rows.sort(key=lambda r: (kind_order[r[0]], r[2], r[1]))
        if rows:
            patterns[lang] = rows
    meta = [
        {
            "repo": s.label,
            "rev": s.rev,
            "commit": s.commit,
            "date": s.date,
            "version": _version(s),
            "languages": " ".join(sorted(s.texts)),
        }
        for s in sources
    ]
    return Table(
        sources=meta,
        severities=dict(sorted(severities.items())),
        labels=dict(sorted(labels.items())),
        patterns=dict(sorted(patterns.items())),
    )


def _version(src: Source) -> str | None:
    for lang in sorted(src.texts):
        v = header_field(parse_po(src.texts[lang][:4000]), "Project-Id-Version")
        if v:
            return v
    return None


# --------------------------------------------------------------------------- output

HEADER = '''"""Translations of PostgreSQL server-log vocabulary, for localized logs (``lc_messages``).

GENERATED by ``scripts/gen_postgres_i18n.py`` from PostgreSQL's message catalogues
(``src/backend/po/<lang>.po``) -- do not edit by hand; regenerate instead (see the script).
"""

from __future__ import annotations

'''


def render(table: Table) -> str:
    out = [HEADER]
    out.append("# The catalogues this table was made from; the first is the main one, later ones\n")
    out.append("# only add wordings the first lacks.\n")
    out.append("SOURCES: tuple[dict[str, str | None], ...] = (\n")
    for s in table.sources:
        out.append("    {\n")
        for k, v in s.items():
            out.append(f"        {k!r}: {v!r},\n")
        out.append("    },\n")
    out.append(")\n\n")
    out.append(f"LANGUAGES: tuple[str, ...] = {tuple(table.patterns)!r}\n\n")
    out.append("# translated severity word (elog.c's error_severity) -> English word\n")
    out.append("SEVERITY_WORDS: dict[str, str] = {\n")
    for k, v in table.severities.items():
        out.append(f"    {k!r}: {v!r},\n")
    out.append("}\n\n")
    out.append("# translated DETAIL/HINT/... label exactly as printed, separator included (it is not\n")
    out.append("# always ':' and two spaces) -> English word\n")
    out.append("SECONDARY_LABELS: dict[str, str] = {\n")
    for k, v in table.labels.items():
        out.append(f"    {k!r}: {v!r},\n")
    out.append("}\n\n")
    out.append("# per language, (kind, regex, English msgid) for every message the English KIND_RULES\n")
    out.append("# classify; the regex is the msgstr with its printf placeholders turned into wildcards\n")
    out.append("KIND_PATTERNS: dict[str, tuple[tuple[str, str, str], ...]] = {\n")
    for lang, rows in table.patterns.items():
        out.append(f"    {lang!r}: (\n")
        for kind, rx, msgid in rows:
            out.append(f"        ({kind!r}, {rx!r}, {msgid!r}),\n")
        out.append("    ),\n")
    out.append("}\n")
    return "".join(out)


def table_of_module(mod) -> Table:
    """The table a generated module holds (``render(table_of_module(m))`` gives its text back)."""
    return Table(
        sources=[dict(s) for s in mod.SOURCES],
        severities=dict(mod.SEVERITY_WORDS),
        labels=dict(mod.SECONDARY_LABELS),
        patterns={lang: list(rows) for lang, rows in mod.KIND_PATTERNS.items()},
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--source",
        action="append",
        required=True,
        help="GITDIR@REV of a postgres/postgres copy, or a directory of <lang>.po files (repeatable)",
    )
    ap.add_argument("--langs", default=",".join(DEFAULT_LANGS), help="comma-separated catalogue names")
    ap.add_argument("-o", "--output", default=str(OUTPUT))
    ap.add_argument("--check", action="store_true", help="exit 1 if the output file differs, write nothing")
    args = ap.parse_args(argv)
    langs = tuple(x for x in args.langs.split(",") if x)
    sources = [load_source(s, langs) for s in args.source]
    table = build(sources, english_rules())
    text = render(table)
    out = Path(args.output)
    if args.check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{out} differs from the generator's output")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    for lang, rows in table.patterns.items():
        print(f"{lang:6} {len(rows):3} patterns")
    print(f"{len(table.severities)} severity words, {len(table.labels)} secondary labels -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

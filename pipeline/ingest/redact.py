"""Secrets out before anything is stored.

Applied to every text column of every frame on its way to the store (events'
``message`` and ``raw``, rejects' ``raw``, latency targets, metric names), and by
:func:`redact_text` to single strings.  What is redacted is :data:`CATALOGUE`: a table
of named patterns, each with what it redacts and an example (the table of what is
redacted in docs/reliability.md is made from it, and a test checks every example).

How it stays fast (it sees every byte that is ingested):

1. :data:`TRIGGER`, one regex alternation of every pattern's cheap ``trigger``, is
   run over the whole column (a literal-led alternation: the regex engine's literal
   prefilter skips most of each line).  Rows without a match -- nearly all of them --
   are not touched again.
2. On the few rows left, one Aho-Corasick pass (``extract_many``) finds which of the
   patterns' ``words`` each row holds; each pattern then runs only on the rows that
   hold one of its words, and its results are scattered back by position.

Add a pattern: append a :class:`Pattern` row to :data:`CATALOGUE` (its regex in the
syntax of polars' Rust regex engine: no look-around, no back-references; groups are
put back with ``${n}``), with a ``trigger`` and ``words`` that every text it matches
contains, and an ``example`` whose ``secret`` it must remove.  Then
``python tests/test_docs.py --write`` rewrites the table in docs/reliability.md
(``python -m pipeline.ingest.redact`` prints it; a test checks that they agree).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where rows are redacted: a run that stores nothing never loads polars
    import polars as pl

MASK = "***"


@dataclass(frozen=True)
class Pattern:
    """One row of the catalogue."""

    name: str
    #: what it finds, in polars' (Rust) regex syntax; for a ``function`` pattern, documentation only
    regex: str
    #: what a match becomes: ``${n}`` puts group n back, MASK stands where the secret was
    replacement: str
    #: a cheap regex every match satisfies (part of the pre-filter; case-insensitive unless ``(?-i:``)
    trigger: str
    #: lower-case literals, one of which every match contains (found case-insensitively)
    words: tuple[str, ...]
    #: what it redacts, for people (the table in docs/reliability.md)
    redacts: str
    #: a line that holds a secret ...
    example: str
    #: ... and the part of it that must go: redact_text(example) == example.replace(secret, MASK)
    secret: str
    #: replaces regex/replacement when a regex cannot say it (e.g. every string inside a span):
    #: the column of texts to redact -> the column redacted
    function: Callable[[pl.Series], pl.Series] | None = None
    #: its trigger is met by many ordinary lines (SQLAlchemy echoes the parameters of every
    #: failed statement): rows are checked for it alone, and rows that hold nothing else skip
    #: the search for the other patterns' words
    common: bool = False


# The words of a key whose value is a secret.  No word boundary before them: db_password,
# PGPASSWORD, MYSQL_PWD, client_secret, access_token and aws_secret_access_key all end in one.
_KEY = (
    r"(?:password|passwd|passphrase|pwd|pass|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|auth|credentials?|signature)(?:[_-]?key)?"
)
_KEY_WORDS = (
    *("pass", "pwd", "secret", "token", "auth", "credential", "signature", "apikey", "api_key", "api-key"),
    *(f"{name}{sep}key" for name in ("access", "private") for sep in ("", "_", "-")),
)
# the end of a key: a closing quote (JSON, a dict's repr, escaped JSON), then a separator
_KEY_END = r"\\*[\"']?[ \t]*(?:=>?|:=?)[ \t]*"
# an unquoted value: up to a space, a quote or a separator; "\/" (JSON's escaped slash) is part of it
_BARE = r"(?:[^\s'\",;&)}\]\\{\[(<]|\\[^nrt\"'\\])(?:[^\s'\",;&)}\]\\]|\\[^nrt\"'\\])*"
# a quoted SQL string, either quote ('' and \' inside), or \"...\" in a JSON line
_SQL_STRING = r"(?:(')(?:[^'\\\n]|\\.|'')*(')|(\")(?:[^\"\\\n]|\\.|\"\")*(\")|(\\+\")(?:[^\"\\]|\\+[^\"\\])*(\\+\"))"
# a command-line argument: quoted, or up to a space (a JSON line's \" ends it too)
_ARG = r"(?:'[^'\n]*'|\"[^\"\n]*\"|\\\"(?:[^\"\\]|\\[^\"])*\\\"|[^\s'\"\-\\](?:[^\s\"\\]|\\[^nrt\"])*)"
_SQL_STRING_KEEP_QUOTES = "${2}${4}${6}" + MASK + "${3}${5}${7}"
# a single-dash option -p...: after a space, a tab or a newline, also escaped (a JSON line)
_DASH_P = (" -p", "\t-p", "\n-p", "\\t-p", "\\n-p", "\\r-p")


# -- SQLAlchemy's parameter echo ---------------------------------------------------------

# "[parameters: ...]" after an error, and the echo of engine logging ("[generated in 0.001s] (...)")
_PARAMS_START = re.compile(
    r"\[parameters: |\[(?:generated in|cached since|no key|raw sql|dialect|insertmanyvalues)[^\]\n]*\] (?=[(\[{])"
)
# the rest of the line: in plain text up to the newline; in a JSON line up to "\n" or the string's end
_PARAMS_BODY_TEXT = re.compile(r"[^\n]*")
_PARAMS_BODY_JSON = re.compile(r"[^\"\\\n]*(?:\\[^n][^\"\\\n]*)*")
# a Python string literal: a dict's key (a colon follows) is kept, a value is masked; a JSON
# line escapes the double quotes
_IN_SQ, _IN_DQ = r"[^'\\\n]*(?:\\.[^'\\\n]*)*", r"[^\"\\\n]*(?:\\.[^\"\\\n]*)*"
_IN_SQ_JSON, _IN_DQ_JSON = r"[^'\\]*(?:\\.[^'\\]*)*", r"[^\"\\]*(?:\\[^\"][^\"\\]*)*"
_COLON = r"[ \t\r\f\v]*:"
_PY_STRING_TEXT = re.compile(
    rf"([bBuU]?[rR]?'{_IN_SQ}'{_COLON}|[bBuU]?[rR]?\"{_IN_DQ}\"{_COLON})"
    rf"|([bBuU]?[rR]?')(?:{_IN_SQ})('|$)|([bBuU]?[rR]?\")(?:{_IN_DQ})(\"|$)"
)
_PY_STRING_JSON = re.compile(
    rf"([bBuU]?[rR]?'{_IN_SQ_JSON}'{_COLON}|[bBuU]?[rR]?\\\"{_IN_DQ_JSON}\\\"{_COLON})"
    rf"|([bBuU]?[rR]?')(?:{_IN_SQ_JSON})('|$)|([bBuU]?[rR]?\\\")(?:{_IN_DQ_JSON})(\\\"|$)"
)


def _mask_string(match: re.Match[str]) -> str:
    key, open1, close1, open2, close2 = match.groups()
    if key is not None:  # a dict's key: its name, not data
        return key
    if open1 is not None:
        return open1 + MASK + close1
    return open2 + MASK + close2


def redact_parameters(text: str) -> str:
    """Every string value in SQLAlchemy's parameter echo becomes '***'; numbers, None,
    booleans and dict keys stay (they show the shape of the call, not its data)."""
    json_line = text.lstrip().startswith('{"')
    body_re, string_re = (_PARAMS_BODY_JSON, _PY_STRING_JSON) if json_line else (_PARAMS_BODY_TEXT, _PY_STRING_TEXT)
    out: list[str] = []
    pos = 0
    for start in _PARAMS_START.finditer(text):
        if start.start() < pos:
            continue
        body = body_re.match(text, start.end())
        assert body is not None  # both bodies match the empty string
        out.append(text[pos : body.start()])
        out.append(string_re.sub(_mask_string, body.group(0)))
        pos = body.end()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def redact_parameters_series(texts: pl.Series) -> pl.Series:
    """:func:`redact_parameters` over a column.  (Done in polars -- split at the echo, three
    regex passes, joined again -- it took twice as long: each pass copies whole events,
    where Python only looks at the echo's line.)"""
    import polars as pl

    return pl.Series(texts.name, [None if t is None else redact_parameters(t) for t in texts.to_list()], pl.String)


# -- the catalogue ---------------------------------------------------------------------------

CATALOGUE: list[Pattern] = [
    Pattern(
        name="private_key_block",
        regex=(
            r"(-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----)(?:(?s:.*?)(-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----)"
            r"|(?:\\[nr]|[A-Za-z0-9+/=\s:,.-])+)"
        ),
        replacement="${1}" + MASK + "${2}",
        trigger=r"PRIVATE KEY",
        words=("private key",),
        redacts="PEM private keys (RSA, EC, OpenSSH, PKCS#8, PGP), BEGIN to END, also inside JSON "
        "(a GCP service account's private_key); a key cut off before its END loses the rest",
        example=r'tls {"cert": "a.pem", "key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA3x\n'
        r'-----END RSA PRIVATE KEY-----\n"} loaded',
        secret=r"\nMIIEowIBAAKCAQEA3x\n",
    ),
    Pattern(
        name="jwt",
        regex=r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        replacement=MASK,
        trigger=r"(?-i:eyJ[A-Za-z0-9_-]{4,}\.eyJ)",
        words=("eyj",),
        redacts="JSON Web Tokens (header.payload.signature), wherever they stand",
        example="issued eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk for user 42",
        secret="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ),
    Pattern(
        name="url_credentials",
        regex=(
            r"([A-Za-z][A-Za-z0-9+.\-]*:(?://|\\/\\/)[^\s:/@'\"\\]*:)"
            r"(?:[^\s/'\"\\]*|[^@/'\"\r\n]{1,128}?)(@)"
        ),
        replacement="${1}" + MASK + "${2}",
        trigger=r"(?:://|:\\/\\/)[^\s:/@'\"\\]*:[^@/'\"\r\n]*@",
        words=("://", ":\\/\\/"),
        redacts="the password of a URL of any scheme (scheme://user:password@host), also with spaces, "
        "an encoded or a bare @, no user (redis://:pw@), or JSON's escaped slashes",
        example="engine mysql+pymysql://app:S3cr3t pass@db-1:3306/app created",
        secret="S3cr3t pass",
    ),
    Pattern(
        name="go_dsn",
        regex=r"([A-Za-z0-9_.\-]+:)[^\s/'\"]*(@(?:tcp|unix|udp)\()",
        replacement="${1}" + MASK + "${2}",
        trigger=r"@(?:tcp|unix|udp)\(",
        words=("@tcp(", "@unix(", "@udp("),
        redacts="the password of a Go MySQL DSN (user:password@tcp(host:port)/db)",
        example="dsn app:Gh7%kq2@tcp(db-1:3306)/app?parseTime=true",
        secret="Gh7%kq2",
    ),
    Pattern(
        name="authorization_header",
        regex=(
            r"(?i)((?:proxy-)?authorization\\*[\"']?[ \t]*[:=][ \t]*\\*[\"']?(?:(?:bearer|basic|token|digest|negotiate|ntlm|apikey|key|sharedkey|ssws|oauth|jwt|hawk|aws4-hmac-sha256)[ \t]+)?)"
            r"(?:[^\r\n'\"\\]|\\[^nr'\"])+"
        ),
        replacement="${1}" + MASK,
        trigger=r"authorization",
        words=("authorization",),
        redacts="the credentials of Authorization and Proxy-Authorization headers (the scheme, "
        "e.g. Bearer, stays) as a header line, a dict's repr, JSON or escaped JSON",
        example="request headers {'Authorization': 'Bearer 8f2b1c9d0e7a', 'Accept': '*/*'}",
        secret="8f2b1c9d0e7a",
    ),
    Pattern(
        name="bearer_token",
        regex=r"(?i)(bearer[ \t]+)[A-Za-z0-9._~+/-]{16,}=*",
        replacement="${1}" + MASK,
        trigger=r"bearer\s",
        words=("bearer",),
        redacts="a token (16 characters or more) after the word Bearer, wherever it stands",
        example="retrying with bearer 0a9f8e7d6c5b4a39e8d7 in 2s",
        secret="0a9f8e7d6c5b4a39e8d7",
    ),
    Pattern(
        name="cookie_header",
        regex=r"(?i)((?:set-)?cookie\\*[\"']?[ \t]*[:=][ \t]*\\*[\"']?)(?:[^\r\n'\"\\]|\\[^nr'\"])+",
        replacement="${1}" + MASK,
        trigger=r"cookie\\*[\"']?\s*[:=]",
        words=("cookie",),
        redacts="the whole value of Cookie and Set-Cookie headers (header line, dict, JSON)",
        example="Set-Cookie: sid=9c1f0a7e22b4; Path=/; HttpOnly",
        secret="sid=9c1f0a7e22b4; Path=/; HttpOnly",
    ),
    Pattern(
        name="aws_access_key_id",
        regex=r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16,}",
        replacement=MASK,
        trigger=r"(?-i:(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16})",
        words=("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka", "asca"),
        redacts="AWS access key ids (AKIA..., ASIA... and the other kinds), wherever they stand",
        example="AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_DEFAULT_REGION=eu-west-1",
        secret="AKIAIOSFODNN7EXAMPLE",
    ),
    Pattern(
        name="aws_secret_access_key",
        regex=r"(?i)((?:aws_?)?secret_?access_?key\\*[\"']?(?:[ \t:=]|\\t)+\\*[\"']?)[A-Za-z0-9/+=]{40}",
        replacement="${1}" + MASK,
        trigger=r"secret_?access_?key",
        words=("secretaccesskey", "secret_access_key"),
        redacts="AWS secret access keys (40 characters) after aws_secret_access_key / SecretAccessKey "
        "in env, config, JSON or column form",
        example="aws_secret_access_key    wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY  shared-credentials-file",
        secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    Pattern(
        name="azure_storage_key",
        regex=r"(?i)(\b(?:AccountKey|SharedAccessKey|SharedAccessSignature)[ \t]*=[ \t]*)[^;\s'\"]+|([?&]sig=)[^&\s'\"]+",
        replacement="${1}${2}" + MASK,
        trigger=r"accountkey|sharedaccess|[?&]sig=",
        words=("accountkey", "sharedaccess", "sig="),
        redacts="Azure connection strings' AccountKey= / SharedAccessKey= / SharedAccessSignature= "
        "and the sig= of SAS URLs",
        example="DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Eby8vdM02xNOcqF+lPq==;EndpointSuffix=x",
        secret="Eby8vdM02xNOcqF+lPq==",
    ),
    Pattern(
        name="github_token",
        regex=r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
        replacement=MASK,
        trigger=r"(?-i:gh[pousr]_|github_pat_)",
        words=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        redacts="GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)",
        example="clone with ghp_16C7e42F292c6912E7710c838347Ae178B4a failed",
        secret="ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    Pattern(
        name="gitlab_token",
        regex=r"glpat-[A-Za-z0-9_\-]{20,}",
        replacement=MASK,
        trigger=r"(?-i:glpat-)",
        words=("glpat-",),
        redacts="GitLab personal access tokens (glpat-)",
        example="token glpat-xY3zQ9wE1rT5uI7oP2aS refused",
        secret="glpat-xY3zQ9wE1rT5uI7oP2aS",
    ),
    Pattern(
        name="slack_token",
        regex=r"xox[abposr]-[A-Za-z0-9-]{10,}",
        replacement=MASK,
        trigger=r"(?-i:xox[abposr]-)",
        words=("xox",),
        redacts="Slack tokens (xoxb-, xoxp-, ...)",
        example="notify via xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
        secret="xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    ),
    Pattern(
        name="stripe_key",
        regex=r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
        replacement=MASK,
        trigger=r"(?-i:[sr]k_(?:live|test)_)",
        words=("k_live_", "k_test_"),
        redacts="Stripe secret and restricted keys (sk_live_, rk_test_, ...)",
        example="charge failed with key sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        secret="sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    ),
    Pattern(
        name="google_api_key",
        regex=r"AIza[0-9A-Za-z_\-]{35}",
        replacement=MASK,
        trigger=r"(?-i:AIza[0-9A-Za-z_\-]{35})",
        words=("aiza",),
        redacts="Google API keys (AIza...)",
        example="maps key AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe loaded",
        secret="AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    ),
    Pattern(
        name="sqlalchemy_parameters",
        regex=_PARAMS_START.pattern,
        replacement="",
        trigger=r"\[parameters: |\[(?:generated in|cached since|no key|raw sql|dialect|insertmanyvalues)",
        words=(
            "[parameters: ",
            "[generated in",
            "[cached since",
            "[no key",
            "[raw sql",
            "[dialect",
            "[insertmanyvalues",
        ),
        redacts="every string value in SQLAlchemy's parameter echo ([parameters: ...] after an error, "
        "and engine logging's [generated in ...] lines), tuples and dicts alike; numbers, None, "
        "booleans and dict keys stay",
        example="[parameters: ('t0pS3cret', 5, None)]",
        secret="t0pS3cret",
        function=redact_parameters_series,
        common=True,
    ),
    Pattern(
        name="xml_element",
        regex=r"(?i)(<[\w.:-]*" + _KEY + r">)[^<]*(</)",
        replacement="${1}" + MASK + "${2}",
        trigger=_KEY + r">",
        words=_KEY_WORDS,
        redacts="XML elements named like a secret (<password>...</password>, <ns:apiKey>...)",
        example="<datasource><user>app</user><password>xml-S3cret</password></datasource>",
        secret="xml-S3cret",
    ),
    Pattern(
        name="key_double_quoted",
        regex=(
            r"(?i)(" + _KEY + r"(?:\\+\")?[ \t]*(?:=>?|:=?)[ \t]*\\+\")(?:[^\"\\\n]|\\+[^\"\\\n])*(\\+\")"
            r"|(" + _KEY + r"[\"']?[ \t]*(?:=>?|:=?)[ \t]*\")(?:[^\"\\\n]|\\.)*(\")"
        ),
        replacement="${1}${3}" + MASK + "${2}${4}",
        trigger=_KEY + _KEY_END,
        words=_KEY_WORDS,
        redacts='double-quoted values of secret-named keys: JSON ("password": "..."), escaped JSON '
        'inside a message ({\\"password\\": \\"...\\"}), key="..."; keys are any name ending in '
        "password, passwd, pwd, pass, secret, token, api_key/apikey, access_key, private_key, auth, "
        "credential(s) or signature (client_secret, access_token, PGPASSWORD, ...)",
        example='payload {\\"user\\": \\"ann\\", \\"password\\": \\"js0n-S3cret\\"} sent',
        secret="js0n-S3cret",
    ),
    Pattern(
        name="key_single_quoted",
        regex=r"(?i)(" + _KEY + _KEY_END + r"')(?:[^'\\\n]|\\.|'')*(')",
        replacement="${1}" + MASK + "${2}",
        trigger=_KEY + _KEY_END,
        words=_KEY_WORDS,
        redacts="single-quoted values of secret-named keys: a Python dict's repr ('client_secret': '...'), "
        "password='...'",
        example="oauth client {'client_id': 'web', 'client_secret': 'dict-S3cret'}",
        secret="dict-S3cret",
    ),
    Pattern(
        name="key_line",
        regex=(
            r"(?im)((?:^|\\[nr])[ \t]*(?:-[ \t]+)?[\w.-]*" + _KEY + r"[ \t]*[:=][ \t]*)"
            r"[^\s'\"\\](?:[^\r\n\"\\]|\\[^nr\"])*"
        ),
        replacement="${1}" + MASK,
        trigger=_KEY + _KEY_END,
        words=_KEY_WORDS,
        redacts="a secret-named key at the start of a line (YAML, .ini, .env, a config dump): the rest "
        "of the line, spaces included",
        example="  password: correct horse battery staple",
        secret="correct horse battery staple",
    ),
    Pattern(
        name="key_unquoted",
        regex=r"(?i)((?:" + _KEY + _KEY_END + r"\\*[\"']?)+)" + _BARE,  # key: key: value is one
        replacement="${1}" + MASK,
        trigger=_KEY + _KEY_END,
        words=_KEY_WORDS,
        redacts="unquoted values of secret-named keys anywhere in a line, up to a space or separator: "
        "password=..., PGPASSWORD=..., MYSQL_PWD=..., --password=..., PWD=...; in a DSN, "
        "api_key: ..., ?access_token=...&",
        example="running PGPASSWORD=pg-S3cret pg_dump -h db-2 reports",
        secret="pg-S3cret",
    ),
    Pattern(
        name="sql_identified_by",
        regex=(
            r"(?i)(IDENTIFIED[ \t]+(?:BY|WITH[ \t]+\S+[ \t]+(?:BY|AS)|VIA[ \t]+\S+[ \t]+(?:USING|AS))[ \t]+"
            r"(?:PASSWORD[ \t]+)?)" + _SQL_STRING
        ),
        replacement="${1}" + _SQL_STRING_KEEP_QUOTES,
        trigger=r"identified\s",
        words=("identified",),
        redacts="MySQL/MariaDB IDENTIFIED BY '...' / \"...\" (also WITH plugin BY/AS, VIA plugin USING)",
        example="CREATE USER 'report'@'%' IDENTIFIED BY \"n3w-Pa55\"",
        secret="n3w-Pa55",
    ),
    Pattern(
        name="sql_password_function",
        regex=r"(?i)((?:OLD_)?PASSWORD[ \t]*\([ \t]*)" + _SQL_STRING,
        replacement="${1}" + _SQL_STRING_KEEP_QUOTES,
        trigger=r"password\s*\(",
        words=("password",),
        redacts="SQL PASSWORD('...') and OLD_PASSWORD('...')",
        example="SET PASSWORD FOR 'app'@'%' = PASSWORD('xY9-secret')",
        secret="xY9-secret",
    ),
    Pattern(
        name="sql_set_password",
        regex=r"(?i)(SET[ \t]+PASSWORD\b[^=\n]*=[ \t]*)" + _SQL_STRING,
        replacement="${1}" + _SQL_STRING_KEEP_QUOTES,
        trigger=r"set\s+password",
        words=("password",),
        redacts="MySQL SET PASSWORD [FOR user] = '...'",
        example="SET PASSWORD FOR 'app'@'%' = 'k2-Lm9-pq'",
        secret="k2-Lm9-pq",
    ),
    Pattern(
        name="sql_role_password",
        regex=r"(?i)(PASSWORD[ \t]+E?)(')(?:[^'\\\n]|\\.|'')*(')",
        replacement="${1}${2}" + MASK + "${3}",
        trigger=r"password\s+e?'",
        words=("password",),
        redacts="PostgreSQL CREATE/ALTER ROLE/USER ... [ENCRYPTED] PASSWORD '...'",
        example="STATEMENT:  ALTER ROLE app WITH ENCRYPTED PASSWORD 'pg-S3cret' VALID UNTIL 'infinity'",
        secret="pg-S3cret",
    ),
    Pattern(
        name="cmdline_password_arg",
        regex=r"(?i)((?:^|\s|\\[tnr])--?(?:password|passwd|pass|pwd)[ \t]+)" + _ARG,
        replacement="${1}" + MASK,
        trigger=r"-(?:pass|pwd)\w*[ \t]",
        words=("-pass", "-pwd"),
        redacts="--password <secret> (a space instead of =) on a command line; --password=<secret> is key_unquoted's",
        example="pg_basebackup --host db-2 --password Zx81-spectrum --verbose",
        secret="Zx81-spectrum",
    ),
    Pattern(
        name="sshpass",
        regex=r"(sshpass\b[^\n]*?(?:[ \t]|\\t)-p(?:[ \t]|\\t)+)[^\s\\]+",
        replacement="${1}" + MASK,
        trigger=r"sshpass",
        words=("sshpass",),
        redacts="sshpass -p <password>",
        example="sshpass -p Hunter2-x ssh backup@db-1 true",
        secret="Hunter2-x",
    ),
    Pattern(
        name="cmdline_user_password",
        regex=r"(?m)((?:^|\s|\\[tnr])(?:-u|--user)(?:[ \t]+|=)?['\"]?[^\s:'\"]+:)[^\s'\"]+",
        replacement="${1}" + MASK,
        trigger=r"(?:-u|--user)(?:\s+|=)?['\"]?[^\s:'\"]+:",
        words=("-u",),
        redacts="curl/wget -u user:password and --user user:password",
        example="curl -sf -u admin:Adm1n-Pw https://db-1:8443/health",
        secret="Adm1n-Pw",
    ),
    Pattern(
        name="cmdline_p",
        regex=r"(?m)((?:^|\s|\\[tnr])-p)" + _ARG,
        replacement="${1}" + MASK,
        trigger=r"(?:\s|\\[tnr])-p\S",
        words=_DASH_P,
        redacts="-p<password> on any command line (mysql, mysqldump, mysqladmin, mariadb, scripts ...)",
        example="running mysqldump -h db-1 -u root -pR00t-pw --all-databases",
        secret="R00t-pw",
    ),
]

# Not secrets, though a pattern would take them for one.  Each row's regex inserts _MARK
# where it breaks the pattern's match (the regex engine has no look-around to say "but not
# this"); the mark goes again after the catalogue.  Each example must come out unchanged.
_MARK = "\ue000"


@dataclass(frozen=True)
class NotSecret:
    name: str
    words: tuple[str, ...]
    regex: str
    replacement: str  # the text with _MARK inserted
    example: str


NOT_SECRETS: list[NotSecret] = [
    NotSecret(
        name="mysql_using_password",
        words=("using password",),
        regex=r"(?i)(using password)(: (?:YES|NO)\b)",
        replacement="${1}" + _MARK + "${2}",
        example="Access denied for user 'app'@'10.0.0.5' (using password: YES)",
    ),
    NotSecret(
        name="single_dash_long_option",  # Go's flags: -port=8080, -profile=test
        words=_DASH_P,
        regex=(
            r"(-)(p(?:ort|rofile|ath|prof|refix|rint|roject|id|idfile|ool|arallel|rotocol|roxy|ublic|retty"
            r"|lugin|latform|ackage|kg|age|eer|olicy|riority|rune|ull|ush)\b)"
        ),
        replacement="${1}" + _MARK + "${2}",
        example="./accountservice-linux-amd64 -profile=test -port 6767",
    ),
]

#: the pre-filter: rows without a match skip the catalogue
TRIGGER = "(?i)" + "|".join(f"(?:{t})" for t in dict.fromkeys(p.trigger for p in CATALOGUE))
_TEXT_TRIGGER = re.compile(TRIGGER)

_TRIGGERS = ["(?i)" + p.trigger for p in CATALOGUE]
_COMMON = [i for i, p in enumerate(CATALOGUE) if p.common]
# the triggers of every other pattern and of NOT_SECRETS (their words must be searched for)
_RARE_TRIGGER = "(?i)" + "|".join(f"(?:{t})" for t in dict.fromkeys(p.trigger for p in CATALOGUE if not p.common))
# word -> the catalogue rows (by position) that need it; NOT_SECRETS' rows are -1, -2, ...
_WORDS: list[str] = sorted({w for p in CATALOGUE for w in p.words} | {w for n in NOT_SECRETS for w in n.words})
_ROWS_OF_WORD: dict[str, list[int]] = {}
for _row, _words in [(i, p.words) for i, p in enumerate(CATALOGUE)] + [
    (-1 - i, n.words) for i, n in enumerate(NOT_SECRETS)
]:
    for _word in _words:
        _ROWS_OF_WORD.setdefault(_word, []).append(_row)


def _apply(pattern: Pattern, texts: pl.Series) -> pl.Series:
    if pattern.function is not None:
        return pattern.function(texts)
    return texts.str.replace_all(pattern.regex, pattern.replacement)


def redact_series(texts: pl.Series) -> pl.Series:
    """``texts`` redacted (meant for the rows that passed :data:`TRIGGER`: any others
    cost time but come out unchanged).  Each pattern runs only on the rows that hold one
    of its words and match its trigger."""
    import polars as pl

    if texts.len() == 0:
        return texts
    rows_of: dict[int, list[int]] = {}
    checked: set[int] = set()  # rows_of[row] already holds only the texts that match its trigger
    for row in _COMMON:
        matching: list[int] = texts.str.contains(_TRIGGERS[row]).arg_true().to_list()
        if matching:
            rows_of[row] = matching
        checked.add(row)
    # which of the other patterns each row may need: one Aho-Corasick pass over the rows that
    # match any of their triggers, then a dict per word
    rare = texts.str.contains(_RARE_TRIGGER).arg_true()
    if rare.len():
        found = texts.gather(rare).str.extract_many(_WORDS, ascii_case_insensitive=True, overlapping=True)
        for i, words in zip(rare.to_list(), found.to_list()):
            if words:
                for row in {row for word in words for row in _ROWS_OF_WORD[word.lower()]} - checked:
                    rows_of.setdefault(row, []).append(i)
    texts = texts.clone()  # scatter writes in place
    hidden: set[int] = set()
    for i, not_secret in enumerate(NOT_SECRETS):
        at = rows_of.get(-1 - i)
        if at:
            texts = texts.scatter(at, texts.gather(at).str.replace_all(not_secret.regex, not_secret.replacement))
            hidden.update(at)
    for row, pattern in enumerate(CATALOGUE):
        at = rows_of.get(row)
        if not at:
            continue
        part = texts.gather(at)
        keep = part.str.contains(_TRIGGERS[row]) if row not in checked else None
        if keep is not None and not keep.all():
            if not keep.any():
                continue
            at = pl.Series(at).filter(keep).to_list()
            part = part.filter(keep)
        texts = texts.scatter(at, _apply(pattern, part))
    if hidden:
        at = sorted(hidden)
        texts = texts.scatter(at, texts.gather(at).str.replace_all(_MARK, "", literal=True))
    return texts


def redact_expr(expr: pl.Expr) -> pl.Expr:
    """The catalogue as an expression (every row goes through the pre-filter first)."""
    import polars as pl

    def batch(texts: pl.Series) -> pl.Series:
        mask = texts.fill_null("").str.contains(TRIGGER)
        if not mask.any():
            return texts
        rows = mask.arg_true()
        return texts.scatter(rows, redact_series(texts.gather(rows)))

    return expr.map_batches(batch, return_dtype=pl.String)


def redact_columns(frame: pl.DataFrame, columns: list[str], *, mask_column: str | None = None) -> pl.DataFrame:
    """Redact ``columns``.  ``mask_column`` names one column whose text contains all the
    others (an event's ``raw`` holds its ``message``), so only it is scanned for triggers.

    Only the few rows with a trigger are rewritten; their new values are scattered
    back by position, so the other rows' text is never copied."""
    import polars as pl

    present = [c for c in columns if c in frame.columns]
    if not present or frame.height == 0:
        return frame
    scanned = [mask_column] if mask_column in frame.columns else present
    mask = frame.select(pl.any_horizontal([pl.col(c).fill_null("").str.contains(TRIGGER) for c in scanned])).to_series()
    if not mask.any():
        return frame
    rows = mask.arg_true()
    return frame.with_columns(
        [frame[c].clone().scatter(rows, redact_series(frame[c].gather(rows))).alias(c) for c in present]
    )


def redact_text(text: str) -> str:
    """Redact one string (for messages printed outside the store, file names)."""
    if not text or not _TEXT_TRIGGER.search(text):  # Python's re reads the trigger alike
        return text
    import polars as pl

    redacted: str = pl.select(redact_expr(pl.lit(text, pl.String))).item()
    return redacted


def catalogue_markdown() -> str:
    """The table of what is redacted, in docs/reliability.md between the <!-- redaction-table --> markers."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def prose(text: str) -> str:  # outside a code span, <password> would be read as HTML
        return cell(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    lines = ["| pattern | redacts | example | becomes |", "|---|---|---|---|"]
    for p in CATALOGUE:
        lines.append(
            f"| `{p.name}` | {prose(p.redacts)} | `{cell(p.example)}` | `{cell(p.example.replace(p.secret, MASK))}` |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(catalogue_markdown(), end="")

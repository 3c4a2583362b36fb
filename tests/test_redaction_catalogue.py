"""The redaction catalogue: every pattern's example, planted secrets end to end, random
surroundings (hypothesis), no false positives on the sample logs, the table of docs/reliability.md."""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipeline.cli import cli
from pipeline.ingest.redact import (
    CATALOGUE,
    MASK,
    NOT_SECRETS,
    catalogue_markdown,
    redact_columns,
    redact_parameters,
    redact_text,
)

DAY = "2026-11-20"
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"


class Tokens:
    """Unique random secrets, by name."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.by_name: dict[str, str] = {}

    def __call__(self, name: str, n: int = 22, alphabet: str = ALNUM, prefix: str = "") -> str:
        assert name not in self.by_name
        value = prefix + "".join(self.rng.choice(alphabet) for _ in range(n))
        assert value not in self.by_name.values()
        self.by_name[name] = value
        return value


SA_TB = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/.venv/lib/python3.11/site-packages/sqlalchemy/engine/base.py", line 1977, in _exec_single_context\n'
    "    self.dialect.do_execute(\n"
    '  File "/srv/app/.venv/lib/python3.11/site-packages/pymysql/connections.py", line 844, in _read_bytes\n'
    "    raise err.OperationalError(\n"
    "pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')\n"
    "\n"
    "The above exception was the direct cause of the following exception:\n"
    "\n"
    "Traceback (most recent call last):\n"
    '  File "/srv/app/jobs.py", line 310, in _job\n'
    "    conn.execute(\n"
    "sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) (2013, 'Lost connection to MySQL server "
    "during query')\n"
    "[SQL: {sql}]\n"
    "[parameters: {params}]\n"
    "(Background on this error at: https://sqlalche.me/e/20/e3q8)\n"
)


def plant_logs(root: Path, seed: int = 20261120) -> dict[str, str]:
    """Write an application's logs (text and JSON lines, a latency probe) and two database
    servers' logs (MariaDB, PostgreSQL) under ``root`` with secrets planted in every form
    the catalogue covers; return the secrets by name."""
    t = Tokens(seed)
    web, db1, db2 = root / "web-1", root / "db-1", root / "db-2"
    for folder in (web, db1, db2):
        folder.mkdir(parents=True, exist_ok=True)

    aws = {k: t(k, 16, UPPER, prefix=p) for k, p in [("aws_id_env", "AKIA"), ("aws_id_cfg", "ASIA")]}
    jwt_payload, jwt_sig = t("jwt_payload", 30, ALNUM + "-_", prefix="eyJzdWIiOi"), t("jwt_signature", 43, ALNUM + "-_")
    jwt = f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{jwt_payload}.{jwt_sig}"
    stamp = f"{DAY} 10:00:{{:02d}},{{:03d}}"

    def line(sec: int, ms: int, logger: str, level: str, message: str) -> str:
        return f"{stamp.format(sec, ms)} - {logger} - {level} - {message}\n"

    response_headers = (
        "response headers {'Content-Type': 'application/json', "
        f"'Set-Cookie': 'sid={t('set_cookie')}; Path=/; HttpOnly', 'Authorization': 'Bearer {t('bearer_dict')}'}}"
    )
    aws_environment = (
        f"environment AWS_ACCESS_KEY_ID={aws['aws_id_env']} AWS_SECRET_ACCESS_KEY={t('aws_secret_env', 40, B64)} "
        "AWS_DEFAULT_REGION=eu-west-1"
    )
    webhook = f'webhook payload="{{\\"event\\": \\"signup\\", \\"password\\": \\"{t("escaped_json")}\\"}}"'
    azure_blob = (
        f"blob DefaultEndpointsProtocol=https;AccountName=appstore;AccountKey={t('azure_key', 86, B64)}==;"
        "EndpointSuffix=core.windows.net"
    )
    settings_dict = f"settings {{'user': 'app', 'passwd': '{t('dict_passwd')}', 'token': \"{t('dict_token')}\"}}"
    app = [
        # an orphan line before any event: a reject
        f"  Authorization: Bearer {t('reject_bearer')}\n",
        line(0, 0, "app", "INFO", "Service starting with 4 workers (web=4)."),
        line(
            0, 100, "app.db", "INFO", f"engine mysql+pymysql://app:{t('url_space_a')} {t('url_space_b')}@db-1:3306/app"
        ),
        line(0, 200, "app.db", "INFO", f"replica postgresql://report:{t('url_at')}%40x@db-2:5432/reports ready"),
        line(0, 300, "app.cache", "INFO", f"cache redis://:{t('url_redis')}@cache-1:6379/0 ready"),
        line(0, 350, "app.mq", "INFO", f"broker amqp://guest:{t('url_amqp')}@mq-1:5672// connected"),
        line(0, 400, "app.http", "DEBUG", "outgoing request headers:")
        + f"Authorization: Bearer {t('bearer_header')}\n"
        + f"Proxy-Authorization: Basic {t('proxy_basic', 28, B64)}=\n"
        + f"Cookie: sessionid={t('cookie_header')}; csrftoken={t('cookie_csrf')}\n"
        + "Accept: application/json\n",
        line(0, 500, "app.http", "DEBUG", response_headers),
        line(0, 600, "app.backup", "INFO", f"running PGPASSWORD={t('pgpassword')} pg_dump -h db-2 -U report reports"),
        line(0, 700, "app.backup", "INFO", f"running MYSQL_PWD={t('mysql_pwd')} mysqldump -h db-1 -u app app"),
        line(
            0, 800, "app.backup", "INFO", f"running mysqldump -h db-1 -u root -p{t('dash_p_mysqldump')} --all-databases"
        ),
        line(
            0, 900, "app.backup", "INFO", f"running /usr/local/bin/backup.sh --host db-1 -p{t('dash_p_other')} --gzip"
        ),
        line(1, 0, "app.backup", "INFO", f"running mariadb-admin --user=root --password={t('dash_password')} status"),
        line(1, 100, "app.aws", "INFO", aws_environment),
        line(1, 200, "app.aws", "DEBUG", "loaded ~/.aws/credentials:")
        + "[default]\n"
        + f"aws_access_key_id = {aws['aws_id_cfg']}\n"
        + f"aws_secret_access_key = {t('aws_secret_cfg', 40, B64)}\n",
        line(1, 300, "app.config", "DEBUG", "settings loaded:")
        + "database:\n  host: db-1\n  user: app\n"
        + f"  password: {t('yaml_password')}\n"
        + f"  api_key: {t('yaml_api_key')}\n",
        line(1, 400, "app.auth", "INFO", f"token refreshed: access_token={t('access_token')}&token_type=bearer"),
        line(
            1, 500, "app.auth", "DEBUG", f"oauth client {{'client_id': 'web', 'client_secret': '{t('client_secret')}'}}"
        ),
        line(1, 600, "app.auth", "INFO", f"issued {jwt} for user 42"),
        line(1, 700, "app.api", "INFO", webhook),
        line(
            1, 800, "app.admin", "INFO", f"executing: CREATE USER 'report'@'%' IDENTIFIED BY \"{t('identified_dq')}\""
        ),
        line(1, 900, "app.tls", "DEBUG", "loaded key")
        + "-----BEGIN RSA PRIVATE KEY-----\n"
        + f"{t('private_key_1', 64, B64)}\n{t('private_key_2', 64, B64)}\n"
        + "-----END RSA PRIVATE KEY-----\n",
        line(2, 0, "app.storage", "INFO", azure_blob),
        line(2, 100, "app.odbc", "INFO", f"DSN=reports;UID=app;PWD={t('odbc_pwd')};"),
        line(2, 200, "app.api", "INFO", f"GET https://api.example.com/v1/x?apikey={t('apikey_query')}&page=2 200"),
        line(2, 300, "app.api", "INFO", settings_dict),
    ]
    # a burst of dropped connections, each carrying secrets in its first line and traceback
    for i in range(6):
        sql = "UPDATE users SET password_hash=%s, api_token=%s WHERE id=%s"
        params = f"('{t(f'params_{i}')}', '{t(f'params_b_{i}')}', {1000 + i})"
        first = f"Job {i} failed: database error (dsn mysql://app:{t(f'drop_dsn_{i}')}@db-1/app)"
        app.append(line(10 + i, 0, "app.worker", "ERROR", first) + SA_TB.format(sql=sql, params=params))
    (web / "app.log").write_text("".join(app))

    def jl(sec: int, level: str, logger: str, message: str, **extra: object) -> str:
        record = {"timestamp": f"{DAY}T10:00:{sec:02d}.500000Z", "level": level, "logger": logger, "message": message}
        return json.dumps({**record, **extra}) + "\n"

    gcp = {
        "type": "service_account",
        "project_id": "shop-prod",
        "private_key_id": "0a1b2c3d4e5f",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{t('gcp_private_key', 64, B64)}\n-----END PRIVATE KEY-----\n",
        "client_email": "app@shop-prod.iam.gserviceaccount.com",
    }
    jsonl = [
        jl(
            3,
            "ERROR",
            "app.http",
            "upstream call failed",
            exc_info='Traceback (most recent call last):\n  File "/srv/app/http.py", line 10, in call\n'
            f"    raise HTTPError(req)\nHTTPError: 401 for headers\nAuthorization: Bearer {t('json_exc_bearer')}\n",
        ),
        jl(
            4,
            "INFO",
            "app.aws",
            "assumed role",
            credentials={
                "AccessKeyId": t("aws_id_json", 16, UPPER, prefix="ASIA"),
                "SecretAccessKey": t("aws_secret_json", 40, B64),
                "SessionToken": t("aws_session_token", 60, B64),
            },
        ),
        jl(5, "INFO", "app.gcp", "service account loaded", sa=gcp),
        jl(
            6,
            "DEBUG",
            "app.http",
            "request",
            headers={"Authorization": f"Bearer {t('json_header_bearer')}", "Cookie": f"sid={t('json_cookie')}"},
        ),
        jl(7, "INFO", "app.api", f'payload {{"user": "ann", "password": "{t("json_in_message")}"}}'),
        jl(
            20,
            "ERROR",
            "app.worker",
            "Job 9 failed: database error",
            exc_info=SA_TB.format(sql="INSERT INTO sessions VALUES (%s, %s)", params=f"('{t('params_json')}', 7)"),
        ),
    ]
    (web / "app.jsonl").write_text("".join(jsonl))
    probe = f"mysql://probe:{t('latency_target')}@db-1:3306"
    (web / "latency.csv").write_text(
        f"timestamp,target,rtt_ms\n{DAY}T10:00:06.000000Z,{probe},0.5\n{DAY}T10:00:07.000000Z,{probe},0.6\n"
    )

    (db1 / "mariadb-error.log").write_text(
        f"{DAY} 10:00:00 0 [Note] Starting MariaDB 10.11.6-MariaDB source revision 0 as process 812\n"
        f"{DAY} 10:00:05 0 [ERROR] /usr/sbin/mariadbd: unknown option '--password={t('mariadb_option')}'\n"
        f"{DAY} 10:00:06 12 [Warning] Access denied for user 'app'@'10.0.0.5' (using password: YES)\n"
        f"{DAY} 10:00:07 0 [ERROR] Slave SQL: Error 'Operation CREATE USER failed' on query. Default database: ''. "
        f"Query: 'CREATE USER 'svc'@'%' IDENTIFIED BY '{t('mariadb_identified')}'', Gtid 0-1-5, "
        "Internal MariaDB error code: 1396\n"
        + "".join(
            f"{DAY} 10:00:{10 + i:02d} {20 + i} [Warning] Aborted connection {20 + i} to db: 'app' user: 'app' "
            "host: '10.0.0.5' (Got an error reading communication packets)\n"
            for i in range(6)
        )
    )
    (db2 / "postgresql.log").write_text(
        f"{DAY} 10:00:04.000 UTC [2101] LOG:  statement: CREATE ROLE report LOGIN PASSWORD '{t('pg_create_role')}'\n"
        f'{DAY} 10:00:04.100 UTC [2102] ERROR:  role "svc" does not exist\n'
        f"{DAY} 10:00:04.100 UTC [2102] STATEMENT:  ALTER ROLE svc WITH ENCRYPTED PASSWORD '{t('pg_alter_role')}'\n"
        f'{DAY} 10:00:04.200 UTC [2103] FATAL:  password authentication failed for user "app"\n'
        f"{DAY} 10:00:04.300 UTC [2104] LOG:  connection received: host=10.0.0.5 port=51200\n"
    )
    return t.by_name


# -- (1) every row of the catalogue ---------------------------------------------------------


@pytest.mark.parametrize("pattern", CATALOGUE, ids=lambda p: p.name)
def test_catalogue_example_is_redacted_and_the_rest_kept(pattern):
    assert "\n" not in pattern.example, "examples are one line (they are shown in the table of docs/reliability.md)"
    assert pattern.secret in pattern.example
    expected = pattern.example.replace(pattern.secret, MASK)
    assert redact_text(pattern.example) == expected
    # the batch path (what ingest runs) gives the same, and the cheap filters let the example through
    frame = redact_columns(pl.DataFrame({"raw": ["nothing to see", pattern.example]}), ["raw"])
    assert frame["raw"].to_list() == ["nothing to see", expected]
    assert re.search(pattern.trigger, pattern.example, re.IGNORECASE)
    assert any(word in pattern.example.lower() for word in pattern.words)
    assert all(word == word.lower() for word in pattern.words)


@pytest.mark.parametrize("not_secret", NOT_SECRETS, ids=lambda n: n.name)
def test_what_only_looks_like_a_secret_stays(not_secret):
    assert redact_text(not_secret.example) == not_secret.example
    assert any(word in not_secret.example.lower() for word in not_secret.words)
    # and what is next to it still goes
    assert redact_text(not_secret.example + " password=Hunter2xx") == not_secret.example + " password=***"


@pytest.mark.parametrize(
    "echo,expected",
    [
        ("[parameters: ('s3cr3t', 5, None, True, 1.5)]", "[parameters: ('***', 5, None, True, 1.5)]"),
        (
            "[parameters: {'ref': 'PAY-1', u'n': 2, \"it's\": b'x'}]",
            "[parameters: {'ref': '***', u'n': 2, \"it's\": b'***'}]",
        ),
        ("[parameters: [('a', 1), ('b', 2)]]", "[parameters: [('***', 1), ('***', 2)]]"),
        ("[parameters: ('cut off", "[parameters: ('***"),
        (
            "INFO sqlalchemy.engine.Engine [generated in 0.00012s] ('x', 3)",
            "INFO sqlalchemy.engine.Engine [generated in 0.00012s] ('***', 3)",
        ),
        ("[cached since 81.6s ago] {'pw': 'y'}", "[cached since 81.6s ago] {'pw': '***'}"),
        (
            "[SQL: SELECT 'kept' FROM t]\n[parameters: ('gone',)]\n('kept too',)",
            "[SQL: SELECT 'kept' FROM t]\n[parameters: ('***',)]\n('kept too',)",
        ),
        (
            '{"exc_info": "E\\n[parameters: {\'w\': \'slow-1\', \\"k\\": \\"it\'s\\"}]\\n(Background", "n": "x"}',
            '{"exc_info": "E\\n[parameters: {\'w\': \'***\', \\"k\\": \\"***\\"}]\\n(Background", "n": "x"}',
        ),
    ],
)
def test_parameter_echo_keeps_its_shape(echo, expected):
    assert redact_parameters(echo) == expected
    assert redact_text(echo) == expected


def test_catalogue_names_are_unique_identifiers():
    names = [p.name for p in CATALOGUE] + [n.name for n in NOT_SECRETS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)


def test_python_and_polars_read_the_trigger_alike(tmp_path):
    """redact_text filters with Python's re (no polars for a string without a trigger);
    ingest filters with polars: the same lines must pass both."""
    from pipeline.ingest.redact import _TEXT_TRIGGER, TRIGGER
    from tests.conftest import SAMPLE_LOGS

    plant_logs(tmp_path)
    lines = [p.example for p in CATALOGUE] + [n.example for n in NOT_SECRETS]
    for folder in (tmp_path, SAMPLE_LOGS):
        lines += [ln for f in sorted(folder.rglob("*.*")) for ln in f.read_text(errors="replace").splitlines()]
    by_polars = pl.Series(lines, dtype=pl.String).str.contains(TRIGGER).to_list()
    by_python = [bool(_TEXT_TRIGGER.search(line)) for line in lines]
    assert [line for line, a, b in zip(lines, by_polars, by_python) if a != b] == []
    assert sum(by_python) > 100


def test_docs_table_is_the_catalogue():
    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    shown = page.split("<!-- redaction-table -->", 1)[1].split("<!-- /redaction-table -->", 1)[0]
    assert shown.strip() == catalogue_markdown().strip(), "regenerate it: python tests/test_docs.py --write"


@pytest.mark.parametrize(
    "text",
    [
        "Access denied for user 'app'@'10.0.0.5' (using password: YES)",
        '2026-11-20 10:00:04.200 UTC [2103] FATAL:  password authentication failed for user "app"',
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
        '  File "/srv/app/venv/lib/python3.11/site-packages/pymysql/connections.py", line 789, in _read_packet',
        "pymysql.err.IntegrityError: (1062, \"Duplicate entry 'PAY-878' for key 'uq_payment_ref'\")",
        "2026-11-25  0:34:00 0 [Note] Starting MariaDB 10.11.19 server_uid uJjiStuaD/GmOVT9rsop/wP6maw= as process 8902",
        "token_type=bearer expires_in=3600 user=app max_tokens: 5",
        "auth_plugin=mysql_native_password default_authentication_plugin=caching_sha2_password",
        "IDENTIFIED WITH mysql_native_password",
        "mkdir -p /var/lib/mysql && pip install -r requirements.txt",
        '{"message": "engine ready", "pool_size": 5, "url": "mysql+pymysql://app@db-1/app"}',
        "GET /login?next=/account 200; pool_size=5 max_overflow=10; Lost connection to MySQL server",
    ],
)
def test_ordinary_log_text_is_untouched(text):
    assert redact_text(text) == text


# -- (3) random surroundings -----------------------------------------------------------------

SECRET_CHARS = ALNUM + "!#$%^*_-+.~="
KEY_NAMES = [
    *("password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_token", "client_secret"),
    *("db_password", "PGPASSWORD", "MYSQL_PWD", "MYSQL_ROOT_PASSWORD", "x-api-key", "auth_token", "refresh_token"),
    *("spring.datasource.password", "aws_secret_access_key", "SecretAccessKey", "secret_key", "passphrase"),
]
# what may stand before a form (ending in a space or a line break, as words are separated in logs)
BEFORE = [" ", "\t", "\n", "\r\n", ": ", ", ", "; ", " | ", " - ", " ( ", " [ ", " { "]
# what may stand after it
AFTER = ["", " ", "\t", "\n", ",", ";", ")", "]", "}", " | ", ", next=1", "; next", "&next=1"]
FILLER = st.text(alphabet=string.ascii_letters + string.digits + " .,:;-_/()[]{}<>|#=+", max_size=30)


def secrets_of(alphabet: str = SECRET_CHARS, min_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=40).filter(lambda s: s[0] not in "-=")


def _case(draw, name: str) -> str:
    return draw(st.sampled_from([name, name.upper(), name.lower(), name.title()]))


# forms that are a fixed text around the secret (s) and a key's name (key), by number
TEMPLATE_FORMS = {
    0: "{key}={s}",
    1: "{key}: {s}",
    3: '"{key}": "{s}"',
    4: "'{key}': '{s}'",
    5: '{{\\"{key}\\": \\"{s}\\"}}',
    18: "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={s};EndpointSuffix=core.windows.net",
    19: "sshpass -p {s} ssh backup@db-1",
    20: "curl -u admin:{s} https://db-1:8443/",
    21: "<{key}>{s}</{key}>",
    23: "dsn app:{s}@tcp(db-1:3306)/app",
    25: "https://api.example.com/v1/x?page=2&{key}={s}&q=1",
}


@st.composite
def planted_form(draw) -> tuple[str, list[str]]:
    """A secret in one of the catalogue's forms: (text, [what must not remain])."""
    s = draw(secrets_of())
    key = _case(draw, draw(st.sampled_from(KEY_NAMES)))
    form = draw(st.integers(0, 27))
    if form in TEMPLATE_FORMS:
        return TEMPLATE_FORMS[form].format(key=key, s=s), [s]
    if form == 2:
        quote = draw(st.sampled_from(["'", '"']))
        sep = draw(st.sampled_from(["=", " = ", ": ", ":", "=>"]))
        return f"{key}{sep}{quote}{s} {s[::-1]}{quote}", [s, s[::-1]]
    if form == 6:  # a line of YAML / .env / .ini: the value runs to the end of the line
        sep = draw(st.sampled_from([": ", "=", " = "]))
        indent = draw(st.sampled_from(["", "  ", "    ", "- "]))
        return f"\n{indent}{key}{sep}{s} {s[::-1]}\n", [s, s[::-1]]
    if form == 7:  # a URL, its password with a space, an @ or an encoded @ in it
        scheme = draw(st.sampled_from(["mysql", "mysql+pymysql", "postgresql", "postgres", "redis", "amqp", "https"]))
        user = draw(st.sampled_from(["app", "", "report_ro", "u.ser"]))
        pw = draw(st.sampled_from([s, f"{s} {s[::-1]}", f"{s}@x", f"{s}%40x", f"x@{s}"]))
        path = draw(st.sampled_from(["", "/app", ":3306/app?charset=utf8mb4", "/0"]))
        return f"{scheme}://{user}:{pw}@db-1.internal{path}", [s]
    if form == 8:
        header = _case(draw, draw(st.sampled_from(["Authorization", "Proxy-Authorization"])))
        scheme = draw(st.sampled_from(["Bearer ", "Basic ", "Token ", "", "Bearer  "]))
        shape = draw(st.sampled_from(["{h}: {v}", "'{h}': '{v}'", '"{h}": "{v}"', '{{\\"{h}\\": \\"{v}\\"}}']))
        return shape.format(h=header, v=scheme + s), [s]
    if form == 9:
        header = _case(draw, draw(st.sampled_from(["Cookie", "Set-Cookie"])))
        value = f"sid={s}; Path=/; HttpOnly"
        shape = draw(st.sampled_from(["{h}: {v}", "'{h}': '{v}'", '"{h}": "{v}"']))
        return shape.format(h=header, v=value), [s]
    if form == 10:
        command = draw(st.sampled_from(["mysql", "mysqldump", "mysqladmin", "mariadb", "/opt/bin/backup.sh", "myapp"]))
        flag = draw(st.sampled_from(["-p{s}", "-p'{s}'", '-p"{s}"', "--password={s}", "--password {s}", "--pwd {s}"]))
        return f"{command} -h db-1 -u root {flag.format(s=s)} --all", [s]
    if form == 11:
        quote = draw(st.sampled_from(["'", '"']))
        how = draw(st.sampled_from(["BY", "by", "WITH mysql_native_password BY", "BY PASSWORD", "VIA ed25519 USING"]))
        return f"CREATE USER 'app'@'%' IDENTIFIED {how} {quote}{s}{quote}", [s]
    if form == 12:
        verb = draw(
            st.sampled_from(["CREATE ROLE app LOGIN", "ALTER ROLE app WITH", "ALTER USER app", "create user x"])
        )
        enc = draw(st.sampled_from(["", "ENCRYPTED ", "encrypted "]))
        return f"{verb} {enc}PASSWORD '{s}'", [s]
    if form == 13:  # SQLAlchemy's parameter echo: any Python repr of a string
        value = draw(st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), min_size=8, max_size=30))
        other = draw(st.sampled_from(["5", "None", "'x'", "12.5", "True", "b'raw'"]))
        shape = draw(st.sampled_from(["({o}, {v})", "({v}, {o})", "{{'k': {v}, 'n': {o}}}", "[({v}, 1), ({o}, 2)]"]))
        body = shape.format(o=other, v=repr(value))
        lead = draw(st.sampled_from(["[parameters: ", "[generated in 0.00021s] ", "[cached since 3.2s ago] "]))
        end = "]" if lead.startswith("[parameters") else ""
        return f"{lead}{body}{end}", [repr(value)[1:-1]]
    if form == 14:
        kind = draw(st.sampled_from(["AKIA", "ASIA", "AROA"]))
        key_id = kind + draw(st.text(alphabet=UPPER, min_size=16, max_size=16))
        return f"aws_access_key_id={key_id}", [key_id]
    if form == 15:
        secret = draw(st.text(alphabet=B64, min_size=40, max_size=40))
        sep = draw(st.sampled_from(["=", " = ", ": ", "  ", '": "', "\t"]))
        name = draw(st.sampled_from(["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "SecretAccessKey"]))
        return f"{name}{sep}{secret}", [secret]
    if form == 16:
        payload = draw(st.text(alphabet=ALNUM + "_-", min_size=10, max_size=40))
        sig = draw(st.text(alphabet=ALNUM + "_-", min_size=20, max_size=43))
        return f"eyJhbGciOiJSUzI1NiJ9.eyJ{payload}.{sig}", [payload, sig]
    if form == 17:
        body = draw(st.lists(st.text(alphabet=B64, min_size=16, max_size=64), min_size=1, max_size=4))
        kind = draw(st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "]))
        nl = draw(st.sampled_from(["\n", "\\n"]))
        block = f"-----BEGIN {kind}PRIVATE KEY-----{nl}{nl.join(body)}{nl}-----END {kind}PRIVATE KEY-----"
        return block, body
    if form == 22:
        quote = draw(st.sampled_from(["'", '"']))
        return f"SET PASSWORD FOR 'app'@'%' = PASSWORD({quote}{s}{quote})", [s]
    if form == 24:
        token = draw(st.text(alphabet=ALNUM, min_size=36, max_size=40))
        return draw(st.sampled_from([f"ghp_{token}", f"xoxb-{token}", f"sk_live_{token}", f"glpat-{token}"])), [token]
    if form == 26:
        token = draw(secrets_of(ALNUM + "-._~+/", min_size=16))  # RFC 6750's token characters
        return f"{_case(draw, 'bearer')} {token}", [token]
    return f"{key} := {s}", [s]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    before=FILLER,
    after=FILLER,
    as_json=st.booleans(),
)
def test_planted_secret_never_survives_redaction(data, before, after, as_json):
    form, secrets = data.draw(planted_form())
    left = before + data.draw(st.sampled_from(BEFORE))
    right = data.draw(st.sampled_from(AFTER)) + after
    text = left + form + right
    if as_json:  # the same text as the message of a JSON log line: quotes, backslashes and newlines escaped
        text = json.dumps({"ts": "2026-11-20T10:00:00Z", "level": "ERROR", "message": text, "n": 1})
    for secret in secrets:
        assume(secret not in left + right)
    out = redact_text(text)
    for secret in secrets:
        assert secret not in out, f"{secret!r} survived in {out!r}"
        if as_json:
            assert json.dumps(secret)[1:-1] not in out, f"{secret!r} survived in {out!r}"


# -- (2) planted secrets, end to end -----------------------------------------------------------


def every_value_in_the_store(db: Path) -> list[tuple[str, str]]:
    """(table, text) for every value of every row of every table and view of the store."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return [
            (name, str(value))
            for name in names
            for row in con.execute(f'SELECT * FROM "{name}"').fetchall()
            for value in row
            if value is not None
        ]
    finally:
        con.close()


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_planted_secrets_reach_neither_the_store_nor_any_output(tmp_path):
    tokens = plant_logs(tmp_path / "logs")
    assert len(tokens) >= 32
    planted = "".join(p.read_text() for p in (tmp_path / "logs").rglob("*") if p.is_file())
    assert all(token in planted for token in tokens.values())  # every form really is in the logs
    db = str(tmp_path / "s.duckdb")

    outputs = {"ingest": run_cli("ingest", str(tmp_path / "logs"), "--db", db)}
    outputs["ingest --json"] = run_cli("ingest", str(tmp_path / "logs"), "--db", db, "--json")
    outputs["status"] = run_cli("status", "--db", db, "--json")
    outputs["incidents"] = run_cli("incidents", "--db", db, "--format", "json")
    incidents = json.loads(outputs["incidents"])
    assert incidents, "the burst of dropped connections makes an incident, so explain has evidence to show"
    for incident in incidents:
        outputs[f"explain {incident['id']}"] = run_cli("explain", incident["id"], "--db", db)
        outputs[f"explain {incident['id']} --json"] = run_cli("explain", incident["id"], "--db", db, "--json")
    outputs["digest"] = run_cli("digest", "--db", db, "--date", DAY)
    outputs["digest --json"] = run_cli("digest", "--db", db, "--date", DAY, "--json")

    stored = every_value_in_the_store(Path(db))
    leaks = {name: sorted({table for table, text in stored if token in text}) for name, token in tokens.items()}
    assert {name: tables for name, tables in leaks.items() if tables} == {}
    for what, text in outputs.items():
        assert [name for name, token in tokens.items() if token in text] == [], f"secrets in `pipeline {what}`"

    # redacted, not dropped: the lines are still there around the mask
    texts = "\n".join(text for _, text in stored)
    for kept in [
        "engine mysql+pymysql://app:***@db-1:3306/app",
        "running mysqldump -h db-1 -u root -p*** --all-databases",
        "CREATE ROLE report LOGIN PASSWORD '***'",
        "[parameters: ('***', '***', 1000)]",
        "(using password: YES)",
        "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----",
    ]:
        assert kept in texts
    assert json.loads(outputs["ingest --json"])["totals"]["events"] == 0  # the second run added nothing


def test_latency_evidence_lines_are_redacted(tmp_path):
    web = tmp_path / "logs" / "web-1"
    web.mkdir(parents=True)
    rows = [
        f"{DAY}T10:00:{s:02d}.000000Z,mysql://probe:LatencyS3cretXq@db-1:3306,{'' if 10 <= s <= 16 else '0.5'}"
        for s in range(60)
    ]
    (web / "latency.csv").write_text("timestamp,target,rtt_ms\n" + "\n".join(rows) + "\n")
    errors = [
        f"{DAY} 10:00:{10 + i:02d},000 - app.worker - ERROR - Job {i} failed: database error\n"
        + SA_TB.format(sql="SELECT 1", params="()")
        for i in range(6)
    ]
    (web / "app.log").write_text("".join(errors))
    db = str(tmp_path / "s.duckdb")
    run_cli("ingest", str(tmp_path / "logs"), "--db", db)
    stored = every_value_in_the_store(Path(db))
    assert any(table == "incident_evidence" and "probe:***@db-1" in text for table, text in stored)
    assert [table for table, text in stored if "LatencyS3cretXq" in text] == []


# -- (4) no false positives on the tool's own sample logs ---------------------------------------


def test_sample_logs_lose_nothing_but_parameter_values(sample_store, tmp_path, monkeypatch):
    """The sample logs ingested without redaction give the same events and the same incidents;
    the only text that differs is the string values of SQLAlchemy's parameter echo."""
    from pipeline.ingest import redact
    from pipeline.ingest.runner import ingest_paths
    from tests.conftest import SAMPLE_LOGS
    from tests.store_dump import dump

    monkeypatch.setattr(redact, "redact_columns", lambda frame, columns, **_: frame)
    plain = tmp_path / "plain.duckdb"
    ingest_paths([SAMPLE_LOGS], plain)
    monkeypatch.undo()

    before, after = dump(plain), dump(sample_store)
    assert {t: len(rows) for t, rows in before.items()} == {t: len(rows) for t, rows in after.items()}
    assert len(after["events"]) > 20000 and len(after["incidents"]) > 5
    changed = 0
    for table in before:
        for old_row, new_row in zip(before[table], after[table]):
            for old, new in zip(old_row, new_row):
                if old != new:
                    assert isinstance(old, str) and new == redact_parameters(old), (table, old, new)
                    changed += 1
    assert 0 < changed < 100  # the workers' names in [parameters: {'w': 'slow-1', ...}]

"""Secrets never reach the store."""

from __future__ import annotations

import pytest

from pipeline.ingest.redact import redact_text

CASES = [
    ("engine = create_engine('mysql+pymysql://app:S3cr3t!@db.internal:3306/app')", "S3cr3t!", "app:***@db.internal"),
    ("postgresql://user:p%40ss@host/db", "p%40ss", "user:***@host"),
    ("connecting with password=hunter2 host=db", "hunter2", "password=***"),
    ("DSN: Driver={MySQL};Server=db;UID=app;PWD=Pa55w0rd;", "Pa55w0rd", "PWD=***"),
    ("settings: {'password': 'tops3cret', 'user': 'app'}", "tops3cret", "'password': '"),
    ('{"password": "js0nsecret", "user": "app"}', "js0nsecret", '"password": "***"'),
    ("CREATE USER 'app'@'%' IDENTIFIED BY 'n3wpass'", "n3wpass", "IDENTIFIED BY '***'"),
    ("ALTER USER app IDENTIFIED WITH mysql_native_password BY 'xyz123'", "xyz123", "BY '***'"),
    ("running mysqladmin -u root -pR00tpw extended-status", "R00tpw", "-p***"),
    ("passwd: letmein", "letmein", "passwd: ***"),
]


@pytest.mark.parametrize("text,secret,kept", CASES)
def test_secret_is_redacted(text, secret, kept):
    out = redact_text(text)
    assert secret not in out
    assert kept in out


def test_mysql_using_password_flag_is_not_a_secret():
    text = "Access denied for user 'app'@'10.0.0.5' (using password: YES)"
    assert redact_text(text) == text


def test_ordinary_text_is_untouched():
    for text in ["pool_size=5 max_overflow=10", "GET /login?next=/ 200", "Lost connection to MySQL server"]:
        assert redact_text(text) == text


def test_url_inside_json_with_escaped_slashes():
    text = r'{"message": "engine mysql+pymysql:\/\/app:S3CR3T@db:3306\/app"}'
    out = redact_text(text)
    assert "S3CR3T" not in out and r"app:***@db" in out


def test_every_secret_passes_the_cheap_trigger_that_frames_are_filtered_by():
    """redact_columns only rewrites rows its trigger lets through: each case must pass it."""
    import polars as pl

    from pipeline.ingest.redact import redact_columns

    texts = [text for text, _, _ in CASES] + [
        r'{"message": "engine mysql+pymysql:\/\/app:S3CR3T@db:3306\/app"}',
        "Traceback (most recent call last):\nOperationalError (Background on this error at: "
        "https://sqlalche.me/e/20/e3q8)\nretrying mysql://app:Hidden1@db/app",
    ]
    frame = redact_columns(pl.DataFrame({"raw": texts}), ["raw"])
    for (text, secret, kept), out in zip(CASES, frame["raw"]):
        assert secret not in out and kept in out, text
    assert "S3CR3T" not in frame["raw"][len(CASES)] and "Hidden1" not in frame["raw"][-1]


def test_urls_without_credentials_do_not_trigger_redaction():
    import polars as pl

    from pipeline.ingest.redact import TRIGGER

    plain = [
        "(Background on this error at: https://sqlalche.me/e/20/e3q8)",
        "GET http://h:8080/x 200",
        "postgresql://app@db/x",
    ]
    assert not pl.Series(plain).str.contains(TRIGGER).any()

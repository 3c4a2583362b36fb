"""The DuckDB-to-Spark translation of correlation's statements (no Spark needed)."""

from __future__ import annotations

import pytest

pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install -e '.[spark]')")

from pipeline.engines.spark_sql import java_pattern, translate


def test_parameters_are_bound_as_literals_never_as_text():
    st = translate("SELECT * FROM events WHERE host = ? AND line_no > ?", ["x' OR '1'='1", 3])
    assert st.kind == "query"
    assert "host = 'x\\' OR \\'1\\'=\\'1'" in st.sql or "host = 'x'' OR ''1''=''1'" in st.sql
    named = translate(
        "SELECT 1 FROM latency WHERE t BETWEEN $start - $search AND $end", {"start": 5, "search": 2, "end": 9}
    )
    assert "BETWEEN 5 - 2 AND 9" in named.sql


def test_duckdb_functions_become_their_spark_equivalents():
    sql = translate(
        "SELECT epoch_ms(ts) AS t, hash(file_id, conn_ref) AS k, t_ms // 60000 AS m, x / 1000.0 AS s,"
        " strftime(timezone('UTC', ts), '%Y%m%d-%H%M%S') AS id FROM e"
    ).sql
    assert "UNIX_MICROS(ts) + 500) DIV 1000" in sql  # rounded like DuckDB, not truncated
    assert "XXHASH64(file_id, conn_ref)" in sql
    assert "t_ms DIV 60000" in sql
    assert "CAST(1000.0 AS DOUBLE)" in sql
    assert "DATE_FORMAT(ts, 'yyyyMMdd\\'-\\'HHmmss')" in sql  # Spark escapes quotes with a backslash


def test_ordered_aggregates_and_nulls():
    sql = translate(
        "SELECT first(k ORDER BY t_ms, event_id) AS f,"
        " list(DISTINCT host ORDER BY host) FILTER (WHERE host IS NOT NULL) AS hosts FROM d GROUP BY grp"
    ).sql
    assert "MIN_BY(k, STRUCT(t_ms, event_id))" in sql
    assert "ARRAY_SORT(COLLECT_SET(host) FILTER(WHERE NOT host IS NULL))" in sql
    assert "SIZE(" in sql  # an empty list is NULL, as DuckDB's list() of no rows
    assert "ORDER BY t NULLS LAST" in translate("SELECT t FROM d ORDER BY t").sql  # DuckDB's default


def test_bit_tests_and_case_insensitive_matches_pass_through():
    sql = translate("SELECT (traits & 1) <> 0 AS is_refused, msg ILIKE '%refused%' AS r FROM d").sql
    assert "(traits & 1) <> 0" in sql and "ILIKE '%refused%'" in sql


def test_statements_on_temporary_tables():
    create = translate("CREATE OR REPLACE TEMP TABLE c_inc AS SELECT 1 AS grp")
    assert (create.kind, create.table, create.sql) == ("create", "c_inc", "SELECT 1 AS grp")
    delete = translate("DELETE FROM c_drops WHERE grp IN (1, 2)")
    assert delete.kind == "create" and delete.table == "c_drops"
    assert delete.sql == "SELECT * FROM c_drops WHERE NOT COALESCE((grp IN (1, 2)), FALSE)"
    update = translate(
        "UPDATE c_drops SET grp = m.to_grp FROM (VALUES (3, 1), (4, 1)) AS m(from_grp, to_grp)"
        " WHERE c_drops.grp = m.from_grp"
    )
    assert update.replaced == ("grp",) and "LEFT JOIN" in update.sql and "_new_grp" in update.sql
    assert translate("DROP TABLE IF EXISTS c_inc").kind == "drop"
    assert translate("BEGIN TRANSACTION").kind == "none"


def test_strftime_literal_text_is_quoted():
    assert java_pattern("%Y-%m-%dT%H:%M:%SZ") == "yyyy'-'MM'-'dd'T'HH':'mm':'ss'Z'"

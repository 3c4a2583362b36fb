"""Where correlation's SQL runs.

Correlation (``pipeline.correlate``) is written once, in DuckDB's SQL, against this small
interface: ``execute(sql, params)`` returns something with ``fetchall()``,
``fetchone()`` and ``description``, and ``CREATE OR REPLACE TEMP TABLE``, ``DELETE``,
``UPDATE ... FROM (VALUES ...)`` and ``DROP TABLE`` work on the temporary tables it makes.

* a DuckDB connection is such an engine as it is: the store, the default;
* :class:`pipeline.engines.spark.SparkEngine` runs the same statements on Spark, over a
  ``pipeline export --parquet`` folder, translated by :mod:`pipeline.engines.spark_sql`.

The SQL keeps to what both can run (see docs/scale-out.md for the constructs avoided).
"""

from __future__ import annotations

from typing import Any, Protocol


class Cursor(Protocol):
    """The result of :meth:`Engine.execute`."""

    @property
    def description(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Engine(Protocol):
    """What correlation needs of a SQL engine (a DuckDB connection is one)."""

    def execute(self, query: str, parameters: Any = None, /) -> Cursor: ...


__all__ = ["Cursor", "Engine"]

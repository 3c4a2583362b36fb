"""DuckDB SQL, as correlation writes it, translated for Spark SQL.

sqlglot does the dialect translation (``read="duckdb"``, ``write="spark"``); the rules
below cover what it translates differently from how the correlation queries mean it, or
not at all:

* ``epoch_ms(ts)``/``epoch_us(ts)`` read a timestamp's milliseconds (rounded, as DuckDB
  does) and microseconds (sqlglot takes ``epoch_ms`` for the opposite function);
* ``first(x ORDER BY k...)`` becomes ``min_by(x, struct(k...))``, and
  ``list(DISTINCT x ORDER BY x)`` a sorted ``collect_set`` (NULL when empty, as DuckDB's
  ``list`` of no rows): Spark's aggregates take no ORDER BY;
* decimal literals (``1000.0``) are doubles: DuckDB divides a BIGINT by one into a
  DOUBLE, Spark would keep a DECIMAL;
* ``hash(a, b)`` is ``xxhash64``: 64 bits, like DuckDB's (Spark's ``hash`` has 32);
* ``timezone('UTC', ts)`` is ``ts`` (the session's time zone is UTC) and ``strftime``
  formats become Java patterns with their literal text quoted.

Parameters (``?`` in order, ``$name`` by name) are bound as literals in the tree, never
pasted into the text.  Statements that change a table (``CREATE TEMP TABLE ... AS``,
``DELETE``, ``UPDATE ... FROM``, ``DROP``) are returned as :class:`Statement` for the
engine to carry out on views.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

READ = "duckdb"
WRITE = "spark"

# strftime directives the correlation uses, as Java DateTimeFormatter patterns
_STRFTIME = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS"}


@dataclass(frozen=True)
class Statement:
    """One statement, translated: ``kind`` is ``query`` (rows to fetch), ``create``
    (``table`` becomes ``sql``'s result), ``drop`` (``table`` goes) or ``none`` (a
    transaction statement: views need none)."""

    kind: str
    sql: str = ""
    table: str = ""
    # columns an UPDATE sets: the query gives each as ``_new_<name>``, to take its place
    replaced: tuple[str, ...] = ()


def translate(sql: str, params: Any = None) -> Statement:
    tree = sqlglot.parse_one(sql, read=READ)
    if params is not None:
        tree = bind(tree, params)
    if isinstance(tree, exp.Transaction | exp.Commit | exp.Rollback):
        return Statement("none")
    if isinstance(tree, exp.Drop):
        return Statement("drop", table=tree.find(exp.Table).name)  # type: ignore[union-attr]
    if isinstance(tree, exp.Create):
        query = tree.expression
        return Statement("create", spark(query), tree.this.name)
    if isinstance(tree, exp.Delete):
        # the rows that stay (a condition that is NULL deletes nothing, as in DuckDB)
        table = tree.this.name
        cond = tree.args["where"].this
        keep = exp.select("*").from_(table).where(exp.not_(exp.func("coalesce", exp.paren(cond), exp.false())))
        return Statement("create", spark(keep), table)
    if isinstance(tree, exp.Update):
        columns = tuple(eq.this.name for eq in tree.expressions)
        return Statement("create", spark(_update_as_select(tree)), tree.this.name, columns)
    return Statement("query", spark(tree))


def spark(tree: exp.Expr) -> str:
    return tree.transform(_rewrite).sql(dialect=WRITE)


def bind(tree: exp.Expr, params: Any) -> exp.Expr:
    """Replace ``?`` (positional, ``params`` a sequence) or ``$name`` (``params`` a
    mapping) by literals."""
    positional = iter(params) if not isinstance(params, dict) else None

    def _one(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Placeholder):
            return node
        if positional is not None:
            return literal(next(positional))
        return literal(params[node.name])

    return tree.transform(_one)


def literal(value: Any) -> exp.Expr:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot bind {value!r} as a SQL literal")
        return exp.cast(exp.Literal.number(repr(value)), "DOUBLE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, _dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMP")
    raise TypeError(f"cannot bind {type(value).__name__} as a SQL literal")


def java_pattern(strftime: str) -> str:
    """A strftime format as a Java DateTimeFormatter pattern, literal text quoted."""
    out: list[str] = []
    text: list[str] = []
    i = 0
    while i < len(strftime):
        directive = strftime[i : i + 2]
        if directive in _STRFTIME:
            if text:
                out.append("'" + "".join(text).replace("'", "''") + "'")
                text = []
            out.append(_STRFTIME[directive])
            i += 2
        else:
            text.append(strftime[i])
            i += 1
    if text:
        out.append("'" + "".join(text).replace("'", "''") + "'")
    return "".join(out)


def epoch_ms(ts: exp.Expr) -> exp.Expr:
    """DuckDB's ``epoch_ms(timestamp)``: milliseconds since the epoch, the microseconds
    rounded half away from zero (Spark's ``unix_millis`` truncates them)."""
    us = exp.Anonymous(this="unix_micros", expressions=[ts])
    return exp.condition(
        f"CASE WHEN {us.sql(WRITE)} >= 0 THEN ({us.sql(WRITE)} + 500) DIV 1000 "
        f"ELSE -((500 - {us.sql(WRITE)}) DIV 1000) END",
        dialect=WRITE,
    )


def _t(node: exp.Expr) -> exp.Expr:
    """A replacement's parts, rewritten too (a replaced node's children are not revisited)."""
    return node.copy().transform(_rewrite)


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=[_t(a) for a in args])


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.UnixToTime) and node.args.get("scale") is not None:
        scale = int(node.args["scale"].this)
        if scale == 3:
            return epoch_ms(_t(node.this))
        if scale == 6:
            return _call("unix_micros", node.this)
    if isinstance(node, exp.Anonymous):
        name, args = node.name.lower(), node.expressions
        renamed = {"suffix": "endswith", "epoch_us": "unix_micros", "hash": "xxhash64"}
        if name in renamed:
            return _call(renamed[name], *args)
        if name == "timezone" and len(args) == 2 and isinstance(args[0], exp.Literal) and args[0].name.upper() == "UTC":
            return _t(args[1])  # the session's zone is UTC
    if isinstance(node, exp.TimeToStr) and isinstance(node.args["format"], exp.Literal):
        value = node.this
        if isinstance(value, exp.AtTimeZone) and value.args["zone"].name.upper() == "UTC":
            value = value.this
        return _call("date_format", value, exp.Literal.string(java_pattern(node.args["format"].this)))
    if isinstance(node, exp.First) and isinstance(node.this, exp.Order):
        order = node.this
        return _call(
            "min_by", order.this, exp.Anonymous(this="struct", expressions=[o.this for o in order.expressions])
        )
    if isinstance(node, exp.Filter) and _sorted_distinct_list(node.this):
        return _null_when_empty(exp.Filter(this=_collect_set(node.this), expression=_t(node.expression)))
    if isinstance(node, exp.ArrayAgg) and _sorted_distinct_list(node) and not isinstance(node.parent, exp.Filter):
        return _null_when_empty(_collect_set(node))
    if (
        isinstance(node, exp.Literal)
        and not node.is_string
        and "." in node.this
        and "e" not in node.this.lower()
        and not isinstance(node.parent, exp.Cast)
    ):
        # a DECIMAL literal in DuckDB that meets a DOUBLE or divides an integer into one
        return exp.cast(node.copy(), "DOUBLE")
    return node


def _sorted_distinct_list(node: exp.Expr) -> bool:
    return (
        isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order) and isinstance(node.this.this, exp.Distinct)
    )


def _collect_set(node: exp.Expr) -> exp.Expr:
    return _call("collect_set", node.this.this.expressions[0])


def _null_when_empty(agg: exp.Expr) -> exp.Expr:
    arr = exp.Anonymous(this="array_sort", expressions=[agg])
    return exp.case().when(
        exp.GT(this=exp.Anonymous(this="size", expressions=[arr]), expression=exp.Literal.number(0)), arr.copy()
    )


def _update_as_select(tree: exp.Update) -> exp.Expr:
    """``UPDATE t SET c = e FROM src AS m WHERE cond`` as the query of t's new rows: a
    left join on ``cond``, each set column replaced where a row of ``src`` matched."""
    table = tree.this.name
    source = tree.args["from_"].this
    alias = source.alias_or_name
    cond = tree.args["where"].this
    hit = exp.column("_matched", alias)
    sets = {eq.this.name: eq.expression for eq in tree.expressions}
    if isinstance(source, exp.Values):
        cols = [c.name for c in source.args["alias"].columns]
        rows = [
            exp.select(
                *[exp.alias_(v.copy(), c) for v, c in zip(t.expressions, cols)], exp.alias_(exp.true(), "_matched")
            )
            for t in source.expressions
        ]
        union: exp.Expr = rows[0]
        for r in rows[1:]:
            union = exp.union(union, r, distinct=False)
        joined = exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    else:
        raise NotImplementedError("UPDATE ... FROM a table: only FROM (VALUES ...) is translated")
    return (
        exp.select(
            exp.Column(this=exp.Star(), table=exp.to_identifier(table)),
            *[
                exp.alias_(exp.case().when(hit, value.copy()).else_(exp.column(col, table)), f"_new_{col}")
                for col, value in sets.items()
            ],
        )
        .from_(table)
        .join(joined, on=cond.copy(), join_type="left")
    )

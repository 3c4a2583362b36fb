"""dropout-pipeline: find out why an application's database connections drop."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.api import Incident, Store

__version__ = "0.1.0"

__all__ = ["Incident", "Store"]


def __getattr__(name: str) -> Any:
    # ``from pipeline import Store`` without importing polars/duckdb on ``import pipeline``
    if name in ("Store", "Incident"):
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")

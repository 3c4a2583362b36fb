"""dropout-pipeline: find out why an application's database connections drop."""

__version__ = "0.1.0"

__all__ = ["Incident", "Store"]


def __getattr__(name):
    # ``from pipeline import Store`` without importing polars/duckdb on ``import pipeline``
    if name in ("Store", "Incident"):
        from pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")

"""dropout-pipeline: find out why an application's database connections drop."""

__version__ = "0.1.0"

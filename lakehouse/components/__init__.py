"""Dagster building blocks shared by ``defs/``; components registered for ``dg``."""

from lakehouse.components.sql_database import SqlDatabase

__all__ = ["SqlDatabase"]

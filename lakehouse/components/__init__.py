"""Dagster building blocks shared by ``defs/``; the components ``dg`` lists are exported here."""

from lakehouse.components.file_drop import FileDrop
from lakehouse.components.sql_database import SqlDatabase
from lakehouse.components.teams import TeamModules

__all__ = ["FileDrop", "SqlDatabase", "TeamModules"]

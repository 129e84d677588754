"""A source database as a Dagster resource: its URL, resolved at run time, never shown."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from lakehouse.sources.sql import db


class SqlDatabaseResource(dg.ConfigurableResource):
    """Any SQLAlchemy database (SQLite, PostgreSQL, MariaDB/MySQL, ...)."""

    url: str = Field(
        description="SQLAlchemy URL; give it as an environment variable if it holds a password"
    )

    @contextmanager
    def connect(self, source: str) -> Iterator[sa.Connection]:
        with db.connect(self.url, source) as conn:
            yield conn

"""The platform database as a Dagster resource."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from lakehouse.sources.platform import db


class PlatformDB(dg.ConfigurableResource):
    """The transactional platform database: SQLite by default, PostgreSQL in production."""

    url: str = Field(
        description="SQLAlchemy URL, e.g. sqlite:///platform.sqlite or postgresql+psycopg://..."
    )

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with db.connect(self.url) as conn:
            yield conn

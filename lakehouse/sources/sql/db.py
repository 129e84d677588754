"""Connections to a source database that fail with one line naming the source (no password)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

CONNECT_TIMEOUT_S = 5


class SourceError(Exception):
    """A source database, or one of its tables, cannot be read; the message says which and why."""


def display_name(url: str | sa.URL) -> str:
    """The database as shown to people: its URL without the password."""
    return sa.make_url(url).render_as_string(hide_password=True)


def engine(url: str, source: str = "source") -> sa.Engine:
    """An engine for ``url``; a SQLite file is opened read-write, never created."""
    u = sa.make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        args = {"timeout": CONNECT_TIMEOUT_S}
        db = u.database
        if db and db != ":memory:" and not db.startswith("file:"):
            path = Path(db)
            if not path.is_file():
                raise SourceError(f"source {source}: database file {path} does not exist")
            database = "file:" + quote(str(path.resolve()))
            u = u.set(database=database, query={**u.query, "mode": "rw", "uri": "true"})
    elif backend in ("postgresql", "mysql", "mariadb"):
        args = {"connect_timeout": CONNECT_TIMEOUT_S}
    else:
        args = {}
    return sa.create_engine(u, connect_args=args)


@contextmanager
def connect(url: str, source: str) -> Iterator[sa.Connection]:
    """A connection to source ``source`` in one transaction (one consistent read where the
    database offers it); a failure to reach it raises :class:`SourceError`."""
    eng = engine(url, source)
    try:
        with eng.connect() as conn:
            yield conn
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise SourceError(f"source {source}: {one_line(exc, url)}") from exc
    finally:
        eng.dispose()


def one_line(exc: Exception, url: str) -> str:
    """The first line of a driver error, the password masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines() or [type(orig).__name__]
    password = sa.make_url(url).password
    detail = lines[0].replace(str(password), "***") if password else lines[0]
    return f"cannot read {display_name(url)} ({detail})"

"""Connections to a source database that fail with one line naming the source and saying why
(missing, locked, unreachable, ...), never with its password."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

CONNECT_TIMEOUT_S = 5  # also how long SQLite waits for a lock


class SourceError(Exception):
    """A source database, or one of its tables, cannot be read; the message says which and why."""


class MissingDatabase(SourceError):
    """The database does not exist on its server."""


class MissingFile(MissingDatabase):
    """The SQLite file does not exist (and was not created)."""


class MissingTable(SourceError):
    """A query needs a table that the database does not have."""


def display_name(url: str | sa.URL) -> str:
    """The database as shown to people: a SQLite file's path, else the URL without password."""
    u = sa.make_url(url)
    path = _sqlite_path(u)
    return str(path) if path else u.render_as_string(hide_password=True)


def engine(url: str, source: str = "source", *, create: bool = False) -> sa.Engine:
    """An engine for ``url``. A SQLite file is opened read-write and must exist, unless
    ``create`` (then it and its directory are made when first connected to)."""
    u = sa.make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        args = {"timeout": CONNECT_TIMEOUT_S}
        if path := _sqlite_path(u):
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                raise MissingFile(f"source {source}: database file {path} does not exist")
            else:  # read-write URI mode: SQLite must never create an empty file here
                database = "file:" + quote(str(path.resolve()))
                u = u.set(database=database, query={**u.query, "mode": "rw", "uri": "true"})
    elif backend in ("postgresql", "mysql", "mariadb"):
        args = {"connect_timeout": CONNECT_TIMEOUT_S}
    else:
        args = {}
    return sa.create_engine(u, connect_args=args)


@contextmanager
def connect(
    url: str, source: str, *, write: bool = False, create: bool = False
) -> Iterator[sa.Connection]:
    """A connection to source ``source`` in one transaction: one consistent read where the
    database offers it, committed at the end if ``write``; ``create`` as in :func:`engine`.
    A failure to reach or read the database raises :class:`SourceError` (or a subclass)."""
    eng = engine(url, source, create=create)
    try:
        with eng.begin() if write else eng.connect() as conn:
            yield conn
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise _translate(exc, url, source) from exc
    finally:
        eng.dispose()


def one_line(exc: Exception, url: str) -> str:
    """``cannot read <database> (<first line of the driver error>)``, the password masked."""
    return f"cannot read {display_name(url)} ({_detail(exc, url)})"


def _detail(exc: Exception, url: str) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines() or [type(orig).__name__]
    password = sa.make_url(url).password
    return lines[0].replace(str(password), "***") if password else lines[0]


def _translate(exc: Exception, url: str, source: str) -> SourceError:
    detail, name = _detail(exc, url), display_name(url)
    low = detail.lower()
    if "locked" in low:
        return SourceError(
            f"source {source}: database {name} is locked by another process "
            f"(waited {CONNECT_TIMEOUT_S} s); retry when it has finished"
        )
    if ("database" in low and "does not exist" in low) or "unknown database" in low:
        return MissingDatabase(f"source {source}: database {name} does not exist ({detail})")
    if "no such table" in low:
        return MissingTable(f"source {source}: database {name} lacks a table ({detail})")
    return SourceError(f"source {source}: {one_line(exc, url)}")


def _sqlite_path(u: sa.URL) -> Path | None:
    db = u.database
    if u.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)

"""Connections to the platform database that fail with one-line, actionable errors."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

BUSY_TIMEOUT_S = 5
SIMULATE = "`uv run lakehouse simulate platform`"


class PlatformDBError(Exception):
    """The platform database is missing, unreachable or locked."""


def display_name(url: str | sa.URL) -> str:
    """The database as shown to people: a sqlite file's path, else the URL without password."""
    u = sa.make_url(url)
    path = _sqlite_path(u)
    return str(path) if path else u.render_as_string(hide_password=True)


def engine(url: str, *, create: bool = False) -> sa.Engine:
    """An engine for `url`; a sqlite file must exist unless `create` (then its dir is made)."""
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        if path := _sqlite_path(u):
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                raise PlatformDBError(_missing(display_name(u)))
            else:  # read-write URI mode: sqlite must never create an empty file here
                database = "file:" + quote(str(path.resolve()))
                u = u.set(database=database, query={**u.query, "mode": "rw", "uri": "true"})
        return sa.create_engine(u, connect_args={"timeout": BUSY_TIMEOUT_S})
    if u.get_backend_name() == "postgresql":
        return sa.create_engine(u, connect_args={"connect_timeout": BUSY_TIMEOUT_S})
    return sa.create_engine(u)


@contextmanager
def connect(url: str, *, create: bool = False) -> Iterator[sa.Connection]:
    """A connection in a transaction (committed on success); OperationalError -> PlatformDBError."""
    eng = engine(url, create=create)
    try:
        with eng.begin() as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        raise _translate(exc, sa.make_url(url)) from exc
    finally:
        eng.dispose()


def _sqlite_path(u: sa.URL) -> Path | None:
    db = u.database
    if u.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _missing(name: str) -> str:
    return f"platform database {name} does not exist; create it with {SIMULATE}"


def _translate(exc: sa.exc.OperationalError, u: sa.URL) -> PlatformDBError:
    lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
    detail = lines[0]
    if u.password:
        detail = detail.replace(str(u.password), "***")
    name, low = display_name(u), detail.lower()
    if "locked" in low:
        msg = (
            f"platform database {name} is locked by another process "
            f"(waited {BUSY_TIMEOUT_S} s); retry when it has finished"
        )
    elif "unable to open database file" in low:
        msg = _missing(name)
    elif "database" in low and "does not exist" in low:
        msg = f"platform database {name} does not exist; CREATE DATABASE it, then run {SIMULATE}"
    elif "no such table" in low:
        msg = f"platform database {name} is not initialised ({detail}); fill it with {SIMULATE}"
    else:
        msg = f"cannot reach platform database {name} ({detail}); check that it is running"
    return PlatformDBError(msg)

"""What `lakehouse tick` checks before it evaluates anything: the stores, the bus and the
platform database it will read, one line per problem (no tracebacks, no service's raw reply)."""

import sqlalchemy as sa

from lakehouse.settings import Settings
from lakehouse.sources.events.bus import BusError
from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.sql.db import SourceError, connect, one_line
from lakehouse.storage.store import Store, StoreUnavailable
from lakehouse_dev.simulate.platform import SOURCE, explain


def problems(settings: Settings) -> list[str]:
    """One line per store, bus or database that cannot be used; empty when all can."""
    found = []
    for name, url in settings.store_urls().items():
        try:
            Store(url).verify(name)
        except StoreUnavailable as exc:
            found.append(str(exc))
    try:
        with bus_from_url(settings.bus_url) as bus:
            bus.verify()
    except BusError as exc:
        found.append(str(exc))
    problem = database_problem(settings.platform_db_url)
    if problem:
        found.append(problem)
    return found


def database_problem(url: str) -> str | None:
    """Why the platform database cannot be read, on one line, or None."""
    try:
        with connect(url, SOURCE) as conn:
            sa.inspect(conn).get_table_names()
    except SourceError as exc:
        return explain(exc)
    except sa.exc.SQLAlchemyError as exc:  # e.g. a file that is not a database
        return f"source {SOURCE}: {one_line(exc, url)}"
    return None

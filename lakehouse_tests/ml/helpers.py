"""Platform tables as the warehouse holds them (pyarrow, the projections' schema), from a
simulated database, without running Dagster."""

import pyarrow as pa
import sqlalchemy as sa

from lakehouse_dev.simulate.platform import simulate
from lakehouse_dev.simulate.platform_schema import TABLES, arrow_schema

USED = ("applications", "invoices", "companies", "trades")


def read_tables(url: str, names=USED) -> dict[str, pa.Table]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = {
            name: pa.Table.from_pylist(
                [dict(r) for r in conn.execute(sa.select(TABLES[name])).mappings()],
                schema=arrow_schema(name),
            )
            for name in names
        }
    engine.dispose()
    return tables


def simulated_tables(path, days: int, seed: int) -> dict[str, pa.Table]:
    """Simulate ``days`` days into a SQLite file at ``path`` and read the tables."""
    url = f"sqlite:///{path}"
    simulate(url, days=days, seed=seed)
    return read_tables(url)


def table(name: str, rows: list[dict]) -> pa.Table:
    """A hand-made platform table: missing columns null; ``updated_at`` defaults to
    ``created_at``, which defaults to 2026-01-01."""
    import datetime as dt

    schema = arrow_schema(name)
    out = []
    for row in rows:
        created = row.get("created_at", dt.datetime(2026, 1, 1))
        out.append(
            {
                **dict.fromkeys(schema.names),
                "created_at": created,
                "updated_at": row.get("updated_at", created),
                **row,
            }
        )
    return pa.Table.from_pylist(out, schema=schema)

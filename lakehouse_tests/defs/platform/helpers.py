"""Helpers shared by the platform tests."""

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from lakehouse_dev.simulate.platform_schema import TABLES


def materialize(defs: dg.Definitions, instance, *keys: str, raise_on_error: bool = True):
    """Run the given assets (``"lake/platform/trades"``) in-process on ``instance``."""
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey.from_user_string(k) for k in keys],
        raise_on_error=raise_on_error,
    )


def db_rows(url: str, table: str) -> dict[int, dict]:
    """The table as the database holds it now, by id (read with plain SQLAlchemy)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(TABLES[table])).mappings().all()
    engine.dispose()
    return {row["id"]: dict(row) for row in rows}


def by_id(table: pa.Table) -> dict[int, dict]:
    return {row["id"]: row for row in table.to_pylist()}

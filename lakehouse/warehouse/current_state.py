"""Current state of a table from its lake history: the latest version of every row.

The projection is maintained incrementally: the previous state plus the lake batches written
since (:mod:`lakehouse.components.incremental` keeps the cursor). A batch that is unreadable
or breaks the table's schema is reported, never merged.
"""

from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa

from lakehouse.storage.duck import sql_string
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.store import Store


def current_state_sql(
    source: str, key: str | Sequence[str] = "id", version: str | None = "updated_at"
) -> str:
    """SQL selecting the latest version of each ``key`` from ``source``, a relation of versions.

    Latest means the greatest ``version`` column, ties broken by the greatest ``_batch`` (a
    required string column). With ``version=None`` a batch replaces a key wholesale: every row
    of the newest batch holding the key is kept (e.g. key = a report's date: the day's rows as
    last pulled). The result has every column of ``source`` except ``_batch``.
    """
    partition = key if isinstance(key, str) else ", ".join(key)
    if version is None:
        return (
            f"SELECT * EXCLUDE (_batch) FROM {source} "
            f"QUALIFY _batch = max(_batch) OVER (PARTITION BY {partition})"
        )
    return (
        f"SELECT * EXCLUDE (_batch) FROM {source} QUALIFY row_number() OVER "
        f"(PARTITION BY {partition} ORDER BY {version} DESC, _batch DESC) = 1"
    )


class BadBatch(ValueError):
    """A lake batch that cannot be merged; the message says why."""


def read_batch(lake: Store, key: str, schema: pa.Schema) -> pa.Table:
    """Read a lake batch and check it against ``schema``; raise :class:`BadBatch` if it fails."""
    try:
        table = read_parquet(lake, key)
    except (pa.ArrowException, OSError) as exc:
        raise BadBatch(f"not a readable Parquet file: {exc}") from exc
    problem = schema_problem(table, schema)
    if problem:
        raise BadBatch(problem)
    return table.select(schema.names).cast(schema)


def schema_problem(table: pa.Table, schema: pa.Schema) -> str | None:
    """What makes ``table`` unfit for a table of ``schema``, or ``None``."""
    missing = [name for name in schema.names if name not in table.schema.names]
    if missing:
        return f"missing columns: {', '.join(missing)}"
    for field in schema:
        actual = table.schema.field(field.name).type
        if actual != field.type:
            return f"column {field.name!r} is {actual}, expected {field.type}"
        if not field.nullable and table.column(field.name).null_count:
            return f"column {field.name!r} has {table.column(field.name).null_count} null(s)"
    return None


def merge(
    previous: pa.Table | None,
    batches: Mapping[str, pa.Table],
    schema: pa.Schema,
    key: Sequence[str] = ("id",),
    version: str | None = "updated_at",
) -> pa.Table:
    """Latest version per ``key`` over ``previous`` and ``batches`` (key -> table, in key order).

    Versions are ordered by ``version``; a tie goes to the later batch, and the previous
    state counts as older than any batch. ``version=None``: the newest batch holding a key
    replaces all its rows (see :func:`current_state_sql`).
    """
    con = duckdb.connect()
    parts = []
    for i, (batch_key, table) in enumerate(
        ([("", previous)] if previous is not None else []) + list(batches.items())
    ):
        con.register(f"part_{i}", table.select(schema.names).cast(schema))
        parts.append(f"SELECT *, {sql_string(batch_key)} AS _batch FROM part_{i}")
    if not parts:
        return schema.empty_table()
    con.execute(f"CREATE TEMP VIEW versions AS {' UNION ALL '.join(parts)}")
    order = ", ".join(key) if version else "ALL"
    state = con.sql(f"{current_state_sql('versions', key, version)} ORDER BY {order}")
    return state.to_arrow_table().cast(schema)

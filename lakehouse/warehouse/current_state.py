"""Current state of a table from its lake history: the latest version of every row.

The projection is maintained incrementally: the previous state plus the lake batches written
since (:mod:`lakehouse.components.incremental` keeps the cursor). A batch that is unreadable
or breaks the table's schema is reported, never merged.
"""

import json
from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa

from lakehouse.sources.sql.types import widens
from lakehouse.storage.duck import sql_string
from lakehouse.storage.parquet import cursor_of, read_parquet
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


def read_batch(
    lake: Store, key: str, schema: pa.Schema | None, evolving_from: pa.Schema | None = None
) -> pa.Table:
    """Read a lake batch and check it against ``schema``; with ``schema=None`` the batch
    carries its own, which may have evolved from ``evolving_from`` (see
    :func:`evolution_problem`). Raise :class:`BadBatch` if it fails."""
    try:
        table = read_parquet(lake, key)
    except (pa.ArrowException, OSError) as exc:
        raise BadBatch(f"not a readable Parquet file: {exc}") from exc
    if schema is None:
        problem = evolution_problem(table, evolving_from)
        if problem:
            raise BadBatch(problem)
        return table
    problem = schema_problem(table, schema)
    if problem:
        raise BadBatch(problem)
    return table.select(schema.names).cast(schema)


def evolution_problem(table: pa.Table, previous: pa.Schema | None) -> str | None:
    """What makes ``table``, a batch whose schema may evolve, unfit: a null in a key column
    (named in its ``primary_key`` metadata), or a column whose type cannot hold the values
    ``previous`` had in it (columns may be added or dropped)."""
    key = json.loads(cursor_of(table, "primary_key") or "[]")
    for name in key:
        if name not in table.column_names:
            return f"key column {name!r} is missing"
        if table.column(name).null_count:
            return f"key column {name!r} has {table.column(name).null_count} null(s)"
    for field in table.schema:
        if previous is not None and field.name in previous.names:
            old = previous.field(field.name).type
            if not widens(old, field.type):
                return f"column {field.name!r} is {field.type}, earlier batches have {old}"
    return None


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


DELETED = "_deleted"
"""A lake batch's tombstone flag: the key was deleted at the source."""


def merge_versions(
    previous: pa.Table | None, batches: Mapping[str, pa.Table], key: Sequence[str]
) -> pa.Table:
    """Current state over ``previous`` and ``batches`` (lake key -> batch, in key order) whose
    schemas may differ: the newest batch holding a key has its version; a tombstone
    (``_deleted``) drops the key. Columns are matched by name: a column added later is null in
    older rows, a dropped one stays (null from then on); other ``_``-named columns are left out.
    Column metadata (descriptions, original names) comes from the newest schema that has it."""
    tables = ([("", previous)] if previous is not None else []) + list(batches.items())
    if not tables:
        return pa.table({})
    con = duckdb.connect()
    parts = []
    for i, (batch_key, table) in enumerate(tables):
        con.register(f"part_{i}", table)
        deleted = DELETED if DELETED in table.column_names else "false"
        data = [f'"{c}"' for c in table.column_names if not c.startswith("_")]
        parts.append(
            f"SELECT {', '.join(data)}, {deleted} AS {DELETED}, "
            f"{sql_string(batch_key)} AS _batch FROM part_{i}"
        )
    con.execute(f"CREATE TEMP VIEW versions AS {' UNION ALL BY NAME '.join(parts)}")
    keys = ", ".join(f'"{k}"' for k in key)
    latest = current_state_sql("versions", keys, version=None)
    state = con.sql(
        f"SELECT * EXCLUDE ({DELETED}) FROM ({latest}) WHERE NOT {DELETED} ORDER BY {keys}"
    ).to_arrow_table()
    return _with_field_metadata(state, [t for _, t in tables])


def _with_field_metadata(state: pa.Table, sources: Sequence[pa.Table]) -> pa.Table:
    fields = {}
    for table in sources:  # oldest first: the newest metadata wins
        for f in table.schema:
            if f.metadata:
                fields[f.name] = f.metadata
    schema = pa.schema(
        [f.with_metadata(fields.get(f.name) or f.metadata) for f in state.schema],
        metadata=sources[-1].schema.metadata,
    )
    return state.cast(schema)

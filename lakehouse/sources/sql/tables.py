"""A source table as extraction sees it: reflected columns, lake names, key, cursor and mode.

Reflection finds the columns, their types and comments, and the primary key; a per-table
:class:`TableConfig` adds what reflection cannot know (a key for a table without one, the
cursor, the mode, columns that must not reach the lake).
"""

import fnmatch
import re
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from lakehouse.sources.sql.db import SourceError
from lakehouse.sources.sql.names import mapping, snake
from lakehouse.sources.sql.types import arrow_type

INCREMENTAL, SNAPSHOT = "incremental", "snapshot"
CURSOR_NAMES = ("updated_at", "modified_at", "last_modified", "last_modified_at", "updated_on")
"""Lake names of columns taken as the change cursor when none is configured."""

ORIGINAL_NAME = b"original_name"
DESCRIPTION = b"description"  # same key as lakehouse.storage.parquet.DESCRIPTION


@dataclass(frozen=True)
class TableConfig:
    """Per-table overrides; column names may be given as in the database or as lake names."""

    cursor: str | None = None
    primary_key: tuple[str, ...] | None = None
    mode: str | None = None
    exclude_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    original: str
    name: str
    type: pa.DataType
    nullable: bool
    comment: str | None
    sa_type: sa.types.TypeEngine

    def field(self) -> pa.Field:
        described = self.comment or f"Source column `{self.original}` ({self.sa_type})."
        meta = {ORIGINAL_NAME: self.original.encode(), DESCRIPTION: described.encode()}
        return pa.field(self.name, self.type, nullable=True, metadata=meta)


@dataclass(frozen=True)
class TableSpec:
    source: str
    original: str
    name: str
    table: sa.Table
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    cursor: Column | None
    mode: str
    comment: str | None = None

    @property
    def label(self) -> str:
        return f"{self.source}.{self.name}"

    def schema(self) -> pa.Schema:
        return pa.schema([c.field() for c in self.columns])

    def sa_column(self, name: str) -> sa.Column:
        original = next(c.original for c in self.columns if c.name == name)
        return self.table.c[original]


def table_names(conn: sa.Connection, patterns: list[str] | str, schema: str | None) -> list[str]:
    """The database's table names matching ``patterns`` ("*", globs or exact names), in
    pattern order; an exact name that does not exist is kept (its extraction says so)."""
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if all(not _is_glob(p) for p in patterns):
        return list(patterns)
    existing = sorted(sa.inspect(conn).get_table_names(schema=schema))
    found: list[str] = []
    for pattern in patterns:
        hits = fnmatch.filter(existing, pattern) if _is_glob(pattern) else [pattern]
        found += [h for h in hits if h not in found]
    return found


def _is_glob(pattern: str) -> bool:
    return bool(re.search(r"[*?\[]", pattern))


def reflect(
    conn: sa.Connection, source: str, table: str, schema: str | None, config: TableConfig
) -> TableSpec:
    """The table ``table`` as it is now in the database, with ``config`` applied."""
    label = f"{source}.{snake(table)}"
    try:
        reflected = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
    except sa.exc.NoSuchTableError as exc:
        raise SourceError(f"{label}: table {table!r} does not exist in the database") from exc
    excluded = {_find(reflected, c, label).name for c in config.exclude_columns}
    kept = [c for c in reflected.columns if c.name not in excluded]
    try:
        names = mapping([c.name for c in kept], f"{label}: columns")
    except ValueError as exc:
        raise SourceError(str(exc)) from exc
    columns = tuple(
        Column(c.name, names[c.name], arrow_type(c.type), c.nullable, c.comment, c.type)
        for c in kept
    )
    lake_names = {c.original: c.name for c in columns}
    if config.primary_key:
        key = tuple(lake_names[_find(reflected, c, label).name] for c in config.primary_key)
    else:
        key = tuple(lake_names[c.name] for c in reflected.primary_key.columns if c.name in names)
    if not key:
        raise SourceError(f"{label}: no primary key; set `primary_key` for it in `overrides`")
    cursor = _cursor(reflected, columns, config, label)
    mode = config.mode or (INCREMENTAL if cursor else SNAPSHOT)
    if mode not in (INCREMENTAL, SNAPSHOT):
        raise SourceError(f"{label}: mode {mode!r} is not {INCREMENTAL!r} or {SNAPSHOT!r}")
    if mode == INCREMENTAL and cursor is None:
        raise SourceError(f"{label}: incremental mode needs a `cursor` column; none found")
    return TableSpec(
        source=source,
        original=table,
        name=snake(table),
        table=sa.Table(
            table, sa.MetaData(), *[sa.Column(c.name, c.type) for c in kept], schema=schema
        ),
        columns=columns,
        key=key,
        cursor=cursor if mode == INCREMENTAL else None,
        mode=mode,
        comment=reflected.comment,
    )


def _find(table: sa.Table, name: str, label: str) -> sa.Column:
    for column in table.columns:
        if name in (column.name, snake(column.name)):
            return column
    raise SourceError(f"{label}: no column {name!r} (configured in `overrides`)")


def _cursor(
    table: sa.Table, columns: tuple[Column, ...], config: TableConfig, label: str
) -> Column | None:
    if config.cursor:
        original = _find(table, config.cursor, label).name
        return next(c for c in columns if c.original == original)
    for name in CURSOR_NAMES:
        for column in columns:
            if column.name == name and (
                pa.types.is_timestamp(column.type) or pa.types.is_integer(column.type)
            ):
                return column
    return None

"""Change capture of one source table into immutable lake batches.

Every batch is a Parquet file written atomically under the table's lake prefix; a run killed
mid-way leaves whole batches only. Besides the table's columns a batch has ``_deleted``
(``true``: a tombstone, the key was deleted at the source) and, in snapshot mode, ``_hash``
(the row's hash). Its footer records the extraction state, so the lake itself says how far
extraction got (no state elsewhere):

- ``watermark``: the greatest cursor value extracted so far (incremental mode);
- ``primary_key``: the key's lake column names;
- ``signature``: the source's change signature read when the extraction started, only on the
  last batch of a completed extraction. A table whose signature differs from the newest
  batch's (or whose newest batch has none: a killed run) has changes pending.

Modes:

- **incremental**: rows whose cursor is at or after ``watermark - lookback``, in cursor order;
  versions the lake already holds (same key and cursor value) are dropped, so a row committed
  late with a cursor below the watermark is found without writing anything twice. Hard
  deletes: the source's key set is compared with the lake's live keys.
- **snapshot**: every row, by key; only rows whose hash differs from the lake's latest
  version are written, and keys gone from the source become tombstones.
"""

import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from lakehouse.sources.sql import pg_copy
from lakehouse.sources.sql.db import SourceError
from lakehouse.sources.sql.tables import INCREMENTAL, Column, TableSpec
from lakehouse.sources.sql.types import converter, widens
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.parquet import cursor_of, read_cursor, with_cursors, write_parquet
from lakehouse.storage.quarantine import quarantine, quarantined_file
from lakehouse.storage.store import Store

CHUNK_ROWS = 50_000
DELETED, HASH = "_deleted", "_hash"
INTERNAL = (DELETED, HASH)
BAD_VALUE = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError)


@dataclass
class Extraction:
    """What one extraction wrote."""

    batches: list[str] = field(default_factory=list)
    rows: int = 0
    tombstones: int = 0
    watermark: str | None = None
    signature: str = ""
    dropped_columns: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)


# -- signatures: is anything pending? ---------------------------------------------------------


def signature(conn: sa.Connection, spec: TableSpec) -> str:
    """A cheap fingerprint of the table's content: ``max(cursor)`` and the row count for an
    incremental table (one indexed query), a hash of every row for a snapshot table."""
    if spec.cursor is not None:
        cursor = spec.sa_column(spec.cursor.name)
        top, rows = conn.execute(sa.select(sa.func.max(cursor), sa.func.count())).one()
        return f"max={_encode(top)};rows={rows}"
    digest, rows = hashlib.sha256(), 0
    for chunk in _stream(conn, _ordered(spec, sa.select(*_columns(spec)))):
        for row in chunk:
            digest.update(_row_hash(row).encode())
            rows += 1
    return f"sha256={digest.hexdigest()[:32]};rows={rows}"


def lake_signature(lake: Store, prefix: str) -> str | None:
    """The signature of the last completed extraction (None: never, or a run was killed)."""
    newest = lake.last(prefix)
    try:
        return read_cursor(lake, newest, "signature") if newest else None
    except (pa.ArrowException, OSError):
        return None  # a corrupt newest batch: the extraction quarantines it


# -- extraction -------------------------------------------------------------------------------


def extract(
    conn: sa.Connection,
    spec: TableSpec,
    lake: Store,
    prefix: str,
    *,
    lookback_seconds: float = 300,
    check_deletes: bool = True,
    chunk_rows: int = CHUNK_ROWS,
) -> Extraction:
    """Write the table's changes since the lake's state as new batches (see the module)."""
    done = Extraction(signature=signature(conn, spec))
    newest, lake_schema = _newest_readable(lake, prefix, done)
    done.dropped_columns = _evolution(spec, lake_schema)
    schema = _batch_schema(spec)
    writer = _Writer(lake, prefix, spec, schema, done)
    writer.recorded = cursor_of(lake_schema, "signature")
    if spec.mode == INCREMENTAL:
        _incremental(conn, spec, lake, prefix, newest, lookback_seconds, chunk_rows, writer)
        if check_deletes and newest is not None:
            live = _live_keys(lake, prefix, spec)
            gone = live.keys() - set(_source_keys(conn, spec, chunk_rows)) - writer.rejected_keys
            writer.tombstones(gone)
    else:
        _snapshot(conn, spec, lake, prefix, chunk_rows, writer)
    writer.finish()
    return done


def _incremental(conn, spec, lake, prefix, newest, lookback_seconds, chunk_rows, writer) -> None:
    cursor = spec.cursor
    null_cursors = conn.execute(
        sa.select(sa.func.count()).where(spec.sa_column(cursor.name).is_(None))
    ).scalar_one()
    if null_cursors:
        raise SourceError(
            f"{spec.label}: cursor column {cursor.name!r} has {null_cursors} NULL value(s); "
            "give the table another `cursor` or `mode: snapshot`"
        )
    fast = pg_copy.eligible(conn, spec.schema())
    try:
        _changes(conn, spec, lake, prefix, newest, lookback_seconds, chunk_rows, writer, fast)
    except pa.ArrowInvalid:
        if not fast:
            raise
        # A value PostgreSQL's text form gives that Arrow does not parse: go on (from what the
        # lake holds now) the general way, which quarantines such a value with its row.
        writer.flush()
        newest = lake.last(prefix)
        _changes(conn, spec, lake, prefix, newest, lookback_seconds, chunk_rows, writer, False)


def _changes(conn, spec, lake, prefix, newest, lookback_seconds, chunk_rows, writer, fast):
    cursor = spec.cursor
    mark = _decode(read_cursor(lake, newest, "watermark"), cursor) if newest else None
    lower = _minus(mark, lookback_seconds) if mark is not None else None
    held = _held_versions(lake, prefix, spec, lower) if lower is not None else set()
    writer.watermark = mark
    columns = [spec.table.c[c.original] for c in spec.columns] if fast else _columns(spec)
    query = sa.select(*columns)
    if lower is not None:
        query = query.where(spec.sa_column(cursor.name) >= lower)
    query = query.order_by(spec.sa_column(cursor.name), *(spec.sa_column(k) for k in spec.key))
    if fast:
        tables = map(writer.flagged, pg_copy.copy_batches(conn, query, spec.schema()))
    else:
        tables = (writer.arrow(rows) for rows in _stream(conn, query, chunk_rows))
    for table in tables:
        if held:
            keep = [
                (k, c) not in held
                for k, c in zip(
                    _keys(table, spec.key), table.column(cursor.name).to_pylist(), strict=True
                )
            ]
            table = table.filter(pa.array(keep, pa.bool_()))
        if table.num_rows:
            top = pc.max(table.column(cursor.name)).as_py()
            writer.watermark = top if mark is None else max(mark, top)
            mark = writer.watermark
            writer.write(table)


def _snapshot(conn, spec, lake, prefix, chunk_rows, writer) -> None:
    state = _live_keys(lake, prefix, spec, with_hash=True)
    seen: set[tuple] = set()
    query = _ordered(spec, sa.select(*_columns(spec)))
    for rows in _stream(conn, query, chunk_rows):
        hashes = [_row_hash(r) for r in rows]
        table = writer.arrow(rows, hashes)
        hashes = table.column(HASH).to_pylist()  # rows quarantined by arrow() are gone
        keep = []
        for key, digest in zip(_keys(table, spec.key), hashes, strict=True):
            if key in seen:
                raise SourceError(f"{spec.label}: key {_show(key)} appears twice in the table")
            seen.add(key)
            keep.append(state.get(key) != digest)
        table = table.filter(pa.array(keep, pa.bool_()))
        if table.num_rows:
            writer.write(table)
    writer.tombstones(state.keys() - seen - writer.rejected_keys)


class _Writer:
    """Turns rows into batches of the table's lake schema and writes them."""

    def __init__(self, lake: Store, prefix: str, spec: TableSpec, schema: pa.Schema, done):
        self.lake, self.prefix, self.spec, self.schema, self.done = lake, prefix, spec, schema, done
        self.converters = [converter(c.sa_type, c.type) for c in spec.columns]
        self.watermark = self.pending_watermark = None
        self.recorded: str | None = None  # the signature the lake holds
        self.rejected_keys: set[tuple] = set()  # rows quarantined: not deleted, only unreadable
        self.pending: pa.Table | None = None  # held back: the last batch carries the signature

    def arrow(self, rows: Sequence[Sequence], hashes: list[str] | None = None) -> pa.Table:
        """The rows as a batch (``_deleted`` false); a value that does not fit its column's
        type is quarantined with its row, table, key and reason, and the row left out."""
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.spec.columns]
        arrays, bad = [], {}
        for col, values, conv in zip(self.spec.columns, columns, self.converters, strict=True):
            try:
                arrays.append(_array(values, col.type, conv))
            except BAD_VALUE as exc:
                arrays.append(None)
                bad.update(_bad_values(col, conv, values, exc))
        if bad:
            self._quarantine(rows, bad)
            good = [i for i in range(len(rows)) if i not in bad]
            return self.arrow(
                [rows[i] for i in good], [hashes[i] for i in good] if hashes else None
            )
        arrays.append(pa.array([False] * len(rows), pa.bool_()))
        if self.spec.mode != INCREMENTAL:
            arrays.append(pa.array(hashes or [], pa.string()))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def flagged(self, table: pa.Table) -> pa.Table:
        """A batch of the table's columns with its ``_deleted`` flags (false)."""
        deleted = pa.array([False] * table.num_rows, pa.bool_())
        return table.append_column(self.schema.field(DELETED), deleted).cast(self.schema)

    def _quarantine(self, rows: Sequence[Sequence], bad: dict[int, tuple[str, str]]) -> None:
        names = [c.name for c in self.spec.columns]
        lines = []
        for i, (column, reason) in bad.items():
            row = dict(zip(names, rows[i], strict=True))
            self.rejected_keys.add(self._key_of(row))
            key = {k: _jsonable(row[k]) for k in self.spec.key}
            lines.append(
                {"table": self.spec.label, "key": key, "column": column, "reason": reason}
                | {"row": {k: _jsonable(v) for k, v in row.items()}}
            )
        target = new_batch_key(self.prefix, ".rejected.jsonl")
        reason = f"{len(lines)} row(s) of {self.spec.label} with values that do not fit their type"
        with quarantined_file(self.lake, target, reason, source=self.spec.label) as f:
            f.write("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode())
        self.done.quarantined.append(target)

    def _key_of(self, row: dict) -> tuple:
        """The row's key as the lake holds it (a raw value that does not convert stays raw)."""
        key = []
        for name in self.spec.key:
            i = [c.name for c in self.spec.columns].index(name)
            col, conv = self.spec.columns[i], self.converters[i]
            try:
                key.append(pa.array([conv(row[name])], type=col.type).to_pylist()[0])
            except BAD_VALUE:
                key.append(row[name])
        return tuple(key)

    def tombstones(self, keys) -> None:
        keys = sorted(keys, key=_sortable)
        if not keys:
            return
        by_column = dict(zip(self.spec.key, zip(*keys, strict=True), strict=True))
        arrays = []
        for f in self.schema:
            if f.name == DELETED:
                arrays.append(pa.array([True] * len(keys), pa.bool_()))
            elif f.name in by_column:
                arrays.append(pa.array(list(by_column[f.name]), f.type))
            else:
                arrays.append(pa.nulls(len(keys), f.type))
        self.write(pa.Table.from_arrays(arrays, schema=self.schema))
        self.done.tombstones += len(keys)

    def write(self, table: pa.Table) -> None:
        self.flush()
        self.pending = table
        self.pending_watermark = self.watermark

    def finish(self) -> None:
        """Write the last batch with the signature; nothing at all if nothing changed."""
        if self.pending is None and not self.done.batches and self.recorded == self.done.signature:
            return
        self.flush(last=True)

    def flush(self, last: bool = False) -> None:
        if self.pending is None and not last:
            return
        table = self.pending if self.pending is not None else self.schema.empty_table()
        mark = self.pending_watermark if self.pending is not None else self.watermark
        cursors = {"primary_key": json.dumps(list(self.spec.key)), "mode": self.spec.mode}
        if mark is not None:
            cursors["watermark"] = _encode(mark)
            self.done.watermark = cursors["watermark"]
        if last:
            cursors["signature"] = self.done.signature
        key = new_batch_key(self.prefix)
        write_parquet(self.lake, key, with_cursors(table, **cursors))
        self.done.batches.append(key)
        self.done.rows += int(pc.sum(pc.invert(table.column(DELETED))).as_py() or 0)
        self.pending = None


def _array(values: Sequence, type_: pa.DataType, conv) -> pa.Array:
    """``values`` as an array of ``type_``: as the driver gave them when they fit (the common,
    fast case), else each through ``conv`` first."""
    try:
        return pa.array(values, type=type_)
    except BAD_VALUE:
        return pa.array([conv(v) for v in values], type=type_)


def _bad_values(col: Column, conv, values, exc: Exception) -> dict[int, tuple[str, str]]:
    bad = {}
    for i, value in enumerate(values):
        try:
            pa.array([conv(value)], type=col.type)
        except BAD_VALUE as one:
            bad[i] = (col.name, f"{value!r} does not fit {col.type}: {one}")
    return bad or {i: (col.name, str(exc)) for i in range(len(values))}


# -- the lake's own state ---------------------------------------------------------------------


def _newest_readable(lake: Store, prefix: str, done: Extraction) -> tuple[str | None, pa.Schema]:
    """The newest batch whose footer reads, and its schema: a corrupt newer one (a torn
    upload) is quarantined with its reason, so the watermark falls back to the one before."""
    while (newest := lake.last(prefix)) is not None:
        try:
            return newest, _schema(lake, newest)
        except (pa.ArrowException, OSError) as exc:
            reason = f"unreadable lake batch, extraction falls back to the one before: {exc}"
            done.quarantined.append(quarantine(lake, newest, reason))
    return None, None


def _schema(lake: Store, key: str) -> pa.Schema:
    with lake.open(key) as f:
        return pq.read_schema(f)


def _read(lake: Store, key: str, columns: list[str]) -> pa.Table:
    with lake.open(key) as f:
        return pq.read_table(f, columns=columns)


def _live_keys(lake: Store, prefix: str, spec: TableSpec, with_hash: bool = False) -> dict:
    """Key -> latest row hash (None without ``with_hash``) of every key live in the lake."""
    state: dict[tuple, str | None] = {}
    columns = [*spec.key, DELETED] + ([HASH] if with_hash else [])
    for key in lake.keys(prefix):
        names = _schema(lake, key).names
        if not all(c in names for c in columns):
            continue  # written before the key or mode was what it is now
        table = _read(lake, key, columns)
        hashes = table.column(HASH).to_pylist() if with_hash else [None] * table.num_rows
        deleted = table.column(DELETED).to_pylist()
        for k, gone, digest in zip(_keys(table, spec.key), deleted, hashes, strict=True):
            if gone:
                state.pop(k, None)
            else:
                state[k] = digest
    return state


def _held_versions(lake: Store, prefix: str, spec: TableSpec, lower) -> set[tuple]:
    """(key, cursor value) of each version in the lake with a cursor at or after ``lower``:
    read from the newest batch back to the first whose watermark is below ``lower``."""
    held = set()
    cursor = spec.cursor
    for key in reversed(lake.keys(prefix)):
        schema = _schema(lake, key)
        mark = _decode(cursor_of(schema, "watermark"), cursor)
        if mark is None or mark < lower:
            break
        table = _read(lake, key, [*spec.key, cursor.name, DELETED])
        table = table.filter(pc.invert(table.column(DELETED)))
        held.update(zip(_keys(table, spec.key), table.column(cursor.name).to_pylist(), strict=True))
    return held


# -- helpers ----------------------------------------------------------------------------------


def _batch_schema(spec: TableSpec) -> pa.Schema:
    fields = [*spec.schema(), pa.field(DELETED, pa.bool_(), nullable=False)]
    if spec.mode != INCREMENTAL:
        fields.append(pa.field(HASH, pa.string()))
    metadata = {b"source_table": spec.original.encode()}
    if spec.comment:
        metadata[b"description"] = spec.comment.encode()
    return pa.schema(fields, metadata=metadata)


def _evolution(spec: TableSpec, lake_schema: pa.Schema | None) -> list[str]:
    """Columns dropped at the source since the newest batch; raises on an unsafe type change."""
    if lake_schema is None:
        return []
    now = {c.name: c.type for c in spec.columns}
    for name in lake_schema.names:
        if name in now and name not in INTERNAL:
            old = lake_schema.field(name).type
            if not widens(old, now[name]):
                raise SourceError(
                    f"{spec.label}: column {name!r} changed type from {old} to {now[name]}, "
                    "which cannot hold every earlier value; this table stops until it is resolved"
                )
    return [n for n in lake_schema.names if n not in now and n not in INTERNAL]


def _columns(spec: TableSpec) -> list[sa.ColumnElement]:
    """The table's columns, read raw (see :func:`lakehouse.sources.sql.types.converter`)."""
    return [
        sa.type_coerce(spec.table.c[c.original], sa.types.NullType()).label(c.original)
        for c in spec.columns
    ]


def _ordered(spec: TableSpec, query: sa.Select) -> sa.Select:
    return query.order_by(*(spec.sa_column(k) for k in spec.key))


def _stream(conn: sa.Connection, query, chunk_rows: int = CHUNK_ROWS) -> Iterator[list]:
    result = conn.execution_options(yield_per=chunk_rows).execute(query)
    yield from result.partitions(chunk_rows)


def _source_keys(conn: sa.Connection, spec: TableSpec, chunk_rows: int) -> Iterator[tuple]:
    key_columns = [c for c in spec.columns if c.name in spec.key]
    key_columns.sort(key=lambda c: spec.key.index(c.name))
    query = sa.select(
        *(sa.type_coerce(spec.table.c[c.original], sa.types.NullType()) for c in key_columns)
    )
    for rows in _stream(conn, query, chunk_rows):
        arrays = [
            pa.array([converter(c.sa_type, c.type)(v) for v in values], type=c.type)
            for c, values in zip(key_columns, zip(*rows, strict=True), strict=True)
        ]
        yield from zip(*(a.to_pylist() for a in arrays), strict=True)


def _keys(table: pa.Table, key: Sequence[str]) -> list[tuple]:
    return list(zip(*(table.column(k).to_pylist() for k in key), strict=True))


def _row_hash(row: Sequence) -> str:
    return hashlib.md5(repr(tuple(row)).encode(), usedforsecurity=False).hexdigest()


def _minus(mark, lookback_seconds: float):
    if isinstance(mark, datetime | date):
        return mark - timedelta(seconds=lookback_seconds)
    if isinstance(mark, int | float | Decimal):
        return mark - type(mark)(lookback_seconds)
    return mark


def _encode(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _decode(text: str | None, column: Column):
    if text is None or text == "null":
        return None
    t = column.type
    if pa.types.is_timestamp(t):
        value = datetime.fromisoformat(text.split("|")[0])  # before "|": the old "<ts>|<id>" form
        if t.tz and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
    if pa.types.is_date(t):
        return date.fromisoformat(text)
    if pa.types.is_integer(t):
        return int(text)
    if pa.types.is_decimal(t):
        return Decimal(text)
    if pa.types.is_floating(t):
        return float(text)
    return text


def _sortable(key: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in key)


def _show(key: tuple) -> str:
    return ", ".join(map(str, key))


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID | Decimal | datetime | date):
        return str(value)
    return repr(value)

"""Warehouse projections of the events: counts that are updated incrementally.

Each projection is an aggregate of additive measures (counts, sums), so it is maintained as
*previous result + aggregate of the new lake files*, regrouped. The lake holds every event
exactly once, and :mod:`lakehouse.components.incremental` hands each lake file over exactly
once, so the result stays exact.

Buckets are the *event's* time (``occurred_at``, UTC), not its arrival: a late event updates
the bucket it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from lakehouse.sources.events.schema import lake_schema


@dataclass(frozen=True)
class Projection:
    name: str
    description: str
    sources: tuple[str, ...]  # event types read
    schema: pa.Schema
    keys: tuple[str, ...]  # the grouping columns
    increment_sql: str  # over one relation per source type, named after it: new events only

    @property
    def measures(self) -> list[str]:
        return [n for n in self.schema.names if n not in self.keys]


APPLICATION_FUNNEL = Projection(
    name="application_funnel",
    description=(
        "Application funnel by hour (UTC) of the events: applications submitted, decided "
        "(approved, declined) and invoices funded, counted from the platform events "
        "(`application_submitted`, `underwriter_decided`, `trade_funded`); updated "
        "incrementally as event files land in the lake."
    ),
    sources=("application_submitted", "underwriter_decided", "trade_funded"),
    schema=pa.schema(
        [
            pa.field("hour", pa.timestamp("us"), nullable=False),
            pa.field("event_date", pa.date32(), nullable=False),
            pa.field("submitted", pa.int64(), nullable=False),
            pa.field("decided", pa.int64(), nullable=False),
            pa.field("approved", pa.int64(), nullable=False),
            pa.field("declined", pa.int64(), nullable=False),
            pa.field("funded", pa.int64(), nullable=False),
        ]
    ),
    keys=("hour", "event_date"),
    increment_sql="""
        SELECT date_trunc('hour', occurred_at) AS hour, event_date,
               count(*) FILTER (type = 'application_submitted') AS submitted,
               count(*) FILTER (type = 'underwriter_decided') AS decided,
               count(*) FILTER (decision = 'approved') AS approved,
               count(*) FILTER (decision = 'declined') AS declined,
               count(*) FILTER (type = 'trade_funded') AS funded
        FROM (
            SELECT occurred_at, event_date, type, NULL::VARCHAR AS decision
            FROM application_submitted
            UNION ALL
            SELECT occurred_at, event_date, type, decision FROM underwriter_decided
            UNION ALL
            SELECT occurred_at, event_date, type, NULL::VARCHAR FROM trade_funded
        )
        GROUP BY ALL
    """,
)

FUNDED_VOLUME = Projection(
    name="funded_volume",
    description=(
        "Funded volume by event date (UTC) and currency from `trade_funded` events: trades "
        "funded, amount advanced and fees; updated incrementally as event files land."
    ),
    sources=("trade_funded",),
    schema=pa.schema(
        [
            pa.field("event_date", pa.date32(), nullable=False),
            pa.field("currency", pa.string(), nullable=False),
            pa.field("trades_funded", pa.int64(), nullable=False),
            pa.field("advance_volume", pa.decimal128(18, 2), nullable=False),
            pa.field("fee_amount", pa.decimal128(18, 2), nullable=False),
        ]
    ),
    keys=("event_date", "currency"),
    increment_sql="""
        SELECT event_date, currency,
               count(*) AS trades_funded,
               sum(advance_amount) AS advance_volume,
               sum(round(advance_amount * fee_rate, 2)) AS fee_amount
        FROM trade_funded
        GROUP BY ALL
    """,
)

PROJECTIONS = {p.name: p for p in (APPLICATION_FUNNEL, FUNDED_VOLUME)}


def _naive_utc(table: pa.Table) -> pa.Table:
    """Timestamps in UTC without a zone, so DuckDB's hour buckets don't depend on its
    session time zone (naive UTC, like the platform tables)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            table = table.set_column(
                i,
                pa.field(f.name, pa.timestamp(f.type.unit)),
                table.column(i).cast(pa.timestamp(f.type.unit)),
            )
    return table


def update(
    projection: Projection,
    previous: pa.Table | None,
    new_files: Mapping[str, Mapping[str, pa.Table]],
) -> pa.Table:
    """``previous`` plus the events in ``new_files`` (type -> {lake key: table}), regrouped."""
    con = duckdb.connect()
    for type_name in projection.sources:
        tables = [_naive_utc(t) for t in new_files.get(type_name, {}).values()]
        schema = _naive_utc(lake_schema(type_name).empty_table()).schema
        con.register(type_name, pa.concat_tables(tables) if tables else schema.empty_table())
    keys = ", ".join(projection.keys)
    sums = ", ".join(f"sum({m}) AS {m}" for m in projection.measures)
    parts = [f"SELECT {keys}, {', '.join(projection.measures)} FROM ({projection.increment_sql})"]
    if previous is not None:
        con.register("previous", previous.select(projection.schema.names))
        parts.append(f"SELECT {keys}, {', '.join(projection.measures)} FROM previous")
    result = con.sql(
        f"SELECT {keys}, {sums} FROM ({' UNION ALL '.join(parts)}) GROUP BY {keys} ORDER BY {keys}"
    ).to_arrow_table()
    return result.cast(projection.schema)

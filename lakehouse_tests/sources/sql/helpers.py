"""A shop database unlike the platform's, and the way tests run the SqlDatabase component."""

from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from lakehouse.components.resources.stores import ObjectStore, ParquetIOManager
from lakehouse.components.sql_database import SqlDatabase
from lakehouse.settings import Settings
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import Store

# What the component must call each column in the lake (by hand, not by its rule).
LAKE_NAMES = {
    "InvoiceLine": {
        "InvoiceId": "invoice_id",
        "LineNo": "line_no",
        "Amount": "amount",
        "Note": "note",
        "Payload": "payload",
        "BookedAt": "booked_at",
        "ModifiedAt": "modified_at",
        "Discount": "discount",
    },
    "Order": {
        "id": "id",
        "select": "select",
        "Customer Name": "customer_name",
        "total": "total",
        "placed": "placed",
    },
    "LedgerEntry": {
        "EntryID": "entry_id",
        "memo": "memo",
        "amount": "amount",
        "settled": "settled",
        "updated_at": "updated_at",
    },
}
LAKE_TABLES = {"InvoiceLine": "invoice_line", "Order": "order", "LedgerEntry": "ledger_entry"}
KEYS = {"InvoiceLine": ("invoice_id", "line_no"), "Order": ("id",), "LedgerEntry": ("entry_id",)}


def shop_schema() -> sa.MetaData:
    meta = sa.MetaData()
    sa.Table(
        "InvoiceLine",  # composite key, a change cursor under another name than updated_at
        meta,
        sa.Column("InvoiceId", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("LineNo", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("Amount", sa.Numeric(12, 3), nullable=False, comment="Line amount before VAT"),
        sa.Column("Note", sa.String(200)),
        sa.Column("Payload", sa.LargeBinary),
        sa.Column("BookedAt", sa.DateTime(timezone=True)),
        sa.Column("ModifiedAt", sa.DateTime, nullable=False),
    )
    sa.Table(
        "Order",  # a reserved word; no cursor at all: snapshot mode
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("select", sa.String(20)),
        sa.Column("Customer Name", sa.String(100)),
        sa.Column("total", sa.Numeric(10, 2)),
        sa.Column("placed", sa.Date),
    )
    sa.Table(
        "LedgerEntry",  # only types PostgreSQL's COPY fast path reads; quirky text
        meta,
        sa.Column("EntryID", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("memo", sa.Text),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("settled", sa.Boolean),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    return meta


def booked(url: str, *args) -> datetime:
    """A time with time zone where the database keeps one (PostgreSQL), else naive."""
    value = datetime(*args)
    return value.replace(tzinfo=UTC) if url.startswith("postgresql") else value


def component(url: str, **attributes) -> SqlDatabase:
    return SqlDatabase(name="shop", url=url, tables=list(LAKE_TABLES), **attributes)


def source_defs(settings: Settings, source: SqlDatabase) -> dg.Definitions:
    stores = {n: ObjectStore(url=u, name=n) for n, u in settings.store_urls().items()}
    return dg.Definitions.merge(
        source.build_defs(None),
        dg.Definitions(
            resources={**stores, "io_manager": ParquetIOManager(base_url=settings.warehouse_url)}
        ),
    )


ALL_TABLES = tuple(LAKE_TABLES.values())


def tick(defs: dg.Definitions, instance, tables=ALL_TABLES, **kw):
    """Extract the tables, then merge them into their current state."""
    job = defs.resolve_implicit_global_asset_job_def()
    for layer in ("lake", "warehouse"):
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey([layer, "shop", t]) for t in tables],
            **kw,
        )
    return result


def db_rows(url: str, meta: sa.MetaData, table: str) -> dict[tuple, dict]:
    """The table as the database holds it, read with the test's own table definition, under
    the lake names, by key."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(meta.tables[table])).mappings().all()
    engine.dispose()
    names = LAKE_NAMES[table]
    mapped = [{names[k]: v for k, v in row.items()} for row in rows]
    return {tuple(r[k] for k in KEYS[table]): r for r in mapped}


def state_rows(settings: Settings, table: str) -> dict[tuple, dict]:
    state = read_current(Store(settings.warehouse_url), f"shop/{LAKE_TABLES[table]}")
    return {tuple(r[k] for k in KEYS[table]): r for r in state.to_pylist()}


def lake_history(settings: Settings, table: str) -> pa.Table:
    lake = Store(settings.lake_url)
    prefix = f"shop/{LAKE_TABLES[table]}"
    return pa.concat_tables(
        [read_parquet(lake, k) for k in lake.keys(prefix)], promote_options="permissive"
    )

"""The SqlDatabase component on SQLite, PostgreSQL and MariaDB: a shop database unlike the
platform's goes through initial load, inserts, updates, hard deletes, an added column and a
late commit; after each tick the warehouse equals the database, and the lake keeps history."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from lakehouse.sources.sql import pg_copy
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import Store
from lakehouse_tests.sources.sql.helpers import (
    LAKE_TABLES,
    booked,
    component,
    db_rows,
    lake_history,
    shop_schema,
    source_defs,
    state_rows,
    tick,
)

T0 = datetime(2026, 3, 1, 9, 0, 0)


def _assert_in_sync(settings, url, meta):
    for table in LAKE_TABLES:
        assert state_rows(settings, table) == db_rows(url, meta, table), table


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def test_changes_reach_the_warehouse_and_the_lake_keeps_every_version(
    db_url, settings, instance, monkeypatch
):
    meta, url = shop_schema(), db_url
    copied = []  # tables read by PostgreSQL's COPY fast path
    original = pg_copy.copy_batches
    monkeypatch.setattr(
        pg_copy,
        "copy_batches",
        lambda c, q, schema: copied.append(schema) or original(c, q, schema),
    )
    engine = sa.create_engine(url)
    lines, orders = meta.tables["InvoiceLine"], meta.tables["Order"]
    ledger = meta.tables["LedgerEntry"]
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            ledger.insert(),
            [
                {
                    "EntryID": 1,
                    "memo": "",
                    "amount": Decimal("0.00"),
                    "settled": True,
                    "updated_at": booked(url, 2026, 3, 1, 9),
                },
                {
                    "EntryID": 2,
                    "memo": None,
                    "amount": None,
                    "settled": None,
                    "updated_at": booked(url, 2026, 3, 1, 9),
                },
                {
                    "EntryID": 3,
                    "memo": 'two\nlines, a "quote", a \\ and ;',
                    "settled": False,
                    "amount": Decimal("-12345678.90"),
                    "updated_at": booked(url, 2026, 3, 1, 9, 0, 1),
                },
            ],
        )
        conn.execute(
            lines.insert(),
            [
                {
                    "InvoiceId": 1,
                    "LineNo": 1,
                    "Amount": Decimal("12.500"),
                    "Note": "first",
                    "Payload": b"\x00\xffraw",
                    "BookedAt": booked(url, 2026, 3, 1, 8),
                    "ModifiedAt": T0,
                },
                {
                    "InvoiceId": 1,
                    "LineNo": 2,
                    "Amount": Decimal("-3.125"),
                    "Note": None,
                    "Payload": None,
                    "BookedAt": None,
                    "ModifiedAt": T0,
                },
                {
                    "InvoiceId": 2,
                    "LineNo": 1,
                    "Amount": Decimal("999999999.999"),
                    "Note": "é ü",
                    "Payload": b"",
                    "BookedAt": booked(url, 2026, 3, 1, 23, 59, 59),
                    "ModifiedAt": T0 + timedelta(seconds=1),
                },
            ],
        )
        conn.execute(
            orders.insert(),
            [
                {
                    "id": 10,
                    "select": "express",
                    "Customer Name": "Müller GmbH",
                    "total": Decimal("100.10"),
                    "placed": date(2026, 2, 28),
                },
                {"id": 11, "select": None, "Customer Name": None, "total": None, "placed": None},
            ],
        )
    defs = source_defs(settings, component(url))

    tick(defs, instance)  # initial load
    _assert_in_sync(settings, url, meta)
    # Column descriptions: the database's comment where it keeps one (not SQLite), else the
    # source name and type; the original name travels too.
    amount = read_current(Store(settings.warehouse_url), "shop/invoice_line").schema.field("amount")
    described = amount.metadata[b"description"].decode()
    if url.startswith("sqlite"):
        assert described == "Source column `Amount` (NUMERIC(12, 3))."
    else:
        assert described == "Line amount before VAT"
    assert amount.metadata[b"original_name"] == b"Amount"

    with engine.begin() as conn:  # between ticks: insert, update, hard delete, new column
        conn.execute(
            lines.insert(),
            {"InvoiceId": 3, "LineNo": 1, "Amount": Decimal("1.000"), "ModifiedAt": T0},
        )
        conn.execute(
            lines.update()
            .where(lines.c.InvoiceId == 1, lines.c.LineNo == 1)
            .values(Amount=Decimal("13.000"), ModifiedAt=T0 + timedelta(minutes=10))
        )
        conn.execute(lines.delete().where(lines.c.InvoiceId == 1, lines.c.LineNo == 2))
        conn.execute(orders.update().where(orders.c.id == 10).values(total=Decimal("0.01")))
        conn.execute(orders.delete().where(orders.c.id == 11))
        conn.execute(ledger.delete().where(ledger.c.EntryID == 2))
        conn.execute(
            ledger.update()
            .where(ledger.c.EntryID == 1)
            .values(memo="settled late", updated_at=booked(url, 2026, 3, 2, 9))
        )
        conn.execute(orders.insert(), {"id": 12, "select": "from", "placed": date(2026, 3, 1)})
        conn.execute(
            sa.text(
                f"ALTER TABLE {_quote(conn, 'InvoiceLine')} ADD {_quote(conn, 'Discount')} "
                "NUMERIC(5, 2)"
            )
        )
        conn.execute(
            sa.text(
                f"UPDATE {_quote(conn, 'InvoiceLine')} SET {_quote(conn, 'Discount')} = 0.5, "
                f"{_quote(conn, 'ModifiedAt')} = :t WHERE {_quote(conn, 'InvoiceId')} = 2"
            ),
            {"t": T0 + timedelta(minutes=11)},
        )
    lines.append_column(sa.Column("Discount", sa.Numeric(5, 2)))

    tick(defs, instance)
    _assert_in_sync(settings, url, meta)
    state = state_rows(settings, "InvoiceLine")
    assert state[(2, 1)]["discount"] == Decimal("0.50") and state[(1, 1)]["discount"] is None

    history = lake_history(settings, "InvoiceLine").to_pylist()
    versions = [r["amount"] for r in history if (r["invoice_id"], r["line_no"]) == (1, 1)]
    assert versions == [Decimal("12.500"), Decimal("13.000")]
    gone = [r for r in history if (r["invoice_id"], r["line_no"]) == (1, 2)]
    assert [r["_deleted"] for r in gone] == [False, True]  # the version, then its tombstone
    orders_history = lake_history(settings, "Order").to_pylist()
    assert [r["total"] for r in orders_history if r["id"] == 10] == [
        Decimal("100.10"),
        Decimal("0.01"),
    ]
    assert len(orders_history) == 2 + 3  # 2 first rows; then a change, a tombstone, an insert

    # A late commit: its cursor is older than the watermark (T0 + 11 min), within the lookback.
    with engine.begin() as conn:
        conn.execute(
            lines.update()
            .where(lines.c.InvoiceId == 3)
            .values(Note="committed late", ModifiedAt=T0 + timedelta(minutes=9))
        )
    tick(defs, instance)
    _assert_in_sync(settings, url, meta)
    assert state_rows(settings, "InvoiceLine")[(3, 1)]["note"] == "committed late"
    # Re-reading the lookback window wrote no version twice.
    history = lake_history(settings, "InvoiceLine").to_pylist()
    versions = [(r["invoice_id"], r["line_no"], r["modified_at"]) for r in history]
    assert len(versions) == len(set(versions))
    engine.dispose()
    fast = {f.name for schema in copied for f in schema}
    assert ("memo" in fast) == url.startswith("postgresql") and "payload" not in fast

"""Platform KPIs on a small hand-made fixture; expected values are worked out by hand."""

from datetime import date, datetime
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from lakehouse.warehouse.current_state import current_state_sql
from lakehouse.warehouse.platform_kpis import COLUMNS, KPIS, TABLES_USED, data_as_of

INT, STR, MONEY, TS = pa.int64(), pa.string(), pa.decimal128(14, 2), pa.timestamp("us")


def _table(fields: dict[str, pa.DataType], rows: list[tuple]) -> pa.Table:
    """Rows to an Arrow table; money given as ints, timestamps as "MM-DD HH:MM" in 2024."""

    def cast(value, type_):
        if value is None:
            return None
        if type_ == MONEY:
            return Decimal(value)
        if type_ == TS:
            return datetime.strptime(f"2024-{value}", "%Y-%m-%d %H:%M")
        return value

    records = [{k: cast(v, t) for (k, t), v in zip(fields.items(), r, strict=True)} for r in rows]
    return pa.Table.from_pylist(records, schema=pa.schema(list(fields.items())))


# Sellers 101-103, debtors 201-203; ids differ across tables so a wrong join finds nothing.
TABLES = {
    "companies": _table(
        {"id": INT, "name": STR, "role": STR, "sector": STR},
        [
            (101, "Acme Tools", "seller", "manufacturing"),
            (102, "Bolt Foods", "seller", "food"),
            (103, "Crane Works", "seller", "construction"),
            (201, "Big Retail", "debtor", "retail"),
            (202, "City Hospital", "debtor", "healthcare"),
            (203, "Delta Logistics", "debtor", "logistics"),
        ],
    ),
    "applications": _table(
        {
            "id": INT,
            "seller_id": INT,
            "requested_amount": MONEY,
            "status": STR,
            "submitted_at": TS,
            "decided_at": TS,
        },
        [
            (1, 101, 10000, "approved", "02-27 09:00", "02-27 13:00"),
            (2, 102, 20000, "approved", "02-27 10:00", "02-27 16:00"),
            (3, 103, 5000, "declined", "02-27 11:00", "02-27 17:00"),
            (4, 101, 8000, "approved", "02-28 08:00", "02-29 00:00"),  # decided on the cutoff
            (5, 102, 12000, "declined", "02-28 12:00", "03-04 09:00"),  # the last activity
            (6, 103, 6000, "approved", "03-01 09:00", "03-01 12:00"),
            (7, 101, 9000, "approved", "03-01 10:00", "03-01 18:00"),
            (8, 102, 4000, "approved", "03-01 11:00", "03-02 09:00"),
            (9, 103, 7000, "submitted", "03-02 00:00", None),  # submitted on the cutoff
            (10, 101, 3000, "submitted", "03-02 15:00", None),
        ],
    ),
    # Sellers 101 and 103 invoice in GBP, 102 in EUR; debtor 201 owes in both.
    "invoices": _table(
        {
            "id": INT,
            "application_id": INT,
            "seller_id": INT,
            "debtor_id": INT,
            "face_value": MONEY,
            "currency": STR,
        },
        [
            (21, 1, 101, 201, 12500, "GBP"),
            (22, 2, 102, 202, 25000, "EUR"),
            (23, 3, 103, 203, 6000, "GBP"),  # declined, never traded
            (24, 4, 101, 203, 10000, "GBP"),
            (25, 5, 102, 202, 12000, "EUR"),  # declined, never traded
            (26, 6, 103, 201, 7500, "GBP"),
            (27, 7, 101, 202, 11000, "GBP"),
            (28, 8, 102, 201, 5000, "EUR"),
            (29, 9, 103, 203, 7000, "GBP"),  # awaiting a decision
            (30, 10, 101, 201, 3000, "GBP"),  # awaiting a decision
        ],
    ),
    "trades": _table(
        {"id": INT, "invoice_id": INT, "advance_amount": MONEY, "status": STR, "funded_at": TS},
        [
            (31, 21, 10000, "repaid", "02-27 15:00"),  # 6h after application 1
            (32, 22, 20000, "repaid", "02-28 10:00"),  # 24h after application 2
            (33, 24, 8000, "defaulted", "02-29 14:00"),  # 30h after application 4
            (34, 26, 6000, "live", "03-01 15:00"),  # 6h after application 6
            (35, 27, 9000, "live", "03-02 10:00"),  # 24h after application 7
            (36, 28, 4000, "live", "03-02 12:30"),  # 25.5h after application 8
        ],
    ),
    "payments": _table(
        {"id": INT, "trade_id": INT, "amount": MONEY, "paid_at": TS, "days_late": INT},
        [
            (41, 31, 10000, "03-20 10:00", 0),
            (42, 32, 15000, "03-25 10:00", 2),
            (43, 32, 5000, "04-02 10:00", 4),  # two late payments, one late repayment
            (44, 33, 3000, "03-30 10:00", 10),  # partial and late, but the trade defaulted
            (45, 34, 2500, "03-15 10:00", 0),  # partial payment on a live trade
            (46, 36, 3000, "03-10 10:00", 0),
            (47, 36, 1500, "03-12 10:00", 0),  # 4500 paid on a 4000 advance
        ],
    ),
}


def _connect(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


@pytest.fixture
def con():
    with _connect(TABLES) as con:
        yield con


def _check(result: pa.Table, columns: list[str], expected: list[tuple]) -> None:
    assert result.column_names == columns
    rows = list(zip(*result.to_pydict().values(), strict=True))
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert row == pytest.approx(want)


def test_applications_daily(con):
    _check(
        KPIS["applications_daily"](con),
        [
            "day",
            "currency",
            "submitted",
            "approved",
            "declined",
            "pending",
            "approval_rate",
            "requested_amount",
        ],
        [
            (date(2024, 2, 27), "EUR", 1, 1, 0, 0, 1.0, Decimal(20000)),  # 2
            (date(2024, 2, 27), "GBP", 2, 1, 1, 0, 1 / 2, Decimal(15000)),  # 1, 3: 10000 + 5000
            (date(2024, 2, 28), "EUR", 1, 0, 1, 0, 0.0, Decimal(12000)),  # 5
            (date(2024, 2, 28), "GBP", 1, 1, 0, 0, 1.0, Decimal(8000)),  # 4
            (date(2024, 3, 1), "EUR", 1, 1, 0, 0, 1.0, Decimal(4000)),  # 8
            (date(2024, 3, 1), "GBP", 2, 2, 0, 0, 1.0, Decimal(15000)),  # 6, 7: 6000 + 9000
            (date(2024, 3, 2), "GBP", 2, 0, 0, 2, None, Decimal(10000)),  # none decided: NULL
        ],
    )


def test_funding_time_daily(con):
    two = [24.0, 25.5]  # trades 35 and 36 on 03-02
    _check(
        KPIS["funding_time_daily"](con),
        ["day", "trades_funded", "median_hours", "p90_hours"],
        [
            (date(2024, 2, 27), 1, 6.0, 6.0),
            (date(2024, 2, 28), 1, 24.0, 24.0),
            (date(2024, 2, 29), 1, 30.0, 30.0),
            (date(2024, 3, 1), 1, 6.0, 6.0),
            # 24 + 0.5 * 1.5 = 24.75 and 24 + 0.9 * 1.5 = 25.35
            (date(2024, 3, 2), 2, np.percentile(two, 50), np.percentile(two, 90)),
        ],
    )
    assert np.percentile(two, [50, 90]) == pytest.approx([24.75, 25.35])


def test_funded_volume_daily(con):
    _check(
        KPIS["funded_volume_daily"](con),
        ["day", "currency", "trades_funded", "advance_volume", "face_value_volume"],
        [
            (date(2024, 2, 27), "GBP", 1, Decimal(10000), Decimal(12500)),
            (date(2024, 2, 28), "EUR", 1, Decimal(20000), Decimal(25000)),
            (date(2024, 2, 29), "GBP", 1, Decimal(8000), Decimal(10000)),
            (date(2024, 3, 1), "GBP", 1, Decimal(6000), Decimal(7500)),
            # trade 36 (EUR) and 35 (GBP) on one day: two rows, never 13000 of nothing
            (date(2024, 3, 2), "EUR", 1, Decimal(4000), Decimal(5000)),
            (date(2024, 3, 2), "GBP", 1, Decimal(9000), Decimal(11000)),
        ],
    )


def test_debtor_exposure(con):
    # Live trades: 34 (debtor 201, GBP) 6000 - 2500 = 3500; 36 (201, EUR) max(4000 - 4500,
    # 0) = 0; 35 (202, GBP) 9000, nothing paid. Debtor 203 has only a defaulted trade.
    # GBP total 12500; EUR total 0, so no EUR share.
    _check(
        KPIS["debtor_exposure"](con),
        [
            "debtor_id",
            "debtor_name",
            "sector",
            "currency",
            "live_trades",
            "outstanding_amount",
            "share_of_currency_total",
        ],
        [
            (201, "Big Retail", "retail", "EUR", 1, Decimal(0), None),
            (202, "City Hospital", "healthcare", "GBP", 1, Decimal(9000), 9000 / 12500),
            (201, "Big Retail", "retail", "GBP", 1, Decimal(3500), 3500 / 12500),
        ],
    )


def test_default_rate_monthly(con):
    # February: trades 31 (GBP) and 32 (EUR) repaid, 32 paid late twice; 33 (GBP) defaulted
    # (its late payment is not a late repayment). March: trades 34, 35 (GBP) and 36 (EUR) all
    # live, so nothing settled: immature, no rate.
    _check(
        KPIS["default_rate_monthly"](con),
        [
            "month",
            "currency",
            "trades_funded",
            "settled",
            "defaulted",
            "mature",
            "default_rate",
            "defaulted_advance",
            "late_repayments",
        ],
        [
            (date(2024, 2, 1), "EUR", 1, 1, 0, True, 0.0, Decimal(0), 1),
            (date(2024, 2, 1), "GBP", 2, 2, 1, True, 1 / 2, Decimal(8000), 0),
            (date(2024, 3, 1), "EUR", 1, 0, 0, False, None, Decimal(0), 0),
            (date(2024, 3, 1), "GBP", 2, 0, 0, False, None, Decimal(0), 0),
        ],
    )


def test_default_rate_of_a_partly_settled_month_is_not_shown():
    # March: one trade repaid early, one still live (it may yet default): a rate of 0 / 1
    # settled would read as "no defaults"; the month is immature and has no rate.
    tables = {
        **TABLES,
        "trades": _table(
            {"id": INT, "invoice_id": INT, "advance_amount": MONEY, "status": STR, "funded_at": TS},
            [(31, 21, 10000, "repaid", "03-01 10:00"), (32, 24, 8000, "live", "03-05 10:00")],
        ),
    }
    with _connect(tables) as con:
        result = KPIS["default_rate_monthly"](con).to_pylist()
    assert result == [
        {
            "month": date(2024, 3, 1),
            "currency": "GBP",
            "trades_funded": 2,
            "settled": 1,
            "defaulted": 0,
            "mature": False,
            "default_rate": None,
            "defaulted_advance": Decimal(0),
            "late_repayments": 0,
        }
    ]


def test_application_whose_invoices_mix_currencies_has_no_currency():
    invoices = TABLES["invoices"].to_pylist()
    invoices[0]["currency"] = "EUR"  # application 1 now has invoice 21 in EUR ...
    invoices.append({**invoices[0], "id": 99, "currency": "GBP"})  # ... and invoice 99 in GBP
    tables = {**TABLES, "invoices": pa.Table.from_pylist(invoices, TABLES["invoices"].schema)}
    with _connect(tables) as con:
        rows = KPIS["applications_daily"](con).to_pylist()
    mixed = [r for r in rows if r["currency"] is None]
    assert [(r["day"], r["submitted"], r["requested_amount"]) for r in mixed] == [
        (date(2024, 2, 27), 1, Decimal(10000))
    ]


def test_underwriter_backlog_daily(con):
    # Waiting at midnight ending each day; 02-29 and 03-03 have no submission or decision but
    # are in the series, which ends on 03-04, the day application 5 is decided.
    _check(
        KPIS["underwriter_backlog_daily"](con),
        ["day", "waiting", "oldest_wait_hours"],
        [
            (date(2024, 2, 27), 0, None),  # 1-3 decided the day they came in
            (date(2024, 2, 28), 2, 16.0),  # 4 (decided at the cutoff) since 08:00, 5 since 12:00
            (date(2024, 2, 29), 1, 36.0),  # 4 decided; 5: 12h + 24h
            (date(2024, 3, 1), 2, 60.0),  # 5: 36h + 24h; 8; not 9, submitted at the cutoff
            (date(2024, 3, 2), 3, 84.0),  # 8 decided; 5, 9, 10
            (date(2024, 3, 3), 3, 108.0),  # 5, 9, 10
            (date(2024, 3, 4), 2, 72.0),  # 5 decided; 9 since 03-02 00:00: 72h; 10
        ],
    )


@pytest.mark.parametrize("name", KPIS)
def test_kpi_reads_only_tables_used(con, name):
    only = {t: TABLES[t] for t in TABLES_USED[name]}
    with _connect(only) as narrow:
        assert KPIS[name](narrow).equals(KPIS[name](con))


@pytest.mark.parametrize("name", KPIS)
def test_kpi_on_empty_tables(name):
    with _connect({t: table.slice(0, 0) for t, table in TABLES.items()}) as empty:
        assert KPIS[name](empty).num_rows == 0


def test_current_state_sql_picks_latest_version():
    versions = _table(
        {"id": INT, "status": STR, "updated_at": TS, "_batch": STR},
        [
            (1, "submitted", "03-01 09:00", "batch-001"),
            (1, "approved", "03-01 12:00", "batch-002"),  # later updated_at wins
            (2, "submitted", "03-01 10:00", "batch-002"),
            (2, "declined", "03-01 10:00", "batch-003"),  # same updated_at: later batch wins
            (3, "approved", "03-01 11:00", "batch-001"),  # later updated_at beats later batch
            (3, "submitted", "03-01 08:00", "batch-003"),
        ],
    )
    with _connect({"versions": versions}) as con:
        result = con.sql(f"{current_state_sql('versions')} ORDER BY id").to_arrow_table()
    assert result.column_names == ["id", "status", "updated_at"]
    assert result.to_pydict()["status"] == ["approved", "declined", "approved"]


@pytest.mark.parametrize("name", KPIS)
def test_every_kpi_column_is_described(con, name):
    assert list(COLUMNS[name]) == KPIS[name](con).column_names
    assert all(text.strip() for text in COLUMNS[name].values())


def test_data_as_of_is_the_newest_update_among_the_tables_read():
    older = _table({"id": INT, "updated_at": TS}, [(1, "03-01 09:00"), (2, "03-02 17:45")])
    newer = _table({"id": INT, "updated_at": TS}, [(3, "03-02 18:00"), (4, "02-01 00:00")])
    empty = older.slice(0, 0)
    assert data_as_of({"a": older, "b": newer, "c": empty}) == datetime(2024, 3, 2, 18, 0)
    assert data_as_of({"c": empty}) is None

"""The bank's statement drop (lakehouse/defs/bank): a statement as the bank writes it is parsed
by its YAML declaration alone and reconciled against the platform's payments."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import yaml

from lakehouse.sources.files.readers import parse_file
from lakehouse.sources.files.spec import drop_spec
from lakehouse.warehouse.bank_statements import reconcile
from lakehouse_dev.simulate.bank import money, statement_text

SPEC = drop_spec(
    yaml.safe_load(
        (Path(__file__).parents[3] / "lakehouse/defs/bank/drop/statement.yaml").read_text()
    )
)
NAME = "statement_DE89370400440532013000_20260302.csv"
STATEMENT = (
    "booking_date;value_date;reference;counterparty;amount;currency\r\n"
    "02.03.2026;02.03.2026;PAY-00000011 TRADE-5;Bäckerei Groß;1.250,00;EUR\r\n"  # matched
    '02.03.2026;03.03.2026;PAY-00000012 TRADE-6;"Smith; Jones Ltd";99,90;EUR\r\n'  # mismatch
    "02.03.2026;-;PAY-00000099;Unknown Co;10,00;EUR\r\n"  # no such payment
    "02.03.2026;-;ACCOUNT FEE;-;-12,50;EUR\r\n"  # bank only
    "02.03.2026;02.03.2026;PAY-00000014;Zoë SARL;2.000.000,01;EUR\r\n"  # matched
    "TOTAL;5;2.001.347,41\r\n"
)
PAYMENTS = pa.table(
    {
        "id": pa.array([11, 12, 13, 14, 15], pa.int64()),
        "trade_id": pa.array([5, 6, 7, 8, 9], pa.int64()),
        "amount": pa.array(
            [Decimal(v) for v in ("1250.00", "99.00", "500.00", "2000000.01", "1.00")],
            pa.decimal128(14, 2),
        ),
        "paid_at": [
            datetime(2026, 3, 2, 9, 15),
            datetime(2026, 3, 2, 10, 0),
            datetime(2026, 3, 2, 23, 59),  # paid that day, not on the statement
            datetime(2026, 3, 2, 12, 0),
            datetime(2026, 3, 1, 8, 0),  # another day: its statement has not arrived
        ],
    }
)


def test_the_bank_statement_parses_by_its_declaration():
    parsed = parse_file(SPEC, STATEMENT.encode("cp1252"), NAME)
    assert parsed.file_problem is None and parsed.rejected.num_rows == 0
    rows = [
        (r["booking_date"], r["value_date"], r["reference"][:12], r["counterparty"], r["amount"])
        for r in parsed.table.to_pylist()
    ]
    d2, d3 = date(2026, 3, 2), date(2026, 3, 3)
    assert rows == [
        (d2, d2, "PAY-00000011", "Bäckerei Groß", Decimal("1250.00")),
        (d2, d3, "PAY-00000012", "Smith; Jones Ltd", Decimal("99.90")),
        (d2, None, "PAY-00000099", "Unknown Co", Decimal("10.00")),
        (d2, None, "ACCOUNT FEE", None, Decimal("-12.50")),
        (d2, d2, "PAY-00000014", "Zoë SARL", Decimal("2000000.01")),
    ]


def test_the_bank_statement_reconciles_against_the_platform_payments():
    parsed = parse_file(SPEC, STATEMENT.encode("cp1252"), NAME)
    out = reconcile(parsed.table, PAYMENTS)
    got = sorted(
        (r["payment_id"], r["status"], r["bank_amount"], r["platform_amount"], r["line"])
        for r in out.to_pylist()
        if r["payment_id"] is not None
    )
    assert got == [
        (11, "matched", Decimal("1250.00"), Decimal("1250.00"), 2),
        (12, "amount_mismatch", Decimal("99.90"), Decimal("99.00"), 3),
        (13, "missing_in_bank", None, Decimal("500.00"), None),
        (14, "matched", Decimal("2000000.01"), Decimal("2000000.01"), 6),
        (99, "unknown_payment", Decimal("10.00"), None, 4),
    ]
    fee = [r for r in out.to_pylist() if r["payment_id"] is None]
    assert [(r["status"], r["reference"], r["line"]) for r in fee] == [
        ("bank_only", "ACCOUNT FEE", 5)
    ]
    # payment 15 was paid on a day whose statement has not arrived: not reported missing
    assert out.num_rows == 6


def test_a_payment_twice_on_the_statements_is_flagged():
    twice = STATEMENT.replace("TOTAL;5;", "TOTAL;6;").replace(
        "TOTAL", "02.03.2026;-;PAY-00000011 again;Bäckerei Groß;1.250,00;EUR\r\nTOTAL"
    )
    out = reconcile(parse_file(SPEC, twice.encode("cp1252"), NAME).table, PAYMENTS)
    statuses = [r["status"] for r in out.to_pylist() if r["payment_id"] == 11]
    assert statuses == ["duplicate_in_bank", "duplicate_in_bank"]


def test_the_simulated_statement_is_what_the_declaration_reads():
    lines = [("PAY-00000001 TRADE-1", 'Müller "Söhne"; KG', Decimal("-1234567.5"))]
    text = statement_text(date(2026, 3, 2), lines)
    parsed = parse_file(SPEC, text.encode("cp1252"), NAME)
    assert [(r["counterparty"], r["amount"]) for r in parsed.table.to_pylist()] == [
        ('Müller "Söhne"; KG', Decimal("-1234567.50"))
    ]
    assert money(Decimal("-1234567.5")) == "-1.234.567,50"


def test_the_simulated_bank_statements_reconcile_with_the_simulated_platform(tmp_path):
    """The demo's drop: statements written from the platform's payments parse by the YAML
    declaration and every payment of those days is matched (the fee alone is bank-only)."""
    import sqlalchemy as sa

    from lakehouse.sources.sql.db import connect
    from lakehouse.storage.store import Store
    from lakehouse_dev.simulate.bank import write_statements
    from lakehouse_dev.simulate.platform import SOURCE, simulate, simulated_clock
    from lakehouse_dev.simulate.platform_schema import TABLES

    url = f"sqlite:///{tmp_path / 'platform.sqlite'}"
    simulate(url, days=35, seed=7)
    last = simulated_clock(url).date() - timedelta(days=1)
    store = Store(str(tmp_path / "landing"))
    out = write_statements(url, store, "bank", 10, last)
    parsed = [parse_file(SPEC, store.read_bytes(k), k.rsplit("/", 1)[1]) for k in out.files]
    assert all(p.file_problem is None and p.rejected.num_rows == 0 for p in parsed)
    lines = pa.concat_tables([p.table for p in parsed])
    assert lines.num_rows == out.lines > 0
    p = TABLES["payments"]
    with connect(url, SOURCE) as conn:
        rows = conn.execute(sa.select(p.c.id, p.c.trade_id, p.c.amount, p.c.paid_at)).all()
    payments = pa.table(
        {
            "id": pa.array([r.id for r in rows], pa.int64()),
            "trade_id": pa.array([r.trade_id for r in rows], pa.int64()),
            "amount": pa.array([Decimal(r.amount) for r in rows], pa.decimal128(14, 2)),
            "paid_at": pa.array([r.paid_at for r in rows], pa.timestamp("us")),
        }
    )
    statuses = reconcile(lines, payments).column("status").to_pylist()
    fees = sum(1 for r in lines.column("reference").to_pylist() if r == "ACCOUNT FEE")
    assert statuses.count("bank_only") == fees
    assert statuses.count("matched") == lines.num_rows - fees > 0
    assert len(statuses) == lines.num_rows


def test_the_reconciliation_asset_reads_the_drop_and_the_platform_payments(tmp_path):
    """``warehouse/bank/payments_reconciled`` as Dagster runs it: the payments through the
    platform's Parquet IO manager, the statement through the bank drop's assets."""
    import dagster as dg

    from lakehouse.components.file_drop import drop_definitions
    from lakehouse.components.resources.stores import ObjectStore, ParquetIOManager
    from lakehouse.defs.bank.keys import PAYMENTS_KEY
    from lakehouse.defs.bank.reconciliation import SPEC as BANK
    from lakehouse.defs.bank.reconciliation import payments_reconciled
    from lakehouse.storage.projections import read_current
    from lakehouse.storage.store import Store

    stores = {n: Store(str(tmp_path / n)) for n in ("landing", "lake", "warehouse")}
    stores["landing"].write_bytes(
        f"bank/_claimed/wave=2026-03-02/{NAME}", STATEMENT.encode("cp1252")
    )
    drop = drop_definitions(BANK, group_name="bank", owners=[])

    @dg.asset(key=PAYMENTS_KEY)
    def payments() -> pa.Table:
        return PAYMENTS

    resources = {
        **{n: ObjectStore(url=s.url, name=n) for n, s in stores.items()},
        "io_manager": ParquetIOManager(base_url=stores["warehouse"].url),
    }
    drop_assets = [a for a in drop.assets if isinstance(a, dg.AssetsDefinition)]
    assert dg.materialize(drop_assets, partition_key="2026-03-02", resources=resources).success
    result = dg.materialize([payments, payments_reconciled], resources=resources)
    assert result.success
    table = read_current(stores["warehouse"], "bank/payments_reconciled")
    assert sorted(table.column("status").to_pylist()) == sorted(
        ["matched", "matched", "amount_mismatch", "missing_in_bank", "unknown_payment", "bank_only"]
    )
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["out_of_line"].data == {
        "amount_mismatch": 1,
        "unknown_payment": 1,
        "missing_in_bank": 1,
    }

"""``warehouse/bank/payments_reconciled``: every statement line against the platform's payments
(statuses: ``lakehouse/warehouse/bank_statements.py``), recomputed when either side changes."""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.components.automation import on_dependency_update
from lakehouse.components.file_drop import read_drop
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.bank.keys import GROUP, OWNERS, PARSED_KEY, PAYMENTS_KEY, RECONCILED_KEY
from lakehouse.sources.files.readers import parsed_schema
from lakehouse.warehouse.bank_statements import PROBLEMS, STATUSES, reconcile
from lakehouse.warehouse.file_drops import Layout

SPEC = read_drop(Path(__file__).parent / "drop" / "statement.yaml")


def statement_lines(warehouse: ObjectStore) -> pa.Table:
    """Every parsed statement line (all days)."""
    parts = warehouse.store.keys(Layout(SPEC.name).parsed)
    tables = [pq.read_table(warehouse.store.open(k)) for k in parts if k.endswith(".parquet")]
    return pa.concat_tables(tables) if tables else parsed_schema(SPEC).empty_table()


@dg.asset(
    key=RECONCILED_KEY,
    deps=[PARSED_KEY],
    ins={"payments": dg.AssetIn(PAYMENTS_KEY)},
    description="The bank's statement lines reconciled against the platform's payments: one "
    "row per line and per platform payment of a statement's day that the statement lacks, "
    f"with a status ({', '.join(STATUSES)}).",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    tags={"layer": "warehouse"},
    automation_condition=on_dependency_update(),
    check_specs=[
        dg.AssetCheckSpec(
            "statements_reconcile",
            asset=RECONCILED_KEY,
            description="No statement line or platform payment is out of line "
            f"({', '.join(PROBLEMS)}).",
        )
    ],
)
def payments_reconciled(payments: pa.Table, warehouse: ObjectStore) -> Iterator:
    table = reconcile(statement_lines(warehouse), payments)
    counts = Counter(table.column("status").to_pylist())
    yield dg.Output(table, metadata={"rows": table.num_rows, **{s: counts[s] for s in STATUSES}})
    problems = {s: counts[s] for s in PROBLEMS if counts[s]}
    yield dg.AssetCheckResult(
        check_name="statements_reconcile",
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"out_of_line": problems or {"none": 0}},
    )

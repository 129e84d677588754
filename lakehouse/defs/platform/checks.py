"""Asset checks on the platform projections: amounts sane, KPIs consistent."""

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.defs.platform.keys import TABLES, state_key
from lakehouse.defs.platform.kpis import kpi_key
from lakehouse.warehouse.platform_kpis import COLUMNS


def no_negative_amounts(table: str) -> dg.AssetChecksDefinition:
    """(Each key appears once is the SqlDatabase component's own ``keys_unique`` check.)"""

    @dg.asset_check(
        asset=state_key(table),
        name="no_negative_amounts",
        description="No negative value in any decimal (money) column.",
    )
    def _check(state: pa.Table) -> dg.AssetCheckResult:
        amounts = [f.name for f in state.schema if pa.types.is_decimal(f.type)]
        negatives = {col: pc.sum(pc.less(state.column(col), 0)).as_py() or 0 for col in amounts}
        return dg.AssetCheckResult(passed=not any(negatives.values()), metadata=negatives)

    return _check


def _connect(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con


def _scalar(sql: str, **tables: pa.Table):
    return _connect(tables).execute(sql).fetchone()


def _rows(sql: str, **tables: pa.Table) -> list[tuple]:
    return _connect(tables).execute(sql).fetchall()


@dg.asset_check(
    asset=kpi_key("funded_volume_daily"),
    additional_ins={
        "trades": dg.AssetIn(state_key("trades")),
        "invoices": dg.AssetIn(state_key("invoices")),
    },
    description="Daily funded volume adds up to the trades table per currency: count and "
    "advances (no amount counted under another currency).",
)
def funded_volume_matches_trades(
    funded_volume_daily: pa.Table, trades: pa.Table, invoices: pa.Table
) -> dg.AssetCheckResult:
    kpi = _rows(
        "SELECT currency, sum(trades_funded)::BIGINT, sum(advance_volume) FROM kpi "
        "GROUP BY ALL ORDER BY ALL",
        kpi=funded_volume_daily,
    )
    table = _rows(
        "SELECT i.currency, count(*), sum(t.advance_amount) FROM trades t "
        "JOIN invoices i ON i.id = t.invoice_id GROUP BY ALL ORDER BY ALL",
        trades=trades,
        invoices=invoices,
    )
    return dg.AssetCheckResult(
        passed=kpi == table,
        metadata={"kpi (currency, trades, volume)": str(kpi), "table": str(table)},
    )


@dg.asset_check(
    asset=kpi_key("applications_daily"),
    additional_ins={"applications": dg.AssetIn(state_key("applications"))},
    description="Daily application counts add up to the applications table, by outcome.",
)
def applications_match_table(
    applications_daily: pa.Table, applications: pa.Table
) -> dg.AssetCheckResult:
    kpi = _scalar(
        "SELECT sum(submitted), sum(approved), sum(declined), sum(pending) FROM kpi",
        kpi=applications_daily,
    )
    table = _scalar(
        "SELECT count(*), count(*) FILTER (status = 'approved'), "
        "count(*) FILTER (status = 'declined'), count(*) FILTER (status = 'submitted') "
        "FROM applications",
        applications=applications,
    )
    kpi = tuple(int(v or 0) for v in kpi)
    return dg.AssetCheckResult(
        passed=kpi == table,
        metadata={"kpi (submitted, approved, declined, pending)": str(kpi), "table": str(table)},
    )


@dg.asset_check(
    asset=kpi_key("debtor_exposure"),
    description="Within each currency, exposure shares sum to 1 (none when nothing is "
    "outstanding); no outstanding amount is negative.",
)
def exposure_shares_sum_to_one(debtor_exposure: pa.Table) -> dg.AssetCheckResult:
    sums = dict(
        _rows(
            "SELECT currency, coalesce(sum(share_of_currency_total), 1) FROM kpi GROUP BY ALL",
            kpi=debtor_exposure,
        )
    )
    (negatives,) = _scalar(
        "SELECT count(*) FILTER (outstanding_amount < 0) FROM kpi", kpi=debtor_exposure
    )
    return dg.AssetCheckResult(
        passed=all(abs(total - 1) < 1e-9 for total in sums.values()) and negatives == 0,
        metadata={"sum_of_shares": str(sums), "negative_rows": negatives},
    )


def currency_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=kpi_key(name),
        name="every_amount_has_its_currency",
        description="Every row with money has one currency: amounts of different currencies "
        "are never added (an application whose invoices mix currencies has none).",
    )
    def _check(kpi: pa.Table) -> dg.AssetCheckResult:
        (without,) = _scalar("SELECT count(*) FROM kpi WHERE currency IS NULL", kpi=kpi)
        return dg.AssetCheckResult(passed=without == 0, metadata={"rows_without_currency": without})

    return _check


currency_checks = [
    currency_check(name) for name, columns in COLUMNS.items() if "currency" in columns
]
amount_checks = [no_negative_amounts(table) for table in TABLES]

"""Asset checks on the platform projections: keys unique, amounts sane, KPIs consistent."""

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.defs.platform.keys import state_key
from lakehouse.defs.platform.kpis import kpi_key
from lakehouse.sources.platform.extract import arrow_schema
from lakehouse.sources.platform.schema import TABLES


def _amount_columns(table: str) -> list[str]:
    return [f.name for f in arrow_schema(table) if pa.types.is_decimal(f.type)]


def state_checks(table: str) -> list[dg.AssetChecksDefinition]:
    key = state_key(table)

    @dg.asset_check(asset=key, name="keys_unique", description="Each id appears once.")
    def keys_unique(state: pa.Table) -> dg.AssetCheckResult:
        duplicates = state.num_rows - len(pc.unique(state.column("id")))
        return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_ids": duplicates})

    amounts = _amount_columns(table)
    if not amounts:
        return [keys_unique]

    @dg.asset_check(
        asset=key,
        name="no_negative_amounts",
        description=f"No negative values in {', '.join(amounts)}.",
    )
    def no_negative_amounts(state: pa.Table) -> dg.AssetCheckResult:
        negatives = {col: pc.sum(pc.less(state.column(col), 0)).as_py() or 0 for col in amounts}
        return dg.AssetCheckResult(passed=not any(negatives.values()), metadata=negatives)

    return [keys_unique, no_negative_amounts]


def _scalar(sql: str, **tables: pa.Table):
    con = duckdb.connect()
    for name, table in tables.items():
        con.register(name, table)
    return con.execute(sql).fetchone()


@dg.asset_check(
    asset=kpi_key("funded_volume_daily"),
    additional_ins={"trades": dg.AssetIn(state_key("trades"))},
    description="Daily funded volume adds up to the trades table: count and advances.",
)
def funded_volume_matches_trades(
    funded_volume_daily: pa.Table, trades: pa.Table
) -> dg.AssetCheckResult:
    kpi_trades, kpi_volume = _scalar(
        "SELECT sum(trades_funded), sum(advance_volume) FROM kpi", kpi=funded_volume_daily
    )
    n_trades, volume = _scalar("SELECT count(*), sum(advance_amount) FROM trades", trades=trades)
    return dg.AssetCheckResult(
        passed=(kpi_trades or 0) == n_trades and (kpi_volume or 0) == (volume or 0),
        metadata={
            "kpi_trades": int(kpi_trades or 0),
            "trades": n_trades,
            "kpi_volume": float(kpi_volume or 0),
            "volume": float(volume or 0),
        },
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
    description="Exposure shares sum to 1 and no debtor's outstanding amount is negative.",
)
def exposure_shares_sum_to_one(debtor_exposure: pa.Table) -> dg.AssetCheckResult:
    total_share, negatives = _scalar(
        "SELECT coalesce(sum(share_of_total), 1), count(*) FILTER (outstanding_amount < 0) "
        "FROM kpi",
        kpi=debtor_exposure,
    )
    return dg.AssetCheckResult(
        passed=abs(total_share - 1) < 1e-9 and negatives == 0,
        metadata={"sum_of_shares": float(total_share), "negative_rows": negatives},
    )


table_checks = [check for table in TABLES for check in state_checks(table)]

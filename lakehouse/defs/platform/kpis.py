"""``warehouse/<subject>/<kpi>``: the business's KPIs, recomputed when their inputs change."""

import inspect

import dagster as dg
import duckdb
import pyarrow as pa

from lakehouse.components.automation import on_dependency_update
from lakehouse.defs.platform.keys import GROUP, OWNERS, state_key
from lakehouse.warehouse.platform_kpis import KPIS, TABLES_USED

SUBJECTS = {
    "applications_daily": "origination",
    "funding_time_daily": "origination",
    "underwriter_backlog_daily": "origination",
    "funded_volume_daily": "finance",
    "debtor_exposure": "finance",
    "default_rate_monthly": "finance",
}


def kpi_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", SUBJECTS[name], name])


def kpi_asset(name: str) -> dg.AssetsDefinition:
    compute = KPIS[name]

    @dg.asset(
        key=kpi_key(name),
        ins={table: dg.AssetIn(state_key(table)) for table in TABLES_USED[name]},
        description=inspect.cleandoc(compute.__doc__ or name),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"duckdb", "parquet"},
        tags={"layer": "warehouse"},
        automation_condition=on_dependency_update(),
    )
    def _kpi(**tables: pa.Table) -> pa.Table:
        con = duckdb.connect()
        for table_name, table in tables.items():
            con.register(table_name, table)
        return compute(con)

    return _kpi


kpi_assets = [kpi_asset(name) for name in KPIS]

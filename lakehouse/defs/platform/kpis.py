"""``warehouse/<subject>/<kpi>``: the business's KPIs, recomputed when their inputs change.

Each KPI is in its subject's group with the subject's owner (finance KPIs belong to finance),
its columns are described, and each materialisation records ``data_as_of``: the newest source
time it includes.
"""

import inspect

import dagster as dg
import duckdb
import pyarrow as pa

from lakehouse.components.automation import on_dependency_update
from lakehouse.defs.platform.keys import OWNERS, state_key
from lakehouse.storage.parquet import describe_columns
from lakehouse.warehouse.platform_kpis import COLUMNS, KPIS, TABLES_USED, data_as_of

SUBJECTS = {
    "applications_daily": "origination",
    "funding_time_daily": "origination",
    "underwriter_backlog_daily": "origination",
    "funded_volume_daily": "finance",
    "debtor_exposure": "finance",
    "default_rate_monthly": "finance",
}
SUBJECT_OWNERS = {"origination": OWNERS, "finance": ["team:finance"]}


def kpi_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", SUBJECTS[name], name])


def kpi_asset(name: str) -> dg.AssetsDefinition:
    compute, subject = KPIS[name], SUBJECTS[name]

    @dg.asset(
        key=kpi_key(name),
        ins={table: dg.AssetIn(state_key(table)) for table in TABLES_USED[name]},
        description=inspect.cleandoc(compute.__doc__ or name),
        group_name=subject,
        owners=SUBJECT_OWNERS[subject],
        kinds={"duckdb", "parquet"},
        tags={"layer": "warehouse"},
        automation_condition=on_dependency_update(),
    )
    def _kpi(context: dg.AssetExecutionContext, **tables: pa.Table) -> pa.Table:
        con = duckdb.connect()
        for table_name, table in tables.items():
            con.register(table_name, table)
        as_of = data_as_of(tables)
        context.add_output_metadata(
            {"data_as_of": dg.MetadataValue.text(as_of.isoformat(" ") if as_of else "no data")}
        )
        return describe_columns(compute(con), COLUMNS[name])

    return _kpi


kpi_assets = [kpi_asset(name) for name in KPIS]

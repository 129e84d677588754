"""``warehouse/teams/marketing/applications_by_sector_weekly``: demand by seller sector."""

import dagster as dg
import duckdb
import pyarrow as pa

from lakehouse.components.teams import team_key, warehouse_input

TEAM = "marketing"

SQL = """
SELECT CAST(date_trunc('week', a.submitted_at) AS DATE) AS week,
       c.sector AS seller_sector,
       count(*) AS applications,
       count(DISTINCT a.seller_id) AS sellers,
       CAST(sum(a.requested_amount) AS DECIMAL(18, 2)) AS requested_amount,
       count(*) FILTER (a.status = 'approved') AS approved,
       count(*) FILTER (a.status = 'declined') AS declined,
       count(*) FILTER (a.status = 'approved')
         / nullif(count(*) FILTER (a.status IN ('approved', 'declined')), 0) AS approval_rate
FROM applications a JOIN companies c ON c.id = a.seller_id
GROUP BY ALL
ORDER BY week, seller_sector
"""


def weekly_by_sector(applications: pa.Table, companies: pa.Table) -> pa.Table:
    """Applications per ISO week (Monday) and seller sector: count, distinct sellers, amount
    requested, decisions so far and the approval rate among decided applications."""
    con = duckdb.connect()
    con.register("applications", applications)
    con.register("companies", companies)
    return con.sql(SQL).to_arrow_table()


@dg.asset(
    key=team_key(TEAM, "applications_by_sector_weekly"),
    ins={
        "applications": warehouse_input("platform/applications"),
        "companies": warehouse_input("platform/companies"),
    },
    description=(
        "Applications per week (Monday) and seller sector: count, distinct sellers, amount "
        "requested, approved, declined and the approval rate of the decided ones."
    ),
    kinds={"duckdb", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
)
def applications_by_sector_weekly(applications: pa.Table, companies: pa.Table) -> pa.Table:
    return weekly_by_sector(applications, companies)


@dg.asset_check(
    asset=team_key(TEAM, "applications_by_sector_weekly"),
    additional_ins={"applications": warehouse_input("platform/applications")},
    description="Every application is counted once: the weekly counts add up to the table.",
)
def weekly_counts_add_up(
    applications_by_sector_weekly: pa.Table, applications: pa.Table
) -> dg.AssetCheckResult:
    counted = sum(applications_by_sector_weekly.column("applications").to_pylist())
    return dg.AssetCheckResult(
        passed=counted == applications.num_rows,
        metadata={"counted": counted, "applications": applications.num_rows},
    )

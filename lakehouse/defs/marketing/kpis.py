"""``warehouse/marketing/funnel_weekly``: sessions -> leads -> applications -> funded trades."""

import dagster as dg
import pyarrow as pa

from lakehouse.components.automation import on_dependency_update
from lakehouse.defs.marketing.keys import GA, GROUP, OWNERS, SF, state_key
from lakehouse.defs.platform.keys import state_key as platform_key
from lakehouse.warehouse import marketing_funnel

FUNNEL_KEY = dg.AssetKey(["warehouse", "marketing", "funnel_weekly"])
INPUTS = {
    "web_traffic_daily": state_key(GA, "traffic_daily"),
    "leads": state_key(SF, "lead"),
    **{t: platform_key(t) for t in ("companies", "applications", "invoices", "trades")},
}
assert set(INPUTS) == set(marketing_funnel.TABLES_USED)


@dg.asset(
    key=FUNNEL_KEY,
    ins={name: dg.AssetIn(key) for name, key in INPUTS.items()},
    description=(
        "The marketing funnel by week and first-touch channel: website sessions and sign-ups "
        "(Google Analytics), leads and how many matched a platform company (Salesforce), then "
        "the companies first touched that week: applied, applications, funded, trades and "
        "amount advanced per currency (platform; a map, never GBP + EUR), with lead, "
        "application and funding rates. Cost-free "
        "first-touch attribution; the lead match rate is in the metadata."
    ),
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    tags={"layer": "warehouse"},
    automation_condition=on_dependency_update(),
)
def funnel(context: dg.AssetExecutionContext, **tables: pa.Table) -> dg.Output[pa.Table]:
    con = marketing_funnel.connect(tables)  # keys the companies and matches the leads once
    rates = marketing_funnel.match_rates(con)
    context.log.info(
        f"{rates['leads_matched']} of {rates['leads']} leads matched a platform company; "
        f"{rates['sellers_with_a_lead']} of {rates['sellers_applied']} sellers came via a lead"
    )
    return dg.Output(marketing_funnel.funnel_weekly(con), metadata=rates)


@dg.asset_check(
    asset=FUNNEL_KEY,
    additional_ins={name: dg.AssetIn(INPUTS[name]) for name in ("leads", "applications")},
    description=(
        "Nothing counted twice or lost: the funnel's leads add up to the live leads and its "
        "applications to the platform's applications."
    ),
)
def funnel_adds_up(
    funnel_weekly: pa.Table, leads: pa.Table, applications: pa.Table
) -> dg.AssetCheckResult:
    counted_leads = sum(funnel_weekly.column("leads").to_pylist())
    live_leads = leads.num_rows - sum(leads.column("is_deleted").to_pylist())
    counted_apps = sum(funnel_weekly.column("applications").to_pylist())
    return dg.AssetCheckResult(
        passed=counted_leads == live_leads and counted_apps == applications.num_rows,
        metadata={
            "leads_counted": counted_leads,
            "leads_live": live_leads,
            "applications_counted": counted_apps,
            "applications": applications.num_rows,
        },
    )

"""A plain-text KPI summary read from the DuckDB catalog, as any BI client would."""

import duckdb

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.settings import Settings
from lakehouse.storage.store import Store

QUERIES = {
    "Funded volume, last 7 days": """
        SELECT day, trades_funded, advance_volume FROM finance.funded_volume_daily
        ORDER BY day DESC LIMIT 7""",
    "Applications, last 7 days": """
        SELECT day, submitted, approved, declined, pending, round(approval_rate, 3) AS approval_rate
        FROM origination.applications_daily ORDER BY day DESC LIMIT 7""",
    "Underwriter backlog, latest": """
        SELECT day, waiting, round(oldest_wait_hours, 1) AS oldest_wait_hours
        FROM origination.underwriter_backlog_daily ORDER BY day DESC LIMIT 1""",
    "Top debtor exposure": """
        SELECT debtor_name, sector, live_trades, outstanding_amount,
               round(share_of_total, 3) AS share
        FROM finance.debtor_exposure ORDER BY outstanding_amount DESC LIMIT 5""",
    "Application funnel from the event bus, latest hours": """
        SELECT hour, submitted, decided, approved, declined, funded
        FROM events.application_funnel ORDER BY hour DESC LIMIT 6""",
    "Machine logs, latest 2-hour wave": """
        SELECT machine_type, sum(lines)::BIGINT AS lines, sum(rejected_lines)::BIGINT AS rejected,
               sum(tests_run)::BIGINT AS tests,
               round(sum(first_attempt_passes) / nullif(sum(first_attempts), 0), 3) AS first_pass,
               sum(units_produced)::BIGINT AS units, sum(alarms)::BIGINT AS alarms
        FROM machines.kpis_hourly
        WHERE hour > (SELECT max(hour) FROM machines.kpis_hourly) - INTERVAL 2 HOUR
        GROUP BY ALL ORDER BY machine_type""",
    "Default rate by funding month": """
        SELECT month, trades_funded, settled, defaulted, round(default_rate, 3) AS default_rate
        FROM finance.default_rate_monthly ORDER BY month""",
}


def kpi_summary(settings: Settings) -> str:
    with open_catalog(settings.catalog_url, [Store(settings.warehouse_url)]) as con:
        sections = []
        for title, sql in QUERIES.items():
            try:
                text = con.execute(sql).fetch_df().to_string(index=False)
            except duckdb.CatalogException:  # a projection with no data is not catalogued yet
                text = "(no data yet)"
            sections.append(f"-- {title}\n{text}")
    return "\n\n".join(sections)

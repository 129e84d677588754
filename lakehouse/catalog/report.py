"""A plain-text KPI summary read from the DuckDB catalog, as any BI client would.

One clock: the summary is as of the platform's latest day (the newest day with an
application or a funded trade), and every section says which dates it shows. Money is shown
per currency, never added across currencies.
"""

import duckdb

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.settings import Settings
from lakehouse.storage.store import Store

AS_OF_SQL = """
SELECT greatest(
    (SELECT max(day) FROM origination.applications_daily),
    (SELECT max(day) FROM finance.funded_volume_daily))"""

# (title, SQL); ``{as_of}`` is the platform's latest day (a DATE literal).
SECTIONS = [
    (
        "Funded volume by currency, the 7 days to {as_of}",
        """SELECT day, currency, trades_funded, advance_volume FROM finance.funded_volume_daily
        WHERE day > DATE '{as_of}' - 7 ORDER BY day DESC, currency""",
    ),
    (
        "Applications, the 7 days to {as_of}",
        """SELECT day, sum(submitted)::BIGINT AS submitted, sum(approved)::BIGINT AS approved,
               sum(declined)::BIGINT AS declined, sum(pending)::BIGINT AS pending,
               round(sum(approved) / nullif(sum(approved) + sum(declined), 0), 3)
                   AS approval_rate
        FROM origination.applications_daily WHERE day > DATE '{as_of}' - 7
        GROUP BY day ORDER BY day DESC""",
    ),
    (
        "Underwriter backlog at the end of {as_of}",
        """SELECT day, waiting, round(oldest_wait_hours, 1) AS oldest_wait_hours
        FROM origination.underwriter_backlog_daily WHERE day <= DATE '{as_of}'
        ORDER BY day DESC LIMIT 1""",
    ),
    (
        "Top debtor exposure per currency, now",
        """SELECT currency, debtor_name, sector, live_trades, outstanding_amount,
               round(share_of_currency_total, 3) AS share_of_currency
        FROM finance.debtor_exposure
        QUALIFY row_number() OVER (PARTITION BY currency ORDER BY outstanding_amount DESC) <= 3
        ORDER BY currency, outstanding_amount DESC""",
    ),
    (
        "Application funnel from the event bus, the 6 latest hours with events",
        """SELECT hour, submitted, decided, approved, declined, funded
        FROM events.application_funnel ORDER BY hour DESC LIMIT 6""",
    ),
    (
        "Machine logs, the latest 2-hour wave with data",
        """SELECT strftime(time_bucket(INTERVAL 2 HOUR, hour), '%Y-%m-%d %H:00') AS wave,
               machine_type, sum(lines)::BIGINT AS lines,
               sum(rejected_lines)::BIGINT AS rejected, sum(tests_run)::BIGINT AS tests,
               round(sum(first_attempt_passes) / nullif(sum(first_attempts), 0), 3)
                   AS first_pass,
               sum(units_produced)::BIGINT AS units, sum(alarms)::BIGINT AS alarms
        FROM machines.kpis_hourly
        WHERE time_bucket(INTERVAL 2 HOUR, hour)
            = (SELECT time_bucket(INTERVAL 2 HOUR, max(hour)) FROM machines.kpis_hourly)
        GROUP BY ALL ORDER BY machine_type""",
    ),
    (
        "Default rate by funding month and currency (a month is mature once all its trades "
        "settled; defaults are declared 60 days after the due date, so an immature month "
        "has no rate yet)",
        """SELECT month, currency, trades_funded, settled, defaulted, mature,
               round(default_rate, 3) AS default_rate
        FROM finance.default_rate_monthly ORDER BY month, currency""",
    ),
]


def kpi_summary(settings: Settings) -> str:
    with open_catalog(settings.catalog_url, [Store(settings.warehouse_url)]) as con:
        try:
            (as_of,) = con.execute(AS_OF_SQL).fetchone()
        except duckdb.CatalogException:
            as_of = None
        if as_of is None:
            return "(no platform data yet: run `make demo` or `lakehouse tick`)"
        sections = [f"KPIs as of {as_of} (the platform's latest day)"]
        for title, sql in SECTIONS:
            try:
                text = con.execute(sql.format(as_of=as_of)).fetch_df().to_string(index=False)
            except duckdb.CatalogException:  # a projection with no data is not catalogued yet
                text = "(no data yet)"
            sections.append(f"-- {title.format(as_of=as_of)}\n{text}")
    return "\n\n".join(sections)

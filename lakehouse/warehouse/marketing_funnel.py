"""The marketing funnel: website sessions -> leads -> applications -> funded trades.

Joins the three sources: Google Analytics traffic, Salesforce leads and the platform's
companies, applications, invoices and trades. Attribution is cost-free and **first touch**:

- A lead's channel is its ``LeadSource`` (``Web``, ``Partner Referral``, ...; ``Unknown`` when
  blank). Website sessions and GA key events (sign-ups) belong to channel ``Web``.
- A lead is matched to a platform company on its normalised ``registration_key`` first, then
  on ``company_key`` when exactly one company has that key (an ambiguous name matches
  nothing rather than the wrong company). See :mod:`lakehouse.warehouse.company_matching`.
- A company's first touch is its earliest matched lead, unless it applied on the platform
  before any lead existed: then its channel is ``Platform direct`` (likewise for sellers with
  no lead at all). Its cohort week is the week of that first touch.

A row per (ISO week starting Monday, channel): ``sessions`` and ``key_events`` (Web only),
``leads`` created that week and how many matched a company; then, for the companies whose
first touch fell in that week and channel (a cohort), how many have applied so far, their
applications, how many were funded, their trades and the amount advanced per currency
(``funded_volume``: a map currency -> amount, e.g. ``{EUR: 800.00, GBP: 1200.50}``; amounts in
different currencies are never added, and ``{}`` when none). Rates divide within
the row: ``lead_rate`` = leads / sessions, ``application_rate`` = companies applied / leads
(or / companies touched for ``Platform direct``), ``funding_rate`` = companies funded /
companies applied.
"""

import duckdb
import pyarrow as pa

from lakehouse.warehouse.company_matching import with_company_keys

WEB, UNKNOWN, PLATFORM_DIRECT = "Web", "Unknown", "Platform direct"

TABLES_USED = ("web_traffic_daily", "leads", "companies", "applications", "invoices", "trades")

LEAD_MATCHES_SQL = """
CREATE OR REPLACE TEMP VIEW lead_matches AS
WITH by_registration AS (
    SELECT registration_key, any_value(id) AS company_id FROM keyed_companies
    WHERE registration_key IS NOT NULL GROUP BY ALL HAVING count(*) = 1
), by_name AS (
    SELECT company_key, any_value(id) AS company_id FROM keyed_companies
    WHERE company_key IS NOT NULL GROUP BY ALL HAVING count(*) = 1
)
SELECT l.id AS lead_id,
       l.created_date AS created_at,
       coalesce(nullif(trim(l.lead_source), ''), '{unknown}') AS channel,
       coalesce(r.company_id, n.company_id) AS company_id
FROM leads l
LEFT JOIN by_registration r ON r.registration_key = l.registration_key
LEFT JOIN by_name n ON n.company_key = l.company_key
WHERE NOT l.is_deleted
"""

FUNNEL_SQL = """
CREATE OR REPLACE TEMP VIEW funnel AS
WITH first_lead AS (
    SELECT company_id,
           arg_min(channel, (created_at, lead_id)) AS channel,
           min(created_at) AS touched_at
    FROM lead_matches WHERE company_id IS NOT NULL GROUP BY company_id
), applied AS (
    SELECT seller_id AS company_id, min(submitted_at) AS first_applied, count(*) AS applications
    FROM applications GROUP BY seller_id
), funded_by_currency AS (
    SELECT a.seller_id AS company_id, i.currency, count(*) AS trades,
           sum(t.advance_amount) AS advanced
    FROM trades t
    JOIN invoices i ON i.id = t.invoice_id
    JOIN applications a ON a.id = i.application_id
    GROUP BY ALL
), funded AS (
    SELECT company_id, sum(trades) AS trades FROM funded_by_currency GROUP BY company_id
), cohorts AS (
    SELECT coalesce(f.company_id, p.company_id) AS company_id,
           CASE WHEN f.touched_at IS NOT NULL
                     AND (p.first_applied IS NULL OR f.touched_at <= p.first_applied)
                THEN f.channel ELSE '{platform_direct}' END AS channel,
           CASE WHEN f.touched_at IS NOT NULL
                     AND (p.first_applied IS NULL OR f.touched_at <= p.first_applied)
                THEN f.touched_at ELSE p.first_applied END AS touched_at
    FROM first_lead f FULL JOIN applied p ON p.company_id = f.company_id
), cohort_rows AS (
    SELECT date_trunc('week', c.touched_at)::DATE AS week, c.channel,
           count(*) AS companies_touched,
           count(p.company_id) AS companies_applied,
           sum(p.applications)::BIGINT AS applications,
           count(d.company_id) AS companies_funded,
           sum(d.trades)::BIGINT AS trades_funded
    FROM cohorts c
    LEFT JOIN applied p ON p.company_id = c.company_id
    LEFT JOIN funded d ON d.company_id = c.company_id
    GROUP BY ALL
), volume_rows AS (  -- money per currency: amounts of two currencies are never added
    SELECT week, channel,
           map_from_entries(list(struct_pack(k := currency, v := amount) ORDER BY currency))
               AS funded_volume
    FROM (
        SELECT date_trunc('week', c.touched_at)::DATE AS week, c.channel, f.currency,
               CAST(sum(f.advanced) AS DECIMAL(18, 2)) AS amount
        FROM cohorts c JOIN funded_by_currency f ON f.company_id = c.company_id
        GROUP BY ALL
    )
    GROUP BY ALL
), lead_rows AS (
    SELECT date_trunc('week', created_at)::DATE AS week, channel,
           count(*) AS leads, count(company_id) AS leads_matched
    FROM lead_matches GROUP BY ALL
), web_rows AS (
    SELECT date_trunc('week', date)::DATE AS week, '{web}' AS channel,
           sum(sessions)::BIGINT AS sessions, CAST(round(sum(key_events)) AS BIGINT) AS key_events
    FROM web_traffic_daily GROUP BY ALL
)
SELECT week, channel,
       CASE WHEN channel = '{web}' THEN coalesce(w.sessions, 0) END AS sessions,
       CASE WHEN channel = '{web}' THEN coalesce(w.key_events, 0) END AS key_events,
       coalesce(l.leads, 0) AS leads,
       coalesce(l.leads_matched, 0) AS leads_matched,
       coalesce(c.companies_touched, 0) AS companies_touched,
       coalesce(c.companies_applied, 0) AS companies_applied,
       coalesce(c.applications, 0) AS applications,
       coalesce(c.companies_funded, 0) AS companies_funded,
       coalesce(c.trades_funded, 0) AS trades_funded,
       coalesce(v.funded_volume, MAP {{}}::MAP(VARCHAR, DECIMAL(18, 2))) AS funded_volume
FROM web_rows w
FULL JOIN lead_rows l USING (week, channel)
FULL JOIN cohort_rows c USING (week, channel)
LEFT JOIN volume_rows v USING (week, channel)
"""

RATES_SQL = """
SELECT *,
       leads / nullif(sessions, 0) AS lead_rate,
       companies_applied / nullif(CASE WHEN channel = '{platform_direct}'
                                       THEN companies_touched ELSE leads END, 0)
           AS application_rate,
       companies_funded / nullif(companies_applied, 0) AS funding_rate
FROM funnel
ORDER BY week, channel
"""

CHANNELS = {"web": WEB, "unknown": UNKNOWN, "platform_direct": PLATFORM_DIRECT}


def connect(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """A connection with every table in ``TABLES_USED`` (by name), the companies keyed for
    matching and the ``lead_matches`` view: what both functions below query."""
    con = duckdb.connect()
    for name in TABLES_USED:
        con.register(name, tables[name])
    companies = with_company_keys(
        tables["companies"].select(["id", "name", "country", "registration_number"]),
        "name",
        "country",
        "registration_number",
    )
    con.register("keyed_companies", companies)
    con.execute(LEAD_MATCHES_SQL.format(**CHANNELS))
    return con


def funnel_weekly(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The funnel by week and channel (see the module docstring), on a :func:`connect`."""
    con.execute(FUNNEL_SQL.format(**CHANNELS))
    return con.sql(RATES_SQL.format(**CHANNELS)).to_arrow_table()


def match_rates(con: duckdb.DuckDBPyConnection) -> dict[str, float | int]:
    """How well leads join the platform: leads matched, and sellers reached through a lead."""
    leads, matched = con.execute("SELECT count(*), count(company_id) FROM lead_matches").fetchone()
    sellers, with_lead = con.execute(
        """SELECT count(*), count(m.company_id)
           FROM (SELECT DISTINCT seller_id FROM applications) s
           LEFT JOIN (SELECT DISTINCT company_id FROM lead_matches) m
             ON m.company_id = s.seller_id"""
    ).fetchone()
    return {
        "leads": leads,
        "leads_matched": matched,
        "lead_match_rate": matched / leads if leads else 0.0,
        "sellers_applied": sellers,
        "sellers_with_a_lead": with_lead,
        "seller_lead_rate": with_lead / sellers if sellers else 0.0,
    }

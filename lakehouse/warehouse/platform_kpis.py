"""Business KPIs of the invoice-finance platform, computed with DuckDB SQL.

Each KPI function takes a DuckDB connection on which the current state of every platform table
it reads (see ``TABLES_USED``) is a table or view named like the platform table, and returns a
``pyarrow.Table`` sorted by its key. Durations are in hours; money sums keep their DECIMAL type.

Money is never added across currencies: every KPI with a money column has a ``currency``
column in its key (an invoice's ``currency``; a trade's is its invoice's, an application's its
invoices'), and shares are shares within a currency. No conversion is made.
"""

from collections.abc import Callable
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

APPLICATIONS_DAILY_SQL = """
WITH currency AS (
    SELECT application_id, CASE WHEN count(DISTINCT currency) = 1 THEN min(currency) END AS currency
    FROM invoices GROUP BY application_id
)
SELECT
    submitted_at::DATE AS day,
    c.currency,
    count(*) AS submitted,
    count(*) FILTER (status = 'approved') AS approved,
    count(*) FILTER (status = 'declined') AS declined,
    count(*) FILTER (status = 'submitted') AS pending,
    (count(*) FILTER (status = 'approved'))::DOUBLE
        / nullif(count(*) FILTER (status IN ('approved', 'declined')), 0) AS approval_rate,
    sum(requested_amount) AS requested_amount
FROM applications a
LEFT JOIN currency c ON c.application_id = a.id
GROUP BY ALL
ORDER BY day, c.currency NULLS LAST
"""

FUNDING_TIME_DAILY_SQL = """
WITH funded AS (
    SELECT
        t.funded_at::DATE AS day,
        date_diff('microsecond', a.submitted_at, t.funded_at) / 3.6e9 AS hours
    FROM trades t
    JOIN invoices i ON i.id = t.invoice_id
    JOIN applications a ON a.id = i.application_id
)
SELECT
    day,
    count(*) AS trades_funded,
    quantile_cont(hours, 0.5) AS median_hours,
    quantile_cont(hours, 0.9) AS p90_hours
FROM funded
GROUP BY day
ORDER BY day
"""

FUNDED_VOLUME_DAILY_SQL = """
SELECT
    t.funded_at::DATE AS day,
    i.currency,
    count(*) AS trades_funded,
    sum(t.advance_amount) AS advance_volume,
    sum(i.face_value) AS face_value_volume
FROM trades t
JOIN invoices i ON i.id = t.invoice_id
GROUP BY ALL
ORDER BY day, i.currency
"""

DEBTOR_EXPOSURE_SQL = """
WITH paid AS (
    SELECT trade_id, sum(amount) AS amount FROM payments GROUP BY trade_id
),
by_debtor AS (
    SELECT
        i.debtor_id,
        i.currency,
        count(*) AS live_trades,
        sum(greatest(t.advance_amount - coalesce(p.amount, 0), 0)) AS outstanding_amount
    FROM trades t
    JOIN invoices i ON i.id = t.invoice_id
    LEFT JOIN paid p ON p.trade_id = t.id
    WHERE t.status = 'live'
    GROUP BY i.debtor_id, i.currency
)
SELECT
    b.debtor_id,
    c.name AS debtor_name,
    c.sector,
    b.currency,
    b.live_trades,
    b.outstanding_amount,
    b.outstanding_amount::DOUBLE
        / nullif(sum(b.outstanding_amount) OVER (PARTITION BY b.currency), 0)::DOUBLE
        AS share_of_currency_total
FROM by_debtor b
LEFT JOIN companies c ON c.id = b.debtor_id
ORDER BY b.currency, b.outstanding_amount DESC, b.debtor_id
"""

DEFAULT_RATE_MONTHLY_SQL = """
WITH late AS (
    SELECT DISTINCT trade_id FROM payments WHERE days_late > 0
)
SELECT
    date_trunc('month', t.funded_at)::DATE AS month,
    i.currency,
    count(*) AS trades_funded,
    count(*) FILTER (t.status IN ('repaid', 'defaulted')) AS settled,
    count(*) FILTER (t.status = 'defaulted') AS defaulted,
    count(*) FILTER (t.status = 'live') = 0 AS mature,
    CASE WHEN count(*) FILTER (t.status = 'live') = 0
        THEN (count(*) FILTER (t.status = 'defaulted'))::DOUBLE / count(*)
    END AS default_rate,
    coalesce(sum(t.advance_amount) FILTER (t.status = 'defaulted'), 0) AS defaulted_advance,
    count(*) FILTER (t.status = 'repaid' AND l.trade_id IS NOT NULL) AS late_repayments
FROM trades t
JOIN invoices i ON i.id = t.invoice_id
LEFT JOIN late l ON l.trade_id = t.id
GROUP BY ALL
ORDER BY month, i.currency
"""

UNDERWRITER_BACKLOG_DAILY_SQL = """
WITH days AS (
    SELECT unnest(generate_series(
        min(submitted_at)::DATE,
        greatest(max(submitted_at), max(decided_at))::DATE,
        INTERVAL 1 DAY
    ))::DATE AS day
    FROM applications
),
cutoffs AS (
    SELECT day, day + INTERVAL 1 DAY AS cutoff FROM days
)
SELECT
    d.day,
    count(a.id) AS waiting,
    max(date_diff('microsecond', a.submitted_at, d.cutoff) / 3.6e9) AS oldest_wait_hours
FROM cutoffs d
LEFT JOIN applications a
    ON a.submitted_at < d.cutoff
    AND coalesce(a.decided_at, 'infinity'::TIMESTAMP) >= d.cutoff
GROUP BY d.day
ORDER BY d.day
"""


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def data_as_of(tables: dict[str, pa.Table]) -> datetime | None:
    """The newest source time a KPI includes: the greatest ``updated_at`` of the tables read."""
    newest = [pc.max(t.column("updated_at")).as_py() for t in tables.values() if t.num_rows]
    return max(newest, default=None)


def applications_daily(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Applications per submission day (``date(submitted_at)``) and currency.

    ``currency`` is the currency of the application's invoices (NULL if it has none or several:
    a check fails on such rows). ``submitted`` counts all; ``approved`` / ``declined`` /
    ``pending`` (status 'submitted') by current status; ``approval_rate`` = approved /
    (approved + declined), NULL when none decided; ``requested_amount`` sums the amounts
    requested.
    """
    return _run(con, APPLICATIONS_DAILY_SQL)


def funding_time_daily(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Time from application to funding, per funding day (``date(trades.funded_at)``).

    Over trades joined to their invoice and application: ``trades_funded``, and ``median_hours``
    / ``p90_hours``, the linearly interpolated quantiles (``quantile_cont``) of
    ``funded_at - applications.submitted_at`` in hours.
    """
    return _run(con, FUNDING_TIME_DAILY_SQL)


def funded_volume_daily(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Trades funded per funding day and currency (the invoice's): ``trades_funded``,
    ``advance_volume`` (sum of ``advance_amount``) and ``face_value_volume`` (sum of the
    invoices' ``face_value``)."""
    return _run(con, FUNDED_VOLUME_DAILY_SQL)


def debtor_exposure(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Outstanding exposure per debtor and currency, for debtors with a live trade.

    ``outstanding_amount`` sums, over the debtor's live trades in that currency,
    max(advance_amount - payments received on the trade, 0); ``share_of_currency_total`` is its
    share of that currency's total across debtors. Ordered by ``currency``, then
    ``outstanding_amount`` descending, then ``debtor_id``.
    """
    return _run(con, DEBTOR_EXPOSURE_SQL)


def default_rate_monthly(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Trade outcomes per funding month (``month``: first day of the month of ``funded_at``)
    and currency (the invoice's).

    ``settled`` = repaid + defaulted. A trade is declared defaulted only 60 days after its due
    date, so a month whose trades are not all settled is immature (``mature`` false) and its
    ``default_rate`` is NULL rather than the misleadingly low rate of the early repayments;
    for a mature month ``default_rate`` = defaulted / trades funded. ``defaulted_advance`` sums
    the advances of defaulted trades (0 if none); ``late_repayments`` counts repaid trades with
    any payment where ``days_late > 0``.
    """
    return _run(con, DEFAULT_RATE_MONTHLY_SQL)


def underwriter_backlog_daily(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Applications awaiting a decision at the end of each day, with no gaps in the days.

    Days run from the first submission day to the last day with any submission or decision.
    ``waiting`` counts applications with ``submitted_at < day + 1`` and ``decided_at`` NULL or
    ``>= day + 1``; ``oldest_wait_hours`` is the longest of their waits at ``day + 1`` 00:00,
    NULL when none wait.
    """
    return _run(con, UNDERWRITER_BACKLOG_DAILY_SQL)


KPIS: dict[str, Callable[[duckdb.DuckDBPyConnection], pa.Table]] = {
    "applications_daily": applications_daily,
    "funding_time_daily": funding_time_daily,
    "funded_volume_daily": funded_volume_daily,
    "debtor_exposure": debtor_exposure,
    "default_rate_monthly": default_rate_monthly,
    "underwriter_backlog_daily": underwriter_backlog_daily,
}

_CURRENCY = "ISO 4217 code of every amount in the row (the invoices' currency); never mixed"
_MONTH = "first day of the month of trades.funded_at"
COLUMNS: dict[str, dict[str, str]] = {
    "applications_daily": {
        "day": "date of applications.submitted_at",
        "currency": _CURRENCY + "; NULL if the application has no invoice or several currencies",
        "submitted": "applications submitted that day",
        "approved": "of those, currently approved",
        "declined": "of those, currently declined",
        "pending": "of those, still awaiting a decision (status submitted)",
        "approval_rate": "approved / (approved + declined); NULL when none decided",
        "requested_amount": "sum of requested_amount, in currency",
    },
    "funding_time_daily": {
        "day": "date of trades.funded_at",
        "trades_funded": "trades funded that day",
        "median_hours": "median hours from applications.submitted_at to trades.funded_at",
        "p90_hours": "90th percentile (linear interpolation) of the same hours",
    },
    "funded_volume_daily": {
        "day": "date of trades.funded_at",
        "currency": _CURRENCY,
        "trades_funded": "trades funded that day in currency",
        "advance_volume": "sum of trades.advance_amount, in currency",
        "face_value_volume": "sum of the funded invoices' face_value, in currency",
    },
    "debtor_exposure": {
        "debtor_id": "companies.id of the debtor",
        "debtor_name": "companies.name of the debtor",
        "sector": "companies.sector of the debtor",
        "currency": _CURRENCY,
        "live_trades": "the debtor's live trades in currency",
        "outstanding_amount": "sum over them of max(advance_amount - payments received, 0)",
        "share_of_currency_total": "outstanding_amount / all debtors' outstanding in currency",
    },
    "default_rate_monthly": {
        "month": _MONTH,
        "currency": _CURRENCY,
        "trades_funded": "trades funded that month in currency",
        "settled": "of those, repaid or defaulted",
        "defaulted": "of those, defaulted",
        "mature": "every trade of the month settled: its default rate is final",
        "default_rate": "defaulted / trades_funded for a mature month; NULL while immature",
        "defaulted_advance": "sum of the defaulted trades' advance_amount, in currency",
        "late_repayments": "repaid trades with a payment where days_late > 0",
    },
    "underwriter_backlog_daily": {
        "day": "every day from the first submission to the last submission or decision",
        "waiting": "applications submitted and not decided at the end of the day",
        "oldest_wait_hours": "the longest of their waits at the end of the day; NULL if none",
    },
}
"""Every KPI column's description (shown in the UI and stored in the Parquet schema)."""

TABLES_USED: dict[str, tuple[str, ...]] = {
    "applications_daily": ("applications", "invoices"),
    "funding_time_daily": ("trades", "invoices", "applications"),
    "funded_volume_daily": ("trades", "invoices"),
    "debtor_exposure": ("trades", "invoices", "payments", "companies"),
    "default_rate_monthly": ("trades", "invoices", "payments"),
    "underwriter_backlog_daily": ("applications",),
}

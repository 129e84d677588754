"""Business KPIs of the invoice-finance platform, computed with DuckDB SQL.

Each KPI function takes a DuckDB connection on which the current state of every platform table
it reads (see ``TABLES_USED``) is a table or view named like the platform table, and returns a
``pyarrow.Table`` sorted by its key. Durations are in hours; money sums keep their DECIMAL type.
"""

from collections.abc import Callable

import duckdb
import pyarrow as pa

APPLICATIONS_DAILY_SQL = """
SELECT
    submitted_at::DATE AS day,
    count(*) AS submitted,
    count(*) FILTER (status = 'approved') AS approved,
    count(*) FILTER (status = 'declined') AS declined,
    count(*) FILTER (status = 'submitted') AS pending,
    (count(*) FILTER (status = 'approved'))::DOUBLE
        / nullif(count(*) FILTER (status IN ('approved', 'declined')), 0) AS approval_rate,
    sum(requested_amount) AS requested_amount
FROM applications
GROUP BY ALL
ORDER BY day
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
    count(*) AS trades_funded,
    sum(t.advance_amount) AS advance_volume,
    sum(i.face_value) AS face_value_volume
FROM trades t
JOIN invoices i ON i.id = t.invoice_id
GROUP BY ALL
ORDER BY day
"""

DEBTOR_EXPOSURE_SQL = """
WITH paid AS (
    SELECT trade_id, sum(amount) AS amount FROM payments GROUP BY trade_id
),
by_debtor AS (
    SELECT
        i.debtor_id,
        count(*) AS live_trades,
        sum(greatest(t.advance_amount - coalesce(p.amount, 0), 0)) AS outstanding_amount
    FROM trades t
    JOIN invoices i ON i.id = t.invoice_id
    LEFT JOIN paid p ON p.trade_id = t.id
    WHERE t.status = 'live'
    GROUP BY i.debtor_id
)
SELECT
    b.debtor_id,
    c.name AS debtor_name,
    c.sector,
    b.live_trades,
    b.outstanding_amount,
    b.outstanding_amount::DOUBLE
        / nullif(sum(b.outstanding_amount) OVER (), 0)::DOUBLE AS share_of_total
FROM by_debtor b
LEFT JOIN companies c ON c.id = b.debtor_id
ORDER BY b.outstanding_amount DESC, b.debtor_id
"""

DEFAULT_RATE_MONTHLY_SQL = """
WITH late AS (
    SELECT DISTINCT trade_id FROM payments WHERE days_late > 0
)
SELECT
    date_trunc('month', t.funded_at)::DATE AS month,
    count(*) AS trades_funded,
    count(*) FILTER (t.status IN ('repaid', 'defaulted')) AS settled,
    count(*) FILTER (t.status = 'defaulted') AS defaulted,
    (count(*) FILTER (t.status = 'defaulted'))::DOUBLE
        / nullif(count(*) FILTER (t.status IN ('repaid', 'defaulted')), 0) AS default_rate,
    coalesce(sum(t.advance_amount) FILTER (t.status = 'defaulted'), 0) AS defaulted_advance,
    count(*) FILTER (t.status = 'repaid' AND l.trade_id IS NOT NULL) AS late_repayments
FROM trades t
LEFT JOIN late l ON l.trade_id = t.id
GROUP BY ALL
ORDER BY month
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


def applications_daily(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Applications per submission day (``date(submitted_at)``).

    ``submitted`` counts all; ``approved`` / ``declined`` / ``pending`` (status 'submitted') by
    current status; ``approval_rate`` = approved / (approved + declined), NULL when none decided;
    ``requested_amount`` sums the amounts requested.
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
    """Trades funded per funding day: ``trades_funded``, ``advance_volume`` (sum of
    ``advance_amount``) and ``face_value_volume`` (sum of the invoices' ``face_value``)."""
    return _run(con, FUNDED_VOLUME_DAILY_SQL)


def debtor_exposure(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Outstanding exposure per debtor with at least one live trade.

    ``outstanding_amount`` sums, over the debtor's live trades, max(advance_amount - payments
    received on the trade, 0); ``share_of_total`` is its share of the total across debtors.
    Ordered by ``outstanding_amount`` descending, then ``debtor_id``.
    """
    return _run(con, DEBTOR_EXPOSURE_SQL)


def default_rate_monthly(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Trade outcomes per funding month (``month``: first day of the month of ``funded_at``).

    ``settled`` = repaid + defaulted; ``default_rate`` = defaulted / settled, NULL when none
    settled; ``defaulted_advance`` sums the advances of defaulted trades (0 if none);
    ``late_repayments`` counts repaid trades with any payment where ``days_late > 0``.
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

TABLES_USED: dict[str, tuple[str, ...]] = {
    "applications_daily": ("applications",),
    "funding_time_daily": ("trades", "invoices", "applications"),
    "funded_volume_daily": ("trades", "invoices"),
    "debtor_exposure": ("trades", "invoices", "payments", "companies"),
    "default_rate_monthly": ("trades", "payments"),
    "underwriter_backlog_daily": ("applications",),
}

"""Point-in-time features for every invoice of every application, and its label.

One row per invoice (an application carries 1-3; each is funded, and so succeeds or fails, on
its own). Every feature of an invoice is computed *as of* its application's submission
instant ``as_of``: only from facts that were already true then. The warehouse holds the
current state of each row, so history is rebuilt from the timestamps that say when each fact
became true, never from a current status:

- a trade's outcome is *resolved* at the end of its due date (``overdue_at`` = due date + 1
  day, midnight): paid by then -> on time, otherwise late (or later a default);
- a default becomes known at the trade's ``settled_at`` (the default date);
- a trade is *overdue* from ``overdue_at`` until it is settled;
- an invoice is known from its submission.

Counts are taken with as-of joins over cumulative event streams (O(n log n), no pairwise
history joins). The label of an invoice (``bad``: its trade was paid late or defaulted) is
known from ``overdue_at`` on; it is null while unknown (not funded, or not yet due).
"""

import math

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

NUMERIC_FEATURES = (
    "amount_log",
    "tenor_days",
    "debtor_concentration",
    "seller_history_log",
    "seller_late_rate",
    "seller_defaults",
    "seller_overdue",
    "debtor_late_rate",
    "debtor_defaults",
    "debtor_overdue",
)
CATEGORICAL_FEATURES = ("debtor_sector",)
PRIOR_WEIGHT = 5
"""Late rates are smoothed towards the platform-wide rate as of the same instant, as if each
seller/debtor had this many extra trades at that rate (few trades -> close to the average)."""
CAP_DEFAULTS, CAP_OVERDUE = 3, 5

MEANINGS = {
    "amount_log": "ln of the invoice's face value",
    "tenor_days": "payment terms: days from the invoice's issue to its due date",
    "debtor_concentration": "share of the seller's invoices so far that are on this debtor",
    "seller_history_log": "ln(1 + the seller's earlier invoices)",
    "seller_late_rate": "share of the seller's resolved trades paid late or defaulted (smoothed)",
    "seller_defaults": "the seller's defaulted trades (capped at 3)",
    "seller_overdue": "the seller's trades past due and unpaid (capped at 5)",
    "debtor_late_rate": "share of the debtor's resolved trades paid late or defaulted (smoothed)",
    "debtor_defaults": "the debtor's defaulted trades (capped at 3)",
    "debtor_overdue": "the debtor's trades past due and unpaid (capped at 5)",
    "debtor_sector": "the debtor's sector",
}
"""Feature -> what it measures, all as of the application's submission."""

REASONS = {
    "amount_log": "invoice amount {amount:,.0f}",
    "tenor_days": "payment terms of {value:.0f} days",
    "debtor_concentration": "{value:.0%} of the seller's invoices are on this debtor",
    "seller_history_log": "seller has {count:.0f} earlier invoice(s)",
    "seller_late_rate": "seller's past trades late or defaulted: {value:.0%}",
    "seller_defaults": "seller had {value:.0f} default(s)",
    "seller_overdue": "seller has {value:.0f} trade(s) overdue now",
    "debtor_late_rate": "debtor paid late or defaulted on {value:.0%} of past trades",
    "debtor_defaults": "debtor defaulted {value:.0f} time(s) before",
    "debtor_overdue": "debtor has {value:.0f} trade(s) overdue now",
    "debtor_sector": "debtor sector: {category}",
}
"""Feature -> how its value reads as a reason for a score (see :func:`describe`)."""


def meaning(feature: str) -> str:
    """What a model input measures: ``debtor_sector=retail`` -> "the debtor's sector is retail"."""
    if "=" in feature:
        base, category = feature.split("=", 1)
        return f"{MEANINGS[base]} is {category}"
    return MEANINGS[feature]


def describe(feature: str, value) -> str:
    """A feature's value in words: ``("debtor_sector", "retail")`` -> ``debtor sector: retail``."""
    if feature in CATEGORICAL_FEATURES:
        return REASONS[feature].format(category=value)
    value = float(value)
    return REASONS[feature].format(
        value=value, amount=math.exp(value), count=max(math.exp(value) - 1, 0)
    )


SQL = """
WITH inv AS (
    SELECT i.id AS invoice_id, i.application_id, i.seller_id, i.debtor_id,
           a.submitted_at AS as_of, a.status AS application_status, i.status AS invoice_status,
           CAST(i.face_value AS DOUBLE) AS face_value, i.issue_date, i.due_date
    FROM invoices i JOIN applications a ON a.id = i.application_id
),
ordered AS (  -- the seller's invoices known at submission: earlier ones and this application's
    SELECT invoice_id,
           count(*) OVER (PARTITION BY seller_id ORDER BY as_of, invoice_id) AS seller_n,
           count(*) OVER (PARTITION BY seller_id, debtor_id ORDER BY as_of, invoice_id) AS pair_n
    FROM inv
),
outcome AS (
    SELECT t.id AS trade_id, t.invoice_id, i.seller_id, i.debtor_id, t.status, t.settled_at,
           CAST(i.due_date AS TIMESTAMP) + INTERVAL 1 DAY AS overdue_at,
           NOT coalesce(t.status = 'repaid'
                        AND t.settled_at < CAST(i.due_date AS TIMESTAMP) + INTERVAL 1 DAY,
                        false) AS bad
    FROM trades t JOIN invoices i ON i.id = t.invoice_id
),
events AS (  -- (seller, debtor, instant, what became true then)
    SELECT seller_id, debtor_id, overdue_at AS ts, 1 AS resolved, bad::INT AS bad,
           0 AS defaults, 0 AS overdue
    FROM outcome
    UNION ALL
    SELECT seller_id, debtor_id, settled_at, 0, 0, 1, 0 FROM outcome WHERE status = 'defaulted'
    UNION ALL
    SELECT seller_id, debtor_id, overdue_at, 0, 0, 0, 1 FROM outcome WHERE bad
    UNION ALL
    SELECT seller_id, debtor_id, settled_at, 0, 0, 0, -1
    FROM outcome WHERE bad AND settled_at >= overdue_at
),
seller_hist AS (
    SELECT seller_id, ts,
           sum(sum(resolved)) OVER w AS resolved, sum(sum(bad)) OVER w AS bad,
           sum(sum(defaults)) OVER w AS defaults, sum(sum(overdue)) OVER w AS overdue
    FROM events GROUP BY seller_id, ts WINDOW w AS (PARTITION BY seller_id ORDER BY ts)
),
debtor_hist AS (
    SELECT debtor_id, ts,
           sum(sum(resolved)) OVER w AS resolved, sum(sum(bad)) OVER w AS bad,
           sum(sum(defaults)) OVER w AS defaults, sum(sum(overdue)) OVER w AS overdue
    FROM events GROUP BY debtor_id, ts WINDOW w AS (PARTITION BY debtor_id ORDER BY ts)
),
platform_hist AS (
    SELECT ts, sum(sum(resolved)) OVER w AS resolved, sum(sum(bad)) OVER w AS bad
    FROM events GROUP BY ts WINDOW w AS (ORDER BY ts)
),
as_of_counts AS (  -- strictly before the submission instant
    SELECT inv.invoice_id,
           coalesce(s.resolved, 0) AS s_resolved, coalesce(s.bad, 0) AS s_bad,
           coalesce(s.defaults, 0) AS s_defaults, coalesce(s.overdue, 0) AS s_overdue,
           coalesce(d.resolved, 0) AS d_resolved, coalesce(d.bad, 0) AS d_bad,
           coalesce(d.defaults, 0) AS d_defaults, coalesce(d.overdue, 0) AS d_overdue,
           coalesce(p.bad / nullif(p.resolved, 0), 0) AS platform_rate
    FROM inv
    ASOF LEFT JOIN seller_hist s ON inv.seller_id = s.seller_id AND inv.as_of > s.ts
    ASOF LEFT JOIN debtor_hist d ON inv.debtor_id = d.debtor_id AND inv.as_of > d.ts
    ASOF LEFT JOIN platform_hist p ON inv.as_of > p.ts
)
SELECT inv.invoice_id, inv.application_id, inv.seller_id, inv.debtor_id, inv.as_of,
       inv.application_status, inv.invoice_status,
       ln(greatest(inv.face_value, 1)) AS amount_log,
       CAST(date_diff('day', inv.issue_date, inv.due_date) AS DOUBLE) AS tenor_days,
       o.pair_n / o.seller_n AS debtor_concentration,
       ln(o.seller_n) AS seller_history_log,
       (h.s_bad + $w * h.platform_rate) / (h.s_resolved + $w) AS seller_late_rate,
       CAST(least(h.s_defaults, $cap_defaults) AS DOUBLE) AS seller_defaults,
       CAST(least(h.s_overdue, $cap_overdue) AS DOUBLE) AS seller_overdue,
       (h.d_bad + $w * h.platform_rate) / (h.d_resolved + $w) AS debtor_late_rate,
       CAST(least(h.d_defaults, $cap_defaults) AS DOUBLE) AS debtor_defaults,
       CAST(least(h.d_overdue, $cap_overdue) AS DOUBLE) AS debtor_overdue,
       coalesce(c.sector, 'unknown') AS debtor_sector,
       out.trade_id,
       CASE WHEN out.overdue_at <= $cutoff THEN out.bad END AS bad,
       CASE WHEN out.overdue_at <= $cutoff THEN
            CASE WHEN out.status = 'defaulted' THEN 'default'
                 WHEN NOT out.bad THEN 'on_time'
                 WHEN out.settled_at IS NULL THEN 'overdue'
                 ELSE 'late' END
       END AS outcome,
       out.overdue_at AS label_known_at
FROM inv
JOIN ordered o USING (invoice_id)
JOIN as_of_counts h USING (invoice_id)
LEFT JOIN companies c ON c.id = inv.debtor_id
LEFT JOIN outcome out ON out.invoice_id = inv.invoice_id
ORDER BY inv.invoice_id
"""


def data_cutoff(*tables: pa.Table):
    """The newest instant the data has seen: the greatest ``updated_at`` of the tables."""
    values = [pc.max(t.column("updated_at")).as_py() for t in tables if t.num_rows]
    return max(values) if values else None


def build_features(
    applications: pa.Table, invoices: pa.Table, companies: pa.Table, trades: pa.Table
) -> pa.Table:
    """One row per invoice: identifiers, point-in-time features as of the application's
    submission, and the label (``bad``, ``outcome``) where the data already shows it."""
    cutoff = data_cutoff(applications, invoices, companies, trades)
    con = duckdb.connect()
    for name, table in (
        ("applications", applications),
        ("invoices", invoices),
        ("companies", companies),
        ("trades", trades),
    ):
        con.register(name, table)
    params = {
        "w": PRIOR_WEIGHT,
        "cap_defaults": CAP_DEFAULTS,
        "cap_overdue": CAP_OVERDUE,
        "cutoff": cutoff,
    }
    return con.sql(SQL, params=params).to_arrow_table()

"""The bank's daily payments statements (the ``bank`` file drop) reconciled against the
platform's payments (``warehouse/platform/payments``).

A statement line pays a platform payment when its reference holds ``PAY-<payment id>``. Each
line and each platform payment paid on a statement's day ends up in one row with a status:

- ``matched``: the payment is on the statement with the same amount;
- ``amount_mismatch``: on the statement with another amount;
- ``duplicate_in_bank``: the payment's reference is on the statements more than once;
- ``unknown_payment``: the reference names a payment the platform does not have;
- ``bank_only``: a line that names no payment (a bank fee, a transfer): kept, not a fault;
- ``missing_in_bank``: a platform payment paid on a day whose statement has arrived, that the
  statement does not show.
"""

import duckdb
import pyarrow as pa

STATUSES = (
    "matched",
    "amount_mismatch",
    "duplicate_in_bank",
    "unknown_payment",
    "bank_only",
    "missing_in_bank",
)
PROBLEMS = ("amount_mismatch", "duplicate_in_bank", "unknown_payment", "missing_in_bank")

RECONCILE_SQL = r"""
WITH bank AS (
    SELECT *, TRY_CAST(regexp_extract(reference, 'PAY-0*(\d+)', 1) AS BIGINT) AS payment_id,
        strptime(statement_date, '%Y%m%d')::DATE AS statement_day
    FROM bank_lines
),
days AS (SELECT DISTINCT statement_day FROM bank),
platform AS (
    SELECT id AS payment_id, trade_id, amount, paid_at, paid_at::DATE AS paid_day
    FROM payments
),
joined AS (
    SELECT
        coalesce(b.payment_id, p.payment_id) AS payment_id,
        p.trade_id,
        coalesce(b.statement_day, p.paid_day) AS statement_day,
        b.account,
        b.booking_date,
        b.reference,
        b.counterparty,
        b.amount::DECIMAL(14, 2) AS bank_amount,
        p.amount::DECIMAL(14, 2) AS platform_amount,
        p.paid_at,
        CASE
            WHEN b.file IS NULL THEN 'missing_in_bank'
            WHEN b.payment_id IS NULL THEN 'bank_only'
            WHEN p.payment_id IS NULL THEN 'unknown_payment'
            WHEN count(*) OVER (PARTITION BY b.payment_id) > 1 THEN 'duplicate_in_bank'
            WHEN b.amount::DECIMAL(14, 2) <> p.amount::DECIMAL(14, 2) THEN 'amount_mismatch'
            ELSE 'matched'
        END AS status,
        b.file,
        b.line
    FROM bank b
    FULL OUTER JOIN platform p ON b.payment_id = p.payment_id
    WHERE b.file IS NOT NULL OR p.paid_day IN (SELECT statement_day FROM days)
)
SELECT * FROM joined ORDER BY statement_day, status, payment_id NULLS LAST, file, line
"""


def reconcile(bank_lines: pa.Table, payments: pa.Table) -> pa.Table:
    """``bank_lines`` (the drop's parsed rows: reference, counterparty, amount, account,
    statement_date, booking_date, file, line) against ``payments`` (id, trade_id, amount,
    paid_at): one row per statement line and per unmatched platform payment of a statement's
    day, with its status."""
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    con.register("bank_lines", bank_lines)
    con.register("payments", payments)
    table = con.sql(RECONCILE_SQL).to_arrow_table()
    con.close()
    return table

"""The bank's daily payments statements, written from the platform's payments: one CSV per day
(``lakehouse/defs/bank/drop/statement.yaml``) with the bank's quirks: Windows-1252, ';', decimal
comma with '.' grouping, DD.MM.YYYY dates, '-' for no value, a quoted counterparty holding a
';', and a trailer ``TOTAL;<lines>;<sum>``. Each statement also carries the account's monthly
fee line (no payment reference) on the first of the month, and a day's file is written as
``.part`` and renamed when complete, as the bank's SFTP client does."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from lakehouse.sources.sql.db import connect
from lakehouse.storage.store import Store
from lakehouse_dev.simulate import platform_schema as schema
from lakehouse_dev.simulate.platform import SOURCE

ACCOUNT = "DE89370400440532013000"
HEADER = "booking_date;value_date;reference;counterparty;amount;currency"
FEE = Decimal("-12.50")


def money(amount: Decimal) -> str:
    """``Decimal("-1234.5")`` -> ``-1.234,50``."""
    text = f"{amount:,.2f}"  # -1,234.50
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def _quoted(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if ";" in text or '"' in text else text


def statement_text(day: dt.date, lines: list[tuple[str, str, Decimal]]) -> str:
    """The statement of ``day``: ``lines`` of (reference, counterparty, amount)."""
    date = day.strftime("%d.%m.%Y")
    rows = [HEADER]
    for reference, counterparty, amount in lines:
        rows.append(f"{date};{date};{reference};{_quoted(counterparty) or '-'};{money(amount)};EUR")
    total = sum((amount for _, _, amount in lines), Decimal(0))
    rows.append(f"TOTAL;{len(lines)};{money(total)}")
    return "\r\n".join(rows) + "\r\n"


@dataclass
class Written:
    files: list[str]
    lines: int


def payments_by_day(url: str, first: dt.date, last: dt.date) -> dict[dt.date, list]:
    """The platform's payments paid from ``first`` to ``last`` (inclusive), by day, with the
    debtor that paid."""
    p, t, i, c = (schema.TABLES[n] for n in ("payments", "trades", "invoices", "companies"))
    query = (
        sa.select(p.c.id, p.c.trade_id, p.c.amount, p.c.paid_at, c.c.name)
        .join(t, t.c.id == p.c.trade_id)
        .join(i, i.c.id == t.c.invoice_id)
        .join(c, c.c.id == i.c.debtor_id)
        .where(p.c.paid_at >= dt.datetime.combine(first, dt.time()))
        .where(p.c.paid_at < dt.datetime.combine(last + dt.timedelta(days=1), dt.time()))
        .order_by(p.c.paid_at, p.c.id)
    )
    days: dict[dt.date, list] = {}
    with connect(url, SOURCE) as conn:
        for row in conn.execute(query):
            days.setdefault(row.paid_at.date(), []).append(row)
    return days


def write_statements(url: str, store: Store, prefix: str, days: int, until: dt.date) -> Written:
    """One statement per day for the ``days`` days up to ``until`` (inclusive)."""
    first = until - dt.timedelta(days=days - 1)
    by_day = payments_by_day(url, first, until)
    written, count = [], 0
    for n in range(days):
        day = first + dt.timedelta(days=n)
        lines = [
            (f"PAY-{r.id:08d} TRADE-{r.trade_id}", r.name, Decimal(r.amount))
            for r in by_day.get(day, [])
        ]
        if day.day == 1:
            lines.append(("ACCOUNT FEE", "", FEE))
        name = f"{prefix}/statement_{ACCOUNT}_{day:%Y%m%d}.csv"
        store.write_bytes(f"{name}.part", statement_text(day, lines).encode("cp1252"))
        store.move(f"{name}.part", name)
        written.append(name)
        count += len(lines)
    return Written(written, count)

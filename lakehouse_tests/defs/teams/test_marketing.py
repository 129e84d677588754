"""Team marketing: applications per seller sector and week, checked by hand."""

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from lakehouse.defs.teams.marketing.assets import weekly_by_sector, weekly_counts_add_up
from lakehouse_dev.simulate.platform_schema import arrow_schema


def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = arrow_schema(name)
    at = dt.datetime(2026, 1, 1)
    filled = [
        {**{f.name: None for f in schema}, "created_at": at, "updated_at": at, **r} for r in rows
    ]
    return pa.Table.from_pylist(filled, schema=schema)


COMPANIES = _table(
    "companies",
    [
        {"id": 1, "name": "A", "role": "seller", "sector": "retail", "country": "GB",
         "registration_number": "1"},
        {"id": 2, "name": "B", "role": "seller", "sector": "retail", "country": "GB",
         "registration_number": "2"},
        {"id": 3, "name": "C", "role": "seller", "sector": "technology", "country": "DE",
         "registration_number": "3"},
    ],
)  # fmt: skip


def _app(id_, seller, amount, status, submitted):
    return {"id": id_, "seller_id": seller, "requested_amount": Decimal(amount),
            "status": status, "submitted_at": submitted}  # fmt: skip


# 2026-01-05 is a Monday: the 4th (Sunday) belongs to the week of 2025-12-29.
APPLICATIONS = _table(
    "applications",
    [
        _app(1, 1, "100.00", "approved", dt.datetime(2026, 1, 4, 23, 59)),
        _app(2, 1, "200.00", "approved", dt.datetime(2026, 1, 5, 0, 0)),
        _app(3, 2, "300.50", "declined", dt.datetime(2026, 1, 7, 12, 0)),
        _app(4, 1, "50.00", "submitted", dt.datetime(2026, 1, 11, 22, 0)),
        _app(5, 3, "10.00", "submitted", dt.datetime(2026, 1, 6, 9, 0)),
    ],
)


def test_applications_are_counted_per_week_and_seller_sector():
    rows = weekly_by_sector(APPLICATIONS, COMPANIES).to_pylist()
    assert rows == [
        {"week": dt.date(2025, 12, 29), "seller_sector": "retail", "applications": 1,
         "sellers": 1, "requested_amount": Decimal("100.00"), "approved": 1, "declined": 0,
         "approval_rate": 1.0},
        {"week": dt.date(2026, 1, 5), "seller_sector": "retail", "applications": 3,
         "sellers": 2, "requested_amount": Decimal("550.50"), "approved": 1, "declined": 1,
         "approval_rate": 0.5},
        {"week": dt.date(2026, 1, 5), "seller_sector": "technology", "applications": 1,
         "sellers": 1, "requested_amount": Decimal("10.00"), "approved": 0, "declined": 0,
         "approval_rate": None},
    ]  # fmt: skip


def test_the_check_sees_a_lost_application():
    weekly = weekly_by_sector(APPLICATIONS, COMPANIES)
    assert weekly_counts_add_up(weekly, APPLICATIONS).passed
    assert not weekly_counts_add_up(weekly.slice(1), APPLICATIONS).passed

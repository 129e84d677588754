"""The marketing funnel on a hand-made week of traffic, leads and platform activity."""

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from lakehouse.warehouse.company_matching import with_company_keys
from lakehouse.warehouse.marketing_funnel import connect, funnel_weekly, match_rates

W1, W2 = dt.date(2026, 3, 2), dt.date(2026, 3, 9)  # two Mondays


def _at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour)


def _tables() -> dict[str, pa.Table]:
    companies = pa.table(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "name": [
                "Anchor Retail Group Ltd",
                "Oak Works GmbH",
                "Falcon Logistics BV",
                "Twin Name Ltd",
                "Twin Name Limited",  # same normalised name as 4: ambiguous
                "Solo Direct Ltd",
            ],
            "country": ["GB", "DE", "NL", "GB", "GB", "GB"],
            "registration_number": [f"{c}{d * 8}" for c, d in zip("GDNGGG", "123456", strict=True)],
        }
    )
    leads = [
        # id, source, created, company as typed, country, registration, deleted
        ("L1", "Web", _at(3), "ANCHOR RETAIL GROUP LIMITED", "United Kingdom", None, False),
        ("L2", "Partner Referral", _at(4), "Oak Works", "Germany", "DE 2222 2222", False),
        ("L3", "Web", _at(10), "Oak Works GmbH", "DE", None, False),  # 2nd lead of company 2
        ("L4", "Web", _at(5), "Twin Name", "GB", None, False),  # ambiguous: no match
        ("L5", "Phone Inquiry", _at(11), "Falcon Logistics B.V.", "The Netherlands", None, False),
        ("L6", "Web", _at(12), "Anchor Retail Group", "GB", None, True),  # deleted
        ("L7", None, _at(12), "Prospect X", "GB", None, False),  # no source: Unknown
    ]
    lead_table = pa.table(
        {
            "id": [r[0] for r in leads],
            "lead_source": [r[1] for r in leads],
            "created_date": [r[2] for r in leads],
            "company": [r[3] for r in leads],
            "country": [r[4] for r in leads],
            "registration_number": pa.array([r[5] for r in leads], pa.string()),
            "is_deleted": [r[6] for r in leads],
        }
    )
    lead_table = with_company_keys(lead_table, "company", "country", "registration_number")
    applications = pa.table(
        {
            "id": [1, 2, 3, 4, 5],
            "seller_id": [1, 1, 2, 3, 6],
            "submitted_at": [_at(6), _at(20), _at(13), _at(6), _at(9)],
        }
    )
    invoices = pa.table(
        {
            "id": [11, 12, 13, 14],
            "application_id": [1, 2, 3, 4],
            "currency": ["GBP", "EUR", "GBP", "EUR"],
        }
    )
    trades = pa.table(
        {
            "id": [21, 22, 23],
            "invoice_id": [11, 12, 14],
            "advance_amount": pa.array(
                [Decimal("800.00"), Decimal("200.50"), Decimal("1000.00")], pa.decimal128(18, 2)
            ),
        }
    )
    traffic = pa.table(
        {
            "date": [dt.date(2026, 3, 2), dt.date(2026, 3, 8), dt.date(2026, 3, 9)],
            "sessions": [100, 50, 120],
            "key_events": [2.0, 1.0, 0.0],
        }
    )
    return {
        "web_traffic_daily": traffic,
        "leads": lead_table,
        "companies": companies,
        "applications": applications,
        "invoices": invoices,
        "trades": trades,
    }


COLUMNS = (
    "sessions",
    "key_events",
    "leads",
    "leads_matched",
    "companies_touched",
    "companies_applied",
    "applications",
    "companies_funded",
    "trades_funded",
    "funded_volume",
)


def test_funnel_counts_each_stage_by_first_touch_channel_and_week():
    funnel = funnel_weekly(connect(_tables()))
    assert all(funnel.schema.field(c).type == pa.int64() for c in COLUMNS[:-1])
    assert funnel.schema.field("funded_volume").type == pa.map_(pa.string(), pa.decimal128(18, 2))
    rows = {(r["week"], r["channel"]): r for r in funnel.to_pylist()}
    got = {k: tuple(r[c] for c in COLUMNS) for k, r in rows.items()}
    zero = []  # an Arrow map reads as a list of (currency, amount) pairs
    assert got == {
        # Anchor: lead L1 (Web) before its first application; 2 applications, 2 trades funded,
        # trade 21 in GBP (invoice 11), 22 in EUR (invoice 12): two amounts, never 1000.50
        (W1, "Web"): (
            150,
            3,
            2,
            1,
            1,
            1,
            2,
            1,
            2,
            [("EUR", Decimal("200.50")), ("GBP", Decimal("800.00"))],
        ),
        # Oak: first touch L2 (partner); its later Web lead L3 does not move it
        (W1, "Partner Referral"): (None, None, 1, 1, 1, 1, 1, 0, 0, zero),
        # Falcon applied before its lead existed: the platform was its first touch
        (W1, "Platform direct"): (None, None, 0, 0, 1, 1, 1, 1, 1, [("EUR", Decimal("1000.00"))]),
        (W2, "Web"): (120, 0, 1, 1, 0, 0, 0, 0, 0, zero),
        (W2, "Phone Inquiry"): (None, None, 1, 1, 0, 0, 0, 0, 0, zero),
        (W2, "Unknown"): (None, None, 1, 0, 0, 0, 0, 0, 0, zero),
        (W2, "Platform direct"): (None, None, 0, 0, 1, 1, 1, 0, 0, zero),
    }
    web = rows[(W1, "Web")]
    assert web["lead_rate"] == 2 / 150
    assert web["application_rate"] == 1 / 2 and web["funding_rate"] == 1.0
    assert rows[(W1, "Platform direct")]["application_rate"] == 1.0
    assert rows[(W2, "Unknown")]["lead_rate"] is None  # no sessions outside Web


def test_match_rates_count_live_leads_and_sellers_reached_through_one():
    assert match_rates(connect(_tables())) == {
        "leads": 6,  # L6 is deleted
        "leads_matched": 4,  # L4's name is ambiguous, L7 matches nothing
        "lead_match_rate": 4 / 6,
        "sellers_applied": 4,  # companies 1, 2, 3, 6
        "sellers_with_a_lead": 3,
        "seller_lead_rate": 3 / 4,
    }

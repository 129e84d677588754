"""Point-in-time features: values checked by hand, and nothing from after the submission."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from lakehouse.ml.features import NUMERIC_FEATURES, PRIOR_WEIGHT, build_features, describe
from lakehouse_tests.ml.helpers import simulated_tables, table

T = dt.datetime
D = dt.date
APP3_AT = T(2026, 2, 3, 9, 0)  # the application under test


def _companies():
    return table(
        "companies",
        [
            {"id": 1, "name": "D1", "role": "debtor", "sector": "retail"},
            {"id": 2, "name": "D2", "role": "debtor", "sector": "construction"},
            {"id": 10, "name": "S", "role": "seller", "sector": "technology"},
            {"id": 11, "name": "T", "role": "seller", "sector": "utilities"},
        ],
    )


def _history(full: bool) -> dict:
    """Seller S's history around application 3 (submitted APP3_AT).

    ``full``: the data as it is later (app 3's first invoice defaults, trade 1 is repaid
    late after APP3_AT, a later application 4 adds an invoice on debtor 2). Otherwise: the
    data as it stood at APP3_AT. Application 3's features must be the same in both.
    """
    apps = [
        {"id": 1, "seller_id": 10, "status": "approved", "submitted_at": T(2026, 1, 1, 10)},
        {"id": 2, "seller_id": 10, "status": "approved", "submitted_at": T(2026, 1, 2, 10)},
        {"id": 3, "seller_id": 10, "status": "submitted", "submitted_at": APP3_AT},
        {"id": 9, "seller_id": 11, "status": "approved", "submitted_at": T(2026, 1, 1, 8)},
    ]
    invoices = [
        _invoice(1, 1, 10, 1, "1000", D(2026, 1, 1), D(2026, 1, 31)),
        _invoice(2, 2, 10, 1, "2000", D(2026, 1, 2), D(2026, 1, 20)),
        _invoice(3, 3, 10, 1, "3000", D(2026, 2, 3), D(2026, 3, 5)),
        _invoice(4, 3, 10, 2, "4000", D(2026, 2, 1), D(2026, 5, 2)),
        _invoice(9, 9, 11, 2, "500", D(2026, 1, 1), D(2026, 1, 15)),
    ]
    trades = [
        # trade 1: late; at APP3_AT it is overdue (since 02-01 00:00) and not yet repaid
        _trade(1, 1, "live", None),
        # trade 2: repaid on its due date: resolved as on time at 01-21 00:00
        _trade(2, 2, "repaid", T(2026, 1, 20, 12)),
        # trade 9: another seller's, on debtor 2, on time
        _trade(9, 9, "repaid", T(2026, 1, 15, 9)),
    ]
    if full:
        apps[2]["status"] = "approved"
        apps.append(
            {"id": 4, "seller_id": 10, "status": "submitted", "submitted_at": T(2026, 3, 1, 9)}
        )
        invoices.append(_invoice(5, 4, 10, 2, "5000", D(2026, 3, 1), D(2026, 6, 1)))
        trades[0] = _trade(1, 1, "repaid", T(2026, 2, 5, 11))
        trades.append(_trade(3, 3, "defaulted", T(2026, 5, 4, 7)))
    return {
        "applications": table("applications", [_created(a, a["submitted_at"]) for a in apps]),
        "invoices": table("invoices", invoices),
        "companies": _companies(),
        "trades": table("trades", trades),
    }


def _created(row, at):
    return {**row, "requested_amount": Decimal("1.00"), "created_at": at}


def _invoice(id_, app, seller, debtor, face, issue, due):
    at = {1: T(2026, 1, 1, 10), 2: T(2026, 1, 2, 10), 3: APP3_AT, 4: T(2026, 3, 1, 9)}.get(
        app, T(2026, 1, 1, 8)
    )
    return {
        "id": id_, "application_id": app, "seller_id": seller, "debtor_id": debtor,
        "face_value": Decimal(face), "currency": "GBP", "issue_date": issue, "due_date": due,
        "status": "funded", "created_at": at,
    }  # fmt: skip


def _trade(id_, invoice, status, settled):
    funded = T(2026, 1, 3, 12) if id_ != 3 else T(2026, 2, 6, 12)
    return {
        "id": id_, "invoice_id": invoice, "advance_amount": Decimal("1.00"),
        "fee_rate": Decimal("0.0100"), "status": status, "funded_at": funded,
        "settled_at": settled, "created_at": funded, "updated_at": settled or funded,
    }  # fmt: skip


def _rows(features, application_id):
    rows = [r for r in features.to_pylist() if r["application_id"] == application_id]
    return {r["invoice_id"]: r for r in rows}


def test_features_of_an_application_by_hand():
    inv3, inv4 = _rows(build_features(**_history(full=True)), 3).values()
    # Platform history strictly before APP3_AT: trades 1 (late), 2 and 9 (on time) resolved.
    platform_rate = 1 / 3
    seller_rate = (1 + PRIOR_WEIGHT * platform_rate) / (2 + PRIOR_WEIGHT)  # trades 1, 2
    expected = {
        3: {"amount_log": math.log(3000), "tenor_days": 30.0, "debtor_concentration": 1.0,
            "seller_history_log": math.log(3), "seller_late_rate": seller_rate,
            "seller_defaults": 0.0, "seller_overdue": 1.0, "debtor_late_rate": seller_rate,
            "debtor_defaults": 0.0, "debtor_overdue": 1.0, "debtor_sector": "retail"},
        4: {"amount_log": math.log(4000), "tenor_days": 90.0, "debtor_concentration": 0.25,
            "seller_history_log": math.log(4), "seller_late_rate": seller_rate,
            "seller_defaults": 0.0, "seller_overdue": 1.0,
            "debtor_late_rate": (0 + PRIOR_WEIGHT * platform_rate) / (1 + PRIOR_WEIGHT),
            "debtor_defaults": 0.0, "debtor_overdue": 0.0, "debtor_sector": "construction"},
    }  # fmt: skip
    for row in (inv3, inv4):
        assert row["as_of"] == APP3_AT
        for name, value in expected[row["invoice_id"]].items():
            assert row[name] == pytest.approx(value), (row["invoice_id"], name)


def test_labels_are_known_from_the_end_of_the_due_date_on():
    features = build_features(**_history(full=True))  # data up to 2026-05-04 07:00
    by_invoice = {r["invoice_id"]: r for r in features.to_pylist()}
    assert (by_invoice[1]["bad"], by_invoice[1]["outcome"]) == (True, "late")
    assert (by_invoice[2]["bad"], by_invoice[2]["outcome"]) == (False, "on_time")
    assert (by_invoice[3]["bad"], by_invoice[3]["outcome"]) == (True, "default")
    assert by_invoice[3]["label_known_at"] == T(2026, 3, 6)
    assert by_invoice[4]["bad"] is None  # no trade
    assert by_invoice[5]["bad"] is None  # not funded yet


def test_later_events_do_not_change_earlier_features():
    """A default, a late repayment and a new invoice after APP3_AT would each change app 3's
    features if they leaked."""
    later, then = (_rows(build_features(**_history(full)), 3) for full in (True, False))
    for invoice_id in (3, 4):
        for name in (*NUMERIC_FEATURES, "debtor_sector", "as_of"):
            assert later[invoice_id][name] == then[invoice_id][name], (invoice_id, name)


def test_no_feature_uses_data_from_after_submission_on_the_simulated_platform(tmp_path):
    """The simulator is deterministic whatever the split of days: the database after 45 days is
    the state at day 45 of the 90-day one. Features of every application of the first 45 days
    must be the same from both, although the 90-day data holds 45 more days of outcomes."""
    early = build_features(**simulated_tables(tmp_path / "a.sqlite", days=45, seed=5))
    late = build_features(**simulated_tables(tmp_path / "b.sqlite", days=90, seed=5))
    columns = ["invoice_id", "application_id", "as_of", *NUMERIC_FEATURES, "debtor_sector"]
    early_rows = early.select(columns).to_pylist()
    late_rows = {r["invoice_id"]: r for r in late.select(columns).to_pylist()}
    assert len(early_rows) > 1000 and len(late_rows) > 1.8 * len(early_rows)
    changed = [r for r in early_rows if r != late_rows[r["invoice_id"]]]
    assert changed == []
    # ... while the 90-day data knows the outcome of more of those invoices.
    early_ids = set(early.column("invoice_id").to_pylist())
    known_later = sum(
        r["bad"] is not None for r in late.to_pylist() if r["invoice_id"] in early_ids
    )
    assert known_later > early.num_rows - early.column("bad").null_count


def test_reasons_read_as_words():
    assert describe("debtor_sector", "construction") == "debtor sector: construction"
    assert describe("tenor_days", 90.0) == "payment terms of 90 days"
    assert (
        describe("debtor_concentration", 0.755) == "76% of the seller's invoices are on this debtor"
    )
    assert describe("amount_log", math.log(12000)) == "invoice amount 12,000"
    assert describe("seller_history_log", math.log(4)) == "seller has 3 earlier invoice(s)"

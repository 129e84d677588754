"""The warehouse's asset checks catch what they claim to catch."""

from decimal import Decimal

import pyarrow as pa

from lakehouse.defs.platform.checks import (
    currency_checks,
    exposure_shares_sum_to_one,
    funded_volume_matches_trades,
    no_negative_amounts,
)
from lakehouse.defs.platform.kpis import kpi_key


def _trades(ids, advances):
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "advance_amount": pa.array([Decimal(a) for a in advances], pa.decimal128(14, 2)),
            "fee_rate": pa.array([Decimal("0.0150")] * len(ids), pa.decimal128(6, 4)),
        }
    )


def test_negative_amounts_fail_their_check():
    check = no_negative_amounts("trades")
    assert check(_trades([1, 2], ["10.00", "0.00"])).passed
    negative = check(_trades([1, 2], ["10.00", "-0.01"]))
    assert not negative.passed and negative.metadata["advance_amount"].value == 1


def _invoices(currencies):
    return pa.table(
        {
            "id": pa.array(range(1, len(currencies) + 1), pa.int64()),
            "currency": pa.array(currencies, pa.string()),
        }
    )


def _kpi(rows):
    """Funded volume rows (currency, trades_funded, advance_volume)."""
    currency, trades, volume = zip(*rows, strict=True)
    return pa.table(
        {
            "currency": pa.array(currency, pa.string()),
            "trades_funded": pa.array(trades, pa.int64()),
            "advance_volume": pa.array([Decimal(v) for v in volume], pa.decimal128(38, 2)),
        }
    )


def test_funded_volume_must_add_up_to_the_trades_per_currency():
    # Trade i on invoice i: 100.00 GBP, 250.50 EUR, 49.50 GBP -> GBP 2 trades 149.50, EUR 1 250.50
    trades = _trades([1, 2, 3], ["100.00", "250.50", "49.50"]).append_column(
        "invoice_id", pa.array([1, 2, 3], pa.int64())
    )
    invoices = _invoices(["GBP", "EUR", "GBP"])
    good = _kpi([("GBP", 1, "100.00"), ("EUR", 1, "250.50"), ("GBP", 1, "49.50")])
    assert funded_volume_matches_trades(good, trades, invoices).passed
    short = _kpi([("GBP", 1, "100.00"), ("EUR", 1, "250.50"), ("GBP", 1, "40")])
    assert not funded_volume_matches_trades(short, trades, invoices).passed
    # The same total, 400.00 in 3 trades, but a GBP trade counted as EUR: caught.
    swapped = _kpi([("GBP", 1, "100.00"), ("EUR", 1, "250.50"), ("EUR", 1, "49.50")])
    assert not funded_volume_matches_trades(swapped, trades, invoices).passed


def test_exposure_shares_sum_to_one_within_each_currency():
    def exposure(rows):
        currency, amount, share = zip(*rows, strict=True)
        return pa.table(
            {
                "currency": pa.array(currency, pa.string()),
                "outstanding_amount": pa.array([Decimal(a) for a in amount]),
                "share_of_currency_total": pa.array(share, pa.float64()),
            }
        )

    assert exposure_shares_sum_to_one(
        exposure([("GBP", "300", 0.75), ("GBP", "100", 0.25), ("EUR", "50", 1.0)])
    ).passed
    # Shares of the grand total (300 + 100 + 100 = 500): 1 overall, wrong per currency.
    assert not exposure_shares_sum_to_one(
        exposure([("GBP", "300", 0.6), ("GBP", "100", 0.2), ("EUR", "100", 0.2)])
    ).passed


def test_every_money_row_needs_its_currency():
    by_kpi = {next(iter(c.check_keys)).asset_key: c for c in currency_checks}
    assert set(by_kpi) == {
        kpi_key(n)
        for n in (
            "applications_daily",
            "funded_volume_daily",
            "debtor_exposure",
            "default_rate_monthly",
        )
    }
    check = by_kpi[kpi_key("applications_daily")]
    assert check(pa.table({"currency": ["GBP", "EUR"]})).passed
    result = check(pa.table({"currency": ["GBP", None]}))
    assert not result.passed and result.metadata["rows_without_currency"].value == 1

"""The warehouse's asset checks catch what they claim to catch."""

from decimal import Decimal

import pyarrow as pa

from lakehouse.defs.platform.checks import funded_volume_matches_trades, state_checks


def _trades(ids, advances):
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "advance_amount": pa.array([Decimal(a) for a in advances], pa.decimal128(14, 2)),
            "fee_rate": pa.array([Decimal("0.0150")] * len(ids), pa.decimal128(6, 4)),
        }
    )


def test_duplicate_keys_and_negative_amounts_fail_their_checks():
    keys_unique, no_negative_amounts = state_checks("trades")
    assert keys_unique(_trades([1, 2, 3], ["1", "2", "3"])).passed
    duplicated = keys_unique(_trades([1, 2, 2], ["1", "2", "3"]))
    assert not duplicated.passed and duplicated.metadata["duplicate_ids"].value == 1

    assert no_negative_amounts(_trades([1, 2], ["10.00", "0.00"])).passed
    negative = no_negative_amounts(_trades([1, 2], ["10.00", "-0.01"]))
    assert not negative.passed and negative.metadata["advance_amount"].value == 1


def test_funded_volume_must_add_up_to_the_trades():
    trades = _trades([1, 2, 3], ["100.00", "250.50", "49.50"])  # 3 trades, 400.00
    kpi = pa.table(
        {
            "trades_funded": pa.array([2, 1], pa.int64()),
            "advance_volume": pa.array([Decimal("350.50"), Decimal("49.50")], pa.decimal128(38, 2)),
        }
    )
    assert funded_volume_matches_trades(kpi, trades).passed
    short = kpi.set_column(1, "advance_volume", pa.array([Decimal("350.50"), Decimal("40")]))
    assert not funded_volume_matches_trades(short, trades).passed

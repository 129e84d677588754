"""The KPI definitions of docs/machine-log-formats.md ("KPIs"), checked on hand-written files
run through the lake (take, parse, KPIs) against numbers worked out by hand in the comments.
One line is stamped half a second before its file's wave (clock skew): it counts in its own
wave, so no KPI key has two rows across waves."""

from datetime import UTC, datetime

import pytest

from lakehouse.defs.machines.assets import _key_result
from lakehouse.sources.machines.formats import wave_bounds
from lakehouse.sources.machines.landing import CLAIMED_PREFIX, MACHINES
from lakehouse.storage.store import Store
from lakehouse.warehouse.machine_waves import kpis, parse_wave

HEADER = (
    "timestamp|machine|station|event|serial|step|attempt|result|value|unit|units|cycle_s|alarm\n"
)
WAVE_08 = HEADER + (
    "2026-03-02T08:05:00.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||\n"  # 2
    "2026-03-02T08:06:00.000Z|SMT-0001|H1|T|SN2|paste_height|1|FAIL|140.0|um|||\n"  # 3
    "2026-03-02T08:07:00.000Z|SMT-0001|H1|T|SN2|paste_height|2|PASS|122.0|um|||\n"  # 4 retest
    "2026-03-02T08:08:00.000Z|SMT-0001|H1|T|SN3|paste_height||PASS|120.0|um|||\n"  # 5 no attempt
    "2026-03-02T08:09:00.000Z|SMT-0001|H1|T|SN4|paste_height|1||119.0|um|||\n"  # 6 no result
    "2026-03-02T08:10:00.000Z|SMT-0001|H1|P|SN1||||||4|30.0|\n"  # 7
    "2026-03-02T08:11:00.000Z|SMT-0001|H1|P|SN2||||||2|10.0|\n"  # 8
    "2026-03-02T08:12:00.000Z|SMT-0001|H1|P|SN3||||||1|20.0|\n"  # 9
    "2026-03-02T08:13:00.000Z|SMT-0001|H1|P|SN4||||||3||\n"  # 10 no cycle time
    "2026-03-02T09:00:00.000Z|SMT-0001|H2|A|||||||||E101\n"  # 11
    "2026-03-02T09:30:00.000Z|SMT-0001|H2|T|SN5|offset_x|1|pass|1.0|um|||\n"  # 12 bad code
    "2026-03-02T09:59:59.000Z|SMT-0001|H2|P|SN5||||||1|40.0|\n"  # 13
)
WAVE_10 = HEADER + (
    "2026-03-02T09:59:59.500Z|SMT-0001|H2|P|SN6||||||5|50.0|\n"  # 0.5 s early
    "2026-03-02T10:15:00.000Z|SMT-0001|H1|T|SN6|paste_height|1|PASS|120.0|um|||\n"
)
FILES = {
    "2026-03-02T08": {"SMT-0001_20260302T080000.log": WAVE_08, "SMT-0002_20260302T080000.log": ""},
    "2026-03-02T10": {"SMT-0001_20260302T100000.log": WAVE_10},
}
COLUMNS = (
    "lines",
    "rejected_lines",
    "tests_run",
    "first_attempts",
    "first_attempt_passes",
    "first_pass_yield",
    "units_produced",
    "cycle_time_p50_s",
    "cycle_time_p95_s",
    "alarms",
)
H = {h: datetime(2026, 3, 2, h, tzinfo=UTC) for h in (0, 8, 9, 10)}
EXPECTED_HOURLY = {
    "2026-03-02T08": {
        # lines 2-10; tests 2-6; first attempts 2, 3, 6 (5 has none), passed: 2 only;
        # units 4+2+1+3; cycle times 10, 20, 30: p50 20, p95 20 + (30 - 20) * 0.9
        ("SMT-0001", "H1", H[8]): (9, 0, 5, 3, 1, 1 / 3, 10, 20.0, 29.0, 0),
        ("SMT-0001", "H2", H[9]): (2, 0, 0, 0, 0, None, 1, 40.0, 40.0, 1),  # lines 11, 13
        ("SMT-0001", None, H[8]): (0, 1, 0, 0, 0, None, 0, None, None, 0),  # line 12
        ("SMT-0002", None, H[8]): (0, 1, 0, 0, 0, None, 0, None, None, 0),  # the empty file
    },
    "2026-03-02T10": {  # the early line counts at its wave's first hour, not at 09
        ("SMT-0001", "H2", H[10]): (1, 0, 0, 0, 0, None, 5, 50.0, 50.0, 0),
        ("SMT-0001", "H1", H[10]): (1, 0, 1, 1, 1, 1.0, 0, None, None, 0),
    },
}
EXPECTED_DAILY = {  # both waves; percentiles over the day's values, not from the hours
    ("SMT-0001", "H1", H[0]): (10, 0, 6, 4, 2, 0.5, 10, 20.0, 29.0, 0),
    # cycle times 40, 50: p50 45, p95 40 + 10 * 0.95
    ("SMT-0001", "H2", H[0]): (3, 0, 0, 0, 0, None, 6, 45.0, 49.5, 1),
    ("SMT-0001", None, H[0]): (0, 1, 0, 0, 0, None, 0, None, None, 0),
    ("SMT-0002", None, H[0]): (0, 1, 0, 0, 0, None, 0, None, None, 0),
}


def _by_key(table, grain: str) -> dict:
    out = {}
    for row in table.to_pylist():
        assert row["machine_type"] == "smt"
        key = (row["machine_id"], row["station_id"], row[grain])
        assert key not in out, f"two rows for {key}"
        out[key] = tuple(row[c] for c in COLUMNS)
    return out


def _approx(expected: dict) -> dict:
    return {
        k: tuple(pytest.approx(v) if v is not None else None for v in e)
        for k, e in expected.items()
    }


@pytest.fixture
def stores(tmp_path):
    landing, lake, warehouse = (Store(str(tmp_path / n)) for n in ("landing", "lake", "wh"))
    for wave, files in FILES.items():
        for name, text in files.items():
            landing.write_bytes(f"{CLAIMED_PREFIX}/wave={wave}/{name}", text.encode())
        MACHINES.take_wave(landing, lake, wave)
        parse_wave(lake, warehouse, wave)
    return lake, warehouse


def test_hourly_and_daily_kpis_follow_the_documented_definitions(stores):
    lake, warehouse = stores
    hourly = {}
    for wave, expected in EXPECTED_HOURLY.items():
        table = kpis(lake, warehouse, [wave], "hour")
        assert _by_key(table, "hour") == _approx(expected)
        assert _key_result(table, "hour", wave_bounds(wave)).passed
        for key in _by_key(table, "hour"):
            assert key not in hourly, f"{key} in two waves"
            hourly[key] = wave
    daily = kpis(lake, warehouse, [f"2026-03-02T{h:02d}" for h in range(0, 24, 2)], "day")
    assert _by_key(daily, "day") == _approx(EXPECTED_DAILY)
    day = (H[0], datetime(2026, 3, 3, tzinfo=UTC))
    assert _key_result(daily, "day", day).passed


def test_the_key_check_fails_on_a_key_twice_or_an_hour_outside_the_partition(stores):
    import pyarrow as pa

    lake, warehouse = stores
    table = kpis(lake, warehouse, ["2026-03-02T08"], "hour")
    twice = _key_result(
        pa.concat_tables([table, table.slice(0, 1)]), "hour", wave_bounds("2026-03-02T08")
    )
    assert not twice.passed and twice.metadata["duplicate_keys"].value == 1
    outside = _key_result(table, "hour", wave_bounds("2026-03-02T10"))
    assert not outside.passed and outside.metadata["hours_outside_partition"].value == 4

"""KPI SQL on a tiny hand-made fixture, checked against values computed here in Python."""

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from lakehouse.warehouse.machine_logs import (
    PARSED_SCHEMA,
    REJECTED_SCHEMA,
    kpi_sql,
)

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def _row(
    minute,
    station,
    event,
    attempt=None,
    passed=None,
    units=None,
    cycle=None,
    alarm=None,
    machine="SMT-0001",
):
    return {
        "ts": T0 + timedelta(minutes=minute),
        "machine_type": machine.split("-")[0].lower(),
        "machine_id": machine,
        "station_id": station,
        "event": event,
        "serial": "SN1",
        "step": "s" if event == "TEST" else None,
        "attempt": attempt,
        "passed": passed,
        "value": 1.0 if event == "TEST" else None,
        "unit": None,
        "units": units,
        "cycle_s": cycle,
        "alarm": alarm,
        "file": "f",
        "line": 1,
    }


ROWS = [
    # SMT-0001 H1, hour 08: 4 tests (3 first attempts, 2 passed), 3 cycles, 1 alarm
    _row(1, "H1", "TEST", 1, True),
    _row(2, "H1", "TEST", 1, False),
    _row(3, "H1", "TEST", 2, True),
    _row(4, "H1", "TEST", 1, True),
    _row(5, "H1", "PROD", units=2, cycle=10.0),
    _row(6, "H1", "PROD", units=3, cycle=20.0),
    _row(7, "H1", "PROD", units=1, cycle=40.0),
    _row(8, "H1", "ALARM", alarm="E1"),
    # SMT-0001 H1, hour 09: retests only -> no first attempts, yield undefined
    _row(61, "H1", "TEST", 2, True),
    # SMT-0001 H2, hour 08
    _row(10, "H2", "TEST", 1, False),
    _row(11, "H2", "PROD", units=5, cycle=30.0),
    # another machine
    _row(12, "L1", "TEST", 1, True, machine="AOI-0002"),
]
REJECTED = [  # two bad lines of SMT-0001's file, one of a file of an unknown type
    {
        "file": "f",
        "line": 9,
        "reason": "x",
        "text": "?",
        "machine_type": "smt",
        "machine_id": "SMT-0001",
        "wave_start": T0,
    },
    {
        "file": "f",
        "line": 12,
        "reason": "x",
        "text": "?",
        "machine_type": "smt",
        "machine_id": "SMT-0001",
        "wave_start": T0,
    },
    {
        "file": "g",
        "line": 1,
        "reason": "x",
        "text": "?",
        "machine_type": "xry",
        "machine_id": "XRY-0001",
        "wave_start": T0,
    },
]


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what quantile_cont does), by hand."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _expected(grain: str) -> dict[tuple, dict]:
    out: dict[tuple, dict] = {}
    for r in ROWS:
        when = r["ts"].replace(minute=0) if grain == "hour" else r["ts"].replace(hour=0, minute=0)
        g = out.setdefault(
            (r["machine_type"], r["machine_id"], r["station_id"], when),
            {
                "lines": 0,
                "tests": 0,
                "first": 0,
                "passes": 0,
                "units": 0,
                "cycles": [],
                "alarms": 0,
            },
        )
        g["lines"] += 1
        if r["event"] == "TEST":
            g["tests"] += 1
            if r["attempt"] == 1:
                g["first"] += 1
                g["passes"] += bool(r["passed"])
        elif r["event"] == "PROD":
            g["units"] += r["units"]
            g["cycles"].append(r["cycle_s"])
        else:
            g["alarms"] += 1
    return out


def _run(grain: str) -> dict[tuple, dict]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("parsed", pa.Table.from_pylist(ROWS, schema=PARSED_SCHEMA))
    con.register("rejected", pa.Table.from_pylist(REJECTED, schema=REJECTED_SCHEMA))
    rows = con.sql(kpi_sql("parsed", "rejected", grain)).to_arrow_table().to_pylist()
    return {(r["machine_type"], r["machine_id"], r["station_id"], r[grain]): r for r in rows}


def test_hourly_kpis_match_a_computation_by_hand():
    got = _run("hour")
    expected = _expected("hour")
    assert set(got) - set(expected) == {
        ("smt", "SMT-0001", None, T0),
        ("xry", "XRY-0001", None, T0),
    }
    for key, e in expected.items():
        row = got[key]
        assert row["lines"] == e["lines"] and row["rejected_lines"] == 0
        assert row["tests_run"] == e["tests"]
        assert row["first_attempts"] == e["first"]
        assert row["first_attempt_passes"] == e["passes"]
        fpy = e["passes"] / e["first"] if e["first"] else None
        assert row["first_pass_yield"] == fpy
        assert row["units_produced"] == e["units"]
        assert row["alarms"] == e["alarms"]
        for q, column in ((0.5, "cycle_time_p50_s"), (0.95, "cycle_time_p95_s")):
            want = _quantile(e["cycles"], q) if e["cycles"] else None
            assert row[column] == want, (key, column)
    h1 = got[("smt", "SMT-0001", "H1", T0)]
    assert (h1["first_pass_yield"], h1["cycle_time_p50_s"], h1["cycle_time_p95_s"]) == (
        2 / 3,
        20.0,
        38.0,  # 20 + (40 - 20) * 0.9
    )
    assert got[("smt", "SMT-0001", None, T0)]["rejected_lines"] == 2
    assert got[("xry", "XRY-0001", None, T0)]["rejected_lines"] == 1


def test_daily_roll_up_recomputes_percentiles_over_the_day():
    got = _run("day")
    day = T0.replace(hour=0)
    h1 = got[("smt", "SMT-0001", "H1", day)]
    assert (h1["lines"], h1["tests_run"], h1["first_attempts"]) == (9, 5, 3)
    assert h1["units_produced"] == 6 and h1["cycle_time_p50_s"] == 20.0
    assert sum(r["rejected_lines"] for r in got.values()) == len(REJECTED)
    assert sum(r["lines"] for r in got.values()) == len(ROWS)

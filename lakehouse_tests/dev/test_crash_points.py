"""The crash-point test: `lakehouse tick` killed (SIGKILL to its process group) at a named point,
then ticks until quiet; nothing is lost, doubled or stranded, and every exit code is honest.

A point is named by what the test can see from outside, never by a switch in the product:
a step of a run starting (in the instance's event log), or a lake file appearing. Each case
starts from the same hand-made sources: two days of platform activity, two machine log files
in two waves, and events on the bus; every check compares the stores with those sources,
read apart from the platform.
"""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import dagster as dg
import pyarrow.parquet as pq
import pytest

from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.events.publisher import Publisher
from lakehouse.sources.events.schema import EVENT_TYPES
from lakehouse.sources.files.landing import MANIFEST
from lakehouse.sources.machines.landing import CLAIMED_PREFIX, LAKE_PREFIX
from lakehouse.storage.projections import current_files, current_key
from lakehouse.storage.store import Store
from lakehouse_dev.simulate.platform import simulate
from lakehouse_dev.simulate.platform_schema import TABLES
from lakehouse_tests.conftest import PROJECT_ROOT
from lakehouse_tests.sources.events.conftest import sample_events
from lakehouse_tests.sources.events.helpers import read_events

MACHINE_FILES = {  # name -> lines, written by hand
    "SMT-0001_20260302T080000.log": [
        "2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||",
        "2026-03-02T08:05:00.000Z|SMT-0001|H1|T|SN2|paste_height|1|PASS|119.0|um|||",
    ],
    "SMT-0002_20260302T100000.log": [
        "2026-03-02T10:00:01.000Z|SMT-0002|H1|T|SN3|paste_height|1|PASS|120.0|um|||",
        "2026-03-02T10:01:00.000Z|SMT-0002|H1|T|SN4|paste_height|1|FAIL|150.0|um|||",
        "2026-03-02T10:02:00.000Z|SMT-0002|H1|T|SN5|paste_height|1|PASS|121.0|um|||",
    ],
}
EVENTS = 4000  # several micro-batches of the lake writer: a kill finds one in flight
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
KILL_DEADLINE = 900  # seconds for the point to be reached
MAX_TICKS = 4


def _step_started(prefix: str) -> Callable[[dg.DagsterInstance, Store], bool]:
    """A step whose key starts with ``prefix`` has started in a run still going."""

    def reached(instance: dg.DagsterInstance, lake: Store) -> bool:
        for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
                if (event.step_key or "").startswith(prefix):
                    return True
        return False

    return reached


def _events_written(instance: dg.DagsterInstance, lake: Store) -> bool:
    """A lake writer batch is in the lake (the next one is being received or acknowledged)."""
    return any(lake.keys(f"events/{t}") for t in EVENT_TYPES)


POINTS = {
    "platform extraction": _step_started("lake__platform__"),
    "machine-file take": _step_started("lake__machines__raw"),
    "parse": _step_started("warehouse__machines__parsed"),
    "event write before ack": _events_written,
    "catalog write": _step_started("catalog__warehouse"),
}


def _tick_process(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "tick"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, killed as a whole
    )


def _kill_at(point: str, env: dict, instance: dg.DagsterInstance, lake: Store) -> int:
    """Start a tick, SIGKILL its process group once ``point`` is reached; its exit code."""
    reached = POINTS[point]
    proc = _tick_process(env)
    deadline = time.monotonic() + KILL_DEADLINE
    try:
        while not reached(instance, lake):
            if proc.poll() is not None:
                _, err = proc.communicate()
                pytest.fail(f"the tick ended before {point} ({proc.returncode}): {err[-2000:]}")
            assert time.monotonic() < deadline, f"{point} not reached"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    return proc.returncode


def _ticks_until_quiet(env: dict) -> list[str]:
    outputs = []
    for _ in range(MAX_TICKS):
        out = subprocess.run(
            [sys.executable, "-m", "lakehouse.cli", "tick"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        outputs.append(out.stdout)
        assert out.returncode == 0, f"{out.stdout}\n{out.stderr[-3000:]}"
        if out.stdout.strip().splitlines()[-1].startswith("tick: 0 run(s)"):
            return outputs
    pytest.fail(f"not quiet after {MAX_TICKS} ticks:\n" + "\n".join(outputs))


def _source_rows(db_path: str) -> dict[str, set[int]]:
    """The platform's ids per table, read with sqlite3 (not through the platform's code)."""
    con = sqlite3.connect(db_path)
    try:
        return {t: {r[0] for r in con.execute(f'SELECT id FROM "{t}"')} for t in TABLES}
    finally:
        con.close()


@pytest.mark.timeout(2400)  # a few ticks of the whole platform, and a lease to wait out
@pytest.mark.parametrize("point", list(POINTS))
def test_killed_at_a_point_then_ticks_until_quiet_lose_and_double_nothing(
    point, settings, instance
):
    db_path = str(settings.home / "platform.sqlite")
    simulate(settings.platform_db_url, days=2, seed=11)
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    for name, lines in MACHINE_FILES.items():
        landing.write_bytes(f"machines/{name}", "".join(f"{x}\n" for x in lines).encode())
        then = time.time() - 600  # finished writing ten minutes ago
        os.utime(landing.path(f"machines/{name}"), (then, then))
    events = sample_events(EVENTS)
    with bus_from_url(settings.bus_url) as bus:
        Publisher(bus).publish(events)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    assert _kill_at(point, env, instance, lake) == -signal.SIGKILL
    if point == "event write before ack":
        with bus_from_url(settings.bus_url) as bus:
            assert bus.in_flight() > 0  # a batch was received and never acknowledged

    outputs = _ticks_until_quiet(env)
    assert "left unfinished by a killed tick" in outputs[0]

    # no run left unfinished
    assert instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)) == []
    # warehouse = source
    warehouse = Store(settings.warehouse_url)
    for table, ids in _source_rows(db_path).items():
        projected = pq.read_table(
            warehouse.path(current_key(warehouse, f"platform/{table}")), columns=["id"]
        )
        assert Counter(projected.column("id").to_pylist()) == Counter(ids), table
    # every landing file taken once, byte-equal to its manifest, parsed once
    assert landing.keys("machines") == [] and landing.keys(CLAIMED_PREFIX) == []
    taken = [k for k in lake.keys(LAKE_PREFIX) if not k.endswith(MANIFEST)]
    assert sorted(k.rsplit("/", 1)[1] for k in taken) == sorted(MACHINE_FILES)
    for key in taken:
        folder, name = key.rsplit("/", 1)
        manifest = json.loads(lake.read_bytes(f"{folder}/{MANIFEST}"))
        data = lake.read_bytes(key)
        assert manifest[name]["sha256"] == hashlib.sha256(data).hexdigest(), key
        assert data.decode().splitlines() == MACHINE_FILES[name]
    hourly = [
        pq.read_table(warehouse.path(k)) for k in current_files(warehouse, "machines/kpis_hourly")
    ]
    assert sum(sum(t.column("lines").to_pylist()) for t in hourly) == 5
    # every event once, the bus drained
    lake_ids = Counter(
        i for t in EVENT_TYPES for i in read_events(lake, t).column("event_id").to_pylist()
    )
    assert lake_ids == Counter(e.event_id for e in events)
    with bus_from_url(settings.bus_url) as bus:
        assert (bus.pending(), bus.in_flight()) == (0, 0)

"""`lakehouse tick` carries everything automation requests to completion (runs and
backfills), recovers the runs a killed tick left behind, and says what it does in a few lines."""

import os
import subprocess
import sys
import time

import dagster as dg
import pytest
from click.testing import CliRunner

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.cli import main
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import Store
from lakehouse_dev.tick import LAUNCHED_BY_TAG, TickError, exclusive, recover_orphans, tick
from lakehouse_tests.conftest import PROJECT_ROOT, load_definitions

WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")


def _land(landing: Store, name: str, lines: list[str]) -> None:
    """A machine log file that its machine finished writing ten minutes ago."""
    landing.write_bytes(f"machines/{name}", "".join(f"{line}\n" for line in lines).encode())
    then = time.time() - 600
    os.utime(landing.path(f"machines/{name}"), (then, then))


def test_waves_of_two_days_in_one_tick_give_both_days_kpis_and_views(settings, instance):
    landing = Store(settings.landing_url)
    _land(
        landing,
        "SMT-0001_20260302T080000.log",
        [
            "2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||",
            "2026-03-02T08:05:00.000Z|SMT-0001|H1|T|SN2|paste_height|1|PASS|119.0|um|||",
        ],
    )
    _land(
        landing,
        "SMT-0001_20260303T100000.log",
        [
            "2026-03-03T10:00:01.000Z|SMT-0001|H1|T|SN3|paste_height|1|PASS|120.0|um|||",
            "2026-03-03T10:01:00.000Z|SMT-0001|H1|T|SN4|paste_height|1|FAIL|150.0|um|||",
            "2026-03-03T10:02:00.000Z|SMT-0001|H1|T|SN5|paste_height|1|PASS|121.0|um|||",
        ],
    )
    load_definitions()
    runs = tick(WORKSPACE, instance)

    assert runs and all(r.status == "SUCCESS" for r in runs), [r.summary_line() for r in runs]
    warehouse = Store(settings.warehouse_url)
    for day, lines in (("2026-03-02", 2), ("2026-03-03", 3)):
        daily = read_current(warehouse, f"machines/kpis_daily/dt={day}")
        assert sum(daily.column("lines").to_pylist()) == lines, day
    with open_catalog(settings.catalog_url, [warehouse]) as con:
        days = con.execute(
            "SELECT strftime(day, '%Y-%m-%d'), sum(lines) FROM machines.kpis_daily "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert days == [("2026-03-02", 2), ("2026-03-03", 3)]
    backfills = instance.get_backfills()
    assert backfills and all(b.status.value == "COMPLETED_SUCCESS" for b in backfills)
    backfill_runs = {r.run_id for r in instance.get_runs() if "dagster/backfill" in r.tags}
    assert backfill_runs and backfill_runs <= {r.run_id for r in runs}  # carried and reported
    assert tick(WORKSPACE, instance) == []


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`lakehouse ...` in a process of its own, as a terminal runs it."""
    return subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_missing_or_garbage_platform_database_is_one_line_and_non_zero(settings):
    missing = _cli("tick")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        f"Error: source platform: database file {settings.home / 'platform.sqlite'} does not "
        "exist; create it with `uv run lakehouse simulate platform`"
    ]
    (settings.home / "platform.sqlite").write_bytes(b"these are not the bytes of a database\n" * 9)
    garbage = _cli("tick")
    assert garbage.returncode == 1
    assert garbage.stderr.strip().splitlines() == [
        f"Error: source platform: cannot read {settings.home / 'platform.sqlite'} "
        "(file is not a database)"
    ]


def test_bad_cloud_credentials_are_one_line_per_problem(cloud_env, settings, monkeypatch):
    wrong_key = (
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ=="
    )
    env = {
        "LAKEHOUSE_PROFILE": "multicloud",
        "LAKEHOUSE_LAKE_URL": f"{cloud_env.az_url}/raw",
        "LAKEHOUSE_WAREHOUSE_URL": f"{cloud_env.az_url}/warehouse",
        "LAKEHOUSE_LANDING_URL": f"{cloud_env.az_url}/landing",
        "LAKEHOUSE_REPLICA_URL": f"{cloud_env.s3_url}/raw",
        "AZURE_STORAGE_CONNECTION_STRING": cloud_env.azurite.connection_string.replace(
            cloud_env.azurite.connection_string.split("AccountKey=")[1].split(";")[0], wrong_key
        ),
        "AWS_SECRET_ACCESS_KEY": "wrong",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    tick = _cli("tick")
    assert tick.returncode == 1
    lines = tick.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 5 and "Traceback" not in tick.stderr, tick.stderr
    assert any(line.startswith("Error: lake store az://") for line in lines)
    assert all("<?xml" not in line and len(line) < 400 for line in lines)
    kpis = CliRunner().invoke(main, ["kpis"])
    assert kpis.exit_code == 1 and "<?xml" not in kpis.output
    assert kpis.output.startswith("Error: ") and len(kpis.output.strip().splitlines()) == 1


def test_tick_prints_one_line_per_run_and_logs_dagster_to_a_file(settings):
    from lakehouse_dev.simulate.platform import simulate

    simulate(settings.platform_db_url, days=2, seed=3)
    out = _cli("tick", env={"PYTHONWARNINGS": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    log = settings.home / "logs" / "tick.log"
    assert "DEBUG" not in out.stdout and "DEBUG" not in out.stderr
    assert out.stderr == ""
    lines = [s for s in out.stdout.strip().splitlines() if "nothing to run" not in s]
    assert lines[-1] == f"tick: {len(lines) - 1} run(s) (Dagster's log: {log})"
    assert all(line.startswith("SUCCESS ") for line in lines[:-1]) and len(lines) >= 4
    assert " - DEBUG - " in log.read_text()  # nothing lost: it is in the file


def test_a_run_left_started_by_a_killed_tick_is_failed_and_its_slot_freed(settings, instance):
    """What a SIGKILLed tick leaves: a STARTED run holding its pool slot (the whole path, a
    real kill included, is in test_crash_points.py)."""
    pool = "lake:platform/applications"
    orphan = instance.add_run(
        dg.DagsterRun(
            job_name="extract", status=dg.DagsterRunStatus.STARTED, tags={LAUNCHED_BY_TAG: "tick"}
        )
    )
    elsewhere = instance.add_run(  # launched by a daemon: not the tick's to judge
        dg.DagsterRun(job_name="other", status=dg.DagsterRunStatus.STARTED)
    )
    storage = instance.event_log_storage
    storage.set_concurrency_slots(pool, 1)
    assert storage.claim_concurrency_slot(pool, orphan.run_id, "extract").is_claimed
    assert not storage.claim_concurrency_slot(pool, "next-run", "extract").is_claimed

    with exclusive(instance):
        assert recover_orphans(instance) == [orphan.run_id]
    assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(elsewhere.run_id).status == dg.DagsterRunStatus.STARTED
    assert storage.get_concurrency_info(pool).claimed_slots == []
    assert storage.claim_concurrency_slot(pool, "next-run", "extract").is_claimed


def test_one_tick_at_a_time(settings, instance):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(instance.root_directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        busy = f"another tick is running \\(pid {holder.pid}\\)"
        with pytest.raises(TickError, match=busy), exclusive(instance):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(instance):  # released by the kernel when its holder died
        pass


HOLD_LOCK = """
import sys, time
import dagster as dg
from lakehouse_dev.tick import exclusive
with dg.DagsterInstance.get() as instance, exclusive(instance):
    print("holding", flush=True)
    time.sleep(120)
"""

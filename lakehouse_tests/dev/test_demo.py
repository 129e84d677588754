"""`make demo` as a newcomer meets it: every domain filled, the README's commands working.

The demo runs once (20 days of history, a subprocess with a clean environment); the tests read
its home as a newcomer would.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lakehouse_tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.timeout(2400)  # the demo runs several minutes on a loaded machine

README = PROJECT_ROOT / "README.md"
API_ENV = ("GOOGLE_ANALYTICS_", "SALESFORCE_")


def _clean_env(home: Path) -> dict[str, str]:
    """The environment of a newcomer's shell: no LAKEHOUSE_*/API variables, no DAGSTER_HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAKEHOUSE_", "DAGSTER_", *API_ENV)) or "_TEST_" in k
    }
    return {**env, "LAKEHOUSE_HOME": str(home), "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("demo") / "home"
    out = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "demo", "--days", "20"],
        cwd=PROJECT_ROOT,
        env=_clean_env(home),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    (home / "demo.out").write_text(out.stdout)
    return home


def _query(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize(
    "view", ["leads", "accounts", "opportunities", "landing_pages_daily", "web_traffic_daily"]
)
def test_demo_fills_every_marketing_view(demo_home, view):
    [(rows,)] = _query(demo_home, f"SELECT count(*) FROM marketing.{view}")
    assert rows > 0


def test_demo_funnel_is_whole(demo_home):
    [(web_sessions, leads, lead_channels, channels_funded)] = _query(
        demo_home,
        """SELECT sum(sessions) FILTER (channel = 'Web'),
                  sum(leads),
                  count(DISTINCT channel) FILTER (leads > 0),
                  count(DISTINCT channel)
                      FILTER (trades_funded > 0 AND channel <> 'Platform direct')
           FROM marketing.funnel_weekly""",
    )
    assert web_sessions > 0 and leads > 0 and lead_channels >= 2
    assert channels_funded >= 1  # leads became platform companies that were funded


def test_kpi_summary_has_one_clock_and_money_per_currency(demo_home):
    out = (demo_home / "demo.out").read_text()
    summary = out[out.index("== 4. KPIs") :]
    [(last_day,)] = _query(demo_home, "SELECT max(day) FROM origination.applications_daily")
    assert f"KPIs as of {last_day} (the platform's latest day)" in summary
    assert f"Funded volume by currency, the 7 days to {last_day}" in summary
    # The demo lands its machine wave on the platform's last day: the same clock.
    [(wave_day,)] = _query(demo_home, "SELECT max(hour)::DATE FROM machines.kpis_hourly")
    assert wave_day == last_day
    assert re.search(rf"^\s*{last_day} \d\d:00\s+\w+", summary, re.MULTILINE)
    volume = summary[summary.index("-- Funded volume") : summary.index("-- Applications")]
    assert "GBP" in volume and "EUR" in volume


def _readme_then_block() -> list[str]:
    text = README.read_text()
    block = re.search(r"^Then:\n\n```bash\n(.*?)```", text, re.MULTILINE | re.DOTALL).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


# Run elsewhere: the demo itself simulates and ticks; `make dev` is long-running
# (lakehouse_tests/dev/test_dagster_dev.py starts it).
NOT_RUN_HERE = ("lakehouse simulate", "lakehouse tick", "make dev")


def test_readme_commands_work_without_uv_on_the_path(demo_home, tmp_path):
    commands = _readme_then_block()
    assert commands[0] == "source .venv/bin/activate"
    assert [c for c in commands if c.startswith(NOT_RUN_HERE)] == commands[-3:]
    run = commands[:-3]
    assert any(c.startswith("duckdb ") for c in run)
    env = {**_clean_env(demo_home), "PATH": "/usr/bin:/bin"}  # Python, make: no uv
    assert subprocess.run(["bash", "-c", "command -v uv"], env=env).returncode != 0
    script = "set -e\n" + "\n".join(f"echo '>>> {c}'\n{c}" for c in run)
    out = subprocess.run(
        ["bash", "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-3000:])
    assert "KPIs as of" in out.stdout  # lakehouse kpis
    assert "doctor: every store and source is reachable" in out.stdout
    assert "outstanding_amount" in out.stdout  # the DuckDB query, on $LAKEHOUSE_HOME's catalog


def test_make_clean_removes_lakehouse_home_only(tmp_path):
    home, other = tmp_path / "elsewhere", tmp_path / "keep"
    (home / "lake").mkdir(parents=True)
    other.mkdir()
    env = {**_clean_env(home), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["make", "-s", "clean"], cwd=PROJECT_ROOT, env=env, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert not home.exists() and other.exists()


def test_multicloud_demo_leaves_a_replica_equal_to_the_primary(cloud_env, tmp_path):
    """`make demo` on the multicloud profile (lake on Azure, replica on S3): both stores hold
    the same files, byte for byte (manifests and quarantine included), and
    `lakehouse reconcile --dry-run` finds no drift."""
    import uuid

    from lakehouse.replica.replicate import NOT_REPLICATED
    from lakehouse.sources.events.buses import bus_from_url
    from lakehouse.storage.store import Store

    queue = f"lh-events-{uuid.uuid4().hex[:12]}"
    with bus_from_url(f"azqueue://{queue}") as bus:
        bus.create()
    lake_url, replica_url = f"{cloud_env.az_url}/raw", f"{cloud_env.s3_url}/raw"
    env = {
        **_clean_env(tmp_path / "home"),
        **cloud_env.env,
        "LAKEHOUSE_PROFILE": "multicloud",
        "LAKEHOUSE_LAKE_URL": lake_url,
        "LAKEHOUSE_REPLICA_URL": replica_url,
        "LAKEHOUSE_WAREHOUSE_URL": f"{cloud_env.az_url}/warehouse",
        "LAKEHOUSE_LANDING_URL": f"{cloud_env.az_url}/landing",
        "LAKEHOUSE_BUS_URL": f"azqueue://{queue}",
    }
    demo = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "demo", "--days", "10"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert demo.returncode == 0, (demo.stdout[-3000:], demo.stderr[-3000:])

    lake, replica = Store(lake_url), Store(replica_url)
    primary = {k for k in lake.keys(bookkeeping=True) if not k.startswith(NOT_REPLICATED)}
    assert any(k.endswith("/_manifest.json") for k in primary)  # machine takes
    assert any(k.startswith("quarantine/machines/rejected_lines/") for k in primary)
    assert any(k.startswith("events/") for k in primary)
    assert set(replica.keys(bookkeeping=True)) == primary
    assert {k: replica.checksum(k) for k in primary} == {k: lake.checksum(k) for k in primary}
    assert lake.keys("events/_lake_writer", bookkeeping=True)  # kept on the primary only

    dry_run = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "reconcile", "--dry-run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dry_run.returncode == 0, (dry_run.stdout, dry_run.stderr[-3000:])
    assert "missing 0, different 0, extra 0" in dry_run.stdout

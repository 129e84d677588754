"""Dagster's own floor for ``bench/freshness.py``: one sensor and one asset doing nothing.

The sensor lists the folder ``$FRESHNESS_FLOOR_DROP`` every second and requests one run of
``floor`` per new file name (run key = the name); the asset returns at once. Served with
``dagster dev -f bench/_freshness_floor.py``, so "file lands -> asset materialised" measures
the daemon's tick, the run queue and a run's launch, and nothing of ours.
"""

import os
from pathlib import Path

import dagster as dg


@dg.asset
def floor() -> None:
    """Does nothing."""


@dg.sensor(
    target=[floor], minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING
)
def floor_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    names = sorted(p.name for p in Path(os.environ["FRESHNESS_FLOOR_DROP"]).iterdir())
    new = [n for n in names if n > (context.cursor or "")]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=n) for n in new],
        cursor=new[-1] if new else context.cursor,
    )


defs = dg.Definitions(assets=[floor], sensors=[floor_files])

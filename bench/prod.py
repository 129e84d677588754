"""Production mode on this machine: machine-log waves through the PostgreSQL instance and Celery
workers with 1 and with 2 workers (the same waves), and run-queue latency with 1,000 runs queued.

Each measurement gets a fresh database, RabbitMQ virtual host (or the default one), Dagster home
and lake; the landing sensor requests one run per wave, as in production.

- ``prod.machine_logs_1_worker_mb_s`` / ``_2_workers_mb_s``: uncompressed MB of log files per
  second, from the first run's start to the last run's end; ``prod.scaling_2_vs_1`` their ratio.
- ``prod.queue_latency_s_at_1000_queued``: median time from a run's creation to its start, over
  the runs started within 3 minutes of 1,000 runs being queued at once (copies of a run the
  landing sensor requested).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from bench.common import MB, SKIPPED, progress, scaled
from lakehouse.sources.machines.landing import LANDING_PREFIX
from lakehouse.storage import Store
from lakehouse_dev import prod
from lakehouse_dev.emulators import AWS_ENV, InProcessMoto
from lakehouse_dev.simulate.machines import Quirks, generate

PG_ADMIN = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
AMQP = os.environ.get("LAKEHOUSE_TEST_AMQP_URL", "pyamqp://guest:guest@127.0.0.1:5672")
SENSOR = {"dagster/sensor_name": "machine_landing"}
QUEUED_RUNS = 1000
QUEUE_WINDOW_S = 180


def _vhost() -> str:
    name = f"lakehouse_bench_{uuid.uuid4().hex[:8]}"
    ok = all(
        subprocess.run(["rabbitmqctl", *args], capture_output=True, check=False).returncode == 0
        for args in (
            ["add_vhost", name],
            ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        )
    )
    return name if ok else ""


class _Setup:
    """A fresh instance, broker vhost, moto bucket and LAKEHOUSE_HOME; stopped on exit."""

    def __init__(self, moto: InProcessMoto):
        self.root = Path(tempfile.mkdtemp(prefix="lakehouse-bench-prod-"))
        self.db = f"lakehouse_bench_{uuid.uuid4().hex[:8]}"
        self.vhost = _vhost()
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        import boto3

        boto3.client("s3", endpoint_url=moto.endpoint).create_bucket(Bucket=bucket)
        env = {
            **prod.pg_env(prod.ensure_database(PG_ADMIN, self.db)),
            **prod.GRPC_TIMEOUT_ENV,
            "DAGSTER_HOME": str(prod.write_dagster_home(self.root / "dagster")),
            "DAGSTER_CELERY_BROKER_URL": f"{AMQP}/{self.vhost or ''}",
            "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
            "LAKEHOUSE_EXECUTOR": "celery",
            "LAKEHOUSE_HOME": str(self.root / "home"),
            "LAKEHOUSE_PROFILE": "local",
        }
        self.saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        self.topology = prod.Topology(self.root, env)
        self.landing = Store(str(self.root / "home" / "landing"))
        self.instance = dg.DagsterInstance.get()

    def runs(self) -> list[dg.DagsterRun]:
        return self.instance.get_runs(dg.RunsFilter(tags=SENSOR))

    def wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(1)
        return False

    def close(self) -> None:
        self.topology.stop_all()
        self.instance.dispose()
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self.vhost:
            subprocess.run(["rabbitmqctl", "delete_vhost", self.vhost], capture_output=True)
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))
        engine.dispose()
        shutil.rmtree(self.root, ignore_errors=True)


def _land(landing: Store, **kwargs) -> int:
    out = generate(landing, LANDING_PREFIX, quirks=Quirks(0, 0), seed=11, **kwargs)
    then = time.time() - 120  # complete at the sensor's first sight
    for path in Path(landing.path(LANDING_PREFIX)).rglob("*"):
        os.utime(path, (then, then))
    return out.bytes_uncompressed


def _window(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> float:
    records = [instance.get_run_record_by_id(r.run_id) for r in runs]
    return max(r.end_time for r in records) - min(r.start_time for r in records)


def _throughput(moto: InProcessMoto, workers: int, waves: int, machines: int, mb: float) -> float:
    setup = _Setup(moto)
    try:
        size = _land(setup.landing, machines=machines, file_mb=mb, waves=waves)
        setup.topology.start_workers(tuple(f"worker{i + 1}" for i in range(workers)))
        setup.topology.start_daemon()
        finished = setup.wait(
            lambda: (
                len(runs := setup.runs()) >= waves
                and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
            ),
            timeout=1800,
        )
        if not finished:
            progress(f"prod: {workers} worker(s) did not finish\n{setup.topology.logs()}")
            return SKIPPED
        return size / MB / _window(setup.instance, setup.runs())
    finally:
        setup.close()


def _queue_latency(moto: InProcessMoto) -> float:
    setup = _Setup(moto)
    try:
        _land(setup.landing, machines=1, file_mb=0.0005, waves=1)
        setup.topology.start_workers()
        setup.topology.start_daemon()
        if not setup.wait(lambda: bool(setup.runs()), timeout=900):
            progress("prod: the sensor requested no run")
            return SKIPPED
        # The sensor's own run, copied: a launchable run of the same job, queued 999 times more
        # (the sensor daemon itself creates runs one by one, too slowly to fill the queue here).
        template = setup.runs()[-1]
        for _ in range(QUEUED_RUNS - 1):
            setup.instance.add_run(
                template._replace(run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.QUEUED)
            )
        time.sleep(QUEUE_WINDOW_S)  # the first runs leave the queue meanwhile
        latencies = [
            r.start_time - r.create_timestamp.timestamp()
            for r in (setup.instance.get_run_record_by_id(run.run_id) for run in setup.runs())
            if r.start_time and r.dagster_run.run_id != template.run_id
        ]
        progress(f"prod: {len(latencies)} of {QUEUED_RUNS} queued runs started in the window")
        return statistics.median(latencies) if latencies else SKIPPED
    finally:
        setup.close()


def run(scale: float = 1.0) -> dict[str, float | str]:
    waves, machines = scaled(4 * scale, 2), scaled(4 * scale, 2)
    with InProcessMoto() as moto:
        os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": moto.endpoint})  # step logs there
        figures: dict[str, float | str] = {}
        for workers in (1, 2):
            progress(f"prod: {waves} waves x {machines} machines, {workers} Celery worker(s)")
            key = f"prod.machine_logs_{workers}_worker{'s' if workers > 1 else ''}_mb_s"
            figures[key] = _throughput(moto, workers, waves, machines, mb=8.0)
        one, two = (
            figures["prod.machine_logs_1_worker_mb_s"],
            figures["prod.machine_logs_2_workers_mb_s"],
        )
        figures["prod.scaling_2_vs_1"] = (
            two / one if SKIPPED not in (one, two) else SKIPPED  # type: ignore[operator]
        )
        progress(f"prod: {QUEUED_RUNS} runs queued at once")
        figures[f"prod.queue_latency_s_at_{QUEUED_RUNS}_queued"] = _queue_latency(moto)
    return figures

"""The production topology for a test: deploy/dagster.yaml on a fresh PostgreSQL database, a
fresh RabbitMQ virtual host, compute logs on moto's S3, two real Celery workers and the daemon
(the webserver on request), every one its own process group, all stopped even on failure."""

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_dev import prod

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
AMQP = os.environ.get("LAKEHOUSE_TEST_AMQP_URL", "pyamqp://guest:guest@127.0.0.1:5672")
WORKERS = ("worker1", "worker2")  # what Topology.start_workers starts
TIMEOUT = 1200  # seconds for a phase on a loaded 2-core machine
WAVE_TAG, RETRY_OF = "lakehouse/wave", "dagster/parent_run_id"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _rabbitmqctl(*args: str) -> bool:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return False
    return subprocess.run([ctl, *args], capture_output=True, check=False).returncode == 0


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test's own (the default one without rabbitmqctl)."""
    import kombu

    vhost = f"lakehouse_test_{uuid.uuid4().hex[:8]}"
    own = _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
        "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
    )
    url = f"{AMQP}/{vhost}" if own else f"{AMQP}//"
    try:
        with kombu.Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        if own:
            _rabbitmqctl("delete_vhost", vhost)
        if CI:
            pytest.fail(f"CI requires RabbitMQ at {AMQP}: {exc}")
        pytest.skip(f"RabbitMQ unreachable at {AMQP}: {exc}")
    yield url
    if own:
        _rabbitmqctl("delete_vhost", vhost)


class Topology(prod.Topology):
    """The services, with a wait that fails the test with every service's log tail."""

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Poll ``condition`` until it holds; fail with every service's log tail otherwise."""
        deadline, error = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except Exception as exc:  # e.g. the database restarting: ask again
                error = exc
            dead = [n for n, s in self.services.items() if not s.alive()]
            if dead:
                pytest.fail(f"{dead} exited while waiting for {what}\n{self.logs()}")
            time.sleep(1)
        pytest.fail(f"timed out waiting for {what} (last error {error!r})\n{self.logs()}")


def topology_env(pg_url: str, broker_url: str, bucket: str, dagster_home: Path) -> dict:
    return {
        **prod.pg_env(pg_url),
        **prod.GRPC_TIMEOUT_ENV,
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_CELERY_BROKER_URL": broker_url,
        "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
        "LAKEHOUSE_EXECUTOR": "celery",
    }


@pytest.fixture
def dagster_pg_url(pg_url) -> str:
    """The instance's database: a fresh one on the shared server (a test may override)."""
    return pg_url


@pytest.fixture
def topology(
    settings, dagster_pg_url, broker_url, cloud_env, tmp_path, monkeypatch
) -> Iterator[Topology]:
    """Nothing started yet: the test starts what it needs; everything is stopped after it."""
    home = prod.write_dagster_home(tmp_path / "dagster-prod")
    env = topology_env(dagster_pg_url, broker_url, cloud_env.s3_bucket, home)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    top = Topology(tmp_path, env)
    try:
        yield top
    finally:
        top.stop_all()


@pytest.fixture
def prod_instance(topology) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.get() as instance:
        yield instance


def step_workers(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, Celery worker name) for every step execution a worker began, in order."""
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        entries = event.engine_event_data.metadata if event.engine_event_data else {}
        worker = entries.get("Celery worker")
        if worker is not None:
            out.append((event.step_key, str(worker.value).split("@")[0]))
    return out


def wave_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Every run of a machine-log wave (the landing sensor's requests and their retries)."""
    return [r for r in instance.get_runs() if WAVE_TAG in r.tags]


def latest_by_wave(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    """Each wave's newest run: a run the platform retried (e.g. a launch that timed out on a
    loaded machine) is followed by its retry."""
    latest: dict[str, dg.DagsterRun] = {}
    for run in wave_runs(instance):  # newest first
        latest.setdefault(run.tags[WAVE_TAG], run)
    return latest


def waves_done(instance: dg.DagsterInstance, count: int) -> bool:
    """``count`` waves whose latest run has finished and will not be retried."""
    latest = latest_by_wave(instance).values()
    return len(latest) >= count and all(
        r.status in FINISHED and not r.is_complete_and_waiting_to_retry for r in latest
    )


def assert_one_request_per_wave(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    """Each wave requested once by the sensor, its latest run a success; returns those."""
    requested = [r for r in wave_runs(instance) if RETRY_OF not in r.tags]
    waves = [r.tags[WAVE_TAG] for r in requested]
    assert len(set(waves)) == len(waves), f"a wave requested twice: {sorted(waves)}"
    latest = latest_by_wave(instance)
    failed = {w: r.status for w, r in latest.items() if r.status != dg.DagsterRunStatus.SUCCESS}
    assert not failed, failed
    return latest


def age_files(root: Path, seconds: float = 120) -> None:
    """Files written long ago are complete at the landing sensor's first sight."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            with suppress(FileNotFoundError):
                os.utime(path, (then, then))

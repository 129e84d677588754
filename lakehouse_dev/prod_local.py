"""``make prod-local`` / ``make prod-local-down``: the production topology on this machine.

The machine's own PostgreSQL (database ``lakehouse_dagster``, created if missing) and RabbitMQ,
the emulators (compute logs on moto's S3), the webserver, the daemon and two Celery workers,
detached, with their pids and logs under ``$LAKEHOUSE_HOME/prod/``.
"""

import json
import os
import shlex
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

import boto3

from lakehouse_dev import emulators, prod
from lakehouse_dev.emulators.processes import alive, is_ours, terminate

DATABASE = "lakehouse_dagster"
LOGS_BUCKET = "lakehouse-dagster"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BROKER_URL = "pyamqp://guest:guest@127.0.0.1:5672//"
WORKERS = ("worker1", "worker2")
_MARKERS = {"daemon": "dagster-daemon", "webserver": "dagster-webserver"}


def state_dir(home: Path) -> Path:
    return Path(home) / "prod"


def _pids_file(home: Path) -> Path:
    return state_dir(home) / "pids.json"


def up(home: Path, port: int = 3000) -> dict[str, str]:
    """Start everything (stopping what an earlier ``up`` left); returns the environment, also
    written to ``$LAKEHOUSE_HOME/prod/prod.env``."""
    down(home, stop_emulators=False)
    emu = emulators.start(home)
    s3 = boto3.client("s3", endpoint_url=emu.s3_endpoint, **_moto_credentials(emu.env))
    with suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=LOGS_BUCKET)
    state = state_dir(home)
    admin = os.environ.get("LAKEHOUSE_PG_ADMIN_URL", PG_ADMIN_URL)
    env = {
        **{k: v for k, v in emu.env.items() if not k.startswith("LAKEHOUSE_")},
        **prod.pg_env(prod.ensure_database(admin, DATABASE)),
        **prod.GRPC_TIMEOUT_ENV,
        "DAGSTER_HOME": str(prod.write_dagster_home(state / "dagster")),
        "DAGSTER_CELERY_BROKER_URL": os.environ.get("DAGSTER_CELERY_BROKER_URL", BROKER_URL),
        "DAGSTER_COMPUTE_LOGS_BUCKET": LOGS_BUCKET,
        "LAKEHOUSE_EXECUTOR": "celery",
        "LAKEHOUSE_HOME": str(Path(home).resolve()),
    }
    specs = [
        *((name, prod.worker_argv(name)) for name in WORKERS),
        ("daemon", prod.daemon_argv()),
        ("webserver", prod.webserver_argv(port)),
    ]
    topology = prod.Topology(state, env, attached=False)
    for name, argv in specs:
        topology.start(name, argv)
    _pids_file(home).write_text(
        json.dumps({n: s.pid for n, s in topology.services.items()}, indent=2)
    )
    (state / "prod.env").write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    )
    _wait_answering(topology, f"http://127.0.0.1:{port}/server_info")
    return env


def _wait_answering(topology: prod.Topology, url: str, timeout: float = 600) -> None:
    """Until the webserver answers; a service that exits meanwhile is an error naming its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [s for s in topology.services.values() if not s.alive()]
        if dead:
            raise RuntimeError(f"{dead[0].name} exited; see {dead[0].log}:\n{dead[0].tail()}")
        with suppress(OSError), urllib.request.urlopen(url, timeout=10) as reply:
            if reply.status == 200:
                return
        time.sleep(2)
    raise RuntimeError(f"the webserver did not answer {url} within {timeout:.0f} s")


def down(home: Path, stop_emulators: bool = True) -> list[str]:
    """Stop what ``up`` started; returns the names stopped."""
    stopped = []
    try:
        pids = json.loads(_pids_file(home).read_text())
    except (OSError, ValueError):
        pids = {}
    for name, pid in pids.items():
        if alive(pid) and is_ours(pid, _MARKERS.get(name, "celery")):
            terminate(pid, timeout=30)
            stopped.append(name)
    _pids_file(home).unlink(missing_ok=True)
    if stop_emulators:
        stopped += emulators.stop(home)
    return stopped


def _moto_credentials(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }

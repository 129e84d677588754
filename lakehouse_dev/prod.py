"""The production topology on one machine: PostgreSQL-backed instance, webserver, daemon and
Celery workers, each its own process group (``make prod-local``, the production tests).

On several machines the same processes run on different hosts with the same environment:
``DAGSTER_HOME`` holding deploy/dagster.yaml, ``DAGSTER_PG_*``, ``DAGSTER_CELERY_BROKER_URL``,
``DAGSTER_COMPUTE_LOGS_BUCKET``, ``LAKEHOUSE_EXECUTOR=celery`` and the stores' variables.
"""

import signal
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml

from lakehouse_dev.emulators.processes import Process, executable, free_port, launch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPLOY = PROJECT_ROOT / "deploy"
WORKSPACE = PROJECT_ROOT / "workspace.yaml"


def instance_yaml(*overlays: str) -> str:
    """deploy/dagster.yaml, each overlay (a file under deploy/, e.g. ``ecs/run-launcher.yaml``)
    replacing the top-level blocks it names."""
    text = (DEPLOY / "dagster.yaml").read_text()
    if not overlays:
        return text
    config = yaml.safe_load(text)
    for overlay in overlays:
        config.update(yaml.safe_load((DEPLOY / overlay).read_text()))
    return yaml.safe_dump(config, sort_keys=False)


def write_dagster_home(home: Path, *overlays: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml(*overlays))
    return home


def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url`` if missing; its URL."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


# Launching a run waits for its process to load the code location; on a loaded host that takes
# longer than gRPC's default 60 s, and the launch would fail.
GRPC_TIMEOUT_ENV = {"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"}
STOP = ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0))  # a service's shutdown: (signal, grace s)


def pg_env(url: str) -> dict[str, str]:
    """The ``DAGSTER_PG_*`` variables deploy/dagster.yaml reads, from a database URL."""
    u = sa.make_url(url)
    return {
        "DAGSTER_PG_HOST": u.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(u.port or 5432),
        "DAGSTER_PG_DB": u.database or "",
        "DAGSTER_PG_USER": u.username or "postgres",
        "DAGSTER_PG_PASSWORD": u.password or "",
    }


def daemon_argv() -> list[str]:
    return [executable("dagster-daemon"), "run", "-w", str(WORKSPACE)]


def webserver_argv(port: int) -> list[str]:
    return [
        executable("dagster-webserver"),
        "-w",
        str(WORKSPACE),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]


def worker_argv(name: str, concurrency: int = 1) -> list[str]:
    """A Celery worker serving the executor's steps, one step at a time per process."""
    return [
        executable("celery"),
        "-A",
        "lakehouse.celery_worker",
        "worker",
        "-n",
        f"{name}@%h",
        "-c",
        str(concurrency),
        "--prefetch-multiplier=1",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]


@dataclass
class Topology:
    """The services of one production topology, sharing one environment."""

    dir: Path  # logs/ goes here
    env: dict[str, str]
    attached: bool = True
    services: dict[str, Process] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> Process:
        """``argv`` in its own process group, output to ``logs/<name>.log``. Attached services
        (tests) are SIGTERMed if their starter dies; detached ones (``make prod-local``)
        outlive it."""
        log = self.dir / "logs" / f"{name}.log"
        self.services[name] = launch(
            name, argv, log=log, env=self.env, cwd=PROJECT_ROOT, attached=self.attached
        )
        return self.services[name]

    def start_workers(self, names: tuple[str, ...] = ("worker1", "worker2")) -> None:
        for name in names:
            self.start(name, worker_argv(name))

    def start_daemon(self) -> Process:
        return self.start("daemon", daemon_argv())

    def start_webserver(self, port: int | None = None) -> str:
        port = port or free_port()
        self.start("webserver", webserver_argv(port))
        return f"http://127.0.0.1:{port}"

    def stop(self, name: str) -> None:
        """SIGTERM the service's group, SIGKILL what lingers (e.g. the daemon's code server)."""
        self.services.pop(name).stop(STOP)

    def stop_all(self) -> None:
        for name in list(self.services):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{s.tail(60)}" for n, s in self.services.items())

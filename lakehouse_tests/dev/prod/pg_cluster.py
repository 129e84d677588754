"""A throwaway PostgreSQL cluster of a test's own (initdb, a free port), to restart at will
without touching the shared server."""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa

from lakehouse_dev.emulators import free_port

PG_BIN = Path(os.environ.get("LAKEHOUSE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class Cluster:
    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.data, self.log = root / "data", root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        # PostgreSQL refuses to run as root: as the postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "90",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "90", "stop"
        )

    def ready(self) -> bool:
        engine = sa.create_engine(self.url, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text("select 1")).scalar() == 1
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL on {self.port} not ready; see {self.log}")
            time.sleep(0.5)


@contextmanager
def cluster() -> Iterator[Cluster]:
    """initdb + start on a free port; stopped (immediately) and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    c = Cluster(root, free_port())
    try:
        c.init()
        c.start()
        c.wait_ready()
        yield c
    finally:
        with suppress(subprocess.CalledProcessError):  # not running
            c.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)

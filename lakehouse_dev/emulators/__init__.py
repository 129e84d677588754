"""Local cloud emulators on loopback: moto (S3, SQS, Glue) and Azurite (Blob, Queue).

``start(home)`` runs them as background processes (``make emulators``), creates the buckets
and containers of the ``multicloud``, ``aws`` and ``azure`` profile defaults, and writes
``$LAKEHOUSE_HOME/emulators.env`` (sourceable ``export`` lines: the clouds' standard variables
and the ``LAKEHOUSE_*_URL``s of the ``multicloud`` profile). ``stop(home)`` ends them.

Tests use the pieces: ``azurite_running(location)`` (Azurite blob + queue subprocesses, always
torn down) and ``InProcessMoto`` (moto inside the test process, can be stopped and started
again on the same port with its data kept).

One module per concern: ``processes`` (supervision of every process the project starts),
``moto``, ``azurite``, ``provisioning`` (stores, queues, the env file); this one runs the pair
in the background for a ``LAKEHOUSE_HOME``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse_dev.emulators.azurite import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Azurite,
    azurite_running,
    azurite_specs,
)
from lakehouse_dev.emulators.moto import AWS_ENV, HEALTH_PATH, InProcessMoto, moto_argv
from lakehouse_dev.emulators.processes import (
    HOST,
    EmulatorError,
    EmulatorUnavailable,
    alive,
    answers_http,
    free_port,
    is_ours,
    start_all,
    terminate,
)
from lakehouse_dev.emulators.provisioning import (
    create_stores,
    default_queues,
    default_stores,
    emulator_env,
    env_file,
    write_env_file,
)

__all__ = [
    "AWS_ENV",
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "Azurite",
    "EmulatorError",
    "EmulatorUnavailable",
    "Emulators",
    "InProcessMoto",
    "azurite_running",
    "create_stores",
    "default_queues",
    "env_file",
    "free_port",
    "running",
    "start",
    "stop",
]


@dataclass
class Emulators:
    s3_endpoint: str
    blob_endpoint: str
    queue_endpoint: str
    env: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)
    already_running: bool = False

    @property
    def connection_string(self) -> str:
        return self.env["AZURE_STORAGE_CONNECTION_STRING"]


def _state_dir(home: Path) -> Path:
    return Path(home) / "emulators"


def _pids_file(home: Path) -> Path:
    return _state_dir(home) / "pids.json"


_MARKERS = {"moto": "moto", "azurite-blob": "azurite", "azurite-queue": "azurite"}


def _read_pids(home: Path) -> dict:
    try:
        return json.loads(_pids_file(home).read_text())
    except (OSError, ValueError):
        return {}


def _running(home: Path) -> Emulators | None:
    """The emulators recorded in pids.json, if every one is alive and answers."""
    state = _read_pids(home)
    procs = state.get("processes", {})
    if set(procs) != set(_MARKERS):
        return None
    for name, info in procs.items():
        if not (alive(info["pid"]) and is_ours(info["pid"], _MARKERS[name])):
            return None
        if not answers_http(f"http://{HOST}:{info['port']}/"):
            return None
    s3 = f"http://{HOST}:{procs['moto']['port']}"
    blob = f"http://{HOST}:{procs['azurite-blob']['port']}/{AZURITE_ACCOUNT}"
    queue = f"http://{HOST}:{procs['azurite-queue']['port']}/{AZURITE_ACCOUNT}"
    return Emulators(
        s3,
        blob,
        queue,
        emulator_env(s3, blob, queue, home),
        {name: info["pid"] for name, info in procs.items()},
        already_running=True,
    )


def start(home: Path) -> Emulators:
    """Start moto and Azurite in the background (or keep the ones already running for this
    home), create the profiles' default buckets/containers and write emulators.env."""
    home = Path(home).resolve()
    state = _state_dir(home)
    state.mkdir(parents=True, exist_ok=True)
    emulators = _running(home)
    if emulators is None:
        stop(home, remove_env=False)  # whatever is left of an earlier, partial run
        procs = start_all(
            [
                ("moto", moto_argv, state / "moto.log", HEALTH_PATH),
                *azurite_specs(state / "azurite", state),
            ],
            attached=False,
        )
        moto, blob, queue = procs
        _pids_file(home).write_text(
            json.dumps(
                {
                    "processes": {
                        p.name: {"pid": p.popen.pid, "port": p.port, "log": str(p.log)}
                        for p in procs
                    }
                },
                indent=2,
            )
        )
        blob_url, queue_url = (f"{p.url}/{AZURITE_ACCOUNT}" for p in (blob, queue))
        emulators = Emulators(
            moto.url,
            blob_url,
            queue_url,
            emulator_env(moto.url, blob_url, queue_url, home),
            {p.name: p.popen.pid for p in procs},
        )
    try:
        create_stores(
            emulators.s3_endpoint,
            emulators.connection_string,
            *default_stores(home),
            queues=default_queues(home),
        )
    except Exception as exc:
        if not emulators.already_running:
            stop(home)
        raise EmulatorError(f"emulators started but creating stores failed: {exc}") from exc
    write_env_file(env_file(home), emulators.env)
    return emulators


def stop(home: Path, remove_env: bool = True) -> list[str]:
    """Terminate the emulators recorded for home (process groups); remove emulators.env.
    Returns the names of the processes that were stopped."""
    home = Path(home).resolve()
    stopped = []
    for name, info in _read_pids(home).get("processes", {}).items():
        pid = info["pid"]
        if alive(pid) and is_ours(pid, _MARKERS.get(name, name)):
            terminate(pid)
            stopped.append(name)
    _pids_file(home).unlink(missing_ok=True)
    if remove_env:
        env_file(home).unlink(missing_ok=True)
    return stopped


@contextlib.contextmanager
def running(home: Path) -> Iterator[Emulators]:
    """start(home) ... stop(home), even on error."""
    try:
        yield start(home)
    finally:
        stop(home)

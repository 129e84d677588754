"""Azurite: Azure Blob and Queue storage on loopback (``azurite-blob``, ``azurite-queue``).

Azurite comes from npm (``package.json`` / ``package-lock.json`` at the project root); a
missing ``node_modules`` is installed with ``npm ci`` on first use. Its data live under the
folder it is given.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lakehouse_dev.emulators.processes import (
    HOST,
    EmulatorUnavailable,
    start_all,
    terminate,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NPM_TIMEOUT = 600.0

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass(frozen=True)
class Azurite:
    blob_endpoint: str
    queue_endpoint: str
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.blob_endpoint, self.queue_endpoint)


def azurite_connection_string(blob_endpoint: str, queue_endpoint: str | None = None) -> str:
    parts = [
        "DefaultEndpointsProtocol=http",
        f"AccountName={AZURITE_ACCOUNT}",
        f"AccountKey={AZURITE_KEY}",
        f"BlobEndpoint={blob_endpoint}",
    ]
    if queue_endpoint:
        parts.append(f"QueueEndpoint={queue_endpoint}")
    return ";".join(parts) + ";"


def azurite_bin(name: str = "azurite-blob", root: Path = PROJECT_ROOT) -> Path:
    """node_modules/.bin/<name>, installing node_modules with `npm ci` when missing."""
    if shutil.which("node") is None:
        raise EmulatorUnavailable("Azurite needs node (v18+) on PATH; none found")
    binary = root / "node_modules" / ".bin" / name
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise EmulatorUnavailable("Azurite is installed with npm; npm is not on PATH")
    if not (root / "package.json").exists():
        raise EmulatorUnavailable(f"no package.json in {root}: cannot install Azurite")
    # one installer at a time (parallel test sessions); the lock lives outside node_modules,
    # which `npm ci` deletes
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    lock_path = Path(tempfile.gettempdir()) / f"lakehouse-npm-{digest}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        verb = "ci" if (root / "package-lock.json").exists() else "install"
        argv = [npm, verb, "--no-audit", "--no-fund", "--loglevel=error"]
        print(f"emulators: installing Azurite: {shlex.join(argv)} in {root}", file=sys.stderr)
        try:
            done = subprocess.run(
                argv, cwd=root, capture_output=True, text=True, timeout=NPM_TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            raise EmulatorUnavailable(f"`npm {verb}` took over {NPM_TIMEOUT:.0f}s") from exc
        if done.returncode != 0 or not binary.exists():
            output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise EmulatorUnavailable(
                f"`npm {verb}` in {root} failed (code {done.returncode}); "
                f"{binary} is missing:\n{output}"
            )
    return binary


def _azurite_argv(service: str, location: Path) -> Callable[[int], list[str]]:
    binary = str(azurite_bin(f"azurite-{service}"))

    def argv(port: int) -> list[str]:
        return [
            binary,
            f"--{service}Host",
            HOST,
            f"--{service}Port",
            str(port),
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
            "--disableTelemetry",  # on by default in Azurite; we are offline anyway
        ]

    return argv


def azurite_specs(location: Path, logs: Path) -> list[tuple]:
    location.mkdir(parents=True, exist_ok=True)
    return [
        ("azurite-blob", _azurite_argv("blob", location), logs / "azurite-blob.log", "/"),
        ("azurite-queue", _azurite_argv("queue", location), logs / "azurite-queue.log", "/"),
    ]


@contextlib.contextmanager
def azurite_running(location: Path) -> Iterator[Azurite]:
    """Azurite blob + queue on free loopback ports, data and logs under location; always
    terminated on exit."""
    procs = start_all(azurite_specs(location / "data", location), attached=True)
    try:
        blob, queue = procs
        yield Azurite(f"{blob.url}/{AZURITE_ACCOUNT}", f"{queue.url}/{AZURITE_ACCOUNT}")
    finally:
        for proc in procs:
            terminate(proc.pid)

"""Process supervision, shared by everything that starts a process (emulators, the production
topology, ``dagster dev`` in tests and benchmarks, the lake writer in benchmarks).

A supervised process runs in its own process group (stopped as one, with every child it
started), its output appended to a log file (or piped), and, when *attached*, SIGTERMed by
Linux if the thread that started it dies, so a killed test session leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 30.0

# SIGINT first (a clean shutdown for dagster dev), then SIGTERM, then SIGKILL: (signal, grace s)
GENTLE = ((signal.SIGINT, 45.0), (signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0))
FIRM = ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))


class EmulatorError(RuntimeError):
    """A process could not be installed, started or stopped."""


class EmulatorUnavailable(EmulatorError):
    """A prerequisite is missing on this machine (node, npm, moto, or npm could not install)."""


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def executable(name: str) -> str:
    """A console script of this environment (beside the interpreter), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name) or name


def default_signals() -> list[str]:
    """``env --default-signal`` (GNU coreutils >= 8.31) to put before an argv: a SIGINT ignored
    by whoever started us (a background job, some CI runners) must not be inherited."""
    env = shutil.which("env")
    if env and subprocess.run([env, "--default-signal", "true"], check=False).returncode == 0:
        return [env, "--default-signal"]
    return []


def answers_http(url: str) -> bool:
    """True when something speaks HTTP at url (any status, 4xx included)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def log_tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


@dataclass
class Process:
    """A started process group: its leader, its log (``None``: output piped to ``popen``)."""

    name: str
    popen: subprocess.Popen
    log: Path | None
    offset: int = 0  # where this start's output begins in the log
    port: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return alive(self.pid)

    def tail(self, lines: int = 30) -> str:
        return log_tail(self.log, self.offset, lines) if self.log else "(output piped)"

    def stop(self, sequence: Sequence[tuple[int, float]] = FIRM) -> list[str]:
        """Stop the whole group (see :func:`stop_group`)."""
        return stop_group(self.pid, sequence, self.popen)


_CHILDREN: dict[int, subprocess.Popen] = {}


def launch(
    name: str,
    argv: list[str],
    *,
    log: Path | None,
    env: Mapping[str, str] | None = None,
    inherit: bool = True,
    cwd: Path | None = None,
    attached: bool = True,
    port: int = 0,
) -> Process:
    """Start ``argv`` in its own process group, output appended to ``log`` (or piped, as text,
    when ``log`` is None), environment ``os.environ`` + ``env`` (``env`` alone if not
    ``inherit``). Attached processes (tests, benchmarks) get SIGTERM if their starter dies;
    detached ones (``make emulators``, ``make prod-local``) outlive it."""
    options: dict = {
        "stdin": subprocess.DEVNULL,
        "stderr": subprocess.STDOUT,
        "cwd": str(cwd) if cwd else None,
        "env": {**(os.environ if inherit else {}), **(env or {}), "PYTHONUNBUFFERED": "1"},
        "start_new_session": True,
        "preexec_fn": _die_with_parent() if attached else None,
    }
    offset = 0
    try:
        if log is None:
            popen = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, **options)
        else:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as out:
                offset = out.tell()
                out.write(
                    f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(argv)}\n".encode()
                )
                out.flush()
                popen = subprocess.Popen(argv, stdout=out, **options)
    except OSError as exc:
        raise EmulatorUnavailable(f"{name}: cannot run {argv[0]}: {exc}") from exc
    _CHILDREN[popen.pid] = popen
    return Process(name, popen, log, offset, port)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the thread that spawned it dies
    (PR_SET_PDEATHSIG); libc is loaded here, in the parent, not between fork and exec."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def start_all(
    specs: list[tuple[str, Callable[[int], list[str]], Path, str]], attached: bool
) -> list[Process]:
    """Start every (name, argv_for_port, log, health_path) in parallel on free ports and wait
    for each to answer HTTP. A start lost to a port race is retried on another port; on any
    failure every process started is stopped."""

    def spawn(name: str, argv: Callable[[int], list[str]], log: Path) -> Process:
        port = free_port()
        return launch(name, argv(port), log=log, cwd=log.parent, attached=attached, port=port)

    procs = [spawn(name, argv, log) for name, argv, log, _ in specs]
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for i, (name, argv, log, health) in enumerate(specs):
            for attempt in range(3):
                if _wait_ready(procs[i], health, deadline):
                    break
                tail = procs[i].tail()
                port_taken = "EADDRINUSE" in tail or "already in use" in tail
                if not port_taken or attempt == 2:
                    raise EmulatorError(
                        f"{name} exited with code {procs[i].popen.returncode} on start "
                        f"(log {log}):\n{tail}"
                    )
                procs[i] = spawn(name, argv, log)
    except BaseException:
        for proc in procs:
            terminate(proc.pid)
        raise
    return procs


def _wait_ready(proc: Process, path: str, deadline: float) -> bool:
    """True once ``proc`` answers HTTP on ``path``; False if it exited first."""
    while True:
        if proc.popen.poll() is not None:
            return False
        if answers_http(proc.url + path):
            return True
        if time.monotonic() > deadline:
            terminate(proc.pid)
            raise EmulatorError(
                f"{proc.name} did not answer on {proc.url} within {START_TIMEOUT:.0f}s "
                f"(log {proc.log}):\n{proc.tail()}"
            )
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    popen = _CHILDREN.get(pid)
    if popen is not None:
        return popen.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def is_ours(pid: int, marker: str) -> bool:
    """Guard against a recycled pid: the process's command line holds ``marker``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return False
    except OSError:
        return alive(pid)  # no /proc (not Linux): trust the recorded pid
    return marker in cmdline


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of the group, as ``pid command`` lines."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: ask the kernel whether the group still exists
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [f"process group {pgid}"]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # gone meanwhile
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(f"{entry.name} {cmdline}")
    return members


def stop_group(
    pgid: int,
    sequence: Sequence[tuple[int, float]] = FIRM,
    popen: subprocess.Popen | None = None,
) -> list[str]:
    """Send each signal of ``sequence`` to the group led by ``pgid`` and wait up to its grace
    for every member to exit. Returns the members that outlived the first signal."""
    popen = popen or _CHILDREN.get(pgid)
    stubborn: list[str] = []
    for sig, grace in sequence:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()  # reap the leader
            if (popen is None or popen.returncode is not None) and not group_members(pgid):
                _CHILDREN.pop(pgid, None)
                return stubborn
            time.sleep(0.05)
        stubborn = stubborn or group_members(pgid)
    _CHILDREN.pop(pgid, None)
    return stubborn


def terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM the process group led by ``pid``, SIGKILL what lingers after ``timeout``."""
    stop_group(pid, ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)))

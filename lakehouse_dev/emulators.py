"""Local cloud emulators on loopback: moto (S3, SQS, Glue) and Azurite (Blob, Queue).

``start(home)`` runs them as background processes (``make emulators``), creates the buckets
and containers of the ``multicloud``, ``aws`` and ``azure`` profile defaults, and writes
``$LAKEHOUSE_HOME/emulators.env`` (sourceable ``export`` lines: the clouds' standard variables
and the ``LAKEHOUSE_*_URL``s of the ``multicloud`` profile). ``stop(home)`` ends them.

Tests use the pieces: ``azurite_running(location)`` (Azurite blob + queue subprocesses, always
torn down) and ``InProcessMoto`` (moto inside the test process, can be stopped and started
again on the same port with its data kept).

Azurite comes from npm (``package.json`` / ``package-lock.json`` at the project root); a
missing ``node_modules`` is installed with ``npm ci`` on first use. moto comes from the
``moto[server]`` dev dependency. Both hold their data in memory (moto) or under
``$LAKEHOUSE_HOME/emulators/`` (Azurite).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lakehouse.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
NPM_TIMEOUT = 600.0

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Profiles whose default buckets/containers are created on the emulators.
STORE_PROFILES = ("multicloud", "aws", "azure")
ENV_PROFILE = "multicloud"


class EmulatorError(RuntimeError):
    """An emulator could not be installed, started or stopped."""


class EmulatorUnavailable(EmulatorError):
    """A prerequisite is missing on this machine (node, npm, moto, or npm could not install)."""


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


@dataclass(frozen=True)
class Azurite:
    blob_endpoint: str
    queue_endpoint: str
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.blob_endpoint, self.queue_endpoint)


# ---------------------------------------------------------------------------------------
# small helpers


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


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


def _log_tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


def _answers_http(url: str) -> bool:
    """True when something speaks HTTP at url (any status, 4xx included)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


# ---------------------------------------------------------------------------------------
# processes

_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen
    port: int
    log: Path
    offset: int = 0

    def log_tail(self) -> str:
        return _log_tail(self.log, self.offset)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


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


def _spawn(name: str, argv: list[str], port: int, log: Path, attached: bool) -> _Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        offset = out.tell()
        out.write(f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(argv)}\n".encode())
        out.flush()
        try:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: killed as one, survives the CLI
                cwd=str(log.parent),
                # attached (tests): SIGTERM when the spawning thread dies, so a killed pytest
                # leaves nothing behind; detached (`make emulators`): outlive the CLI
                preexec_fn=_die_with_parent() if attached else None,
            )
        except OSError as exc:
            raise EmulatorUnavailable(f"{name}: cannot run {argv[0]}: {exc}") from exc
    _CHILDREN[popen.pid] = popen
    return _Proc(name, popen, port, log, offset)


def _wait_ready(proc: _Proc, path: str, deadline: float) -> None:
    while True:
        if proc.popen.poll() is not None:
            raise _Exited(proc)
        if _answers_http(proc.url + path):
            return
        if time.monotonic() > deadline:
            _terminate(proc.popen.pid)
            raise EmulatorError(
                f"{proc.name} did not answer on {proc.url} within {START_TIMEOUT:.0f}s "
                f"(log {proc.log}):\n{proc.log_tail()}"
            )
        time.sleep(0.05)


class _Exited(Exception):
    def __init__(self, proc: _Proc):
        self.proc = proc


def _start_all(
    specs: list[tuple[str, Callable[[int], list[str]], Path, str]], attached: bool
) -> list[_Proc]:
    """Start every (name, argv_for_port, log, health_path) in parallel on free ports and wait
    for each to answer HTTP. A start lost to a port race is retried on another port."""

    def spawn(name: str, argv: Callable[[int], list[str]], log: Path) -> _Proc:
        port = free_port()
        return _spawn(name, argv(port), port, log, attached)

    procs = [spawn(name, argv, log) for name, argv, log, _ in specs]
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for i, (name, argv, log, health) in enumerate(specs):
            for attempt in range(3):
                try:
                    _wait_ready(procs[i], health, deadline)
                    break
                except _Exited as exc:
                    tail = exc.proc.log_tail()
                    port_taken = "EADDRINUSE" in tail or "already in use" in tail
                    if not port_taken or attempt == 2:
                        raise EmulatorError(
                            f"{name} exited with code {exc.proc.popen.returncode} on start "
                            f"(log {log}):\n{tail}"
                        ) from None
                    procs[i] = spawn(name, argv, log)
    except BaseException:
        for proc in procs:
            _terminate(proc.popen.pid)
        raise
    return procs


def _alive(pid: int) -> bool:
    popen = _CHILDREN.get(pid)
    if popen is not None:
        return popen.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _is_ours(pid: int, marker: str) -> bool:
    """Guard against a recycled pid: the process's command line names the emulator."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return False
    except OSError:
        return _alive(pid)  # no /proc (not Linux): trust pids.json
    return marker in cmdline


def _terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM the process group led by pid, SIGKILL it if it lingers."""

    def send(sig: int) -> None:
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        send(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    popen = _CHILDREN.pop(pid, None)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=1)


# ---------------------------------------------------------------------------------------
# Azurite (npm) and moto (venv)


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


def moto_argv(port: int) -> list[str]:
    binary = Path(sys.executable).parent / "moto_server"
    if binary.exists():
        return [str(binary), "-H", HOST, "-p", str(port)]
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise EmulatorUnavailable(
            "moto is not installed in this environment: `uv sync` (it is a dev dependency)"
        ) from exc
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


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


def _azurite_specs(location: Path, logs: Path) -> list[tuple]:
    location.mkdir(parents=True, exist_ok=True)
    return [
        ("azurite-blob", _azurite_argv("blob", location), logs / "azurite-blob.log", "/"),
        ("azurite-queue", _azurite_argv("queue", location), logs / "azurite-queue.log", "/"),
    ]


@contextlib.contextmanager
def azurite_running(location: Path) -> Iterator[Azurite]:
    """Azurite blob + queue on free loopback ports, data and logs under location; always
    terminated on exit."""
    procs = _start_all(_azurite_specs(location / "data", location), attached=True)
    try:
        blob, queue = procs
        yield Azurite(f"{blob.url}/{AZURITE_ACCOUNT}", f"{queue.url}/{AZURITE_ACCOUNT}")
    finally:
        for proc in procs:
            _terminate(proc.popen.pid)


@contextlib.contextmanager
def moto_running(log_dir: Path) -> Iterator[str]:
    """moto_server as a subprocess on a free loopback port; yields its endpoint."""
    (proc,) = _start_all([("moto", moto_argv, log_dir / "moto.log", "/moto-api/")], attached=True)
    try:
        yield proc.url
    finally:
        _terminate(proc.popen.pid)


class InProcessMoto:
    """moto's S3/SQS/Glue server on a thread of this process, on one loopback port for its
    whole life.

    ``stop()`` makes the endpoint unreachable (connection refused; open keep-alive connections
    and requests in flight are cut), ``start()`` brings it back on the same port. Data survive
    the outage: moto's state lives in this process, as a real bucket outlives a network
    failure. ``reset()`` clears every bucket/queue (``POST /moto-api/reset``).
    """

    def __init__(self, host: str = HOST, port: int = 0):
        self.host = host
        self.port = port
        self._server = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise EmulatorError("InProcessMoto has no port until started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint
        try:
            from moto.server import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise EmulatorUnavailable(
                "moto[server] is not installed in this environment (a dev dependency)"
            ) from exc

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args, **kwargs) -> None:  # one line per request otherwise
                pass

        deadline = time.monotonic() + 10
        while True:  # binding can briefly fail on restart while the old socket drains
            try:
                server = make_server(
                    self.host,
                    self.port,
                    DomainDispatcherApplication(create_backend_app),
                    threaded=True,
                    request_handler=QuietHandler,
                )
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise EmulatorError(
                        f"moto cannot listen on {self.host}:{self.port}: {exc}"
                    ) from exc
                time.sleep(0.1)
        accept = server.get_request

        def get_request():  # remember connections, so stop() can cut them
            conn, addr = accept()
            with self._lock:
                if len(self._conns) > 256:
                    self._conns = {c for c in self._conns if c.fileno() != -1}
                self._conns.add(conn)
            return conn, addr

        server.get_request = get_request
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.endpoint

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The endpoint is unreachable inside the block, back (same port, same data) after."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def __enter__(self) -> InProcessMoto:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------
# stores and env


def profile_settings(profile: str, home: Path) -> Settings:
    """A profile's defaults, ignoring any LAKEHOUSE_*_URL overrides in the environment."""
    return Settings.from_env({"LAKEHOUSE_PROFILE": profile, "LAKEHOUSE_HOME": str(home)})


def default_stores(home: Path, profiles=STORE_PROFILES) -> tuple[list[str], list[str]]:
    """(S3 buckets, Azure containers) named by the profiles' default store URLs."""
    buckets: list[str] = []
    containers: list[str] = []
    for profile in profiles:
        s = profile_settings(profile, home)
        for url in (s.lake_url, s.replica_url, s.warehouse_url, s.landing_url):
            parts = urlsplit(url or "")
            target = {"s3": buckets, "az": containers, "abfs": containers}.get(parts.scheme)
            if target is not None and parts.netloc and parts.netloc not in target:
                target.append(parts.netloc)
    return buckets, containers


def default_queues(home: Path, profiles=STORE_PROFILES) -> tuple[list[str], list[str]]:
    """(SQS queues, Azure Storage queues) named by the profiles' default bus URLs."""
    sqs: list[str] = []
    azure: list[str] = []
    for profile in profiles:
        scheme, _, name = profile_settings(profile, home).bus_url.partition("://")
        target = {"sqs": sqs, "azqueue": azure}.get(scheme)
        if target is not None and name not in target:
            target.append(name)
    return sqs, azure


def create_stores(
    s3_endpoint: str,
    connection_string: str,
    buckets: list[str],
    containers: list[str],
    queues: tuple[list[str], list[str]] = ([], []),
) -> None:
    """Create buckets on S3, containers on Blob storage and the (SQS, Azure) queues;
    existing ones are kept."""
    import boto3
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    def aws(service: str):
        return boto3.client(
            service,
            endpoint_url=s3_endpoint,
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        )

    s3 = aws("s3")
    for bucket in buckets:
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for container in containers:
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(container)
    sqs_queues, azure_queues = queues
    if sqs_queues:
        sqs = aws("sqs")
        for queue in sqs_queues:
            sqs.create_queue(QueueName=queue)  # idempotent for the same attributes
    if azure_queues:
        service = QueueServiceClient.from_connection_string(connection_string)
        for queue in azure_queues:
            with contextlib.suppress(ResourceExistsError):
                service.create_queue(queue)


def emulator_env(s3_endpoint: str, blob_endpoint: str, queue_endpoint: str, home: Path) -> dict:
    s = profile_settings(ENV_PROFILE, home)
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        **AWS_ENV,
        "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(blob_endpoint, queue_endpoint),
        "LAKEHOUSE_PROFILE": ENV_PROFILE,
        "LAKEHOUSE_LAKE_URL": s.lake_url,
        "LAKEHOUSE_REPLICA_URL": s.replica_url,
        "LAKEHOUSE_WAREHOUSE_URL": s.warehouse_url,
        "LAKEHOUSE_LANDING_URL": s.landing_url,
        "LAKEHOUSE_BUS_URL": s.bus_url,
    }
    return {k: v for k, v in env.items() if v is not None}


def env_file(home: Path) -> Path:
    return Path(home) / "emulators.env"


def _state_dir(home: Path) -> Path:
    return Path(home) / "emulators"


def _pids_file(home: Path) -> Path:
    return _state_dir(home) / "pids.json"


def write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = [
        "# lakehouse emulators (moto: S3/SQS/Glue, Azurite: Blob/Queue), written by",
        "# `lakehouse emulators up`; removed by `lakehouse emulators down`. Use:",
        f"#   source {shlex.quote(str(path))}",
        *(f"export {k}={shlex.quote(v)}" for k, v in env.items()),
    ]
    tmp = path.with_suffix(".env.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


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
        if not (_alive(info["pid"]) and _is_ours(info["pid"], _MARKERS[name])):
            return None
        if not _answers_http(f"http://{HOST}:{info['port']}/"):
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
        procs = _start_all(
            [
                ("moto", moto_argv, state / "moto.log", "/moto-api/"),
                *_azurite_specs(state / "azurite", state),
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
        if _alive(pid) and _is_ours(pid, _MARKERS.get(name, name)):
            _terminate(pid)
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

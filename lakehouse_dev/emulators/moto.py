"""moto: S3, SQS and Glue on loopback, as a server process or on a thread of this process.

moto comes from the ``moto[server]`` dev dependency and keeps its data in memory.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from lakehouse_dev.emulators.processes import HOST, EmulatorError, EmulatorUnavailable

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HEALTH_PATH = "/moto-api/"


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

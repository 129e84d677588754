"""Helpers shared by the benchmarks: scale, progress, figures, emulators, bulk uploads."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

MB = 1024 * 1024  # "MB" in every figure is 2**20 bytes

SKIPPED = "skipped"  # the value of a figure that could not be measured on this machine

Figure = tuple[str, int | float | str]

_T0 = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr (stdout is kept for the figures)."""
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def scale() -> float:
    """``BENCH_SCALE`` (default 1.0): multiplies the benchmarks' data sizes."""
    raw = os.environ.get("BENCH_SCALE", "").strip() or "1"
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"BENCH_SCALE must be a number, not {raw!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise SystemExit(f"BENCH_SCALE must be a positive number, not {raw!r}")
    return value


def scaled(n: float, minimum: int = 1) -> int:
    return max(minimum, round(n * scale()))


def sig3(value: int | float | str) -> str:
    """A plain number with 3 significant digits (no exponent): 1234.5 -> 1230, 0.01234 -> 0.0123."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):  # counts are exact
        return str(value)
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    digits = 2 - math.floor(math.log10(abs(value)))
    rounded = round(value, digits)
    if rounded != 0:  # 9.996 rounds up to 10.0: one digit fewer after the point
        digits = 2 - math.floor(math.log10(abs(rounded)))
        rounded = round(value, digits)
    return f"{rounded:.{max(digits, 0)}f}"


def ratio(a: float | str, b: float | str) -> float | str:
    if isinstance(a, str) or isinstance(b, str) or b == 0:
        return SKIPPED
    return a / b


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentiles(latencies: Sequence[float]) -> tuple[float, float]:
    """(p50, p95): the median and the nearest-rank 95th percentile."""
    ordered = sorted(latencies)
    return median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# -- emulators ------------------------------------------------------------------------------


def _clear_fsspec_instances() -> None:
    """fsspec caches filesystem instances (and their listings) per process; each emulator
    session has new endpoints, so forget the instances of the previous one."""
    for module, name in (("s3fs", "S3FileSystem"), ("adlfs", "AzureBlobFileSystem")):
        with contextlib.suppress(ImportError, AttributeError):
            getattr(__import__(module), name).clear_instance_cache()


@contextlib.contextmanager
def emulator_session(name: str) -> Iterator[Session]:
    """moto + Azurite in a temporary LAKEHOUSE_HOME, their env in os.environ; always stopped."""
    from lakehouse_dev import emulators

    with tempfile.TemporaryDirectory(prefix=f"lakehouse-bench-{name}-") as tmp:
        home = Path(tmp)
        progress(f"{name}: starting moto + Azurite (LAKEHOUSE_HOME={home})")
        with emulators.running(home) as emu:
            env = {**emu.env, "LAKEHOUSE_HOME": str(home)}
            saved = {key: os.environ.get(key) for key in env}
            os.environ.update(env)
            _clear_fsspec_instances()
            try:
                yield Session(home, emu.s3_endpoint, emu.blob_endpoint, emu.connection_string)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                _clear_fsspec_instances()
                progress(f"{name}: stopping the emulators")


class Session:
    """One emulator session: endpoints and clients."""

    def __init__(self, home: Path, s3_endpoint: str, blob_endpoint: str, connection_string: str):
        self.home = home
        self.s3_endpoint = s3_endpoint
        self.blob_endpoint = blob_endpoint  # http://127.0.0.1:PORT/devstoreaccount1
        self.connection_string = connection_string

    def s3(self):
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            config=botocore.config.Config(max_pool_connections=32),
        )

    def blob_service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_bucket(self, bucket: str) -> None:
        self.s3().create_bucket(Bucket=bucket)

    def create_container(self, container: str) -> None:
        self.blob_service().create_container(container)

    def container_sas(self, container: str, write: bool = False) -> str:
        """A container SAS token (read + list, or create + write) signed with Azurite's key."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        from lakehouse_dev.emulators import AZURITE_ACCOUNT, AZURITE_KEY

        permission = (
            ContainerSasPermissions(create=True, write=True)
            if write
            else ContainerSasPermissions(read=True, list=True)
        )
        return generate_container_sas(
            AZURITE_ACCOUNT,
            container,
            account_key=AZURITE_KEY,
            permission=permission,
            expiry=datetime.now(UTC) + timedelta(hours=6),
        )


# -- bulk uploads ---------------------------------------------------------------------------


class BulkPut:
    """PUT many small objects over keep-alive HTTP connections from a thread pool.

    The SDKs spend more CPU per small object than the emulators do, and on a 2-core machine
    that halves the population rate, so populating uses bare HTTP: S3 on moto (which checks
    no signatures; a SigV4-shaped header routes the request to S3), Azure Blob with a
    container SAS (properly authorised). Timed benchmark code never uses this.
    """

    def __init__(self, endpoint: str, path_of: Callable[[str], str], headers: dict[str, str]):
        parts = urlsplit(endpoint)
        self._host, self._port = parts.hostname, parts.port
        self._path_of, self._headers = path_of, headers
        self._local = threading.local()

    @classmethod
    def s3(cls, endpoint: str, bucket: str, root: str) -> BulkPut:
        auth = (
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
        return cls(
            endpoint,
            lambda key: f"/{bucket}/{quote(f'{root}/{key}', safe='/=')}",
            {"Authorization": auth, "Content-Type": "application/octet-stream"},
        )

    @classmethod
    def azure(cls, session: Session, container: str, root: str) -> BulkPut:
        sas = session.container_sas(container, write=True)
        base = urlsplit(session.blob_endpoint).path.rstrip("/")
        return cls(
            session.blob_endpoint,
            lambda key: f"{base}/{container}/{quote(f'{root}/{key}', safe='/=')}?{sas}",
            {"x-ms-blob-type": "BlockBlob", "x-ms-version": "2021-08-06"},
        )

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=120)
            self._local.conn = conn
        return conn

    def put(self, key: str, body: bytes) -> None:
        for attempt in range(4):
            conn = self._connection()
            try:
                conn.request("PUT", self._path_of(key), body=body, headers=self._headers)
                response = conn.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 3:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status in (200, 201):
                return
            if response.status < 500 or attempt == 3:
                raise RuntimeError(f"PUT {key}: HTTP {response.status}: {text[:300]!r}")
            time.sleep(0.2 * (attempt + 1))

    def put_all(self, keys: Sequence[str], body: bytes, workers: int, label: str) -> float:
        """PUT every key (same body); returns the elapsed seconds. Progress every ~20%."""
        return run_parallel(keys, lambda key: self.put(key, body), workers, label)


def run_parallel(
    items: Sequence[str], fn: Callable[[str], None], workers: int, label: str
) -> float:
    """fn(item) for every item on ``workers`` threads, in chunks; progress every ~20%."""
    total, done, lock = len(items), [0], threading.Lock()
    step = max(1, total // 5)
    chunk = max(1, min(500, total // (workers * 4) or 1))
    start = time.perf_counter()

    def work(offset: int) -> None:
        for item in items[offset : offset + chunk]:
            fn(item)
        with lock:
            before, done[0] = done[0], done[0] + len(items[offset : offset + chunk])
            if total >= 1000 and done[0] // step != before // step and done[0] < total:
                elapsed = time.perf_counter() - start
                progress(f"  {label}: {done[0]:,}/{total:,} ({done[0] / elapsed:,.0f}/s)")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, offset) for offset in range(0, total, chunk)]:
            future.result()
    elapsed = time.perf_counter() - start
    progress(f"  {label}: {total:,} in {elapsed:.1f}s ({total / max(elapsed, 1e-9):,.0f}/s)")
    return elapsed

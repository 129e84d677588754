"""The event bus: throughput from publish to lake file, and latency to the warehouse projection.

``run(scale) -> {name: value}``:

- ``events.publish_to_lake_per_s.<backend>``: N platform events published as fast as one
  publisher can, while a ``lakehouse lake-writer`` process (its own process, as deployed)
  writes them to the lake; N / (first publish -> the writer reporting the N-th event durable
  in a lake file and acknowledged). Backends: ``local`` (embedded queue, local lake; N =
  10,000 x scale), ``sqs`` (moto's SQS, lake on moto's S3; N = 600 x scale: moto's
  ReceiveMessage costs ~1.5 ms per message *in the queue*, so a deep queue makes every receive
  slow, an emulator artefact that real SQS does not have), ``azqueue`` (Azurite's queue, lake
  on Azurite's blob; N = 3,000 x scale).
- ``events.publish_per_s.<backend>``: the publisher alone over the same run (N / publish time).
- ``events.publish_to_projection_p50_s.<mode>_writer`` / ``_p95_s``: with ``dagster dev``
  running (daemon, sensors on), waves of 20 ``application_submitted`` events are published
  every ~10 s (12 waves at scale 1, after a warm-up wave); an event's latency is from its
  publish until ``warehouse/events/application_funnel`` counts it. ``dagster``: the
  sensor-driven writer (``events_bus`` -> one run draining the bus and carrying the events to
  the projection); ``cli``: the long-lived ``lakehouse lake-writer`` beside it (the sensor
  leaves the bus to it; its files -> ``events_funnel_files`` -> one projection run).

Events are the simulated platform's (``lakehouse_dev.simulate.events``), generated before timing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import SKIPPED, emulator_session, percentiles, progress
from lakehouse_dev.emulators.processes import (
    GENTLE,
    Process,
    default_signals,
    executable,
    free_port,
    launch,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WRITTEN = re.compile(r"wrote (\d+) event")
WAVES, WAVE_EVENTS, WAVE_GAP = 12, 20, 10.0
DAGSTER_START_TIMEOUT = 180
WAVE_TIMEOUT = 240
STOP = ((signal.SIGTERM, 30.0), (signal.SIGKILL, 30.0))


def _events(n: int, home: Path) -> list:
    """n platform events (bodies), from a simulated platform database in ``home``."""
    from lakehouse.sources.events.schema import parse
    from lakehouse_dev.simulate.events import publish_platform_events

    class Collect:  # a bus that keeps what is published
        url = "collect://"

        def __init__(self) -> None:
            self.bodies: list[bytes] = []

        def publish(self, bodies):
            bodies = list(bodies)
            self.bodies.extend(bodies)
            return len(bodies)

    sink = Collect()
    publish_platform_events(f"sqlite:///{home / 'platform.sqlite'}", sink, count=n, seed=11)
    events = [parse(b) for b in sink.bodies]
    assert len(events) == n
    return events


def _writer_process(env: dict[str, str], log: Path) -> tuple[Process, list]:
    """`lakehouse lake-writer` in its own process; a thread records (time, total written)."""
    argv = [sys.executable, "-m", "lakehouse.cli", "lake-writer", "--poll", "0.05", "--force"]
    proc = launch("lake-writer", argv, log=None, env=env, cwd=PROJECT_ROOT)
    progress_log: list = []  # (monotonic time, cumulative events written)
    ready = threading.Event()

    def read() -> None:
        total = 0
        with log.open("w") as out:
            for line in proc.popen.stdout:
                out.write(line)
                out.flush()
                if "remembered" in line:
                    ready.set()
                if line.startswith("lake writer: received") and (m := WRITTEN.search(line)):
                    total += int(m.group(1))
                    progress_log.append((time.monotonic(), total))
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60) or not proc.alive():
        raise RuntimeError(f"the lake writer did not start; see {log}")
    return proc, progress_log


def publish_to_lake(backend: str, bus_url: str, lake_url: str, events: list, home: Path):
    """(events/s publish -> lake, events/s publish alone) for one backend."""
    from lakehouse.sources.events.buses import bus_from_url
    from lakehouse.sources.events.publisher import Publisher

    env = {
        "LAKEHOUSE_HOME": str(home),
        "LAKEHOUSE_PROFILE": "local",
        "LAKEHOUSE_BUS_URL": bus_url,
        "LAKEHOUSE_LAKE_URL": lake_url,
    }
    n = len(events)
    home.mkdir(parents=True, exist_ok=True)
    proc, written = _writer_process(env, home / f"writer-{backend}.log")
    try:
        with bus_from_url(bus_url) as bus:
            start = time.monotonic()
            Publisher(bus, chunk=500).publish(events)
            published = time.monotonic()
        deadline = published + 600
        while not written or written[-1][1] < n:
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{backend}: the writer wrote {written[-1:]} of {n}")
            time.sleep(0.02)
        done = next(t for t, total in written if total >= n)
    finally:
        proc.stop(STOP)
    rate, publish_rate = n / (done - start), n / (published - start)
    progress(
        f"  {backend}: {n:,} events, published in {published - start:.1f}s, in the lake after "
        f"{done - start:.1f}s: {rate:,.0f} events/s"
    )
    return rate, publish_rate


# -- latency through dagster dev ------------------------------------------------------------


def _funnel_submitted(warehouse) -> int:
    import pyarrow.compute as pc

    from lakehouse.storage.projections import current_key, read_current

    if current_key(warehouse, "events/application_funnel") is None:
        return 0
    funnel = read_current(warehouse, "events/application_funnel")
    return int(pc.sum(funnel.column("submitted")).as_py() or 0)


def _wave(bus, warehouse, first_id: int, expected: int, proc, log: Path) -> float:
    """Publish WAVE_EVENTS application_submitted events; seconds until the funnel counts
    ``expected`` submissions in all."""
    import datetime as dt

    from lakehouse.sources.events.publisher import Publisher
    from lakehouse.sources.events.schema import make_event

    at = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    events = [
        make_event(
            "application_submitted",
            {
                "application_id": i,
                "seller_id": 1,
                "requested_amount": "1000.00",
                "currency": "GBP",
                "invoice_count": 1,
            },
            occurred_at=at + dt.timedelta(seconds=i),
            event_id=f"bench-{i}",
        )
        for i in range(first_id, first_id + WAVE_EVENTS)
    ]
    Publisher(bus).publish(events)
    sent = time.monotonic()
    end = sent + WAVE_TIMEOUT
    while True:
        try:
            seen = _funnel_submitted(warehouse)
        except Exception:  # replaced while read: try again
            seen = 0
        if seen >= expected:
            return time.monotonic() - sent
        if not proc.alive() or time.monotonic() > end:
            raise RuntimeError(f"projection at {seen}/{expected} submissions; see {log}")
        time.sleep(0.1)


def projection_latency(scale: float, home: Path) -> dict[str, tuple[float, float]]:
    """{writer mode: (p50, p95)} seconds from publish to the application funnel counting the
    event, under ``dagster dev``: first with the sensor-driven writer (``dagster``), then with
    the long-lived ``lakehouse lake-writer`` running beside it (``cli``)."""
    from lakehouse.settings import Settings
    from lakehouse.sources.events.buses import bus_from_url
    from lakehouse.storage.store import Store

    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "LAKEHOUSE_HOME": str(home),
        "LAKEHOUSE_PROFILE": "local",
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONUNBUFFERED": "1",
    }
    for name in list(env):
        if name.startswith("LAKEHOUSE_") and name.endswith("_URL"):
            del env[name]
    settings = Settings.from_env(env)
    warehouse = Store(settings.warehouse_url)
    argv = [
        *default_signals(),
        executable("dagster"),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
    ]
    argv += ["--host", "127.0.0.1", "--port", str(free_port())]
    log = home / "dagster-dev.log"
    waves = max(3, round(WAVES * scale))
    results: dict[str, tuple[float, float]] = {}
    proc = launch("dagster dev", argv, log=log, env=env, cwd=PROJECT_ROOT, inherit=False)
    writer = None
    try:
        deadline = time.monotonic() + DAGSTER_START_TIMEOUT
        while b"Serving dagster-webserver" not in log.read_bytes():
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"dagster dev did not start; see {log}")
            time.sleep(0.5)
        expected = 0
        with bus_from_url(settings.bus_url) as bus:
            for mode in ("dagster", "cli"):
                if mode == "cli":
                    writer_env = {k: env[k] for k in ("LAKEHOUSE_HOME", "LAKEHOUSE_PROFILE")}
                    writer, _ = _writer_process(writer_env, home / "writer.log")
                progress(
                    f"  {mode} writer: a warm-up wave, then {waves} waves of {WAVE_EVENTS} "
                    f"events, {WAVE_GAP:.0f}s apart"
                )
                latencies = []
                for wave in range(-1, waves):  # wave -1 warms up (first ticks, imports)
                    expected += WAVE_EVENTS
                    latency = _wave(bus, warehouse, expected - WAVE_EVENTS, expected, proc, log)
                    if wave >= 0:
                        latencies.extend([latency] * WAVE_EVENTS)
                    progress(f"  wave {wave + 1}/{waves}: {latency:.1f}s publish -> projection")
                    time.sleep(max(0.0, WAVE_GAP - latency))
                results[mode] = percentiles(latencies)
    finally:
        if writer is not None:
            writer.stop(STOP)
        proc.stop(GENTLE)
    return results


# -- entry point ----------------------------------------------------------------------------


def run(scale: float = 1.0) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(
        prefix="lakehouse-bench-events-", ignore_cleanup_errors=True
    ) as tmp:
        tmp = Path(tmp)
        n_local = max(500, round(10_000 * scale))
        n_cloud = {"sqs": max(100, round(600 * scale)), "azqueue": max(200, round(3_000 * scale))}
        progress(f"events: generating {n_local:,} platform events")
        events = _events(n_local, tmp / "gen")
        home = tmp / "local"
        rate, publish_rate = publish_to_lake(
            "local", f"local://{home / 'bus'}", str(home / "lake"), events, home
        )
        figures["events.publish_to_lake_per_s.local"] = rate
        figures["events.publish_per_s.local"] = publish_rate
        try:
            with emulator_session("events") as session:
                from lakehouse.sources.events.buses import bus_from_url

                session.create_bucket("bench-events")
                session.create_container("bench-events")
                for backend, lake_url in (
                    ("sqs", "s3://bench-events/raw"),
                    ("azqueue", "az://bench-events/raw"),
                ):
                    bus_url = f"{backend}://bench-events-{backend}"
                    with bus_from_url(bus_url) as bus:
                        bus.create()
                    rate, publish_rate = publish_to_lake(
                        backend, bus_url, lake_url, events[: n_cloud[backend]], tmp / backend
                    )
                    figures[f"events.publish_to_lake_per_s.{backend}"] = rate
                    figures[f"events.publish_per_s.{backend}"] = publish_rate
        except Exception as exc:  # no node for Azurite, ...: say so, keep the other figures
            progress(f"events: emulators unavailable or failed: {exc}")
            for backend in ("sqs", "azqueue"):
                figures.setdefault(f"events.publish_to_lake_per_s.{backend}", SKIPPED)
                figures.setdefault(f"events.publish_per_s.{backend}", SKIPPED)
        progress("events: publish -> projection latency under dagster dev")
        for mode, (p50, p95) in projection_latency(scale, tmp / "dev").items():
            figures[f"events.publish_to_projection_p50_s.{mode}_writer"] = p50
            figures[f"events.publish_to_projection_p95_s.{mode}_writer"] = p95
    return figures


if __name__ == "__main__":
    from bench.common import scale, sig3

    for name, value in run(scale()).items():
        print(f"{name}: {sig3(value)}")

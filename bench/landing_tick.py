"""CPU time of one tick of the machine landing sensor with 10,000 files (scaled by
BENCH_SCALE) on a local store, in the three states a flood passes through:

- ``landing.tick_cpu_s.being_written``: every file in the landing folder, written moments ago
  (each is listed and compared with the cursor's pending state until it has settled);
- ``landing.tick_cpu_s.claimed``: every file claimed, not yet taken (no run has started);
- ``landing.tick_cpu_s.taken``: every file taken into the lake, waiting in ``_taken`` for the
  linger period (each is checked against its wave's manifest);
- ``landing.tick_cpu_s.empty``: nothing landed (the idle tick);
- ``landing.cursor_kb.being_written``: the cursor the first state leaves (the daemon stores it
  with every tick).

Each is the median of 3 ticks (process CPU time of the sensor's evaluation, in-process, an
ephemeral instance); the ``landing.files`` files lie in 8 waves.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from bench.common import Figure, median, progress, scaled

LINE = b"2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||\n" * 3
WAVES = 8


def run() -> list[Figure]:
    import dagster as dg

    from lakehouse.components.file_drop import drop_keys, landing_sensor
    from lakehouse.components.resources.stores import ObjectStore
    from lakehouse.sources.machines.landing import MACHINES
    from lakehouse.storage.store import Store

    files = scaled(10_000)
    root = tempfile.mkdtemp(prefix="bench-landing-")
    landing, lake = Store(f"file://{root}/landing"), Store(f"file://{root}/lake")
    landing_key, raw, parsed = drop_keys("machines")
    sensor = landing_sensor("machine_landing", "machines", MACHINES, landing_key, [raw, parsed])
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "landing": ObjectStore(url=landing.url, name="landing"),
        "lake": ObjectStore(url=lake.url, name="lake"),
    }

    def tick(cursor: str | None) -> tuple[float, str]:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        started = time.process_time()
        result = sensor(context)
        return time.process_time() - started, result.cursor

    def cost(cursor: str | None = None) -> tuple[float, str]:
        times = []
        for _ in range(3):
            spent, cursor = tick(cursor)
            times.append(spent)
        return median(times), cursor

    figures: list[Figure] = [("landing.files", files)]
    try:
        figures.append(("landing.tick_cpu_s.empty", cost()[0]))
        keys = [
            f"machines/SMT-{i:05d}_20260302T{8 + 2 * (i % WAVES):02d}0000.log" for i in range(files)
        ]
        for key in keys:
            landing.write_bytes(key, LINE)
        spent, cursor = cost()
        figures += [
            ("landing.tick_cpu_s.being_written", spent),
            ("landing.cursor_kb.being_written", len(cursor) / 1024),
        ]
        progress(f"landing: {files} files being written, {spent:.3f} s CPU per tick")
        then = time.time() - 600  # written long ago: complete at first sight
        for key in keys:
            os.utime(landing.path(key), (then, then))
        while MACHINES.list_landing(landing)[0]:
            _, cursor = tick(cursor)  # claims (bounded per tick)
        figures.append(("landing.tick_cpu_s.claimed", cost(cursor)[0]))
        for wave in MACHINES.claimed(landing):
            MACHINES.take_wave(landing, lake, wave)
        figures.append(("landing.tick_cpu_s.taken", cost()[0]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return figures

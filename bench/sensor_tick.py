"""Sensor tick time with 100k files already in the lake ("a tick costs O(new files)").

For each backend, local (a temporary directory), s3 (moto) and azure (Azurite), the lake is
populated with 100,000 small objects (scaled by BENCH_SCALE) under
``platform/<table>/dt=<day>/<timestamp>.parquet``: 100 days x 1,000 files a day, dealt over the
platform's 8 tables (125 per table per day). The sensor cursor is set to each table's last
key, 10 new files are added (on the last day, after the cursor), then:

- ``sensor.tick_s_100k.<backend>``: one evaluation of the platform lake sensor
  (``platform_lake_files``), median of 5, each from the same cursor and with fsspec's listings
  cache emptied first; each must find exactly the 10 new files;
- ``sensor.full_listing_s_100k.<backend>``: the naive baseline, ``Store.keys(prefix)`` with no
  cursor for every table prefix (median of up to 3);
- ``sensor.tick_vs_full_listing.<backend>``: the ratio (<< 1 is the point).

``sensor.files.<backend>`` is the number of files populated: 100k, except on moto (50k at
scale 1, see ``FILES``), whose ~300 PUTs/s would take over 5 minutes. The three populations run
at once (moto and Azurite each use one core): bare HTTP PUTs from threads (see ``BulkPut``).
Also reported, as progress lines: whether a second tick in the same process sees a file that
arrived after the first (fsspec listings caches), and on Azure the time of the listing
``Store.keys`` could do instead of its walk (List Blobs ``startFrom`` the cursor).
"""

from __future__ import annotations

import functools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import (
    BulkPut,
    Figure,
    Session,
    emulator_session,
    median,
    progress,
    run_parallel,
    scale,
)

DAYS = 100
FILES_PER_DAY = 1_000
NEW_FILES = 10
TICKS = 5
LISTINGS = 3  # at most; fewer when one takes long
FIRST_DAY = datetime(2026, 1, 1)
BODY = b"PAR1" + bytes(56) + b"PAR1"  # a small stand-in: the sensor never reads content
BUCKET = CONTAINER = "bench-sensor"
ROOT = "raw"
BACKENDS = ("local", "s3", "azure")
# Files per backend at scale 1. Measured on a 2-core machine, populating all three at once:
# local ~17,000 files/s; Azurite ~480/s (100k in ~3.5 min); moto ~300-330/s, so 100k take
# over 5 minutes, half the whole bench's budget: s3 gets 50k (populated while Azurite is).
FILES = {"local": DAYS * FILES_PER_DAY, "s3": 50_000, "azure": DAYS * FILES_PER_DAY}
WHY_FEWER = {"s3": "moto stores only ~300 small objects/s: 100k would take over 5 minutes"}


def _tables() -> list[str]:
    from lakehouse_dev.simulate.platform_schema import TABLES

    return list(TABLES)


def _prefix(table: str) -> str:
    from lakehouse.defs.platform.keys import lake_prefix

    return lake_prefix(table)


def _key(table: str, ts: datetime) -> str:
    return f"{_prefix(table)}/dt={ts:%Y-%m-%d}/{ts:%Y%m%dT%H%M%S%fZ}.parquet"


def layout(total: int) -> tuple[list[str], list[str], dict[str, str]]:
    """(existing keys, new keys, cursor: table prefix -> its last existing key)."""
    tables = _tables()
    days = min(DAYS, total)
    per_day = [total // days + (1 if d < total % days else 0) for d in range(days)]
    existing, cursor = [], {}
    for d, count in enumerate(per_day):
        day = FIRST_DAY + timedelta(days=d)
        for j in range(count):  # spread over the first 80,000 s of the day
            table = tables[j % len(tables)]
            key = _key(table, day + timedelta(microseconds=j * 80_000_000 // count))
            existing.append(key)
            cursor[_prefix(table)] = max(key, cursor.get(_prefix(table), key))
    last_day = FIRST_DAY + timedelta(days=days - 1)
    new = [
        _key(tables[i % len(tables)], last_day + timedelta(seconds=86_000, milliseconds=i))
        for i in range(NEW_FILES)
    ]
    return existing, new, cursor


# -- populating ------------------------------------------------------------------------------


def _populate_local(root: Path, keys: list[str], label: str) -> float:
    made: set[Path] = set()

    def write(key: str) -> None:
        path = root / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(BODY)

    return run_parallel(keys, write, workers=2, label=label)


class Backend:
    def __init__(self, name: str, url: str, put_all):
        self.name, self.url, self._put_all = name, url, put_all

    def put(self, keys: list[str], label: str) -> float:
        return self._put_all(keys, label)

    def store(self):
        from lakehouse.storage.store import Store

        return Store(self.url)


def _backends(session: Session) -> dict[str, Backend]:
    local_root = session.home / "bench-lake"
    session.create_bucket(BUCKET)
    session.create_container(CONTAINER)
    s3 = BulkPut.s3(session.s3_endpoint, BUCKET, ROOT)
    azure = BulkPut.azure(session, CONTAINER, ROOT)
    return {
        "local": Backend(
            "local", str(local_root), lambda keys, label: _populate_local(local_root, keys, label)
        ),
        "s3": Backend(
            "s3",
            f"s3://{BUCKET}/{ROOT}",
            lambda keys, label: s3.put_all(keys, BODY, workers=8, label=label),
        ),
        "azure": Backend(
            "azure",
            f"az://{CONTAINER}/{ROOT}",
            lambda keys, label: azure.put_all(keys, BODY, workers=8, label=label),
        ),
    }


# -- measuring -------------------------------------------------------------------------------


def _forget_listings(backend: Backend) -> None:
    """Empty fsspec's listings cache (adlfs and s3fs keep one per filesystem instance)."""
    backend.store().fs.invalidate_cache()


@functools.cache
def _instance():
    """One ephemeral instance for every evaluation: without one, each evaluation builds its
    own (SQLite + migrations, ~0.1 s), which a daemon ticking a sensor never pays."""
    import dagster as dg

    return dg.DagsterInstance.ephemeral()


def _evaluate(backend: Backend, cursor: dict[str, str]):
    """(seconds, new keys found, new cursor) of one evaluation of the platform sensor."""
    import dagster as dg

    from lakehouse.components.lake_sensor import lake_file_sensor
    from lakehouse.components.resources.stores import ObjectStore
    from lakehouse.defs.platform.keys import TABLES, lake_prefix, state_key

    platform_lake_files = lake_file_sensor(  # as the platform's SqlDatabase component makes it
        "platform_lake_files", "bench", {lake_prefix(t): state_key(t) for t in TABLES}
    )

    context = dg.build_sensor_context(
        instance=_instance(),
        cursor=json.dumps(cursor, sort_keys=True),
        resources={"lake": ObjectStore(url=backend.url)},
    )
    start = time.perf_counter()
    result = platform_lake_files(context)
    elapsed = time.perf_counter() - start
    if not isinstance(result, dg.SensorResult):
        return elapsed, 0, cursor
    found = sum(int(r.tags["lakehouse/new_files"]) for r in result.run_requests)
    return elapsed, found, json.loads(result.cursor)


def _ticks(backend: Backend, cursor: dict[str, str], expected: dict[str, str]) -> float:
    times = []
    for _ in range(TICKS):
        _forget_listings(backend)
        elapsed, found, after = _evaluate(backend, cursor)
        if found != NEW_FILES or after != {**cursor, **expected}:
            raise AssertionError(
                f"{backend.name}: the sensor found {found} new files, expected {NEW_FILES}"
            )
        times.append(elapsed)
    progress(f"sensor: {backend.name}: tick {', '.join(f'{t:.3f}' for t in times)} s")
    return median(times)


def _full_listing(backend: Backend, expected: int) -> float:
    store, times = backend.store(), []
    while len(times) < LISTINGS and sum(times) < 10:
        _forget_listings(backend)
        start = time.perf_counter()
        count = sum(len(store.keys(_prefix(table))) for table in _tables())
        times.append(time.perf_counter() - start)
        if count != expected:
            raise AssertionError(f"{backend.name}: full listing found {count}, expected {expected}")
    progress(f"sensor: {backend.name}: full listing {', '.join(f'{t:.2f}' for t in times)} s")
    return median(times)


def _stale_listing_check(backend: Backend, cursor: dict[str, str]) -> None:
    """A long-lived process (the code server evaluating sensors) keeps fsspec filesystem
    instances, and with them adlfs/s3fs listings caches: does the next tick see a file that
    arrived after the last one listed? (Call right after a tick that ended at ``cursor``.)"""
    table = _tables()[0]
    last = cursor[_prefix(table)]
    stamp = datetime.strptime(last.rsplit("/", 1)[1], "%Y%m%dT%H%M%S%fZ.parquet")
    late = _key(table, stamp + timedelta(seconds=1))
    backend.put([late], f"{backend.name}: 1 late file")
    _, found, _ = _evaluate(backend, cursor)  # no cache emptied in between
    if found != 1:
        progress(
            f"sensor: WARNING {backend.name}: a second tick in the same process found {found} "
            "of 1 file written after the first tick (stale fsspec listings cache)"
        )
    else:
        progress(f"sensor: {backend.name}: a second tick in the same process sees new files")


def _azure_start_from(session: Session, cursor: dict[str, str]) -> None:
    """The listing Store.keys could do on Azure: flat, from the cursor (``startFrom``)."""
    container = session.blob_service().get_container_client(CONTAINER)
    times = []
    for _ in range(TICKS):
        start, found = time.perf_counter(), 0
        for prefix, after in cursor.items():
            for blob in container.list_blobs(
                name_starts_with=f"{ROOT}/{prefix}/", start_from=f"{ROOT}/{after}"
            ):
                found += blob.name != f"{ROOT}/{after}"  # startFrom is inclusive
        times.append(time.perf_counter() - start)
    progress(
        f"sensor: azure: listing from the cursor with startFrom (one request per table) "
        f"finds {found} new files in {median(times):.3f} s (median of {TICKS})"
    )


def run() -> list[Figure]:
    counts = {name: max(len(_tables()), round(FILES[name] * scale())) for name in BACKENDS}
    figures: list[Figure] = []
    with emulator_session("sensor") as session:
        backends = _backends(session)
        layouts = {name: layout(counts[name]) for name in BACKENDS}
        for name, why in WHY_FEWER.items():
            full = round(DAYS * FILES_PER_DAY * scale())
            if counts[name] < full:
                progress(f"sensor: {name}: {counts[name]:,} files, not {full:,}: {why}")
        progress(
            "sensor: populating "
            + ", ".join(f"{name} with {counts[name]:,} files" for name in BACKENDS)
            + " (at once)"
        )
        with ThreadPoolExecutor(max_workers=len(BACKENDS)) as pool:
            futures = [
                pool.submit(backends[n].put, layouts[n][0], f"{n} populate") for n in BACKENDS
            ]
            for future in futures:
                future.result()
        for name in BACKENDS:
            backend, (existing, new, cursor) = backends[name], layouts[name]
            backend.put(new, f"{name}: {NEW_FILES} new files")
            expected = {}
            for key in new:
                prefix = key.rsplit("/", 2)[0]
                expected[prefix] = max(key, expected.get(prefix, key))
            tick = _ticks(backend, cursor, expected)
            if name == "azure":  # lists without fsspec: leaves its cache as the tick did
                _azure_start_from(session, cursor)
            _stale_listing_check(backend, {**cursor, **expected})  # adds 1 file
            listing = _full_listing(backend, len(existing) + len(new) + 1)
            figures += [
                (f"sensor.files.{name}", len(existing)),
                (f"sensor.tick_s_100k.{name}", tick),
                (f"sensor.full_listing_s_100k.{name}", listing),
                (f"sensor.tick_vs_full_listing.{name}", tick / listing),
            ]
    order = ("files", "tick_s_100k", "full_listing_s_100k", "tick_vs_full_listing")
    return sorted(
        figures,
        key=lambda f: (order.index(f[0].split(".")[1]), BACKENDS.index(f[0].split(".")[2])),
    )

"""Glue registration on write: how soon an external reader sees a rewrite, and what it adds.

A projection of ``20,000 x scale`` rows (decimal, timestamp, strings: a warehouse table's
shape) is rewritten 50 times on moto's S3 + Glue, as the IO manager does it: the write
(a new version under the projection's prefix), then the hook (Glue registration flipping the
table location, removal of versions past the grace period). After each rewrite an external
reader polls Glue (``get_table``) until the table's location holds the new data.

Figures: ``glue.visible_p50_s`` / ``glue.visible_p95_s`` (write start -> Glue shows the new
data), ``glue.write_p50_s`` (the write itself, the baseline), ``glue.hook_p50_s`` (the
registration + clean-up added to each write) and ``glue.hook_vs_write`` (their ratio).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from bench.common import progress, scaled

UPDATES = 50


def _table(rows: int, generation: int):
    import pyarrow as pa

    return pa.table(
        {
            "debtor_name": pa.array([f"Debtor {i % 997} GmbH & Co. KG" for i in range(rows)]),
            "currency": pa.array(["EUR", "GBP", "USD", "CHF"] * (rows // 4) + ["EUR"] * (rows % 4)),
            "outstanding": pa.array(
                [Decimal(i * 37 % 1_000_000) / 100 for i in range(rows)], pa.decimal128(18, 2)
            ),
            "as_of": pa.array([datetime(2026, 3, 2, tzinfo=UTC)] * rows, pa.timestamp("us", "UTC")),
            "generation": pa.array([generation] * rows, pa.int64()),
        }
    )


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def run(scale: float = 1.0) -> dict[str, float]:
    import boto3
    import s3fs

    from lakehouse.catalog.glue import GlueCatalog, TableSpec
    from lakehouse.storage.projections import remove_old_versions, write_version
    from lakehouse.storage.store import Store
    from lakehouse_dev.emulators import AWS_ENV, InProcessMoto

    moto = InProcessMoto()
    moto.start()
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": moto.endpoint})
    s3fs.S3FileSystem.clear_instance_cache()  # a client made for another endpoint
    try:
        bucket = f"bench-glue-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        store, glue = Store(f"s3://{bucket}/warehouse"), boto3.client("glue")
        catalog = GlueCatalog(glue, "bench_")
        spec = TableSpec("bench_finance", "debtor_exposure", "warehouse/finance/debtor_exposure")
        rows = scaled(20_000, minimum=100)
        progress(f"glue: {UPDATES} rewrites of {rows:,} rows on moto (S3 + Glue)")
        writes, hooks, visible = [], [], []
        for generation in range(UPDATES + 1):
            table = _table(rows, generation)
            start = time.perf_counter()
            key = write_version(store, "finance/debtor_exposure", table)
            written = time.perf_counter()
            catalog.register(spec, store, "finance/debtor_exposure", table.schema)
            remove_old_versions(store, "finance/debtor_exposure")
            hooked = time.perf_counter()
            expected = store.uri(key.rsplit("/", 1)[0]) + "/"
            while (
                glue.get_table(DatabaseName=spec.database, Name=spec.name)["Table"][
                    "StorageDescriptor"
                ]["Location"]
                != expected
            ):
                time.sleep(0.001)
            seen = time.perf_counter()
            if generation:  # the first creates the database and table: not an update
                writes.append(written - start)
                hooks.append(hooked - written)
                visible.append(seen - start)
    finally:
        moto.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    load = os.getloadavg()[0]
    progress(f"glue: load average (1 min) {load:.2f} on {os.cpu_count()} cores")
    write_p50, hook_p50 = statistics.median(writes), statistics.median(hooks)
    return {
        "glue.visible_p50_s": statistics.median(visible),
        "glue.visible_p95_s": _p95(visible),
        "glue.write_p50_s": write_p50,
        "glue.hook_p50_s": hook_p50,
        "glue.hook_vs_write": hook_p50 / write_p50,
        "glue.load_1min": load,
    }

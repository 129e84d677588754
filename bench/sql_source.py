"""A SQL table into the lake: the SqlDatabase source's extraction vs pandas, and a no-change tick.

On PostgreSQL (``LAKEHOUSE_TEST_PG_URL``, default the local server), in a database made for the
run and dropped after:

- one table of ``ROWS`` x scale rows (bigint key, integer, numeric(14,2), text, timestamp
  cursor), filled server-side;
- (a) ``platform``: :func:`lakehouse.sources.sql.extract.extract` of that table (reflection,
  streaming with a server-side cursor, typed Arrow batches with their watermark, atomic
  Parquet writes) into a fresh local lake;
- (b) ``pandas``: the plain baseline, ``pandas.read_sql`` in chunks of the same size ->
  ``pyarrow.parquet``;

each in its own process (its peak RSS is its own), the two alternated over ``BENCH_ROUNDS``
(default 3), figures the medians. Then ``no_change_tick_s``: one evaluation of the source's
change sensor on a 50-table database that is fully extracted (median of 3).

Figures: rows/s of each, ``platform_vs_pandas`` (= a's rows/s / b's), peak RSS of each (MiB).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import progress, ratio, scaled

ROWS = 2_000_000
TABLES = 50
ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

PLATFORM = """
import json, resource, sys, time
from lakehouse.sources.sql.db import connect
from lakehouse.sources.sql.extract import extract
from lakehouse.sources.sql.tables import TableConfig, reflect
from lakehouse.storage.store import Store
url, lake = sys.argv[1], Store(sys.argv[2])
start = time.perf_counter()
with connect(url, "bench") as conn:
    spec = reflect(conn, "bench", "ledger", None, TableConfig())
    done = extract(conn, spec, lake, "bench/ledger")
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": done.rows, "seconds": seconds, "rss_mb": rss}))
"""

PANDAS = """
import json, resource, sys, time
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq, sqlalchemy as sa
url, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()
engine = sa.create_engine(url)
rows, writer = 0, None
with engine.connect().execution_options(stream_results=True) as conn:
    for df in pd.read_sql("SELECT * FROM ledger ORDER BY updated_at, id", conn, chunksize=50_000):
        table = pa.Table.from_pandas(df, preserve_index=False)
        writer = writer or pq.ParquetWriter(out, table.schema, compression="zstd")
        writer.write_table(table)
        rows += len(df)
writer.close()
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "rss_mb": rss}))
"""


def _admin():
    import sqlalchemy as sa

    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def _database(name: str) -> str:
    import sqlalchemy as sa

    with _admin().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop(name: str) -> None:
    import sqlalchemy as sa

    with _admin().connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _fill_ledger(url: str, rows: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE ledger (id bigint PRIMARY KEY, account integer NOT NULL, "
                "amount numeric(14, 2) NOT NULL, note text, updated_at timestamp NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO ledger SELECT g, g % 9973, round((random() * 100000)::numeric, 2), "
                "CASE WHEN g % 7 = 0 THEN NULL ELSE 'invoice ' || g END, "
                "timestamp '2026-01-01' + g * interval '1 second' FROM generate_series(1, :n) g"
            ),
            {"n": rows},
        )
        conn.execute(sa.text("CREATE INDEX ON ledger (updated_at)"))
    engine.dispose()


def _contender(script: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _no_change_tick(url: str, tmp: Path) -> float:
    import dagster as dg
    import sqlalchemy as sa

    from lakehouse.components.resources.sql_database import SqlDatabaseResource
    from lakehouse.components.resources.stores import ObjectStore
    from lakehouse.components.sql_database import SqlDatabase
    from lakehouse.sources.sql.db import connect
    from lakehouse.sources.sql.extract import extract
    from lakehouse.sources.sql.tables import TableConfig, reflect
    from lakehouse.storage.store import Store

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for i in range(TABLES):
            conn.execute(
                sa.text(
                    f"CREATE TABLE t{i:02d} (id bigint PRIMARY KEY, v text, "
                    "updated_at timestamp NOT NULL DEFAULT now())"
                )
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO t{i:02d} (id, v) SELECT g, 'x' FROM generate_series(1, 100) g"
                )
            )
    engine.dispose()
    lake_url = (tmp / "lake50").as_uri()
    lake = Store(lake_url)
    source = SqlDatabase(name="many", url=url, tables=[f"t{i:02d}" for i in range(TABLES)])
    with connect(url, "many") as conn:
        for i in range(TABLES):
            extract(
                conn,
                reflect(conn, "many", f"t{i:02d}", None, TableConfig()),
                lake,
                f"many/t{i:02d}",
            )
    sensor = source.build_defs(None).sensors[0]
    times = []
    with dg.instance_for_test() as instance:
        for _ in range(3):
            context = dg.build_sensor_context(
                instance=instance,
                resources={
                    "many_db": SqlDatabaseResource(url=url),
                    "lake": ObjectStore(url=lake_url),
                },
            )
            start = time.perf_counter()
            result = sensor(context)
            times.append(time.perf_counter() - start)
            assert not result.run_requests, "nothing changed: no run"
    return statistics.median(times)


def run() -> dict[str, float | int | str]:
    rows = scaled(ROWS)
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    name = f"bench_sql_{uuid.uuid4().hex[:8]}"
    url = _database(name)
    try:
        progress(f"sql_source: filling {rows:,} rows")
        _fill_ledger(url, rows)
        platform, pandas = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                lake = Path(tmp) / f"lake{r}"
                platform.append(_contender(PLATFORM, url, lake.as_uri()))
                pandas.append(_contender(PANDAS, url, str(Path(tmp) / f"pandas{r}.parquet")))
                progress(f"sql_source: round {r + 1}: platform {platform[-1]}, pandas {pandas[-1]}")
            assert all(p["rows"] == rows for p in platform + pandas)
            tick = _no_change_tick(url, Path(tmp))
    finally:
        _drop(name)
    p_rate = statistics.median(rows / p["seconds"] for p in platform)
    b_rate = statistics.median(rows / p["seconds"] for p in pandas)
    return {
        "sql_source.rows": rows,
        "sql_source.platform_rows_per_s": p_rate,
        "sql_source.pandas_rows_per_s": b_rate,
        "sql_source.platform_vs_pandas": ratio(p_rate, b_rate),
        "sql_source.platform_peak_rss_mb": statistics.median(p["rss_mb"] for p in platform),
        "sql_source.pandas_peak_rss_mb": statistics.median(p["rss_mb"] for p in pandas),
        "sql_source.no_change_tick_s": tick,
        "sql_source.load_1min": os.getloadavg()[0],
    }

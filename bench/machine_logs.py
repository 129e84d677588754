"""Machine logs at scale: the platform vs bare DuckDB vs pandas on the same generated files.

Files are generated once (``MACHINES`` machines x ``WAVES`` wave x ``FILE_MB`` MiB
uncompressed, x ``scale``: >= 2 GiB at scale 1, the five formats with their quirks) into a
temporary folder: one wave, as it lands every 2 hours (a real wave has 2,500 files; 40 is
what fits 2 GiB). Each contender runs in its own process (so its peak RSS is its own), reading
the page-cached files, in alternating rounds (``BENCH_ROUNDS``, default 3: duckdb, platform,
..., pandas once in the middle, being the slowest); each figure is the median over the rounds,
so machine load shared with others weighs on all contenders alike:

- (b) ``duckdb``: one bare DuckDB script, ``read_csv`` per machine type with explicit column
  types and format options, rejected lines via ``store_rejects``, the same KPI SQL;
- (c) ``pandas``: a straightforward script, ``pd.read_csv`` per file, ``to_datetime`` /
  ``to_numeric``, ``groupby``;
- (a) ``platform``: the whole Dagster path, as ``lakehouse tick`` runs it, on a fresh
  LAKEHOUSE_HOME whose landing folder holds hard links to the files: the landing sensor (the
  files were finished before: one tick), one run per wave (landing -> lake with SHA-256 ->
  typed Parquet -> hourly KPIs), then the daily roll-up and the catalog by automation. Its
  wall and CPU time run from the start of the landing sensor's tick to the moment the hourly
  KPIs are written (the end of the wave's run: the baselines compute those KPIs, not the
  roll-up or the catalog); the whole tick, roll-up and catalog included, is
  ``platform_total_wall_s``. A daemon has the code location loaded and evaluates automation
  and the other sensors beside this path, so those are not in it; the replication sensor is
  stopped (copying to the replica is not part of this path).

Figures (MB = MiB of uncompressed input): MB per CPU-second of each, ``platform_vs_duckdb`` =
b's wall / a's wall, ``platform_vs_pandas`` = c's wall / a's wall, the platform's peak RSS, and
the cores needed to process a 1.5 TB day in 10 minutes at the platform's MB per CPU-second.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

MACHINES = 40
WAVES = 1
FILE_MB = 53.0
START = datetime(2026, 1, 5, 8, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
DAY_BYTES = 1.5e12


def _progress(message: str) -> None:
    print(f"[machine_logs] {message}", file=sys.stderr, flush=True)


def _usage() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024


# -- (b) bare DuckDB ---------------------------------------------------------------------------


def _duckdb_sql(folder: str) -> str:
    from lakehouse.sources.machines.formats import FORMATS

    parts = []
    for fmt in FORMATS.values():
        types = {
            "ts": {
                "iso_z": "TIMESTAMPTZ",
                "iso_naive": "TIMESTAMP",
                "strptime": "TIMESTAMP",
                "epoch_ms": "BIGINT",
            }[fmt.ts_kind],
            "machine_id": "VARCHAR",
            "station_id": "VARCHAR",
            "event": "VARCHAR",
            "serial": "VARCHAR",
            "step": "VARCHAR",
            "attempt": "SMALLINT",
            "result": "VARCHAR",
            "value": "DOUBLE",
            "unit": "VARCHAR",
            "units": "INTEGER",
            "cycle_s": "DOUBLE",
            "alarm": "VARCHAR",
        }
        columns = "{" + ", ".join(f"'{c}': '{types[c]}'" for c in fmt.columns) + "}"
        options = [
            f"delim='{fmt.delimiter}'" if fmt.delimiter != "\t" else "delim='\\t'",
            f"header={str(bool(fmt.header)).lower()}",
            f"columns={columns}",
            "quote=''",
            "escape=''",
            "ignore_errors=true",
            "store_rejects=true",
            f"rejects_table='rejects_{fmt.type}'",
            f"rejects_scan='scans_{fmt.type}'",
        ]
        if fmt.decimal_comma:
            options.append("decimal_separator=','")
        if fmt.ts_kind == "strptime":
            options.append(f"timestampformat='{fmt.ts_format}'")
        ts = {
            "iso_z": "ts",
            "iso_naive": "timezone('UTC', ts)",
            "strptime": "timezone('UTC', ts)",
            "epoch_ms": "to_timestamp(ts / 1000)",
        }[fmt.ts_kind]
        event = " ".join(f"WHEN '{code}' THEN '{e}'" for e, code in fmt.events.items())
        parts.append(
            f"""SELECT '{fmt.type}' AS machine_type, machine_id, station_id, {ts} AS ts,
                CASE event {event} END AS event, attempt,
                CASE result WHEN '{fmt.results[0]}' THEN true
                            WHEN '{fmt.results[1]}' THEN false END AS passed, units, cycle_s
            FROM read_csv('{folder}/{fmt.prefix}-*', {", ".join(options)})"""
        )
    return "CREATE TEMP TABLE lines AS " + " UNION ALL ".join(parts)


def _bench_duckdb(folder: str) -> dict:
    import duckdb

    from lakehouse.sources.machines.formats import FORMATS
    from lakehouse.warehouse.machine_logs import kpi_sql

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 2")
    con.execute(_duckdb_sql(folder))
    rejected = " UNION ALL ".join(
        f"""SELECT '{f.type}' AS machine_type,
                   regexp_extract(s.file_path, '([A-Z]+-[0-9]+)_', 1) AS machine_id,
                   strptime(regexp_extract(s.file_path, '_([0-9]{{8}}T[0-9]{{2}})', 1),
                            '%Y%m%dT%H')::TIMESTAMPTZ AS wave_start
            FROM (SELECT DISTINCT scan_id, file_id, line FROM rejects_{f.type}) r
            JOIN scans_{f.type} s USING (scan_id, file_id)"""
        for f in FORMATS.values()
    )
    con.execute(f"CREATE TEMP TABLE rejected AS {rejected}")
    return _totals(con.sql(kpi_sql("lines", "rejected", "hour")).to_arrow_table())


# -- (c) pandas --------------------------------------------------------------------------------


def _bench_pandas(folder: str) -> dict:
    import gzip
    import re

    import pandas as pd

    from lakehouse.sources.machines.formats import BY_PREFIX

    frames, rejected = [], []
    for path in sorted(Path(folder).iterdir()):
        fmt = BY_PREFIX[path.name.split("-")[0]]
        df = pd.read_csv(
            path,
            sep=fmt.delimiter,
            header=None,
            names=list(fmt.columns),
            skiprows=1 if fmt.header else 0,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            on_bad_lines="skip",
            skip_blank_lines=False,
            quoting=3,
        )
        with path.open("rb") as f:  # lines as written (rejected count, field count)
            raw = f.read()
        if fmt.gzip:
            raw = gzip.decompress(raw)
        text = pd.Series(raw.decode("utf-8-sig", errors="replace").split("\n"))
        text = text.iloc[(1 if fmt.header else 0) : len(text) - raw.endswith(b"\n")]
        lines = len(text)
        # pandas pads a line with too few fields with empty strings: count them on the text
        # (lines with too many were skipped by read_csv, so they leave the alignment).
        fields = text.str.count(re.escape(fmt.delimiter)).to_numpy() + 1
        short = fields[fields <= len(fmt.columns)] < len(fmt.columns)
        if fmt.ts_kind == "epoch_ms":
            ts = pd.to_datetime(pd.to_numeric(df["ts"], errors="coerce"), unit="ms", utc=True)
        elif fmt.ts_kind == "strptime":
            ts = pd.to_datetime(df["ts"], format=fmt.ts_format, errors="coerce", utc=True)
        else:
            ts = pd.to_datetime(df["ts"], format="ISO8601", errors="coerce", utc=True)

        def number(column, fmt=fmt, df=df):
            values = df[column].str.replace(",", ".") if fmt.decimal_comma else df[column]
            return pd.to_numeric(values.replace("", None), errors="coerce")

        events = {code: e for e, code in fmt.events.items()}
        out = pd.DataFrame(
            {
                "machine_type": fmt.type,
                "machine_id": df["machine_id"],
                "station_id": df["station_id"],
                "hour": ts.dt.floor("h"),
                "event": df["event"].map(events),
                "attempt": number("attempt"),
                "passed": df["result"].map({fmt.results[0]: True, fmt.results[1]: False}),
                "units": number("units"),
                "cycle_s": number("cycle_s"),
            }
        )
        bad = (
            pd.Series(short, index=df.index)
            | out["hour"].isna()
            | out["event"].isna()
            | (df["attempt"].ne("") & out["attempt"].isna())
            | (df["value"].ne("") & number("value").isna())
            | (df["result"].ne("") & out["passed"].isna())  # unknown result code
        )
        if len(df) and not raw.endswith(b"\n"):  # cut off mid-write
            bad.iloc[-1] = True
        frames.append(out[~bad])
        rejected.append(lines - int((~bad).sum()))
    data = pd.concat(frames, ignore_index=True)
    tests = data[data.event == "TEST"]
    prod = data[data.event == "PROD"]
    first = tests[tests.attempt == 1]
    keys = ["machine_type", "machine_id", "station_id", "hour"]
    kpis = pd.DataFrame({"lines": data.groupby(keys).size()})
    kpis["tests_run"] = tests.groupby(keys).size()
    kpis["first_pass_yield"] = first.groupby(keys)["passed"].mean()
    kpis["units_produced"] = prod.groupby(keys)["units"].sum()
    kpis["cycle_time_p50_s"] = prod.groupby(keys)["cycle_s"].quantile(0.5)
    kpis["cycle_time_p95_s"] = prod.groupby(keys)["cycle_s"].quantile(0.95)
    kpis["alarms"] = data[data.event == "ALARM"].groupby(keys).size()
    return {
        "rows": len(kpis),
        "lines": int(kpis["lines"].sum()),
        "tests_run": int(kpis["tests_run"].sum()),
        "units_produced": int(kpis["units_produced"].sum()),
        "alarms": int(kpis["alarms"].sum()),
        "rejected_lines": int(sum(rejected)),
    }


# -- (a) the platform --------------------------------------------------------------------------


class _CpuClock:
    """Samples this process's CPU time (every thread) 20 times a second, to read it back at a
    moment of the run (when the hourly KPIs were written) after the fact."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), _usage()[0]))
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, moment: float) -> float:
        return next((cpu for t, cpu in self.samples if t >= moment), self.samples[-1][1])


def _bench_platform(home: str) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import lakehouse.definitions  # noqa: F401  (a daemon has its code loaded)
    from lakehouse.settings import Settings
    from lakehouse.sources.files.landing import SETTLE_SECONDS
    from lakehouse.storage.projections import current_files
    from lakehouse.storage.store import Store
    from lakehouse_dev.instance import get_instance
    from lakehouse_dev.tick import tick

    settings = Settings.from_env()
    then = time.time() - 10 * SETTLE_SECONDS  # the machines finished a while ago
    for path in (Path(settings.landing_url) / "machines").iterdir():
        os.utime(path, (then, then))
    instance = get_instance(settings)
    workspace = str(ROOT / "workspace.yaml")
    clock = _CpuClock()
    began, cpu0 = time.time(), _usage()[0]
    runs = tick(workspace, instance)
    total_wall, total_cpu = time.time() - began, _usage()[0] - cpu0
    clock.stop()
    failed = [r.summary_line() for r in runs if r.status != "SUCCESS"]
    if failed:
        raise RuntimeError(f"platform runs failed: {failed}")
    # What the baselines compute: the hourly KPIs, written by the wave's run (landing sensor).
    waves = [instance.get_run_record_by_id(r.run_id) for r in runs]
    waves = [w for w in waves if w.dagster_run.tags.get("dagster/sensor_name") == "machine_landing"]
    kpis_at = max(w.end_time for w in waves)
    # From the moment the landing sensor's tick began: loading the code location, evaluating
    # the automation conditions and the other sensors come first in `tick` only because it is
    # one thread (a daemon has the code loaded and runs those beside this path).
    sensed_at = _landing_tick_start(instance, {w.dagster_run.run_id for w in waves})
    steps = 0.0  # the wave runs' own steps: the data path without Dagster's fixed costs
    for w in waves:
        for stat in instance.get_run_step_stats(w.dagster_run.run_id):
            if stat.end_time and stat.start_time:
                steps += stat.end_time - stat.start_time
    warehouse = Store(settings.warehouse_url)
    files = current_files(warehouse, "machines/kpis_hourly")
    table = pa.concat_tables([pq.read_table(warehouse.path(k)) for k in files])
    return {
        **_totals(table),
        "wall": kpis_at - sensed_at,
        "cpu": clock.at(kpis_at) - clock.at(sensed_at),
        "total_wall": total_wall,  # + the daily roll-up, the catalog, the last idle round
        "total_cpu": total_cpu,
        "runs": len(runs),
        "steps": steps,
    }


def _landing_tick_start(instance, run_ids: set[str]) -> float:
    """When the landing sensor's tick that requested ``run_ids`` began."""
    from dagster._core.scheduler.instigation import InstigatorType

    (state,) = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == "machine_landing"
    ]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    return min(t.timestamp for t in ticks if run_ids & set(t.run_ids))


def _totals(table) -> dict:
    import pyarrow.compute as pc

    return {
        "rows": table.num_rows,
        **{
            c: int(pc.sum(table.column(c)).as_py() or 0)
            for c in ("lines", "tests_run", "units_produced", "alarms", "rejected_lines")
        },
    }


def _child(which: str, target: str) -> None:
    # Imports are not the work: each contender has its libraries loaded before its clock
    # starts (the platform imports its code location in ``_bench_platform``, as a daemon has).
    import duckdb  # noqa: F401
    import pandas  # noqa: F401

    import lakehouse.warehouse.machine_logs  # noqa: F401

    began, (cpu0, _) = time.monotonic(), _usage()
    result = {"duckdb": _bench_duckdb, "pandas": _bench_pandas, "platform": _bench_platform}[which](
        target
    )
    wall, (cpu1, peak) = time.monotonic() - began, _usage()
    result.setdefault("wall", wall)
    result.setdefault("cpu", cpu1 - cpu0)
    result["peak_rss_mb"] = peak
    print("RESULT " + json.dumps(result), flush=True)


def _run_child(which: str, target: str, env: dict) -> dict:
    _progress(f"{which} ...")
    out = subprocess.run(
        [sys.executable, "-m", "bench.machine_logs", which, target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"{which} failed:\n{out.stderr[-4000:]}")
    result = json.loads(line.removeprefix("RESULT "))
    _progress(f"{which}: {result}")
    return result


def _platform_home(tmp: Path, landing: Path, env: dict, round_no: int) -> tuple[Path, dict]:
    """A fresh LAKEHOUSE_HOME whose landing folder holds hard links to the generated files."""
    home = tmp / f"home-{round_no}"
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    (home / "landing").mkdir()
    subprocess.run(["cp", "-al", str(landing), str(home / "landing" / "machines")], check=True)
    env = {**env, "LAKEHOUSE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    workspace = str(ROOT / "workspace.yaml")
    subprocess.run(  # replication is not part of this path
        [sys.executable, "-m", "dagster", "sensor", "stop", "lake_replication", "-w", workspace],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
    )
    return home, env


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def run(scale: float = 1.0) -> dict[str, float]:
    from lakehouse.storage.store import Store
    from lakehouse_dev.simulate.machines import Quirks, generate

    rounds = max(1, int(os.environ.get("BENCH_ROUNDS", "3") or 3))
    tmp = Path(tempfile.mkdtemp(prefix="lakehouse-bench-machines-"))
    try:
        _progress(f"generating {MACHINES} machines x {WAVES} wave x {FILE_MB * scale:.1f} MiB")
        began = time.monotonic()
        out = generate(
            Store(str(tmp / "generated")),
            "machines",
            machines=MACHINES,
            file_mb=FILE_MB * scale,
            waves=WAVES,
            seed=11,
            start=START,
            quirks=Quirks(),
        )
        took = time.monotonic() - began
        mib = out.bytes_uncompressed / 2**20
        _progress(
            f"generated {mib:.0f} MiB ({out.bytes_on_disk / 2**20:.0f} on disk) in "
            f"{took:.0f}s: {out.bad_lines} bad lines, {out.truncated_files} truncated"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
        folder = tmp / "generated" / "machines"
        duck, platform, pandas = [], [], []
        for round_no in range(rounds):
            duck.append(_run_child("duckdb", str(folder), env))
            home, home_env = _platform_home(tmp, folder, env, round_no)
            platform.append(_run_child("platform", str(home), home_env))
            shutil.rmtree(home, ignore_errors=True)
            if round_no == (rounds - 1) // 2:
                pandas.append(_run_child("pandas", str(folder), env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    totals = ("lines", "tests_run", "units_produced", "alarms", "rejected_lines")
    wall = {name: _median(r, "wall") for name, r in (("platform", platform), ("duckdb", duck))}
    wall["pandas"] = _median(pandas, "wall")
    per_cpu = {
        name: mib / _median(r, "cpu")
        for name, r in (("platform", platform), ("duckdb", duck), ("pandas", pandas))
    }
    steps = _median(platform, "steps")
    return {
        "machine_logs.input_gb": out.bytes_uncompressed / 2**30,
        "machine_logs.input_gb_on_disk": out.bytes_on_disk / 2**30,
        "machine_logs.files": len(out.files),
        "machine_logs.rounds": rounds,
        "machine_logs.platform_wall_s": wall["platform"],
        "machine_logs.duckdb_wall_s": wall["duckdb"],
        "machine_logs.pandas_wall_s": wall["pandas"],
        "machine_logs.platform_mb_per_cpu_s": per_cpu["platform"],
        "machine_logs.duckdb_mb_per_cpu_s": per_cpu["duckdb"],
        "machine_logs.pandas_mb_per_cpu_s": per_cpu["pandas"],
        "machine_logs.platform_vs_duckdb": statistics.median(
            d["wall"] / p["wall"] for d, p in zip(duck, platform, strict=True)
        ),
        "machine_logs.platform_vs_pandas": wall["pandas"] / wall["platform"],
        "machine_logs.peak_rss_mb": max(r["peak_rss_mb"] for r in platform),
        "machine_logs.duckdb_peak_rss_mb": max(r["peak_rss_mb"] for r in duck),
        "machine_logs.pandas_peak_rss_mb": max(r["peak_rss_mb"] for r in pandas),
        "machine_logs.cores_for_1_5tb_in_10min": DAY_BYTES / 2**20 / per_cpu["platform"] / 600,
        "machine_logs.platform_total_wall_s": _median(platform, "total_wall"),
        "machine_logs.platform_runs": platform[0]["runs"],
        "machine_logs.load_average_1min": os.getloadavg()[0],
        "machine_logs.platform_steps_s": steps,
        "machine_logs.steps_vs_duckdb": wall["duckdb"] / steps,
        "machine_logs.kpis_agree_platform_duckdb": float(
            all(p[k] == d[k] for p, d in zip(platform, duck, strict=True) for k in totals)
        ),
        "machine_logs.kpis_agree_pandas": float(all(pandas[0][k] == duck[0][k] for k in totals)),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3:
        _child(sys.argv[1], sys.argv[2])
    else:
        figures = run(float(os.environ.get("BENCH_SCALE", "1") or 1))
        for name, value in figures.items():
            print(f"{name}: {value:.3g}")

"""``file_drop.csv_vs_duckdb``: a CSV file drop (the bank statement's format: ';', decimal comma
with '.' grouping, DD.MM.YYYY dates, a trailer) parsed by the platform (``parse_drop_wave``:
lake files -> typed Parquet parts + rejected lines, 2 workers) against bare DuckDB ``read_csv``
of the same files with the same types (2 threads, into a table). Figure = DuckDB's time / ours
(>= 0.8: the declared-format layer costs at most a quarter more than the bare reader), the
median over ``BENCH_ROUNDS`` (default 3) alternating rounds.

Size: 128 MiB of CSV at ``BENCH_SCALE=1`` (16 files); ``BENCH_SCALE=16`` is the issue's 2 GiB.
"""

import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import MB, progress

FILES = 16
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
HEADER = "booking_date;value_date;reference;counterparty;amount;currency\n"


def _write_files(lake_root: Path, folder: str, total_bytes: int) -> list[str]:
    from lakehouse_dev.simulate.bank import money

    rng = random.Random(7)
    names = []
    per_file = total_bytes // FILES
    out = lake_root / folder
    out.mkdir(parents=True)
    for n in range(FILES):
        name = f"statement_DE89370400440532013000_202603{n + 1:02d}.csv"
        day = f"{n + 1:02d}.03.2026"
        lines, size, count = [HEADER], len(HEADER), 0
        while size < per_file:
            line = (
                f"{day};{day};PAY-{rng.randrange(10**8):08d} TRADE-{rng.randrange(10**6)};"
                f"Debtor {rng.randrange(5000)} GmbH;{money(rng.randrange(-(10**7), 10**9) / 100)};"
                "EUR\n"
            )
            lines.append(line)
            size += len(line)
            count += 1
        lines.append(f"TOTAL;{count};0,00\n")
        (out / name).write_text("".join(lines), encoding="latin-1")
        names.append(name)
    return names


def run(scale: float = 1.0) -> dict[str, float]:
    import yaml

    from lakehouse.sources.files.landing import landing_for
    from lakehouse.sources.files.spec import drop_spec
    from lakehouse.storage.store import Store
    from lakehouse.warehouse.file_drops import parse_drop_wave

    spec_path = Path(__file__).parents[1] / "lakehouse/defs/bank/drop/statement.yaml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["format"]["encoding"] = "latin-1"  # DuckDB reads latin-1, not cp1252
    spec = drop_spec(raw)
    total = int(128 * MB * scale)
    with tempfile.TemporaryDirectory(prefix="bench-file-drop-") as tmp:
        lake, warehouse = Store(f"{tmp}/lake"), Store(f"{tmp}/warehouse")
        folder = landing_for(spec).take_folder(datetime(2026, 3, 2, 10, tzinfo=UTC), "2026-03-02")
        progress(f"[file_drop] writing {total / MB:.0f} MiB of statements")
        _write_files(Path(tmp) / "lake", folder, total)

        ours, bare = [], []
        for round_no in range(ROUNDS):  # alternating: load shared with others weighs on both
            bare.append(_duckdb(f"{tmp}/lake/{folder}"))
            shutil.rmtree(f"{tmp}/warehouse", ignore_errors=True)
            started = time.perf_counter()
            stats = parse_drop_wave(spec, lake, warehouse, "2026-03-02", workers=2)
            ours.append(time.perf_counter() - started)
            progress(
                f"[file_drop] round {round_no + 1}: platform {ours[-1]:.2f}s ({stats.accepted} "
                f"lines, {stats.rejected} rejected), bare DuckDB {bare[-1]:.2f}s"
            )
    return {
        "file_drop.csv_vs_duckdb": statistics.median(
            b / o for b, o in zip(bare, ours, strict=True)
        ),
        "file_drop.csv_mb_per_s": total / MB / statistics.median(ours),
        "file_drop.rounds": ROUNDS,
        "file_drop.load_average_1min": os.getloadavg()[0],
    }


def _duckdb(folder: str) -> float:
    """Bare DuckDB on the same files: ``read_csv`` with the same types, into a table."""
    import duckdb

    con = duckdb.connect(config={"threads": 2})
    started = time.perf_counter()
    con.execute(
        f"""CREATE TABLE lines AS SELECT * FROM read_csv('{folder}/*.csv',
            delim=';', header=true, decimal_separator=',', dateformat='%d.%m.%Y',
            encoding='latin-1', nullstr=['', '-'], ignore_errors=true, filename=true,
            columns={{'booking_date': 'DATE', 'value_date': 'DATE',
                     'reference': 'VARCHAR', 'counterparty': 'VARCHAR',
                     'amount': 'VARCHAR', 'currency': 'VARCHAR'}})"""
    )
    # the grouping mark: DuckDB has no thousands option; the cast is its share of the work
    con.execute(
        "CREATE TABLE typed AS SELECT * REPLACE (TRY_CAST(replace(replace(amount, '.', ''),"
        " ',', '.') AS DECIMAL(14,2)) AS amount) FROM lines"
    )
    took = time.perf_counter() - started
    con.close()
    return took

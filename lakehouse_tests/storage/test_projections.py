"""The warehouse layout: whole versions, the newest is current, old ones go after the grace."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from lakehouse.storage.parquet import write_parquet
from lakehouse.storage.projections import (
    GRACE,
    current_files,
    current_key,
    partition_prefix,
    read_current,
    remove_old_versions,
    write_version,
)
from lakehouse.storage.store import Store


def _t(n: int) -> pa.Table:
    return pa.table({"n": [n]})


def test_the_newest_version_is_current_and_a_legacy_file_is_read_until_replaced(tmp_path):
    store = Store(str(tmp_path))
    assert current_key(store, "finance/exposure") is None
    write_parquet(store, "finance/exposure.parquet", _t(0))  # written before versions existed
    assert read_current(store, "finance/exposure").column("n").to_pylist() == [0]
    first = write_version(store, "finance/exposure", _t(1))
    second = write_version(store, "finance/exposure", _t(2))
    assert first < second and current_key(store, "finance/exposure") == second
    assert read_current(store, "finance/exposure").column("n").to_pylist() == [2]
    assert current_files(store, "finance/exposure") == [second]


def test_current_files_take_the_newest_version_of_each_partition_and_every_plain_part(tmp_path):
    store = Store(str(tmp_path))
    old = write_version(store, partition_prefix("m/kpis", "2026-03-02T08"), _t(1))
    new = write_version(store, partition_prefix("m/kpis", "2026-03-02T08"), _t(2))
    other = write_version(store, partition_prefix("m/kpis", "2026-03-02T10"), _t(3))
    assert old.startswith("m/kpis/dt=2026-03-02T08/v")
    assert current_files(store, "m/kpis") == [new, other]
    write_parquet(store, "m/parsed/wave=W/SMT-0001.log.parquet", _t(4))
    write_parquet(store, "m/parsed/wave=W/AOI-0002.log.parquet", _t(5))
    assert current_files(store, "m/parsed") == [
        "m/parsed/wave=W/AOI-0002.log.parquet",
        "m/parsed/wave=W/SMT-0001.log.parquet",
    ]


def test_replaced_versions_stay_for_the_grace_period_then_go(tmp_path):
    store = Store(str(tmp_path))
    write_parquet(store, "x/t.parquet", _t(0))
    keys = [write_version(store, "x/t", _t(n)) for n in range(3)]
    assert remove_old_versions(store, "x/t") == []  # just replaced: readers may be on them
    later = datetime.now(UTC) + GRACE + timedelta(seconds=1)
    removed = remove_old_versions(store, "x/t", now=later)
    assert removed == [k.rsplit("/", 1)[0] for k in keys[:2]]
    assert store.keys("x") == [keys[2]]  # the legacy file went too; the newest stays
    assert read_current(store, "x/t").column("n").to_pylist() == [2]

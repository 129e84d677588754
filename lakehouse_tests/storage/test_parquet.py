"""Cursors kept in a Parquet file's footer: written with the data, read back from it alone."""

import pyarrow as pa

from lakehouse.storage import Store
from lakehouse.storage.parquet import cursor_of, read_cursor, with_cursors, write_parquet


def test_a_cursor_is_kept_beside_the_other_metadata_and_read_back_from_the_footer(tmp_path):
    store = Store(str(tmp_path))
    table = pa.table({"n": [1, 2]}).replace_schema_metadata({b"other": b"kept"})
    marked = with_cursors(table, watermark="2026-01-01T00:00:00", query="SELECT 1")
    write_parquet(store, "t/1.parquet", marked)

    assert read_cursor(store, "t/1.parquet", "watermark") == "2026-01-01T00:00:00"
    assert read_cursor(store, "t/1.parquet", "query") == "SELECT 1"
    assert cursor_of(marked, "other") is None  # only cursors, under their own names
    assert marked.schema.metadata[b"other"] == b"kept"


def test_no_cursor_reads_as_none():
    assert cursor_of(None, "watermark") is None
    assert cursor_of(pa.table({"n": [1]}), "watermark") is None
    assert cursor_of(pa.schema([("n", pa.int64())]), "watermark") is None

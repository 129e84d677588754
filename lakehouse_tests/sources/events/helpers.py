"""Reading back what the lake writer left in a lake: events and dead-lettered messages."""

import json

import pyarrow as pa

from lakehouse.sources.events.schema import lake_schema
from lakehouse.sources.events.writer import type_prefix
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.quarantine import REASON_SUFFIX, is_reason
from lakehouse.storage.store import Store


def read_events(lake: Store, type_name: str) -> pa.Table:
    """Every event of ``type_name`` in the lake (all files)."""
    schema = lake_schema(type_name)
    tables = [read_parquet(lake, key).cast(schema) for key in lake.keys(type_prefix(type_name))]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_quarantined(lake: Store) -> list[dict]:
    """Every dead-lettered message: its reason note, with ``body`` the bytes received."""
    notes = []
    for key in lake.keys("quarantine/events"):
        if is_reason(key):
            note = json.loads(lake.read_bytes(key))
            note["body"] = lake.read_bytes(key.removesuffix(REASON_SUFFIX))
            notes.append(note)
    return notes

"""The steps every incremental warehouse asset shares: its previous result, the lake files
written after its cursor (a bad one quarantined with its reason, the rest kept), and the
failure naming the quarantined files once the good ones are stored.

The cursor travels in the previous result's own Parquet metadata, so each lake file is
merged exactly once and a failed run is caught up by the next.
"""

from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from lakehouse.components.resources.stores import ObjectStore, warehouse_file_key
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.quarantine import quarantine
from lakehouse.storage.store import Store
from lakehouse.warehouse.current_state import BadBatch, read_batch


class IncrementalConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild from the whole lake history instead of the previous result plus new files."""


def previous_result(
    context: dg.AssetExecutionContext, config: IncrementalConfig, warehouse: ObjectStore
) -> pa.Table | None:
    """The asset's last stored result, or None (first run, or a full refresh)."""
    state_file = warehouse_file_key(context.asset_key)
    if config.full_refresh or not warehouse.store.exists(state_file):
        return None
    return read_parquet(warehouse.store, state_file)


def new_batches(
    context: dg.AssetExecutionContext,
    lake: Store,
    prefix: str,
    after: str | None,
    schema: pa.Schema,
    rejected: dict[str, str],
) -> Iterator[tuple[str, pa.Table]]:
    """(key, table) of each readable lake file under ``prefix`` after ``after``, in key order;
    an unreadable or schema-breaking one is quarantined and recorded in ``rejected``."""
    for key in lake.keys(prefix, after=after):
        try:
            yield key, read_batch(lake, key, schema)
        except BadBatch as exc:
            rejected[key] = str(exc)
            moved_to = quarantine(lake, key, str(exc), run_id=context.run.run_id)
            context.log.error(f"quarantined {lake.uri(key)} -> {moved_to}: {exc}")


def fail_if_rejected(lake: Store, rejected: dict[str, str]) -> None:
    """After the good files are stored: fail the run naming every quarantined file."""
    if rejected:
        raise dg.Failure(
            description="; ".join(f"{lake.uri(k)}: {r}" for k, r in rejected.items()),
            metadata={"quarantined": rejected},
            allow_retries=False,
        )

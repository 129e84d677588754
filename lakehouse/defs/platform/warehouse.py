"""``warehouse/platform/<table>``: the current state of each table, merged from lake history."""

from collections.abc import Iterator

import dagster as dg

from lakehouse.defs.platform.keys import GROUP, OWNERS, lake_key, lake_prefix, state_key
from lakehouse.sources.platform.extract import arrow_schema
from lakehouse.sources.platform.schema import TABLES
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.quarantine import quarantine
from lakehouse.storage.resources import ObjectStore, warehouse_file_key
from lakehouse.transforms.current_state import BadBatch, merge, read_batch, state_cursor


class MergeConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild from the whole lake history instead of the previous state plus new batches."""


def state_asset(table: str) -> dg.AssetsDefinition:
    schema = arrow_schema(table)

    @dg.asset(
        key=state_key(table),
        deps=[lake_key(table)],
        description=(
            f"Current state of platform table `{table}`: the latest version of every row, "
            "merged incrementally from the lake batches not yet seen."
        ),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"duckdb", "parquet"},
        tags={"layer": "warehouse"},
        pool=f"warehouse:platform/{table}",  # merges of one table never race
    )
    def _current_state(
        context: dg.AssetExecutionContext,
        config: MergeConfig,
        lake: ObjectStore,
        warehouse: ObjectStore,
    ) -> Iterator[dg.Output]:
        lake_store, state_file = lake.store, warehouse_file_key(context.asset_key)
        previous = None
        if not config.full_refresh and warehouse.store.exists(state_file):
            previous = read_parquet(warehouse.store, state_file)
        new_keys = lake_store.keys(lake_prefix(table), after=state_cursor(previous))
        batches, rejected = {}, {}
        for key in new_keys:
            try:
                batches[key] = read_batch(lake_store, key, schema)
            except BadBatch as exc:
                rejected[key] = str(exc)
                moved_to = quarantine(lake_store, key, str(exc), run_id=context.run.run_id)
                context.log.error(f"quarantined {lake_store.uri(key)} -> {moved_to}: {exc}")
        merged = merge(previous, batches, schema)
        yield dg.Output(
            merged.state,
            metadata={
                "lake_files_merged": sorted(batches),
                "lake_rows_merged": sum(t.num_rows for t in batches.values()),
                "lake_cursor": merged.cursor or "",
                "quarantined": rejected,
            },
        )
        if rejected:
            raise dg.Failure(
                description="; ".join(f"{lake_store.uri(k)}: {r}" for k, r in rejected.items()),
                metadata={"quarantined": rejected},
                allow_retries=False,
            )

    return _current_state


state_assets = [state_asset(table) for table in TABLES]

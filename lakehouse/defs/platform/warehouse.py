"""``warehouse/platform/<table>``: the current state of each table, merged from lake history."""

import dagster as dg
import pyarrow as pa

from lakehouse.components.incremental import Batches, LakeInput, incremental_asset
from lakehouse.defs.platform.keys import GROUP, OWNERS, lake_key, lake_prefix, state_key
from lakehouse.sources.platform.extract import arrow_schema
from lakehouse.sources.platform.schema import TABLES
from lakehouse.warehouse.current_state import merge


def state_asset(table: str) -> dg.AssetsDefinition:
    schema = arrow_schema(table)

    def _merge(previous: pa.Table | None, new: Batches) -> pa.Table:
        return merge(previous, new[table], schema)

    return incremental_asset(
        state_key(table),
        {table: LakeInput(lake_prefix(table), schema)},
        _merge,
        deps=[lake_key(table)],
        description=(
            f"Current state of platform table `{table}`: the latest version of every row, "
            "merged incrementally from the lake batches not yet seen."
        ),
        group_name=GROUP,
        owners=OWNERS,
    )


state_assets = [state_asset(table) for table in TABLES]

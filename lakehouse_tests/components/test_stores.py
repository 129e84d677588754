"""The store resources: one Store per resource; what the UI shows of a warehouse table
(exact decimals in the preview, described columns)."""

from decimal import Decimal

import dagster as dg
import pyarrow as pa
import pytest

from lakehouse.components.resources.stores import ObjectStore, table_metadata
from lakehouse.storage.parquet import describe_columns


def test_a_step_gets_the_same_store_on_every_access(tmp_path):
    seen = []

    @dg.asset
    def uses_the_lake(lake: ObjectStore) -> None:
        seen.extend([lake.store, lake.store])

    assert dg.materialize(
        [uses_the_lake], resources={"lake": ObjectStore(url=str(tmp_path))}
    ).success
    assert seen[0] is seen[1]
    assert seen[0].url == str(tmp_path)


def test_preview_keeps_the_cents_and_schema_carries_descriptions():
    table = pa.table(
        {
            "currency": pa.array(["GBP", "EUR"]),
            "advance_volume": pa.array(
                [Decimal("521564.18"), Decimal("1234567.05")], pa.decimal128(18, 2)
            ),
        }
    )
    described = describe_columns(
        table, {"currency": "ISO 4217 code", "advance_volume": "sum of advances"}
    )
    metadata = table_metadata(described)
    preview = metadata["preview"].value
    assert "521564.18" in preview and "1234567.05" in preview
    columns = metadata["dagster/column_schema"].value.columns
    assert [(c.name, c.description) for c in columns] == [
        ("currency", "ISO 4217 code"),
        ("advance_volume", "sum of advances"),
    ]


def test_every_column_must_be_described():
    with pytest.raises(ValueError, match="no description for column"):
        describe_columns(pa.table({"a": [1], "b": [2]}), {"a": "the a"})

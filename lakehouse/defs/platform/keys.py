"""Asset keys of the platform domain, one per layer: source -> lake -> warehouse."""

import dagster as dg

from lakehouse.sources.platform.schema import TABLES

GROUP = "platform"
OWNERS = ["team:platform"]


def source_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["source", "platform", table])


def lake_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", "platform", table])


def state_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", "platform", table])


def lake_prefix(table: str) -> str:
    """Where the table's batches live in the lake store."""
    return f"platform/{table}"


LAKE_KEYS = [lake_key(t) for t in TABLES]

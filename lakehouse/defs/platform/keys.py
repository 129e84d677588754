"""Asset keys of the platform database's tables, one per layer: source -> lake -> warehouse.

The tables and their assets are declared in ``database/defs.yaml`` (the SqlDatabase
component); these keys are what the KPIs and checks read.
"""

import dagster as dg

OWNERS = ["team:platform"]
TABLES = (
    "companies",
    "investors",
    "applications",
    "invoices",
    "underwriter_decisions",
    "trades",
    "trade_allocations",
    "payments",
)
"""The tables ``database/defs.yaml`` lists (a test keeps the two the same)."""


def lake_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", "platform", table])


def state_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", "platform", table])


def lake_prefix(table: str) -> str:
    """Where the table's batches live in the lake store."""
    return f"platform/{table}"

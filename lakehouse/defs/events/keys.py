"""Asset keys of the events domain: source (the bus) -> lake (per type) -> warehouse."""

import dagster as dg

from lakehouse.sources.events.schema import EVENT_TYPES

GROUP = "events"
OWNERS = ["team:platform"]
BUS_KEY = dg.AssetKey(["source", "events", "bus"])


def lake_key(type_name: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", "events", type_name])


def projection_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["warehouse", "events", name])


LAKE_KEYS = [lake_key(t) for t in EVENT_TYPES]

"""``lake/events/<type>``: the bus's events in the lake, written by the lake writer.

Sensor-driven mode of the lake writer: the ``events_bus`` sensor (``sensors.py``) sees
messages waiting on the bus and requests one run of ``lake_events``, which drains a bounded
number of them into the lake (exactly once, see ``lakehouse.sources.events.writer``). The
long-lived ``lakehouse lake-writer`` is the other mode; while it runs (its heartbeat is fresh)
the sensor leaves the bus to it.
"""

import dagster as dg

from lakehouse.components.resources.event_bus import EventBus
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.events.keys import BUS_KEY, GROUP, OWNERS, lake_key
from lakehouse.sources.events.bus import BusError
from lakehouse.sources.events.schema import EVENT_TYPES
from lakehouse.sources.events.writer import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_VISIBILITY_TIMEOUT,
    LakeWriter,
)

bus_spec = dg.AssetSpec(
    BUS_KEY,
    description=(
        "The platform event bus (`LAKEHOUSE_BUS_URL`: embedded queue, SQS or Azure Storage "
        "Queue), observed by the `events_bus` sensor (messages waiting)."
    ),
    group_name=GROUP,
    owners=OWNERS,
    kinds={"queue"},
)


class DrainConfig(dg.Config):
    max_messages: int = 100_000
    """Messages received by one run at most (the rest waits for the next run)."""
    batch_size: int = DEFAULT_BATCH_SIZE
    """Messages per micro-batch (one lake file per event type per micro-batch)."""
    visibility_timeout_seconds: int = int(DEFAULT_VISIBILITY_TIMEOUT)
    """How long a received message stays hidden before it is delivered again."""


@dg.multi_asset(
    name="lake_events",
    description="Drain the event bus into the lake, exactly once per event id.",
    specs=[
        dg.AssetSpec(
            lake_key(type_name),
            deps=[BUS_KEY],
            description=(
                f"`{type_name}` events ({event_type.description}) as written by the lake "
                "writer: immutable Parquet micro-batches at "
                f"`events/{type_name}/dt=<ingestion date>/<timestamp>.parquet`, one row per "
                "event id (exactly once), the event's own date in column `event_date`."
            ),
            group_name=GROUP,
            owners=OWNERS,
            kinds={"parquet"},
            tags={"layer": "lake"},
        )
        for type_name, event_type in EVENT_TYPES.items()
    ],
    pool="lake:events",  # one lake writer at a time keeps keys in write order
)
def lake_events(
    context: dg.AssetExecutionContext, config: DrainConfig, event_bus: EventBus, lake: ObjectStore
):
    with event_bus.bus as bus:
        try:
            bus.verify()
        except BusError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        writer = LakeWriter(
            bus,
            lake.store,
            batch_size=config.batch_size,
            visibility_timeout=config.visibility_timeout_seconds,
        )
        result = writer.drain(config.max_messages)
        writer.checkpoint()
    context.log.info(f"lake writer: {result.summary()}")
    for reason in result.reasons:
        context.log.warning(f"quarantined: {reason}")
    context.log_event(dg.AssetObservation(asset_key=BUS_KEY, metadata=result.metadata()))
    # Every type is materialised, with what it got (possibly nothing), as the platform's
    # extractions are: a run that builds the projections downstream never skips them.
    for type_name in EVENT_TYPES:
        yield dg.MaterializeResult(
            asset_key=lake_key(type_name),
            metadata={
                "events_written": result.written[type_name],
                "files": [lake.store.uri(k) for k in result.files[type_name]],
                **result.metadata(),
            },
        )

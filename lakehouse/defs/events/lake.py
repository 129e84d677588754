"""``lake/events/<type>``: the bus's events in the lake, written by the lake writer.

Sensor-driven mode of the lake writer: the ``events_bus`` sensor (``sensors.py``) sees
messages on the bus and requests one run of ``lake_events``, which drains a bounded number of
them into the lake
(exactly once, see ``lakehouse.sources.events.writer``). The long-lived ``lakehouse
lake-writer`` is the other mode; while it runs (its heartbeat is fresh) the sensor leaves the
bus to it.

The sensor decides from the bus's state, not from what it saw last: messages visible *or
leased* with no drain running and no live writer mean work to do. Leased ones were received by
a drain that died between its lake write and its ack (a killed tick, whose run the next tick
fails); the new drain waits for their leases to expire (at most the visibility timeout) and
writes them or drops them as the duplicates they are. A drain that still finds messages leased
after that fails, naming them: work is never left stranded behind a successful run.
"""

import datetime as dt

import dagster as dg

from lakehouse.components.resources.event_bus import EventBus
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.events.keys import BUS_KEY, GROUP, OWNERS, lake_key
from lakehouse.sources.events.bus import BusError
from lakehouse.sources.events.schema import EVENT_TYPES
from lakehouse.sources.events.writer import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_FUTURE_SKEW,
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
    max_future_skew_seconds: int = int(DEFAULT_MAX_FUTURE_SKEW.total_seconds())
    """An event dated more than this after its arrival is dead-lettered (clock_skew)."""


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
            max_future_skew=dt.timedelta(seconds=config.max_future_skew_seconds),
        )
        result = writer.drain(
            config.max_messages, leased_wait=config.visibility_timeout_seconds + 5
        )
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
    if result.leased_left:
        raise dg.Failure(
            description=f"{result.leased_left} message(s) still leased by another consumer after "
            f"{config.visibility_timeout_seconds + 5}s: is a lake writer running elsewhere?",
        )

"""The events domain's sensors: messages waiting on the bus -> a run draining them into the lake
and carrying them through to the projections that count them, and on (``events_bus``); new
event files written otherwise (the long-lived lake writer) -> those projections."""

import dagster as dg

from lakehouse.components.automation import EVERY_DAEMON_PASS, CarriedThrough, carried_run
from lakehouse.components.lake_sensor import lake_file_sensor
from lakehouse.components.resources.event_bus import EventBus
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.events.keys import BUS_KEY, LAKE_KEYS, projection_key
from lakehouse.sources.events.bus import BusError
from lakehouse.sources.events.writer import live_writer, type_prefix
from lakehouse.warehouse.events import APPLICATION_FUNNEL, FUNDED_VOLUME

SENSOR_NAME = "events_bus"
PROJECTIONS = [projection_key(p.name) for p in (APPLICATION_FUNNEL, FUNDED_VOLUME)]
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

# One sensor (one cursor) per projection: trade_funded files feed both.
events_funnel_files = lake_file_sensor(
    "events_funnel_files",
    "New application, decision and funding event files -> update the application funnel.",
    {type_prefix(t): projection_key(APPLICATION_FUNNEL.name) for t in APPLICATION_FUNNEL.sources},
    minimum_interval_seconds=EVERY_DAEMON_PASS,  # the long-lived lake writer's files
)
events_funded_volume_files = lake_file_sensor(
    "events_funded_volume_files",
    "New trade_funded event files -> update the funded volume.",
    {type_prefix(t): projection_key(FUNDED_VOLUME.name) for t in FUNDED_VOLUME.sources},
    minimum_interval_seconds=EVERY_DAEMON_PASS,
)


@dg.sensor(
    name=SENSOR_NAME,
    description=(
        "Messages on the event bus (waiting, or leased by a drain that died) -> a run of "
        "`lake_events` draining them, the event projections and what depends on them (unless "
        "a drain is queued or running, or the long-lived lake writer is running)."
    ),
    target=CarriedThrough((*LAKE_KEYS, *PROJECTIONS)),
    minimum_interval_seconds=EVERY_DAEMON_PASS,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def events_bus(
    context: dg.SensorEvaluationContext, event_bus: EventBus, lake: ObjectStore
) -> dg.SensorResult | dg.SkipReason:
    try:
        with event_bus.bus as bus:
            pending, leased = bus.pending(), bus.in_flight()
    except BusError as exc:
        return dg.SkipReason(str(exc))
    if not pending and not leased:
        return dg.SkipReason("no messages on the bus")
    writer = live_writer(lake.store)
    if writer is not None:
        return dg.SkipReason(
            f"the long-lived lake writer {writer['owner']} is draining the bus "
            f"(heartbeat {writer['age_s']:.0f}s ago)"
        )
    active = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR_NAME}, statuses=IN_PROGRESS),
        limit=1,
    )
    if active:
        return dg.SkipReason(f"a drain is already under way (run {active[0].dagster_run.run_id})")
    n = int(context.cursor or 0) + 1
    return dg.SensorResult(
        run_requests=[
            carried_run(context, [*LAKE_KEYS, *PROJECTIONS], run_key=f"{SENSOR_NAME}-{n}")
        ],
        cursor=str(n),
        asset_events=[
            dg.AssetObservation(
                BUS_KEY, metadata={"messages_waiting": pending, "messages_leased": leased}
            ),
        ],
    )

"""``lakehouse simulate events`` and ``lakehouse lake-writer`` (registered in lakehouse/cli.py).

Heavy imports stay inside the commands so that ``lakehouse --help`` stays fast.
"""

from __future__ import annotations

import click

from lakehouse.settings import Settings


def _bus(settings: Settings):
    from lakehouse.events.bus import BusError, bus_from_url

    try:
        bus = bus_from_url(settings.bus_url)
        bus.verify()
    except BusError as exc:
        raise click.ClickException(str(exc)) from exc
    return bus


@click.command("events")
@click.option("--rate", default=50.0, show_default=True, help="Events per second.")
@click.option("--seconds", default=10.0, show_default=True, help="For how long.")
@click.option("--seed", default=7, show_default=True, help="Seed of a new platform database.")
@click.option(
    "--duplicates", default=0.0, show_default=True, help="Share of events re-sent (fault drill)."
)
@click.option(
    "--malformed", default=0.0, show_default=True, help="Share of bad messages added (drill)."
)
def simulate_events(
    rate: float, seconds: float, seed: int, duplicates: float, malformed: float
) -> None:
    """Publish the platform's activity as events on the bus (LAKEHOUSE_BUS_URL), RATE per
    second for SECONDS: the next unpublished rows of the platform database, in the order they
    happened, advancing the platform by a day whenever it runs out of activity."""
    from lakehouse.events.bus import BusError
    from lakehouse.events.platform import publish_platform_events
    from lakehouse.sources.platform.db import PlatformDBError, display_name

    if rate <= 0 or seconds < 0:
        raise click.BadParameter("--rate must be > 0 and --seconds >= 0")
    settings = Settings.from_env()
    count = round(rate * seconds)
    with _bus(settings) as bus:
        try:
            result = publish_platform_events(
                settings.platform_db_url,
                bus,
                count=count,
                rate=rate,
                seed=seed,
                duplicates=duplicates,
                malformed=malformed,
            )
        except (PlatformDBError, BusError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"published {result.published} event(s) to {bus.url} in {result.seconds:.1f}s "
        f"({result.rate:.0f}/s) from {display_name(settings.platform_db_url)}"
    )
    for type_name, n in sorted(result.by_type.items()):
        click.echo(f"  {type_name}: {n}")
    if result.duplicates or result.malformed:
        click.echo(f"  + {result.duplicates} re-sent, {result.malformed} malformed (drill)")
    if result.platform_days:
        click.echo(f"  platform advanced {result.platform_days} day(s) to have enough activity")


@click.command("lake-writer")
@click.option("--once", is_flag=True, help="Drain what is on the bus now, then exit.")
@click.option("--batch-size", default=1000, show_default=True, help="Messages per micro-batch.")
@click.option(
    "--visibility-timeout",
    default=120,
    show_default=True,
    help="Seconds a received message stays hidden before it is delivered again.",
)
@click.option("--poll", default=1.0, show_default=True, help="Seconds to wait on an empty bus.")
@click.option("--force", is_flag=True, help="Start even if another writer's heartbeat is fresh.")
def lake_writer(
    once: bool, batch_size: int, visibility_timeout: int, poll: float, force: bool
) -> None:
    """Consume the event bus into lake/events/<type> (exactly once), until SIGINT/SIGTERM.

    Each micro-batch is acknowledged only once it is durable in the lake. While it runs, the
    Dagster sensor `events_bus` leaves the bus to it.
    """
    import signal
    import threading

    from lakehouse.events.bus import BusError
    from lakehouse.events.writer import LakeWriter, live_writer, writer_identity
    from lakehouse.storage.store import Store, StoreUnavailable

    settings = Settings.from_env()
    lake = Store(settings.lake_url)
    try:
        lake.verify("lake")
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    with _bus(settings) as bus:
        writer = LakeWriter(bus, lake, batch_size=batch_size, visibility_timeout=visibility_timeout)
        click.echo(
            f"lake writer: {bus.url} -> {lake.uri('events')} "
            f"({len(writer.index):,} event ids remembered, {writer.index.files_read} file(s) read)"
        )
        other = live_writer(lake)
        if other is not None and not force:
            raise click.ClickException(
                f"another lake writer ({other['owner']}) beat {other['age_s']:.0f}s ago; "
                "one writer at a time (use --force if it is gone)"
            )
        try:
            if once:
                result = writer.drain()
                writer.checkpoint()
                click.echo(f"lake writer: {result.summary()}")
                return
            stop = threading.Event()

            def request_stop(signum, frame) -> None:
                click.echo(f"lake writer: {signal.Signals(signum).name}, finishing the batch")
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, request_stop)
            result = writer.run(
                stop,
                poll_seconds=poll,
                owner=writer_identity("cli"),
                on_step=lambda step: click.echo(f"lake writer: {step.summary()}"),
                on_error=lambda exc, backoff: click.echo(
                    f"lake writer: step failed, retrying in {backoff:.0f}s: {exc}", err=True
                ),
            )
        except BusError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"lake writer stopped: {result.summary()}")

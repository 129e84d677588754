"""The `lakehouse` command: the product's operations (doctor, reconcile, kpis, lake-writer).

Development commands (simulate, tick, demo, emulators, prod, new-team, dev) attach from the
checkout's ``lakehouse_dev`` package through the ``lakehouse.commands`` entry point; an
installed wheel has only the product's.
"""

import sys
from importlib.metadata import entry_points

import click

from lakehouse.settings import Settings


@click.group()
def main() -> None:
    """lakehouse: sources -> lake -> replica -> warehouse -> catalog, on Dagster."""


@main.command()
def doctor() -> None:
    """Check that every configured store and source (platform database, bus, the APIs that
    are configured) can be used; exit non-zero with one line per problem."""
    from lakehouse.sources.health import check_sources

    settings = Settings.from_env()
    _check_stores(settings)
    problems = []
    for source in check_sources(settings.platform_db_url, settings.bus_url):
        click.echo(f"  {source.name:<10} {source.where}" + ("" if source.ok else "  FAILED"))
        if not source.ok:
            problems.append(f"{source.name}: {source.problem}")
    if settings.glue_database_prefix is not None:
        from lakehouse.catalog.glue import glue_problem

        where, problem = glue_problem(settings.glue_database_prefix)
        click.echo(f"  {'glue':<10} {where}" + ("  FAILED" if problem else ""))
        if problem:
            problems.append(f"glue: {problem}")
    if problems:
        raise click.ClickException("; ".join(problems))
    click.echo("doctor: every store and source is reachable")


def _check_stores(settings: Settings, *, echo: bool = True) -> None:
    from lakehouse.storage.store import Store, StoreUnavailable

    try:
        for name, url in settings.store_urls().items():
            Store(url).verify(name)
            if echo:
                click.echo(f"  {name:<10} {url}")
        Store(settings.catalog_url.rsplit("/", 1)[0]).verify("catalog")
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--dry-run", is_flag=True, help="Report the drift, change nothing.")
def reconcile(dry_run: bool) -> None:
    """Compare the lake with its replica by checksum and repair the drift (never deletes)."""
    from lakehouse.replica.replicate import reconcile as run
    from lakehouse.storage.store import Store

    settings = Settings.from_env()
    if not settings.replica_url:
        raise click.ClickException("no replica configured: set LAKEHOUSE_REPLICA_URL")
    _check_stores(settings)
    drift = run(Store(settings.lake_url), Store(settings.replica_url), repair=not dry_run)
    for kind in ("missing", "different", "extra"):
        for key in getattr(drift, kind):
            click.echo(f"  {kind:<9} {key}")
    click.echo(f"reconcile {settings.lake_url} -> {settings.replica_url}: {drift.summary()}")
    if dry_run and not drift.in_sync:
        sys.exit(1)


@main.command()
def kpis() -> None:
    """Print a summary of the KPIs from the DuckDB catalog."""
    from lakehouse.catalog.report import kpi_summary

    settings = Settings.from_env()
    _check_stores(settings, echo=False)  # one line per unusable store, not a service's reply
    click.echo(kpi_summary(settings))


def open_bus(settings: Settings):
    """The configured event bus, verified; a click error naming the problem otherwise."""
    from lakehouse.sources.events.bus import BusError
    from lakehouse.sources.events.buses import bus_from_url

    try:
        bus = bus_from_url(settings.bus_url)
        bus.verify()
    except BusError as exc:
        raise click.ClickException(str(exc)) from exc
    return bus


@main.command("lake-writer")
@click.option("--once", is_flag=True, help="Drain what is on the bus now, then exit.")
@click.option("--batch-size", default=1000, show_default=True, help="Messages per micro-batch.")
@click.option(
    "--visibility-timeout",
    default=120,
    show_default=True,
    help="Seconds a received message stays hidden before it is delivered again.",
)
@click.option("--poll", default=1.0, show_default=True, help="Seconds to wait on an empty bus.")
@click.option(
    "--max-future-skew",
    default=3600,
    show_default=True,
    help="Seconds an event may be dated after its arrival; later ones are dead-lettered.",
)
@click.option("--force", is_flag=True, help="Start even if another writer's heartbeat is fresh.")
def lake_writer(
    once: bool,
    batch_size: int,
    visibility_timeout: int,
    poll: float,
    max_future_skew: int,
    force: bool,
) -> None:
    """Consume the event bus into lake/events/<type> (exactly once), until SIGINT/SIGTERM.

    Each micro-batch is acknowledged only once it is durable in the lake. While it runs, the
    Dagster sensor `events_bus` leaves the bus to it.
    """
    import datetime as dt
    import signal
    import threading

    from lakehouse.sources.events.bus import BusError
    from lakehouse.sources.events.writer import LakeWriter, live_writer, writer_identity
    from lakehouse.storage.store import Store, StoreUnavailable

    settings = Settings.from_env()
    lake = Store(settings.lake_url)
    try:
        lake.verify("lake")
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    with open_bus(settings) as bus:
        writer = LakeWriter(
            bus,
            lake,
            batch_size=batch_size,
            visibility_timeout=visibility_timeout,
            max_future_skew=dt.timedelta(seconds=max_future_skew),
        )
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


def _attach_plugins() -> None:
    """Add the commands of installed plugins (the checkout's development commands)."""
    for entry_point in entry_points(group="lakehouse.commands"):
        try:
            register = entry_point.load()
        except ModuleNotFoundError:
            continue  # declared by the project, absent from an installed wheel
        register(main)


_attach_plugins()

if __name__ == "__main__":
    sys.exit(main())

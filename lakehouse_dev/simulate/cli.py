"""``lakehouse simulate ...``: generate source activity (platform rows, marketing APIs, events,
machine logs). Heavy imports stay inside the commands so that ``lakehouse --help`` stays fast."""

from __future__ import annotations

import click

from lakehouse.settings import Settings


@click.group()
def simulate() -> None:
    """Generate source activity."""


@simulate.command("platform")
@click.option("--days", default=30, show_default=True, help="Simulated days to advance.")
@click.option("--seed", default=7, show_default=True)
def simulate_platform(days: int, seed: int) -> None:
    """Create or advance the platform database by DAYS of activity (new rows and updates)."""
    from lakehouse.sources.sql.db import SourceError, display_name
    from lakehouse_dev.simulate.platform import SeedMismatch, explain
    from lakehouse_dev.simulate.platform import simulate as run

    url = Settings.from_env().platform_db_url
    try:
        counts = run(url, days=days, seed=seed)
    except (SourceError, SeedMismatch) as exc:
        raise click.ClickException(explain(exc)) from exc
    click.echo(f"platform database {display_name(url)}: advanced {days} day(s)")
    for key, value in counts.items():
        click.echo(f"  {key}: {value}")


@simulate.command("marketing")
@click.option("--seed", default=7, show_default=True)
@click.option("--serve", is_flag=True, help="Then serve it as the Salesforce and GA4 APIs.")
@click.option("--port", default=8765, show_default=True, help="Port to serve on (loopback).")
def simulate_marketing(seed: int, serve: bool, port: int) -> None:
    """Generate Salesforce and Google Analytics data consistent with the platform database
    (its sellers and dates); with --serve, serve it on loopback until Ctrl-C."""
    import time

    from lakehouse.sources.sql.db import SourceError
    from lakehouse_dev.fake_apis import FakeAPIs
    from lakehouse_dev.fake_apis import simulate_marketing as run
    from lakehouse_dev.simulate.platform import explain

    settings = Settings.from_env()
    try:
        sim = run(settings.platform_db_url, seed=seed)
    except SourceError as exc:
        raise click.ClickException(explain(exc)) from exc
    path = sim.data.save(settings.home / "marketing_apis")
    leads = len(sim.data.salesforce["Lead"])
    click.echo(f"marketing APIs data {path} (from the {sim.source}):")
    for sobject, records in sim.data.salesforce.items():
        click.echo(f"  salesforce {sobject}: {len(records)} records")
    click.echo(f"  leads matching a platform company: {sim.leads_matching_platform} of {leads}")
    click.echo(
        f"  google analytics: {len(sim.data.ga_facts)} daily facts, {sim.first_day}..{sim.last_day}"
    )
    if not serve:
        return
    try:
        fake = FakeAPIs(data_dir=path.parent).start("127.0.0.1", port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on 127.0.0.1:{port} ({exc}); use --port") from exc
    env_file = settings.home / "marketing_apis.env"
    env_file.write_text("".join(f"export {k}={v}\n" for k, v in fake.env().items()))
    click.echo(f"serving Salesforce and GA4 on {fake.url} (reloads {path.name} when it changes)")
    click.echo(f"point the marketing assets at it:  source {env_file}   (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
        env_file.unlink(missing_ok=True)


@simulate.command("machine-logs")
@click.option("--machines", default=10, show_default=True, help="Machines (5 types, dealt).")
@click.option("--file-mb", default=50.0, show_default=True, help="Uncompressed MiB per file.")
@click.option("--waves", default=1, show_default=True, help="2-hour waves (one file each).")
@click.option("--landing", default=None, help="Folder or URL [default: <landing>/machines].")
@click.option("--seed", default=7, show_default=True)
@click.option("--start", default=None, help="First wave, YYYY-MM-DDTHH [default: recent].")
@click.option("--bad-line-rate", default=2e-6, show_default=True)
@click.option("--truncated-share", default=0.05, show_default=True)
@click.option("--empty-files", default=0, show_default=True, help="Per wave.")
@click.option("--unknown-files", default=0, show_default=True, help="Per wave.")
def simulate_machine_logs(
    machines: int,
    file_mb: float,
    waves: int,
    landing: str | None,
    seed: int,
    start: str | None,
    bad_line_rate: float,
    truncated_share: float,
    empty_files: int,
    unknown_files: int,
) -> None:
    """Write machine log files (docs/machine-log-formats.md) into the landing folder."""
    import time
    from datetime import UTC, datetime

    from lakehouse.sources.machines.landing import LANDING_PREFIX
    from lakehouse.storage.store import Store
    from lakehouse_dev.simulate.machines import Quirks, generate

    if landing:
        store, prefix = Store(landing), ""
    else:
        store, prefix = Store(Settings.from_env().landing_url), LANDING_PREFIX
    first = datetime.strptime(start, "%Y-%m-%dT%H").replace(tzinfo=UTC) if start else None
    began = time.monotonic()
    out = generate(
        store,
        prefix,
        machines=machines,
        file_mb=file_mb,
        waves=waves,
        seed=seed,
        start=first,
        quirks=Quirks(truncated_share, bad_line_rate, empty_files, unknown_files),
    )
    took = time.monotonic() - began
    mib = out.bytes_uncompressed / 2**20
    click.echo(
        f"machine logs: {len(out.files)} file(s) in {store.uri(prefix) if prefix else store.url}"
        f": {mib:.0f} MiB ({out.bytes_on_disk / 2**20:.0f} MiB on disk), {out.lines} lines, "
        f"{out.bad_lines} bad, {out.truncated_files} truncated; {took:.1f}s "
        f"({mib / max(took, 1e-9):.0f} MiB/s)"
    )


@simulate.command("bank-statements")
@click.option("--days", default=3, show_default=True, help="Statements (one per day).")
@click.option("--landing", default=None, help="Folder or URL [default: <landing>/bank].")
def simulate_bank_statements(days: int, landing: str | None) -> None:
    """Write the bank's payments statements of the platform's last DAYS days (CSV, bank quirks:
    docs/file-drops.md) into the landing folder."""
    import datetime as dt

    from lakehouse.storage.store import Store
    from lakehouse_dev.simulate.bank import write_statements
    from lakehouse_dev.simulate.platform import simulated_clock

    settings = Settings.from_env()
    store, prefix = (Store(landing), "") if landing else (Store(settings.landing_url), "bank")
    last_day = simulated_clock(settings.platform_db_url).date() - dt.timedelta(days=1)
    out = write_statements(settings.platform_db_url, store, prefix, days, last_day)
    click.echo(f"bank statements: {len(out.files)} file(s), {out.lines} lines, up to {last_day}")


@simulate.command("events")
@click.option("--rate", default=50.0, show_default=True, help="Events per second.")
@click.option("--seconds", default=10.0, show_default=True, help="For how long.")
@click.option("--seed", default=7, show_default=True, help="Seed of a new platform database.")
@click.option(
    "--duplicates", default=0.0, show_default=True, help="Share of events re-sent (fault drill)."
)
@click.option(
    "--malformed", default=0.0, show_default=True, help="Share of bad messages added (drill)."
)
@click.option(
    "--advance/--no-advance",
    default=True,
    show_default=True,
    help="Advance the platform a day when it runs out of activity (else stop there).",
)
def simulate_events(
    rate: float, seconds: float, seed: int, duplicates: float, malformed: float, advance: bool
) -> None:
    """Publish the platform's activity as events on the bus (LAKEHOUSE_BUS_URL), RATE per
    second for SECONDS: the next unpublished rows of the platform database, in the order they
    happened, advancing the platform by a day whenever it runs out of activity (--advance)."""
    from lakehouse.sources.events.bus import BusError
    from lakehouse.sources.sql.db import SourceError, display_name
    from lakehouse_dev.simulate.events import publish_platform_events
    from lakehouse_dev.simulate.platform import explain

    if rate <= 0 or seconds < 0:
        raise click.BadParameter("--rate must be > 0 and --seconds >= 0")
    settings = Settings.from_env()
    count = round(rate * seconds)
    from lakehouse.cli import open_bus  # not at import: lakehouse.cli loads this module

    with open_bus(settings) as bus:
        try:
            result = publish_platform_events(
                settings.platform_db_url,
                bus,
                count=count,
                rate=rate,
                advance=advance,
                seed=seed,
                duplicates=duplicates,
                malformed=malformed,
            )
        except (SourceError, BusError) as exc:
            raise click.ClickException(explain(exc)) from exc
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

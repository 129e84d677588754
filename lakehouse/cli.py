"""The `lakehouse` command: simulate sources, tick the sensors, run the demo, open the UI."""

import os
import sys
from pathlib import Path

import click

from lakehouse.events.cli import lake_writer, simulate_events
from lakehouse.settings import Settings

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


@click.group()
def main() -> None:
    """lakehouse: sources -> lake -> replica -> warehouse -> catalog, on Dagster."""


@main.group()
def simulate() -> None:
    """Generate source activity."""


@simulate.command("platform")
@click.option("--days", default=30, show_default=True, help="Simulated days to advance.")
@click.option("--seed", default=7, show_default=True)
def simulate_platform(days: int, seed: int) -> None:
    """Create or advance the platform database by DAYS of activity (new rows and updates)."""
    from lakehouse.sources.platform.db import PlatformDBError, display_name
    from lakehouse.sources.platform.simulate import simulate as run

    url = Settings.from_env().platform_db_url
    try:
        counts = run(url, days=days, seed=seed)
    except PlatformDBError as exc:
        raise click.ClickException(str(exc)) from exc
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

    from lakehouse.sources.fake_apis import FakeAPIs
    from lakehouse.sources.fake_apis import simulate_marketing as run
    from lakehouse.sources.platform.db import PlatformDBError

    settings = Settings.from_env()
    try:
        sim = run(settings.platform_db_url, seed=seed)
    except PlatformDBError as exc:
        raise click.ClickException(str(exc)) from exc
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

    from lakehouse.sources.machines.generate import Quirks, generate
    from lakehouse.sources.machines.landing import LANDING_PREFIX
    from lakehouse.storage.store import Store

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


simulate.add_command(simulate_events)
main.add_command(lake_writer)


@main.command()
def doctor() -> None:
    """Check that every configured store and the platform database can be used."""
    _check_stores(Settings.from_env())
    click.echo("doctor: every store is reachable")


def _check_stores(settings: Settings) -> None:
    from lakehouse.storage.store import Store, StoreUnavailable

    try:
        for name, url in settings.store_urls().items():
            Store(url).verify(name)
            click.echo(f"  {name:<10} {url}")
        Store(settings.catalog_url.rsplit("/", 1)[0]).verify("catalog")
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--dry-run", is_flag=True, help="Report the drift, change nothing.")
def reconcile(dry_run: bool) -> None:
    """Compare the lake with its replica by checksum and repair the drift (never deletes)."""
    from lakehouse.storage.replication import reconcile as run
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
@click.option("--max-rounds", default=20, show_default=True)
def tick(max_rounds: int) -> None:
    """Evaluate every sensor once and run what they request, until nothing more is requested."""
    _tick(max_rounds)


def _tick(max_rounds: int) -> int:
    from lakehouse.instance import get_instance
    from lakehouse.tick import TickError
    from lakehouse.tick import tick as run_tick

    try:
        runs = run_tick(str(WORKSPACE), get_instance(Settings.from_env()), max_rounds=max_rounds)
    except TickError as exc:
        raise click.ClickException(str(exc)) from exc
    for run in runs:
        click.echo(run.summary_line())
    click.echo(f"tick: {len(runs)} run(s)")
    failed = [r for r in runs if r.status != "SUCCESS"]
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) did not succeed")
    return len(runs)


@main.command()
def materialize() -> None:
    """Materialise every unpartitioned asset once, in-process, on the configured profile
    (partitioned ones, like machine-log waves, run per partition from their sensors)."""
    from lakehouse.definitions import defs, unpartitioned_assets
    from lakehouse.instance import get_instance

    instance = get_instance(Settings.from_env())
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=unpartitioned_assets(defs), raise_on_error=False
    )
    click.echo(f"materialize: run {result.run_id} {'succeeded' if result.success else 'FAILED'}")
    if not result.success:
        raise click.ClickException("materialize failed; see `make dev` for the run's logs")


@main.command()
def kpis() -> None:
    """Print a summary of the KPIs from the DuckDB catalog."""
    from lakehouse.report import kpi_summary

    click.echo(kpi_summary(Settings.from_env()))


@main.command()
@click.option("--days", default=180, show_default=True, help="Days of history to start with.")
@click.pass_context
def demo(ctx: click.Context, days: int) -> None:
    """Simulate, materialise everything, add new activity and let the sensors carry it through."""
    import time

    from lakehouse.sources.machines.landing import SETTLE_SECONDS

    settings = Settings.from_env()
    click.echo(f"== profile {settings.profile}, LAKEHOUSE_HOME={settings.home}")
    click.echo(f"== 1. {days} days of platform history; a wave of machine logs lands")
    ctx.invoke(simulate_platform, days=days, seed=7)
    ctx.invoke(simulate_machine_logs, machines=10, file_mb=2.0, waves=1, seed=7)
    landed = time.monotonic()
    click.echo("== 2. materialise every asset")
    ctx.invoke(materialize)
    click.echo("== 3. one more day of activity and its events on the bus; the sensors carry")
    click.echo("      them and the machine logs to lake, warehouse and catalog")
    ctx.invoke(simulate_platform, days=1, seed=7)
    ctx.invoke(simulate_events, rate=1000.0, seconds=1.0)
    if (wait := landed + SETTLE_SECONDS + 1 - time.monotonic()) > 0:
        click.echo(
            f"      (the landing sensor takes a file once unchanged for {SETTLE_SECONDS:.0f}s)"
        )
        time.sleep(wait)
    _tick(max_rounds=20)
    click.echo("== 4. KPIs (from the DuckDB catalog)")
    ctx.invoke(kpis)
    query = "select * from finance.debtor_exposure"
    if "://" in settings.catalog_url:  # on object storage: our client registers the stores
        click.echo(f"\nThe catalog is at {settings.catalog_url}: `uv run lakehouse kpis` reads it.")
    else:
        click.echo(f"\nQuery it:  uv run duckdb {settings.catalog_url} -c '{query}'")
    click.echo("Open the UI (asset graph, sensors on):  make dev  ->  http://127.0.0.1:3000")


@main.command("new-team")
@click.argument("name")
@click.option("--owner", "owners", multiple=True, help="team:<name> or e-mail (repeatable).")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=WORKSPACE.parent,
    show_default="this checkout",
    help="Project root to write into.",
)
def new_team(name: str, owners: tuple[str, ...], root: Path) -> None:
    """Scaffold team NAME's module lakehouse/defs/teams/NAME/ and its test (docs/teams.md)."""
    from lakehouse.team_scaffold import ScaffoldError, scaffold

    try:
        created = scaffold(name, root, owners)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in created:
        click.echo(f"  created {path.relative_to(root)}")
    click.echo(
        f"team {name}: test it with `uv run pytest lakehouse_tests/teams/test_{name}.py`; "
        "reload the code location (or restart `make dev`) to see it in the asset graph"
    )


@main.group()
def emulators() -> None:
    """moto (S3/SQS/Glue) and Azurite (Blob/Queue) on loopback, in the background."""


@emulators.command("up")
def emulators_up() -> None:
    """Start the emulators, create the profiles' buckets/containers, write emulators.env."""
    from lakehouse.emulators import EmulatorError, env_file, start

    home = Settings.from_env().home
    try:
        emu = start(home)
    except EmulatorError as exc:
        raise click.ClickException(str(exc)) from exc
    state = "already running" if emu.already_running else "started"
    click.echo(f"emulators {state} (pids {', '.join(map(str, emu.pids.values()))}):")
    click.echo(f"  S3/SQS/Glue (moto)  {emu.s3_endpoint}")
    click.echo(f"  Blob (Azurite)      {emu.blob_endpoint}")
    click.echo(f"  Queue (Azurite)     {emu.queue_endpoint}")
    click.echo(f"env (profile multicloud): source {env_file(home)}")


@emulators.command("down")
def emulators_down() -> None:
    """Stop the emulators and remove emulators.env (moto's data is lost; Azurite's is kept)."""
    from lakehouse.emulators import stop

    stopped = stop(Settings.from_env().home)
    click.echo(f"emulators stopped: {', '.join(stopped)}" if stopped else "emulators not running")


@main.group()
def prod() -> None:
    """The production topology on this machine (PostgreSQL, RabbitMQ, Celery workers)."""


@prod.command("up")
@click.option("--port", default=3000, show_default=True, help="The webserver's port.")
def prod_up(port: int) -> None:
    """Start the emulators, the webserver, the daemon and two Celery workers, detached."""
    import sqlalchemy as sa

    from lakehouse.emulators import EmulatorError
    from lakehouse.prod_local import state_dir, up

    home = Settings.from_env().home
    try:
        up(home, port)
    except sa.exc.OperationalError as exc:
        raise click.ClickException(
            f"PostgreSQL unreachable (set LAKEHOUSE_PG_ADMIN_URL): {str(exc.orig).splitlines()[0]}"
        ) from exc
    except (RuntimeError, EmulatorError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"production topology up: http://127.0.0.1:{port}")
    click.echo(f"  logs {state_dir(home) / 'logs'}; env: source {state_dir(home) / 'prod.env'}")


@prod.command("down")
def prod_down() -> None:
    """Stop everything `lakehouse prod up` started."""
    from lakehouse.prod_local import down

    stopped = down(Settings.from_env().home)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing running")


@prod.command("instance")
@click.option(
    "--with",
    "overlays",
    multiple=True,
    help="A file under deploy/ replacing blocks: compute-logs-azure.yaml, ecs/run-launcher.yaml.",
)
def prod_instance(overlays: tuple[str, ...]) -> None:
    """Print the production dagster.yaml (deploy/dagster.yaml with any overlays)."""
    from lakehouse.prod import instance_yaml

    click.echo(instance_yaml(*overlays), nl=False)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dev(args: tuple[str, ...]) -> None:
    """`dagster dev` on the local instance, with this project's workspace."""
    from lakehouse.instance import prepare_dagster_home

    prepare_dagster_home(Settings.from_env())
    argv = ["dagster", "dev", "-w", str(WORKSPACE), *args]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())

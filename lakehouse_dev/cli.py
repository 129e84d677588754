"""Development commands of the `lakehouse` command (simulators, tick, demo, emulators,
production-on-one-machine, team scaffold, `dagster dev`), attached by ``register``."""

import os
from datetime import timedelta
from pathlib import Path

import click

from lakehouse.settings import Settings
from lakehouse_dev.simulate.cli import (
    simulate,
    simulate_bank_statements,
    simulate_events,
    simulate_machine_logs,
    simulate_platform,
)

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def register(main: click.Group) -> None:
    """Attach the development commands to the product's ``lakehouse`` group."""
    for command in (simulate, tick, materialize, demo, new_team, emulators, prod, dev):
        main.add_command(command)


@click.command()
@click.option("--max-rounds", default=20, show_default=True)
def tick(max_rounds: int) -> None:
    """Evaluate every sensor once and run what they request, until nothing more is requested.

    One line per run on the terminal; Dagster's log goes to $LAKEHOUSE_HOME/logs/tick.log.
    """
    _tick(max_rounds)


def _tick(max_rounds: int) -> int:
    from lakehouse_dev.instance import get_instance
    from lakehouse_dev.logfile import dagster_log_to_file
    from lakehouse_dev.preflight import problems
    from lakehouse_dev.tick import TickError
    from lakehouse_dev.tick import tick as run_tick

    settings = Settings.from_env()
    skipped: dict[str, str] = {}
    found = problems(settings)
    if found:
        raise click.ClickException("\n".join(found))
    try:
        with dagster_log_to_file(settings.home, "tick") as log:
            runs = run_tick(
                str(WORKSPACE),
                get_instance(settings),
                max_rounds=max_rounds,
                progress=click.echo,
                skipped=skipped,
            )
    except TickError as exc:
        raise click.ClickException(f"{exc}\n(Dagster's log: {log})") from exc
    for sensor, reason in sorted(skipped.items()):
        click.echo(f"  {sensor}: nothing to run ({reason})")
    click.echo(f"tick: {len(runs)} run(s) (Dagster's log: {log})")
    failed = [r for r in runs if r.status != "SUCCESS"]
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) did not succeed")
    return len(runs)


@click.command()
def materialize() -> None:
    """Materialise every unpartitioned asset once, in-process, on the configured profile
    (partitioned ones, like machine-log waves, run per partition from their sensors)."""
    from lakehouse.definitions import build_definitions, unpartitioned_assets
    from lakehouse_dev.instance import get_instance
    from lakehouse_dev.logfile import dagster_log_to_file

    settings = Settings.from_env()
    with dagster_log_to_file(settings.home, "materialize") as log:
        instance = get_instance(settings)
        defs = build_definitions()
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=unpartitioned_assets(defs), raise_on_error=False
        )
    click.echo(f"materialize: run {result.run_id} {'succeeded' if result.success else 'FAILED'}")
    if not result.success:
        raise click.ClickException(f"materialize failed; see {log} or the run in `make dev`")


@click.command()
@click.option("--days", default=180, show_default=True, help="Days of history to start with.")
@click.pass_context
def demo(ctx: click.Context, days: int) -> None:
    """Simulate, materialise everything, add new activity and let the sensors carry it through.

    Every domain takes part: the platform database, the marketing APIs (Salesforce and GA4
    fakes served on loopback for the demo's duration), the event bus and a wave of machine
    logs, all on the platform's clock: the machines' wave is of the day the demo adds last.
    """
    import time

    from lakehouse.sources.files.landing import SETTLE_SECONDS
    from lakehouse_dev.fake_apis import FakeAPIs
    from lakehouse_dev.simulate.cli import simulate_marketing
    from lakehouse_dev.simulate.platform import simulated_clock

    settings = Settings.from_env()
    click.echo(f"== profile {settings.profile}, LAKEHOUSE_HOME={settings.home}")
    click.echo(f"== 1. {days} days of platform history, its marketing (Salesforce, GA4), and")
    click.echo("      a wave of machine logs of the day added in step 3")
    ctx.invoke(simulate_platform, days=days, seed=7)
    ctx.invoke(simulate_marketing, seed=7, serve=False)
    ctx.invoke(simulate_bank_statements, days=3)
    next_day = simulated_clock(settings.platform_db_url)  # midnight of the day step 3 adds
    ctx.invoke(
        simulate_machine_logs,
        machines=10,
        file_mb=2.0,
        waves=1,
        seed=7,
        start=(next_day + timedelta(hours=14)).strftime("%Y-%m-%dT%H"),
    )
    landed = time.monotonic()
    fake = FakeAPIs(data_dir=settings.home / "marketing_apis").start("127.0.0.1", 0)
    os.environ.update(fake.env())  # the marketing resources read them when definitions load
    click.echo(f"      Salesforce and GA4 fakes on {fake.url} for the demo's duration")
    try:
        click.echo("== 2. materialise every asset")
        ctx.invoke(materialize)
        click.echo("== 3. one more day of activity and its events on the bus; the sensors carry")
        click.echo("      them and the machine logs to lake, warehouse and catalog")
        ctx.invoke(simulate_platform, days=1, seed=7)
        ctx.invoke(simulate_events, rate=1000.0, seconds=1.0, advance=False)  # that day only
        if (wait := landed + SETTLE_SECONDS + 1 - time.monotonic()) > 0:
            click.echo(
                f"      (the landing sensor takes a file once unchanged for {SETTLE_SECONDS:.0f}s)"
            )
            time.sleep(wait)
        _tick(max_rounds=20)
    finally:
        fake.stop()
    click.echo("== 4. KPIs (from the DuckDB catalog)")
    from lakehouse.cli import kpis  # not at import: lakehouse.cli loads this module

    ctx.invoke(kpis)
    click.echo("\nNext (README, 'Then:'): source .venv/bin/activate, then")
    if "://" in settings.catalog_url:  # on object storage: our client registers the stores
        click.echo(f"  lakehouse kpis            # reads the catalog at {settings.catalog_url}")
    else:
        query = "select * from finance.debtor_exposure"
        click.echo(f"  duckdb {settings.catalog_url} -c '{query}'")
    click.echo("  make dev                  # the UI on http://127.0.0.1:3000 (asset graph)")


@click.command("new-team")
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
    from lakehouse_dev.team_scaffold import ScaffoldError, scaffold

    try:
        created = scaffold(name, root, owners)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in created:
        click.echo(f"  created {path.relative_to(root)}")
    click.echo(
        f"team {name}: test it with `uv run pytest lakehouse_tests/defs/teams/test_{name}.py`; "
        "reload the code location (or restart `make dev`) to see it in the asset graph"
    )


@click.group()
def emulators() -> None:
    """moto (S3/SQS/Glue) and Azurite (Blob/Queue) on loopback, in the background."""


@emulators.command("up")
def emulators_up() -> None:
    """Start the emulators, create the profiles' buckets/containers, write emulators.env."""
    from lakehouse_dev.emulators import EmulatorError, env_file, start

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
    from lakehouse_dev.emulators import stop

    stopped = stop(Settings.from_env().home)
    click.echo(f"emulators stopped: {', '.join(stopped)}" if stopped else "emulators not running")


@click.group()
def prod() -> None:
    """The production topology on this machine (PostgreSQL, RabbitMQ, Celery workers)."""


@prod.command("up")
@click.option("--port", default=3000, show_default=True, help="The webserver's port.")
def prod_up(port: int) -> None:
    """Start the emulators, the webserver, the daemon and two Celery workers, detached."""
    import sqlalchemy as sa

    from lakehouse_dev.emulators import EmulatorError
    from lakehouse_dev.prod_local import state_dir, up

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
    from lakehouse_dev.prod_local import down

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
    from lakehouse_dev.prod import instance_yaml

    click.echo(instance_yaml(*overlays), nl=False)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dev(args: tuple[str, ...]) -> None:
    """`dagster dev` on the local instance, with this project's workspace."""
    from lakehouse_dev.instance import prepare_dagster_home

    prepare_dagster_home(Settings.from_env())
    argv = ["dagster", "dev", "-w", str(WORKSPACE), *args]
    os.execvp(argv[0], argv)

"""Freshness: seconds from a change at a source to each downstream asset's new materialisation,
under a real ``dagster dev`` (webserver + daemon, the default local instance).

After a warm-up (three days of platform history, one event wave and one machine file carried
all the way through), each of N rounds (3 at scale 1, at least 2) makes one change of each
kind, one kind at a time, each once every run of the one before has finished (each change on
an otherwise idle instance, as the targets are stated):

- platform: a new simulated day in the platform database (``simulate``): new applications,
  updates of old rows (the platform database is a configured SQL source, the ``SqlDatabase``
  component any company database uses);
- events: ``EVENTS_PER_WAVE`` ``application_submitted`` events published on the bus;
- machines: one machine's log file for a new 2-hour wave written into the landing folder.

A hop's latency is its asset's newest materialisation (the instance's event log) minus the
moment the change was made. Then Dagster's floor: ``bench/_freshness_floor.py`` (one 1 s
sensor listing a folder + one asset doing nothing) under its own ``dagster dev``, one file
at a time. Figures: ``freshness.<hop>_p50_s`` / ``_p95_s``, ``freshness.floor_p95_s``,
``freshness.score_vs_floor`` (platform change -> application score p95 over the floor's p95),
and ``freshness.load_1m`` (the 1-minute load average at the start and the end, averaged).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Figure, percentiles, progress, scaled
from lakehouse_dev.emulators.processes import (
    GENTLE,
    Process,
    default_signals,
    executable,
    free_port,
    launch,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FLOOR_DEFS = Path(__file__).with_name("_freshness_floor.py")
EVENTS_PER_WAVE = 5
START_TIMEOUT = 180.0
WARM_UP_TIMEOUT = 900.0
ROUND_TIMEOUT = 600.0
FLOOR_TIMEOUT = 120.0
POLL = 0.5
MACHINE_SETTLE_S = 20  # settle_seconds of lakehouse/sources/machines/drop.yaml


def _hops() -> dict[str, dict[str, object]]:
    """{change kind: {hop name: asset key}}."""
    from lakehouse.components.policies.catalog import CATALOG_KEY
    from lakehouse.defs.events.keys import lake_key as event_lake_key
    from lakehouse.defs.events.keys import projection_key
    from lakehouse.defs.machines.keys import HOURLY_KEY, RAW_KEY
    from lakehouse.defs.platform.keys import lake_key, state_key
    from lakehouse.defs.platform.kpis import kpi_key
    from lakehouse.defs.teams.underwriting.assets import SCORES

    return {
        "platform": {
            "platform_to_lake_applications": lake_key("applications"),
            "platform_to_state_applications": state_key("applications"),
            "platform_to_debtor_exposure": kpi_key("debtor_exposure"),
            "platform_to_application_scores": SCORES,
            "platform_to_catalog": CATALOG_KEY,
        },
        "events": {
            "event_to_lake": event_lake_key("application_submitted"),
            "event_to_application_funnel": projection_key("application_funnel"),
        },
        "machines": {
            "machine_file_to_lake": RAW_KEY,
            "machine_file_to_kpis_hourly": HOURLY_KEY,
        },
    }


# -- dagster dev ----------------------------------------------------------------------------


@contextlib.contextmanager
def dagster_dev(home: Path, target: list[str], env: dict[str, str]) -> Iterator[Process]:
    """``dagster dev <target>`` with its own ``DAGSTER_HOME`` (the project's dagster.yaml)
    under ``home``; stopped (SIGINT first) on exit."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**env, "DAGSTER_HOME": str(dagster_home), "PYTHONUNBUFFERED": "1"}
    argv = [*default_signals(), executable("dagster"), "dev", *target]
    argv += ["--host", "127.0.0.1", "--port", str(free_port())]
    log = home / "dagster-dev.log"
    proc = launch("dagster dev", argv, log=log, env=env, cwd=PROJECT_ROOT, inherit=False)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while b"Serving dagster-webserver" not in log.read_bytes():
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"dagster dev did not start; see {log}:\n{proc.tail()}")
            time.sleep(POLL)
        yield proc
    finally:
        proc.stop(GENTLE)


def _instance(home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home / "dagster"))


def _latest(instance, key) -> float:
    """Unix time of the asset's newest materialisation (0 if none)."""
    event = instance.get_latest_materialization_event(key)
    return event.timestamp if event else 0.0


Probe = Callable[[dict[str, float]], float | None]


def _wait(what: str, pending: dict[str, Probe], proc: Process, timeout: float) -> dict[str, float]:
    """Poll each probe (given the values found so far) until every one returns a value."""
    done: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(pending):
        for name, probe in pending.items():
            if name not in done:
                with contextlib.suppress(Exception):  # a locked SQLite file: next poll
                    if (value := probe(done)) is not None:
                        done[name] = value
        if len(done) == len(pending):
            break
        if not proc.alive() or time.monotonic() > deadline:
            missing = sorted(set(pending) - set(done))
            raise RuntimeError(f"{what}: no materialisation of {missing}; see {proc.log}")
        time.sleep(POLL)
    return done


def _quiet(instance, proc: Process, timeout: float) -> None:
    """Wait until no run is queued or in flight, twice in a row a few seconds apart (the
    automation sensor may still request a run behind the last one)."""
    import dagster as dg

    unfinished = dg.RunsFilter(
        statuses=[
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
            dg.DagsterRunStatus.CANCELING,
        ]
    )
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 2:
        calm = 0 if instance.get_runs(unfinished, limit=1) else calm + 1
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"runs still in flight after {timeout:.0f}s; see {proc.log}")
        time.sleep(3.0)


# -- the changes ----------------------------------------------------------------------------


class Changes:
    """Makes one change of each kind; returns the unix time each was complete."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.event_id = 0
        self.wave = 0

    def platform(self) -> float:
        from lakehouse_dev.simulate.platform import simulate

        simulate(self.settings.platform_db_url, days=1, seed=11)
        return time.time()

    def events(self) -> float:
        import datetime as dt

        from lakehouse.sources.events.buses import bus_from_url
        from lakehouse.sources.events.publisher import Publisher
        from lakehouse.sources.events.schema import make_event

        at = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
        ids = range(self.event_id, self.event_id + EVENTS_PER_WAVE)
        self.event_id += EVENTS_PER_WAVE
        events = [
            make_event(
                "application_submitted",
                {
                    "application_id": 900_000 + i,
                    "seller_id": 1,
                    "requested_amount": "2500.00",
                    "currency": "GBP",
                    "invoice_count": 2,
                },
                occurred_at=at + dt.timedelta(seconds=i),
                event_id=f"freshness-{i}",
            )
            for i in ids
        ]
        with bus_from_url(self.settings.bus_url) as bus:
            Publisher(bus).publish(events)
        return time.time()

    def machine_file(self) -> float:
        """One machine's file for a wave not seen before (going back 2 hours each time)."""
        from lakehouse.sources.machines.landing import LANDING_PREFIX
        from lakehouse.storage.store import Store
        from lakehouse_dev.simulate.machines import default_start, generate

        start = default_start(1, datetime.now(UTC)) - timedelta(hours=2 * self.wave)
        self.wave += 1
        generate(
            Store(self.settings.landing_url),
            LANDING_PREFIX,
            machines=1,
            file_mb=0.05,
            waves=1,
            start=start,
            seed=self.wave,
        )
        return time.time()

    def make(self, kind: str) -> float:
        return {"platform": self.platform, "events": self.events, "machines": self.machine_file}[
            kind
        ]()


# A hop counts only once the hop it follows has: the catalog (rewritten whenever any projection
# changes) holds the new score once it is rewritten after the score.
FOLLOWS = {
    "platform_to_state_applications": "platform_to_lake_applications",
    "platform_to_debtor_exposure": "platform_to_state_applications",
    "platform_to_application_scores": "platform_to_state_applications",
    "platform_to_catalog": "platform_to_application_scores",
    "event_to_application_funnel": "event_to_lake",
    "machine_file_to_kpis_hourly": "machine_file_to_lake",
}


def _after(instance, key, moment: float, follows: str | None = None) -> Probe:
    """Seconds from ``moment`` to the asset's newest materialisation, once it is later than
    ``moment`` (and than the hop it follows)."""

    def probe(done: dict[str, float]) -> float | None:
        if follows is not None and follows not in done:
            return None
        since = moment + (done[follows] if follows else 0.0)
        at = _latest(instance, key)
        return at - moment if at > since else None

    return probe


def lakehouse_latencies(home: Path, rounds: int) -> dict[str, list[float]]:
    """{hop: [seconds per round]} under ``dagster dev`` of the project's workspace."""
    from lakehouse.settings import Settings
    from lakehouse_dev.simulate.platform import simulate

    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local"}
    env = {k: v for k, v in env.items() if not (k.startswith("LAKEHOUSE_") and k.endswith("_URL"))}
    env.pop("DAGSTER_HOME", None)
    settings = Settings.from_env(env)
    simulate(settings.platform_db_url, days=3, seed=11)
    hops = _hops()
    changes = Changes(settings)
    latencies: dict[str, list[float]] = {hop: [] for kind in hops.values() for hop in kind}
    workspace = ["-w", str(PROJECT_ROOT / "workspace.yaml")]
    with dagster_dev(home, workspace, env) as proc, _instance(home) as instance:
        progress("freshness: warm-up (history, first event wave, first machine file)")
        began = time.monotonic()
        changes.events()
        changes.machine_file()
        _wait(
            "warm-up",
            {hop: _after(instance, key, 0) for kind in hops.values() for hop, key in kind.items()},
            proc,
            WARM_UP_TIMEOUT,
        )
        _quiet(instance, proc, WARM_UP_TIMEOUT)
        progress(f"freshness: warm-up done in {time.monotonic() - began:.0f}s")
        for r in range(rounds):
            for kind, kind_hops in hops.items():
                made = changes.make(kind)
                probes = {
                    hop: _after(instance, key, made, FOLLOWS.get(hop))
                    for hop, key in kind_hops.items()
                }
                seen = _wait(f"round {r + 1} {kind}", probes, proc, ROUND_TIMEOUT)
                for hop, seconds in seen.items():
                    latencies[hop].append(seconds)
                progress(
                    f"freshness: round {r + 1}/{rounds} {kind} (load "
                    f"{os.getloadavg()[0]:.2f}): "
                    + ", ".join(f"{hop} {s:.1f}s" for hop, s in seen.items())
                )
                _quiet(instance, proc, ROUND_TIMEOUT)
    return latencies


def floor_latencies(home: Path, n: int) -> list[float]:
    """Seconds from a file written to the floor asset's materialisation, one file at a time
    (the first one warms up and is not counted)."""
    import dagster as dg

    drop = home / "drop"
    drop.mkdir(parents=True)
    env = {**os.environ, "FRESHNESS_FLOOR_DROP": str(drop)}
    env.pop("DAGSTER_HOME", None)
    key = dg.AssetKey("floor")
    out = []
    with dagster_dev(home, ["-f", str(FLOOR_DEFS)], env) as proc, _instance(home) as instance:
        for i in range(n + 1):
            (drop / f"{i:06d}").write_bytes(b"")
            written = time.time()
            seconds = _wait(
                f"floor {i}", {"floor": _after(instance, key, written)}, proc, FLOOR_TIMEOUT
            )["floor"]
            if i:
                out.append(seconds)
            _quiet(instance, proc, FLOOR_TIMEOUT)
    return out


def run(scale: float = 1.0) -> list[Figure]:
    rounds = scaled(3, minimum=2)
    loads = [os.getloadavg()[0]]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(
        prefix="lakehouse-bench-freshness-", ignore_cleanup_errors=True
    ) as tmp:
        tmp = Path(tmp)
        progress(f"freshness: {rounds} rounds of platform + event + machine-file changes")
        latencies = lakehouse_latencies(tmp / "lakehouse", rounds)
        progress("freshness: Dagster's floor (one 1 s sensor + one asset doing nothing)")
        floor = floor_latencies(tmp / "floor", max(5, rounds))
    loads.append(os.getloadavg()[0])
    for hop, values in latencies.items():
        p50, p95 = percentiles(values)
        figures += [(f"freshness.{hop}_p50_s", p50), (f"freshness.{hop}_p95_s", p95)]
    machine = [s - MACHINE_SETTLE_S for s in latencies["machine_file_to_kpis_hourly"]]
    figures.append(("freshness.machine_settled_to_kpis_hourly_p95_s", percentiles(machine)[1]))
    floor_p50, floor_p95 = percentiles(floor)
    figures += [("freshness.floor_p50_s", floor_p50), ("freshness.floor_p95_s", floor_p95)]
    score_p95 = percentiles(latencies["platform_to_application_scores"])[1]
    figures.append(("freshness.score_vs_floor", score_p95 / floor_p95))
    figures.append(("freshness.load_1m", sum(loads) / len(loads)))
    return figures


if __name__ == "__main__":
    from bench.common import scale, sig3

    for name, value in run(scale()):
        print(f"{name}: {sig3(value)}")

"""``SqlDatabase``: any SQL database into the lake by configuration (one YAML file).

    type: lakehouse.components.SqlDatabase
    attributes:
      name: crm                       # keys source/crm/<t>, lake/crm/<t>, warehouse/crm/<t>
      url_env: CRM_DB_URL             # or url: "sqlite:///..." (no password), or neither: a
                                      # resource `crm_db` defined elsewhere holds the URL
      tables: "*"                     # or a list of names / glob patterns
      overrides:
        InvoiceLine: {primary_key: [invoice_id, line_no], exclude_columns: [card_number]}

Per table: the observed ``source/<name>/<table>`` (its change signature), ``lake/<name>/<table>``
(immutable batches, :mod:`lakehouse.sources.sql.extract`), the current state
``warehouse/<name>/<table>`` (merged incrementally, deletes dropped, evolving columns kept),
a unique-key check, and two sensors: ``<name>_changes`` compares each table's signature with
the one its newest lake batch recorded and extracts the tables that differ (so a run killed
mid-way is simply extracted again) in a run that also merges them into their current state and
builds what depends on it (``carried_run``); ``<name>_lake_files`` merges batches that reach
the lake otherwise.
"""

import hashlib
import json
import os

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa
from pydantic import Field

from lakehouse.components.automation import EVERY_DAEMON_PASS, CarriedThrough, carried_run
from lakehouse.components.incremental import Batches, LakeInput, incremental_asset
from lakehouse.components.lake_sensor import lake_file_sensor
from lakehouse.components.resources.sql_database import SqlDatabaseResource
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.sources.sql.db import SourceError, connect, one_line
from lakehouse.sources.sql.extract import extract, lake_signature, signature
from lakehouse.sources.sql.names import snake
from lakehouse.sources.sql.reconcile import reconcile
from lakehouse.sources.sql.tables import TableConfig, TableSpec, reflect, table_names
from lakehouse.storage.parquet import cursor_of
from lakehouse.warehouse.current_state import merge_versions

MAX_ATTEMPTS = 3
"""Runs requested for one table at one signature: a table that keeps failing (a type change)
is not retried for ever, only when its source changes again."""

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class TableOverride(dg.Model):
    """What reflection cannot know about one table (column names as in the database or as
    lake names)."""

    cursor: str | None = Field(None, description="A column that grows on every change.")
    primary_key: list[str] | None = Field(None, description="For a table without one.")
    mode: str | None = Field(None, description="`incremental` (needs a cursor) or `snapshot`.")
    exclude_columns: list[str] = Field([], description="Columns that never reach the lake.")


class SqlDatabase(dg.Component, dg.Model, dg.Resolvable):
    """A SQL database (any SQLAlchemy URL) extracted into the lake, table by table."""

    name: str = Field(description="Source name: the second segment of every asset key.")
    url: str | None = Field(None, description="SQLAlchemy URL (only one without a password).")
    url_env: str | None = Field(None, description="Environment variable holding the URL.")
    tables: list[str] | str = Field("*", description="Table names or glob patterns.")
    db_schema: str | None = Field(None, description="Database schema (default: the default).")
    overrides: dict[str, TableOverride] = Field({}, description="Per table, by its db name.")
    lookback_seconds: float = Field(
        300,
        description="Incremental tables re-read this far behind the watermark (cursor "
        "units for a numeric cursor) so a late commit is found.",
    )
    check_deletes: bool = Field(
        True, description="Compare key sets on each incremental extraction to find hard deletes."
    )
    reconcile_cron: str = Field(
        "0 * * * *",
        description="When each table's current state is reconciled with the source (cron).",
    )
    group_name: str | None = Field(None, description="Group of the assets (default: `name`).")
    owners: list[str] = Field([], description="Owners of the assets.")

    @property
    def resource_key(self) -> str:
        return f"{self.name}_db"

    def _url(self) -> str | None:
        if self.url_env:
            return os.environ.get(self.url_env)
        return self.url

    def table_list(self) -> list[str]:
        """The tables to extract: names as given, globs matched against the database now."""
        patterns = [self.tables] if isinstance(self.tables, str) else list(self.tables)
        if all(not any(ch in p for ch in "*?[") for p in patterns):
            return patterns
        url = self._url()
        if url is None:
            raise SourceError(
                f"source {self.name}: table patterns need the URL when the code loads "
                f"(set `url` or `url_env`), or list the tables by name"
            )
        with connect(url, self.name) as conn:
            return table_names(conn, patterns, self.db_schema)

    def config(self, table: str) -> TableConfig:
        o = self.overrides.get(table) or self.overrides.get(snake(table)) or TableOverride()
        return TableConfig(
            cursor=o.cursor,
            primary_key=tuple(o.primary_key) if o.primary_key else None,
            mode=o.mode,
            exclude_columns=tuple(o.exclude_columns),
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        ts = [_Table(self, table) for table in self.table_list()]
        resources = {}
        if self.url_env:
            resources[self.resource_key] = SqlDatabaseResource(url=dg.EnvVar(self.url_env))
        elif self.url:
            resources[self.resource_key] = SqlDatabaseResource(url=self.url)
        return dg.Definitions(
            assets=[a for t in ts for a in (t.source_asset(), t.lake_asset(), t.state_asset())],
            asset_checks=[c for t in ts for c in (t.keys_unique(), t.matches_source())],
            sensors=[
                changes_sensor(self, ts),
                lake_file_sensor(
                    f"{self.name}_lake_files",
                    f"New `{self.name}` batches in the lake -> merge them into the current state.",
                    {t.prefix: t.state_key for t in ts},
                ),
            ],
            resources=resources,
        )


class _Table:
    """One table of a source: its keys and the definitions built for it."""

    def __init__(self, source: SqlDatabase, original: str):
        self.source, self.original, self.name = source, original, snake(original)
        path = [source.name, self.name]
        self.source_key = dg.AssetKey(["source", *path])
        self.lake_key = dg.AssetKey(["lake", *path])
        self.state_key = dg.AssetKey(["warehouse", *path])
        self.prefix = "/".join(path)
        self.group = source.group_name or source.name
        self.label = f"{source.name}.{self.name}"

    def spec(self, conn: sa.Connection) -> TableSpec:
        s = self.source
        return reflect(conn, s.name, self.original, s.db_schema, s.config(self.original))

    def source_asset(self) -> dg.AssetsDefinition:
        """Observable: its data version is the table's change signature. (An unobservable spec
        with observations recorded by a sensor leaves every lake asset "Unsynced" for ever:
        materialisations record no input version for it.)"""
        source = self.source
        spec = dg.AssetSpec(
            self.source_key,
            description=f"Table `{self.original}` of source database `{source.name}`, "
            "observed by its change signature (newest cursor and row count, or a row hash).",
            group_name=self.group,
            owners=source.owners,
            kinds={"sql"},
            metadata={"source_table": self.original},
        )

        @dg.multi_observable_source_asset(
            specs=[spec],
            name=f"observe_{source.name}__{self.name}",
            required_resource_keys={source.resource_key},
        )
        def _observe(context: dg.AssetExecutionContext):
            db: SqlDatabaseResource = getattr(context.resources, source.resource_key)
            with db.connect(source.name) as conn:
                mark = signature(conn, self.spec(conn))
            yield dg.ObserveResult(
                asset_key=self.source_key,
                data_version=dg.DataVersion(mark),
                metadata={"signature": mark},
            )

        return _observe

    def lake_asset(self) -> dg.AssetsDefinition:
        source = self.source

        @dg.asset(
            key=self.lake_key,
            deps=[self.source_key],
            description=f"Every new, changed and deleted row of `{self.label}` "
            f"(source table `{self.original}`), appended as immutable Parquet batches.",
            group_name=self.group,
            owners=source.owners,
            kinds={"parquet"},
            tags={"layer": "lake"},
            metadata={"source_table": self.original},
            pool=f"lake:{self.prefix}",  # one writer per lake prefix keeps keys in write order
            required_resource_keys={source.resource_key, "lake"},
        )
        def _extract(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            db: SqlDatabaseResource = getattr(context.resources, source.resource_key)
            lake: ObjectStore = context.resources.lake
            try:
                with db.connect(source.name) as conn:
                    spec = self.spec(conn)
                    done = extract(
                        conn,
                        spec,
                        lake.store,
                        self.prefix,
                        lookback_seconds=source.lookback_seconds,
                        check_deletes=source.check_deletes,
                    )
            except SourceError as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
            except sa.exc.SQLAlchemyError as exc:
                message = f"{self.label}: {one_line(exc, db.url)}"
                raise dg.Failure(description=message, allow_retries=False) from exc
            if done.dropped_columns:
                context.log.warning(
                    f"{self.label}: column(s) {', '.join(done.dropped_columns)} no longer in the "
                    "source; kept in the current state, null from now on"
                )
            for key in done.quarantined:
                context.log.error(f"{self.label}: rows quarantined at quarantine/{key}")
            return dg.MaterializeResult(
                metadata={
                    "rows": done.rows,
                    "tombstones": done.tombstones,
                    "batches": done.batches,
                    "watermark": done.watermark or "none",
                    "mode": spec.mode,
                    "primary_key": list(spec.key),
                    "dropped_columns": done.dropped_columns,
                    "quarantined": done.quarantined,
                },
                data_version=dg.DataVersion(done.signature),
            )

        return _extract

    def state_asset(self) -> dg.AssetsDefinition:
        name = self.name

        def _merge(previous: pa.Table | None, new: Batches) -> pa.Table:
            batches = new[name]
            marks = [cursor_of(b, "primary_key") for b in batches.values()]
            key = next((m for m in reversed(marks) if m), cursor_of(previous, "primary_key"))
            if key is None:
                raise dg.Failure(f"{self.label}: no lake batch names the table's key")
            return merge_versions(previous, batches, json.loads(key))

        return incremental_asset(
            self.state_key,
            {name: LakeInput(self.prefix, None)},
            _merge,
            deps=[self.lake_key],
            description=f"Current state of `{self.label}` (source table `{self.original}`): "
            "the latest version of every row still in the source, merged from the lake.",
            group_name=self.group,
            owners=self.source.owners,
            metadata={"source_table": self.original},
        )

    def keys_unique(self) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            asset=self.state_key,
            name="keys_unique",
            description="Each primary key appears once in the current state.",
        )
        def _check(state: pa.Table) -> dg.AssetCheckResult:
            key = json.loads(cursor_of(state, "primary_key") or "[]")
            if not key or not state.num_rows:
                return dg.AssetCheckResult(passed=True, metadata={"duplicate_keys": 0})
            distinct = state.group_by(key).aggregate([]).num_rows
            return dg.AssetCheckResult(
                passed=distinct == state.num_rows,
                metadata={"duplicate_keys": state.num_rows - distinct, "key": ", ".join(key)},
            )

        return _check

    def matches_source(self) -> dg.AssetChecksDefinition:
        source = self.source

        @dg.asset_check(
            asset=self.state_key,
            name="matches_source",
            description="Reconciliation: the current state holds the source's keys, and for an "
            "incremental table each key's cursor value (checked when no change is pending).",
            required_resource_keys={source.resource_key, "lake"},
            automation_condition=dg.AutomationCondition.on_cron(source.reconcile_cron),
            blocking=False,
        )
        def _check(context: dg.AssetCheckExecutionContext, state: pa.Table):
            db: SqlDatabaseResource = getattr(context.resources, source.resource_key)
            with db.connect(source.name) as conn:
                r = reconcile(
                    conn, self.spec(conn), context.resources.lake.store, self.prefix, state
                )
            return dg.AssetCheckResult(
                passed=r.in_sync,
                description=(
                    "changes pending: reconciled on a later run"
                    if r.pending
                    else f"{self.label}: {r.differences} difference(s) with the source"
                ),
                metadata={
                    "pending": r.pending,
                    "source_rows": r.source_rows,
                    "warehouse_rows": r.warehouse_rows,
                    "differences": r.differences,
                    "missing_keys": str(list(r.missing)),
                    "extra_keys": str(list(r.extra)),
                    "stale_keys": str(list(r.stale)),
                },
            )

        return _check


def changes_sensor(source: SqlDatabase, tables: list[_Table]) -> dg.SensorDefinition:
    """Extract every table whose source signature differs from its lake's (see the module)."""

    @dg.sensor(
        name=f"{source.name}_changes",
        description=f"Compares each `{source.name}` table's change signature with the one its "
        "newest lake batch recorded; extracts the tables that differ, merges them into their "
        "current state and builds what depends on it, in one run.",
        target=CarriedThrough(tuple(k for t in tables for k in (t.lake_key, t.state_key))),
        # One indexed max/count query per incremental table (a snapshot table is hashed whole).
        minimum_interval_seconds=EVERY_DAEMON_PASS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={source.resource_key, "lake"},
    )
    def _sensor(context: dg.SensorEvaluationContext, **_resources):  # read from the context
        db: SqlDatabaseResource = getattr(context.resources, source.resource_key)
        lake: ObjectStore = context.resources.lake
        observed: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current, problems = {}, {}
        try:
            with db.connect(source.name) as conn:
                for t in tables:
                    try:
                        current[t.name] = signature(conn, t.spec(conn))
                    except (SourceError, sa.exc.SQLAlchemyError) as exc:
                        conn.rollback()
                        problems[t.name] = (
                            str(exc)
                            if isinstance(exc, SourceError)
                            else (f"{t.label}: {one_line(exc, db.url)}")
                        )
        except SourceError as exc:
            return dg.SkipReason(str(exc))
        for problem in problems.values():
            context.log.warning(problem)
        pending = [
            t
            for t in tables
            if t.name in current and current[t.name] != lake_signature(lake.store, t.prefix)
        ]
        requested = [t for t in pending if _may_request(context.instance, t, current[t.name])]
        events = [
            dg.AssetObservation(
                t.source_key,
                metadata={"signature": current[t.name]},
                tags={"dagster/data_version": current[t.name]},
            )
            for t in tables
            if t.name in current and current[t.name] != observed.get(t.name)
        ]
        cursor = json.dumps({**observed, **current}, sort_keys=True)
        if not requested:
            reason = "; ".join(problems.values()) or (
                f"{len(pending)} table(s) pending, already being extracted or failing"
                if pending
                else "no table changed"
            )
            return dg.SensorResult(skip_reason=reason, asset_events=events, cursor=cursor)
        tags = {_tag(t): _short(current[t.name]) for t in requested}
        attempt = [_attempts(context.instance, t, current[t.name]) for t in requested]
        run_key = _short(
            json.dumps([tags, attempt, [lake.store.last(t.prefix) for t in requested]])
        )
        return dg.SensorResult(
            run_requests=[
                carried_run(
                    context,
                    [k for t in requested for k in (t.lake_key, t.state_key)],
                    run_key=f"{source.name}-{run_key}",
                    tags=tags,
                )
            ],
            asset_events=events,
            cursor=cursor,
        )

    return _sensor


def _tag(t: _Table) -> str:
    """The run tag carrying a table's signature: ``lakehouse/sql.<source>.<table>``, a digest
    of the name where that would pass Dagster's 63 characters per tag-key section."""
    name = f"sql.{t.source.name}.{t.name}"
    return f"lakehouse/{name if len(name) <= 63 else 'sql.' + _short(name)}"


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _runs(instance: dg.DagsterInstance, t: _Table, sig: str, statuses=None) -> list:
    filters = dg.RunsFilter(tags={_tag(t): _short(sig)}, statuses=statuses)
    return instance.get_runs(filters=filters, limit=MAX_ATTEMPTS)


def _attempts(instance: dg.DagsterInstance, t: _Table, sig: str) -> int:
    return len(_runs(instance, t, sig))


def _may_request(instance: dg.DagsterInstance, t: _Table, sig: str) -> bool:
    """No run for this table at this signature is unfinished, and fewer than MAX_ATTEMPTS ran."""
    if _runs(instance, t, sig, UNFINISHED):
        return False
    return _attempts(instance, t, sig) < MAX_ATTEMPTS

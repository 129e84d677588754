"""Team modules: every ``lakehouse/defs/teams/<team>/`` is loaded on its own, behind guard rails.

A team adds a folder; nothing central is edited. ``lakehouse/defs/teams/defs.yaml`` declares
:class:`TeamModules`, so Dagster's own autoloading stops at ``teams/`` and hands each team
folder to :func:`load_teams`, which loads it as a defs folder of its own (its ``defs.yaml``
sets owners, group and tags) inside a ``try``. A team whose module fails to import or build,
or breaks a safety rule, is left out: the failure is logged with the team's name and file and
shown in the asset graph as ``warehouse/teams/<team>/module_failed`` (description = the
error), and the rest of the platform loads. One team cannot take the platform down.

Safety rules checked at load time (docs/teams.md):

- every asset and asset check of team ``t`` is keyed ``warehouse/teams/t/<name>``, ``<name>``
  letters, digits and ``_`` (a Dagster name, a catalog view: a space or a quote in it would
  fail the whole code location when the platform's policies are built), so the
  platform's Parquet IO manager writes it under ``teams/t/`` in the warehouse store (and the
  catalog shows it as ``teams_t.<name>``);
- team assets use no resource except the platform's ``io_manager``: they read the warehouse
  as asset inputs and write by returning a table, never through a store handle;
- a team defines no resources or executor, and names its jobs, sensors and schedules
  ``t_...`` (so two teams never collide).
"""

import importlib
import logging
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import yaml

log = logging.getLogger(__name__)

TEAM_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")
"""A team's folder name (whole, ``fullmatch``): also its key part, and (``teams_<team>``) its group
and catalog schema."""
ASSET_NAME = re.compile(r"[A-Za-z0-9_]+")
"""The last part of a team asset's key (Dagster's rule for names, also a valid view name)."""
RESERVED_NAMES = frozenset({"platform", "teams", "catalog", "warehouse", "lake", "replica"})
ALLOWED_RESOURCES = frozenset({"io_manager"})
"""Resources a team asset may require: the platform's Parquet IO manager, nothing else."""
LAYER_TAG = {"layer": "warehouse"}
FALLBACK_OWNERS = ["team:platform"]


# -- what team code uses ---------------------------------------------------------------------


def team_key(team: str, name: str) -> dg.AssetKey:
    """``warehouse/teams/<team>/<name>``: stored under ``teams/<team>/<name>/``."""
    return dg.AssetKey(["warehouse", "teams", team, name])


def team_group(team: str) -> str:
    """``teams_<team>``: the team's asset group, also its schema in the DuckDB catalog."""
    return f"teams_{team}"


def warehouse_input(path: str) -> dg.AssetIn:
    """An asset input reading warehouse projection ``path`` (e.g. ``"platform/applications"``)
    through the platform's IO manager, as a pyarrow Table."""
    return dg.AssetIn(dg.AssetKey(["warehouse", *path.split("/")]))


# -- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamFailure:
    """A team module left out of the platform, and why."""

    team: str
    file: str  # the file at fault, relative to the project root (or the team's folder)
    error: str  # one line: exception type and message
    detail: str = ""  # the traceback, for the UI

    def message(self) -> str:
        return f"team module '{self.team}' not loaded: {self.file}: {self.error}"


@dataclass
class LoadedTeams:
    definitions: dg.Definitions
    loaded: list[str] = field(default_factory=list)
    failures: list[TeamFailure] = field(default_factory=list)


class TeamRuleViolation(Exception):
    """A team module breaks a safety rule (see the module docstring)."""


def team_dirs(teams_dir: Path) -> list[Path]:
    """The team folders under ``teams_dir`` (hidden, ``_private`` and cache folders skipped)."""
    return sorted(
        p
        for p in teams_dir.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "__pycache__"
    )


def load_teams(teams_dir: Path, package: str, project_root: Path) -> LoadedTeams:
    """Load every team folder under ``teams_dir`` (the Python package ``package``) on its own.

    A team that fails is reported (log line + ``module_failed`` asset spec) and left out.
    """
    result = LoadedTeams(dg.Definitions())
    parts: list[dg.Definitions] = []
    for team_dir in team_dirs(teams_dir):
        team = team_dir.name
        try:
            parts.append(load_team(team_dir, f"{package}.{team}", project_root))
            result.loaded.append(team)
        except (Exception, SystemExit) as exc:  # a team's sys.exit() must not end the platform
            failure = describe_failure(team, team_dir, project_root, exc)
            log.error(failure.message())
            result.failures.append(failure)
            parts.append(dg.Definitions(assets=[failure_spec(failure, team_dir)]))
    result.definitions = dg.Definitions.merge(*parts) if parts else dg.Definitions()
    return result


def load_team(team_dir: Path, module_name: str, project_root: Path) -> dg.Definitions:
    """One team's definitions (its folder as a defs folder of its own), safety rules checked."""
    team = team_dir.name
    if not TEAM_NAME.fullmatch(team) or team in RESERVED_NAMES:
        raise TeamRuleViolation(
            f"'{team}' is not a valid team name: lowercase letters, digits and _, 2-40 "
            f"characters, starting with a letter, not one of {sorted(RESERVED_NAMES)}"
        )
    module = importlib.import_module(module_name)
    tree = dg.ComponentTree.from_module(defs_module=module, project_root=project_root)
    # The team's folder as a defs folder (its defs.yaml's post-processing applied), without
    # the root-level extras that only the project's own tree carries.
    defs = tree.build_defs_at_path(team_dir)
    problems = safety_violations(team, defs)
    if problems:
        raise TeamRuleViolation("; ".join(problems))
    return defs


def safety_violations(team: str, defs: dg.Definitions) -> list[str]:
    """What in ``defs`` breaks the rules that keep one team from harming the platform."""
    prefix = team_key(team, "x").path[:-1]
    problems: list[str] = []

    def outside(keys: Iterable[dg.AssetKey], what: str) -> None:
        for key in keys:
            if key.path[:-1] != prefix:
                problems.append(
                    f"{what} {key.to_user_string()} is outside {'/'.join(prefix)}/ "
                    f"(use lakehouse.components.teams.team_key('{team}', name))"
                )
            elif not ASSET_NAME.fullmatch(key.path[-1]):
                problems.append(
                    f"{what} name {key.path[-1]!r} is not valid: letters, digits and _ only"
                )

    for asset in defs.assets or ():
        if isinstance(asset, dg.AssetsDefinition):
            outside(asset.keys, "asset")
            outside((c.asset_key for c in asset.check_keys), "asset check on")
            extra = set(asset.required_resource_keys) - ALLOWED_RESOURCES
            if extra:
                names = ", ".join(k.to_user_string() for k in asset.keys)
                problems.append(
                    f"{names} requires resource(s) {sorted(extra)}: team assets read the "
                    "warehouse as asset inputs and return tables (only 'io_manager' is allowed)"
                )
        else:  # AssetSpec, SourceAsset
            outside([asset.key], "asset")
    for check in defs.asset_checks or ():
        outside((c.asset_key for c in check.check_keys), "asset check on")
        extra = set(check.required_resource_keys) - ALLOWED_RESOURCES
        if extra:
            problems.append(f"asset check requires resource(s) {sorted(extra)}")
    if defs.resources:
        problems.append(f"defines resources {sorted(defs.resources)}: use the platform's")
    if defs.executor is not None:
        problems.append("defines an executor: the platform's is used")
    for kind, items in (("job", defs.jobs), ("sensor", defs.sensors), ("schedule", defs.schedules)):
        for item in items or ():
            name = getattr(item, "name", "")
            if not name.startswith(f"{team}_"):
                problems.append(f"{kind} '{name}' must be named '{team}_...'")
    return problems


def team_specs(defs: dg.Definitions) -> list[dg.AssetSpec]:
    """The asset specs a team's definitions hold, without resolving them against the rest of
    the platform (their inputs, the platform's projections, are not in a team's defs)."""
    specs: list[dg.AssetSpec] = []
    for asset in defs.assets or ():
        specs.extend(asset.specs if isinstance(asset, dg.AssetsDefinition) else [asset])
    return specs


def convention_problems(team: str, defs: dg.Definitions) -> list[str]:
    """What in a (safe) team's ``defs`` breaks the platform's conventions: every asset has a
    description, owners, kinds, the group ``teams_<team>`` and the tag ``layer=warehouse``
    (checked by lakehouse_tests/defs/teams/test_team_modules.py over every team folder)."""
    problems = []
    for spec in team_specs(defs):
        name = spec.key.to_user_string()
        if not spec.description:
            problems.append(f"{name} has no description")
        if not spec.owners:
            problems.append(f"{name} has no owners (set them in the team's defs.yaml)")
        if spec.group_name != team_group(team):
            problems.append(f"{name} is in group {spec.group_name!r}, not {team_group(team)!r}")
        if not spec.kinds:
            problems.append(f"{name} has no kinds")
        if spec.tags.get("layer") != LAYER_TAG["layer"]:
            problems.append(f"{name} lacks the tag layer=warehouse")
    return problems


def describe_failure(
    team: str, team_dir: Path, project_root: Path, exc: BaseException
) -> TeamFailure:
    """Name the file at fault: the innermost frame (or SyntaxError location) in the team folder."""
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    root = chain[-1]
    where = None
    for error in reversed(chain):  # innermost first
        if isinstance(error, SyntaxError) and error.filename and _inside(error.filename, team_dir):
            where = (error.filename, error.lineno)
            break
        frames = [
            f for f in traceback.extract_tb(error.__traceback__) if _inside(f.filename, team_dir)
        ]
        if frames:
            where = (frames[-1].filename, frames[-1].lineno)
            break
    if where is None:
        file = _relative(
            team_dir / "defs.yaml" if (team_dir / "defs.yaml").exists() else team_dir, project_root
        )
    else:
        file = f"{_relative(Path(where[0]), project_root)}:{where[1]}"
    first_line = (str(root).strip().splitlines() or [""])[0]
    error = f"{type(root).__name__}: {first_line}" if first_line else type(root).__name__
    detail = "".join(traceback.format_exception(root)).strip()
    return TeamFailure(team=team, file=file, error=error, detail=detail[-4000:])


def failure_spec(failure: TeamFailure, team_dir: Path) -> dg.AssetSpec:
    """The failure, visible in the asset graph in the team's group, owned by the team."""
    name = re.sub(r"[^a-z0-9_]", "_", failure.team.lower()) or "unnamed"
    return dg.AssetSpec(
        key=team_key(name, "module_failed"),
        description=(
            f"**Team module `{failure.team}` failed to load; its assets are not on the platform.**"
            f"\n\n`{failure.file}`: {failure.error}\n\n```\n{failure.detail}\n```\n\n"
            "Fix the file and reload the code location (docs/teams.md)."
        ),
        group_name=team_group(name),
        owners=_owners(team_dir),
        kinds={"python"},
        tags={**LAYER_TAG, "team_module": "failed"},
        metadata={"file": failure.file, "error": failure.error},
    )


def _owners(team_dir: Path) -> list[str]:
    """The owners a team's defs.yaml declares, if it can be read; else the platform team."""
    try:
        doc = yaml.safe_load((team_dir / "defs.yaml").read_text())
        for rule in doc["post_processing"]["assets"]:
            owners = rule.get("attributes", {}).get("owners")
            if owners:
                return [str(o) for o in owners]
    except Exception:
        pass
    return FALLBACK_OWNERS


def _inside(filename: str, folder: Path) -> bool:
    try:
        Path(filename).resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# -- the component that lakehouse/defs/teams/defs.yaml declares ------------------------------


class TeamModules(dg.Component, dg.Model, dg.Resolvable):
    """Loads each team folder beside this ``defs.yaml`` on its own (see :func:`load_teams`)."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        teams_dir = context.path
        package = context.defs_relative_module_name(teams_dir)
        return load_teams(teams_dir, package, context.project_root).definitions

"""The team loader: each team folder on its own; a broken team is reported, never fatal."""

import logging
import textwrap
import uuid
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.components.teams import load_teams

GOOD_YAML = """\
type: dagster.DefsFolderComponent
post_processing:
  assets:
    - target: "*"
      attributes:
        owners: ["team:{team}"]
        group_name: teams_{team}
        tags: {layer: warehouse}
"""

GOOD_ASSET = """\
import dagster as dg
from lakehouse.components.teams import team_key

@dg.asset(key=team_key("{team}", "numbers"), description="Numbers.", kinds={"python"})
def numbers():
    return 1
"""


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def error_log():
    handler = _Records()
    logger = logging.getLogger("lakehouse.components.teams")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _teams(tmp_path: Path, monkeypatch, teams: dict[str, dict[str, str]]) -> tuple[Path, str]:
    """A package ``<unique>.teams`` under tmp_path holding the given team folders."""
    package = f"teampkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    teams_dir = root / package / "teams"
    teams_dir.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    for team, files in teams.items():
        (teams_dir / team).mkdir()
        for name, text in files.items():
            (teams_dir / team / name).write_text(textwrap.dedent(text).replace("{team}", team))
    monkeypatch.syspath_prepend(str(root))
    return teams_dir, f"{package}.teams"


def _good(team: str) -> dict[str, str]:
    return {"defs.yaml": GOOD_YAML, "assets.py": GOOD_ASSET}


def _keys(defs: dg.Definitions) -> set[str]:
    return {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}


def test_good_teams_load_with_their_folders_owners_group_and_tags(tmp_path, monkeypatch):
    teams_dir, package = _teams(
        tmp_path, monkeypatch, {"alpha": _good("alpha"), "beta": _good("beta")}
    )
    result = load_teams(teams_dir, package, teams_dir.parents[1])
    assert result.loaded == ["alpha", "beta"] and result.failures == []
    specs = {s.key.to_user_string(): s for s in result.definitions.resolve_all_asset_specs()}
    assert set(specs) == {"warehouse/teams/alpha/numbers", "warehouse/teams/beta/numbers"}
    alpha = specs["warehouse/teams/alpha/numbers"]
    assert alpha.owners == ["team:alpha"] and alpha.group_name == "teams_alpha"
    assert alpha.tags["layer"] == "warehouse"


@pytest.mark.parametrize(
    ("files", "bad_file", "error"),
    [
        (
            {"assets.py": "import dagster as dg\n\ndef broken(:\n    pass\n"},
            "assets.py:3",
            "SyntaxError",
        ),
        (
            {
                "assets.py": "import dagster as dg\nfrom .helpers import thing\n",
                "helpers.py": "x = 1\nimport no_such_module_for_lakehouse_tests\nthing = 2\n",
            },
            "helpers.py:2",
            "ModuleNotFoundError: No module named 'no_such_module_for_lakehouse_tests'",
        ),
        (
            {"assets.py": "import dagster as dg\nraise RuntimeError('config missing')\n"},
            "assets.py:2",
            "RuntimeError: config missing",
        ),
        ({"assets.py": "import sys\nsys.exit(3)\n"}, "assets.py:2", "SystemExit: 3"),
    ],
    ids=["syntax-error", "import-error", "error-at-import", "exit-at-import"],
)
def test_a_broken_team_is_reported_with_team_and_file_and_the_rest_loads(
    tmp_path, monkeypatch, error_log, files, bad_file, error
):
    broken = {"defs.yaml": GOOD_YAML, **files}
    teams_dir, package = _teams(
        tmp_path, monkeypatch, {"alpha": _good("alpha"), "broken": broken, "omega": _good("omega")}
    )
    result = load_teams(teams_dir, package, teams_dir.parents[1])

    assert result.loaded == ["alpha", "omega"]
    (failure,) = result.failures
    assert failure.team == "broken"
    assert failure.file == f"{package.split('.')[0]}/teams/broken/{bad_file}"
    assert failure.error.startswith(error.split(":")[0]) and error in failure.error
    # The log line names team, file and error.
    (line,) = error_log
    assert "'broken'" in line and bad_file in line and error in line
    # The UI shows it: a spec in the team's group, owned by the team, with the error.
    assert _keys(result.definitions) == {
        "warehouse/teams/alpha/numbers",
        "warehouse/teams/omega/numbers",
        "warehouse/teams/broken/module_failed",
    }
    spec = next(
        s for s in result.definitions.resolve_all_asset_specs() if s.key.path[-1] == "module_failed"
    )
    assert bad_file in spec.description and error in spec.description
    assert spec.group_name == "teams_broken" and spec.owners == ["team:broken"]
    dg.Definitions.validate_loadable(result.definitions)


ROGUE = {
    "outside the team's prefix": (
        """\
        import dagster as dg

        @dg.asset(key=["warehouse", "platform", "applications"], description="x", kinds={"python"})
        def overwrite():
            return 1
        """,
        "asset warehouse/platform/applications is outside warehouse/teams/rogue/",
    ),
    "a store handle": (
        """\
        import dagster as dg
        from lakehouse.components.resources.stores import ObjectStore
        from lakehouse.components.teams import team_key

        @dg.asset(key=team_key("rogue", "x"), description="x", kinds={"python"})
        def x(warehouse: ObjectStore):
            return 1
        """,
        "requires resource(s) ['warehouse']",
    ),
    "its own IO manager": (
        """\
        import dagster as dg
        from lakehouse.components.teams import team_key

        @dg.asset(key=team_key("rogue", "x"), io_manager_key="my_io", description="x")
        def x():
            return 1
        """,
        "requires resource(s) ['my_io']",
    ),
    "a resource of its own": (
        """\
        import dagster as dg

        defs = dg.Definitions(resources={"io_manager": dg.FilesystemIOManager()})
        """,
        "defines resources ['io_manager']",
    ),
    "an asset name with a space": (
        """\
        import dagster as dg
        from lakehouse.components.teams import team_key

        weekly = dg.AssetSpec(team_key("rogue", "weekly report"), description="x", kinds={"python"})
        """,
        "asset name 'weekly report' is not valid: letters, digits and _ only",
    ),
    "an asset name with a quote": (
        """\
        import dagster as dg
        from lakehouse.components.teams import team_key

        weekly = dg.AssetSpec(team_key("rogue", 'weekly"'), description="x", kinds={"python"})
        """,
        "asset name 'weekly\"' is not valid",
    ),
    "a sensor named like the platform's": (
        """\
        import dagster as dg

        @dg.sensor(target="*")
        def automation():
            return None
        """,
        "sensor 'automation' must be named 'rogue_...'",
    ),
}


@pytest.mark.parametrize("case", ROGUE, ids=list(ROGUE))
def test_a_team_breaking_a_safety_rule_is_left_out(tmp_path, monkeypatch, error_log, case):
    code, message = ROGUE[case]
    teams_dir, package = _teams(
        tmp_path,
        monkeypatch,
        {"alpha": _good("alpha"), "rogue": {"defs.yaml": GOOD_YAML, "assets.py": code}},
    )
    result = load_teams(teams_dir, package, teams_dir.parents[1])
    assert result.loaded == ["alpha"]
    (failure,) = result.failures
    assert failure.team == "rogue" and failure.error.startswith("TeamRuleViolation")
    assert message in failure.error and message in error_log[0]
    assert "warehouse/platform/applications" not in _keys(result.definitions)


def test_invalid_team_folder_names_are_reported(tmp_path, monkeypatch):
    teams_dir, package = _teams(
        tmp_path, monkeypatch, {"Bad-Name": _good("x"), "platform": _good("x"), "ok": _good("ok")}
    )
    (teams_dir / "_private").mkdir()  # skipped, like hidden folders
    (teams_dir / ".hidden").mkdir()
    result = load_teams(teams_dir, package, teams_dir.parents[1])
    assert result.loaded == ["ok"]
    assert sorted(f.team for f in result.failures) == ["Bad-Name", "platform"]
    assert all("not a valid team name" in f.error for f in result.failures)
    assert "warehouse/teams/bad_name/module_failed" in _keys(result.definitions)

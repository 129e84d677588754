"""`lakehouse new-team <name>`: a working team module to start from.

Writes ``lakehouse/defs/teams/<name>/`` (defs.yaml with owners, group and tags; an example
asset reading a warehouse projection; an asset check; a README) and its test
``lakehouse_tests/defs/teams/test_<name>.py``. Nothing central is edited: the team loader picks the
folder up on the next reload of the code location.
"""

import json
import keyword
from pathlib import Path

from lakehouse.components.teams import RESERVED_NAMES, TEAM_NAME, team_group


class ScaffoldError(Exception):
    """The team cannot be created as asked; the message says why."""


def scaffold(name: str, root: Path, owners: tuple[str, ...] = ()) -> list[Path]:
    """Create team ``name``'s module and test under project ``root``; return the files."""
    if not TEAM_NAME.fullmatch(name) or keyword.iskeyword(name) or name in RESERVED_NAMES:
        raise ScaffoldError(
            f"'{name}' is not a valid team name: use 2-40 lowercase letters, digits or _, "
            f"starting with a letter (it becomes a Python package, an asset key part and the "
            f"group teams_<name>); not one of {sorted(RESERVED_NAMES)}"
        )
    owners = owners or (f"team:{name}",)
    for owner in owners:
        if not (owner.startswith("team:") and len(owner) > 5) and "@" not in owner:
            raise ScaffoldError(f"owner '{owner}' must be team:<name> or an e-mail address")
    teams_dir = root / "lakehouse" / "defs" / "teams"
    if not teams_dir.is_dir():
        raise ScaffoldError(f"{teams_dir} not found: is {root} the lakehouse project root?")
    team_dir = teams_dir / name
    test_file = root / "lakehouse_tests" / "defs" / "teams" / f"test_{name}.py"
    for path in (team_dir, test_file):
        if path.exists():
            raise ScaffoldError(f"{path} already exists: team '{name}' is taken")

    values = {"team": name, "owners": json.dumps(list(owners)), "group": team_group(name)}
    files = {
        team_dir / "defs.yaml": DEFS_YAML,
        team_dir / "__init__.py": INIT,
        team_dir / "README.md": README,
        team_dir / "assets.py": ASSETS,
        test_file: TEST,
    }
    test_file.parent.mkdir(parents=True, exist_ok=True)
    init = test_file.parent / "__init__.py"
    if not init.exists():
        files[init] = ""
    team_dir.mkdir()
    for path, template in files.items():
        path.write_text(template.format(**values) if template else "")
    return list(files)


DEFS_YAML = """\
# Everything in this folder belongs to the {team} team (docs/teams.md).
type: dagster.DefsFolderComponent
post_processing:
  assets:
    - target: "*"
      attributes:
        owners: {owners}
        group_name: {group}
        tags:
          layer: warehouse
          team: {team}
"""

INIT = '''\
"""The {team} team's module (see README.md)."""
'''

README = """\
# Team `{team}`

The {team} team's assets on the lakehouse. Everything in this folder is keyed
`warehouse/teams/{team}/<name>` (use `team_key("{team}", name)`), written by the platform's
Parquet IO manager under `teams/{team}/` in the warehouse store, shown in the Dagster UI in
the group `{group}` and in the DuckDB catalog as `{group}.<name>`. Read warehouse projections
as asset inputs (`warehouse_input("platform/<table>")`, a pyarrow Table) and return a table;
no other resource is needed or allowed. Test locally with
`uv run pytest lakehouse_tests/defs/teams/test_{team}.py`; reload the code location (or restart
`make dev`) to see the assets. See docs/teams.md.
"""

ASSETS = '''\
"""The {team} team's assets. Start from this example and replace it (docs/teams.md)."""

import dagster as dg
import duckdb
import pyarrow as pa

from lakehouse.components.automation import on_first_load_or_dependency_update
from lakehouse.components.teams import team_key, warehouse_input

TEAM = "{team}"
SELLERS_BY_COUNTRY = team_key(TEAM, "sellers_by_country")


def count_sellers_by_country(companies: pa.Table) -> pa.Table:
    """The logic, as a plain function: tested without Dagster."""
    con = duckdb.connect()
    con.register("companies", companies)
    return con.sql(
        "SELECT country, count(*) AS sellers FROM companies WHERE role = 'seller' "
        "GROUP BY country ORDER BY country"
    ).to_arrow_table()


@dg.asset(
    key=SELLERS_BY_COUNTRY,
    ins={{"companies": warehouse_input("platform/companies")}},
    description="Example: the platform's sellers per country. Replace it with your own.",
    kinds={{"duckdb", "parquet"}},
    # Materialised once when it first appears, then whenever companies change.
    automation_condition=on_first_load_or_dependency_update(),
)
def sellers_by_country(companies: pa.Table) -> pa.Table:
    return count_sellers_by_country(companies)


@dg.asset_check(asset=SELLERS_BY_COUNTRY, description="Every country listed has a seller.")
def every_country_has_sellers(sellers_by_country: pa.Table) -> dg.AssetCheckResult:
    counts = sellers_by_country.column("sellers").to_pylist()
    return dg.AssetCheckResult(
        passed=all(n > 0 for n in counts), metadata={{"countries": len(counts)}}
    )
'''

TEST = '''\
"""Team {team}: its logic, its check, and that its module loads under the platform's rules."""

from pathlib import Path

import pyarrow as pa

import lakehouse
from lakehouse.components.teams import convention_problems, load_team, safety_violations, team_specs

TEAM_DIR = Path(lakehouse.__file__).parent / "defs" / "teams" / "{team}"

COMPANIES = pa.table(
    {{
        "role": ["seller", "seller", "debtor", "seller"],
        "country": ["GB", "DE", "GB", "GB"],
    }}
)


def test_sellers_are_counted_per_country():
    from lakehouse.defs.teams.{team}.assets import count_sellers_by_country

    assert count_sellers_by_country(COMPANIES).to_pylist() == [
        {{"country": "DE", "sellers": 1}},
        {{"country": "GB", "sellers": 2}},
    ]


def test_the_check_fails_on_an_empty_country():
    from lakehouse.defs.teams.{team}.assets import every_country_has_sellers

    good = pa.table({{"country": ["GB"], "sellers": [2]}})
    bad = pa.table({{"country": ["GB", "FR"], "sellers": [2, 0]}})
    assert every_country_has_sellers(good).passed
    assert not every_country_has_sellers(bad).passed


def test_the_module_loads_and_follows_the_platform_rules():
    defs = load_team(TEAM_DIR, "lakehouse.defs.teams.{team}", TEAM_DIR.parents[3])
    assert team_specs(defs), "the module defines no asset"
    assert safety_violations("{team}", defs) == []
    assert convention_problems("{team}", defs) == []
'''

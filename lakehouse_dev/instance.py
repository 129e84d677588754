"""The local Dagster instance that the `lakehouse` command and `make dev` share."""

import os
import shutil
from pathlib import Path

import dagster as dg

from lakehouse.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def prepare_dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME`` if set (e.g. production); else ``$LAKEHOUSE_HOME/dagster`` holding the
    project's ``dagster.yaml`` (the zero-service local instance)."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings) -> dg.DagsterInstance:
    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()

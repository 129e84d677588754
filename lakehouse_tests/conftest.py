"""Shared fixtures: an isolated LAKEHOUSE_HOME and Dagster instance per test."""

import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
_ENV = [
    "LAKEHOUSE_PROFILE",
    "LAKEHOUSE_LAKE_URL",
    "LAKEHOUSE_REPLICA_URL",
    "LAKEHOUSE_WAREHOUSE_URL",
    "LAKEHOUSE_LANDING_URL",
    "LAKEHOUSE_PLATFORM_DB_URL",
    "LAKEHOUSE_CATALOG_PATH",
]


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """The local profile under a fresh LAKEHOUSE_HOME, with its own DAGSTER_HOME."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path / "home"))
    dagster_home = tmp_path / "home" / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    return Settings.from_env()


@pytest.fixture
def instance(settings) -> dg.DagsterInstance:
    with dg.DagsterInstance.get() as instance:
        yield instance


def load_definitions() -> dg.Definitions:
    """Build the code location afresh, as a new process would, for the current environment."""
    for name in [
        m for m in sys.modules if m == "lakehouse.definitions" or m.startswith("lakehouse.defs")
    ]:
        del sys.modules[name]
    from lakehouse.definitions import defs

    return defs


@pytest.fixture
def defs(settings) -> dg.Definitions:
    return load_definitions()

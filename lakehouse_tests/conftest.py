"""Shared fixtures: an isolated LAKEHOUSE_HOME and Dagster instance per test."""

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from lakehouse.settings import Settings

pytest_plugins = ["lakehouse_tests.emulators"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "LAKEHOUSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _isolated_from_the_developer(monkeypatch) -> None:
    """A developer's LAKEHOUSE_* variables (profile, stores, bus, database, catalog, executor)
    must not redirect a test: every test starts from the defaults."""
    for name in [n for n in os.environ if n.startswith("LAKEHOUSE_") and "_TEST_" not in n]:
        monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """The local profile under a fresh LAKEHOUSE_HOME, with its own DAGSTER_HOME."""
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
    from lakehouse.definitions import build_definitions

    return build_definitions()


@pytest.fixture
def defs(settings) -> dg.Definitions:
    return load_definitions()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards. Required in CI; skipped locally
    only when PostgreSQL is unreachable."""
    admin = sa.create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"lakehouse_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(exc.orig).splitlines()[0]}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI requires PostgreSQL. {reason}")
        pytest.skip(reason)
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

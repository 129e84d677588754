"""The layout's rules are checks, not prose: `make lint` runs import-linter with the contracts
in pyproject.toml, and a rule broken on purpose fails it, naming the contract."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse_tests.conftest import PROJECT_ROOT

DAGSTER_FREE = "Only definitions, celery_worker, components and defs import dagster"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of both packages and the project's import-linter configuration."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("lakehouse", "lakehouse_dev"):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports on the copy (its packages first on the path), as `make lint` runs it."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_contracts_hold_on_the_tree_and_break_when_storage_imports_dagster(tree):
    kept = _lint_imports(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    store = tree / "lakehouse" / "storage" / "store.py"
    store.write_text("import dagster  # noqa: F401\n" + store.read_text())
    broken = _lint_imports(tree)
    assert broken.returncode != 0
    assert f"{DAGSTER_FREE} BROKEN" in broken.stdout, broken.stdout
    assert "lakehouse.storage.store -> dagster" in broken.stdout, broken.stdout

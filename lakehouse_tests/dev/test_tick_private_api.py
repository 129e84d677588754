"""`lakehouse tick` is the only user of Dagster's private API: a Dagster upgrade that moves any
of it must fail here, naming the version and each missing symbol, not somewhere deep in a tick."""

import ast
import importlib
from pathlib import Path

import dagster
import pytest

TICK = Path(__file__).parents[2] / "lakehouse_dev" / "tick.py"
# What tick.py reaches beyond its imports (patched functions, a method, instance config classes).
REACHED = (
    "dagster._daemon.sensor.is_under_min_interval",
    "dagster._daemon.asset_daemon.is_under_min_interval",
    "dagster._daemon.asset_daemon.AssetDaemon._run_iteration_impl",
    "dagster._core.run_coordinator.DefaultRunCoordinator",
    "dagster._core.launcher.sync_in_memory_run_launcher.SyncInMemoryRunLauncher",
)


def _imported() -> list[str]:
    """``module.name`` of every ``from dagster._... import name`` in tick.py."""
    names = []
    for node in ast.walk(ast.parse(TICK.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster._"):
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _resolves(dotted: str) -> bool:
    """Import the longest module prefix of ``dotted``, then walk the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_private_dagster_symbol_tick_uses_still_exists():
    text = TICK.read_text()
    for dotted in REACHED:  # the list above stays in step with tick.py
        assert dotted.rsplit(".", 1)[1] in text, f"tick.py no longer uses {dotted}: drop it here"
    symbols = _imported() + list(REACHED)
    assert len(symbols) > len(REACHED), "tick.py's private imports were not found"
    missing = [s for s in symbols if not _resolves(s)]
    if missing:
        pytest.fail(
            f"Dagster {dagster.__version__} no longer has what lakehouse_dev/tick.py uses from "
            f"its private API: {', '.join(missing)}. Port tick.py to this version (it is the "
            "only user of private Dagster API) or pin dagster to the last version that had them.",
            pytrace=False,
        )

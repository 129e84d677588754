"""``python -m bench [--only NAME ...]``: run the benchmarks, then print one ``name: value``
line per figure (3 significant digits) on stdout. Progress goes to stderr.

A benchmark is any module ``bench/<name>.py`` with a ``run()`` function (``run()`` or
``run(scale)``, returning a list of ``(name, value)`` or a ``{name: value}`` dict), found
without registering it here. ``BENCH_SCALE`` (float, default 1.0) scales the data sizes.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from bench.common import Figure, progress, scale, sig3

NOT_BENCHMARKS = {"common", "__main__", "__init__"}
FIRST = ("replication", "sensor_tick")  # then the others, alphabetically
ALIASES = {"sensor": "sensor_tick"}


def discover() -> list[str]:
    names = [
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name not in NOT_BENCHMARKS and not info.name.startswith("_")
    ]
    return sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))


def run_one(name: str) -> list[Figure]:
    module = importlib.import_module(f"bench.{name}")
    run = getattr(module, "run", None)
    if not callable(run):
        raise TypeError(f"bench/{name}.py has no run() function")
    result = run(scale()) if inspect.signature(run).parameters else run()
    return list(result.items()) if isinstance(result, dict) else list(result)


def main(argv: list[str] | None = None) -> int:
    available = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted([*available, *(a for a, n in ALIASES.items() if n in available)]),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(available)}",
    )
    args = parser.parse_args(argv)
    selected = [ALIASES.get(n, n) for n in args.only] if args.only else available
    selected = list(dict.fromkeys(selected))
    progress(f"benchmarks: {', '.join(selected)}; BENCH_SCALE={scale():g}")
    start = time.monotonic()
    figures: list[Figure] = []
    failed = []
    for name in selected:
        began = time.monotonic()
        try:
            figures.extend(run_one(name))
        except Exception:
            traceback.print_exc()
            progress(f"{name}: FAILED")
            failed.append(name)
        else:
            progress(f"{name}: done in {time.monotonic() - began:.0f}s")
    progress(
        f"all done in {time.monotonic() - start:.0f}s" + (f"; failed: {failed}" if failed else "")
    )
    sys.stderr.flush()
    for name, value in figures:
        print(f"{name}: {sig3(value)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

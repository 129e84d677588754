"""Dagster's own log (DEBUG and up, warnings, tracebacks) to a file, not the terminal.

`lakehouse tick`, `materialize` and `demo` run Dagster in-process, which logs every event of
every run at DEBUG on stderr. Inside :func:`dagster_log_to_file` whatever goes to stderr (the
Python object and file descriptor 2, so child processes too) is appended to
``$LAKEHOUSE_HOME/logs/<name>.log``; the commands print their progress and summary on stdout.
"""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


def log_path(home: Path, name: str) -> Path:
    return home / "logs" / f"{name}.log"


@contextlib.contextmanager
def dagster_log_to_file(home: Path, name: str) -> Iterator[Path]:
    """Send stderr to ``$LAKEHOUSE_HOME/logs/<name>.log`` (appended) until the block ends."""
    path = log_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stderr(log):
                yield path
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)

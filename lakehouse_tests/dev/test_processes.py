"""The one process launcher: a process group is stopped whole, children included, escalating
from a polite signal to SIGKILL only for what ignores it; output lands in the log."""

import signal
import sys
import time

from lakehouse_dev.emulators.processes import alive, group_members, launch

# A parent that ignores SIGINT and starts a child that ignores SIGINT and SIGTERM.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('child up', flush=True); time.sleep(600)"])
print("parent up", flush=True)
time.sleep(600)
"""


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_group_is_stopped_whole_and_the_stubborn_members_are_named(tmp_path):
    log = tmp_path / "stubborn.log"
    proc = launch("stubborn", [sys.executable, "-c", STUBBORN], log=log)
    _wait_for(lambda: {"child up", "parent up"} <= set(log.read_text().splitlines()))
    assert len(group_members(proc.pid)) == 2

    stubborn = proc.stop(((signal.SIGINT, 1.0), (signal.SIGTERM, 1.0), (signal.SIGKILL, 10.0)))

    assert len(stubborn) == 2  # neither gave way to SIGINT
    assert group_members(proc.pid) == [] and not alive(proc.pid)
    assert proc.popen.returncode is not None


def test_the_environment_is_inherited_unless_told_otherwise(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_TEST_INHERITED", "yes")
    script = "import os; print(os.environ.get('LAKEHOUSE_TEST_INHERITED'), os.environ['EXTRA'])"
    inherited = launch("env", [sys.executable, "-c", script], log=None, env={"EXTRA": "1"})
    assert inherited.popen.communicate(timeout=30)[0].split() == ["yes", "1"]
    alone = launch(
        "env", [sys.executable, "-c", script], log=None, env={"EXTRA": "2"}, inherit=False
    )
    assert alone.popen.communicate(timeout=30)[0].split() == ["None", "2"]

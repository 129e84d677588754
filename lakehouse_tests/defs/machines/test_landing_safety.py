"""The landing never loses, replaces or strands a file, whatever lands and whenever a run
dies: names no store can hold, a name landing again while claimed or after its take, a writer
holding its file open after the take, a run killed during the take or the parse. Every file
here is written by hand."""

import hashlib
import json
import os
import time
from datetime import UTC, datetime

import dagster as dg
import pytest

from lakehouse.components.file_drop import MAX_FAILURES, SENSOR_TAG, WAVE_TAG
from lakehouse.sources.files import landing as files_landing
from lakehouse.sources.machines.landing import CLAIMED_PREFIX, LAKE_PREFIX, MACHINES, TAKEN_PREFIX
from lakehouse.storage.store import Store
from lakehouse.warehouse.machine_waves import PARSED_PREFIX, kpis, parse_wave
from lakehouse_tests.defs.machines.test_landing import _evaluate

WAVE = "2026-03-02T08"
NAME = "SMT-0001_20260302T080000.log"


def _lines(n: int, alarm: str = "E1") -> bytes:
    return b"".join(
        f"2026-03-02T08:{i:02d}:00.000Z|SMT-0001|H1|A|||||||||{alarm}\n".encode() for i in range(n)
    )


def _land(store: Store, name: str, data: bytes) -> str:
    """Write a finished file into the landing folder, under any name the file system allows."""
    path = os.path.join(store.root, "machines", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    then = time.time() - 600
    os.utime(path, (then, then))
    return path


def _quarantined(store: Store) -> list[str]:
    """Every key under ``quarantine/`` (``Store.keys`` leaves out ``_claimed``-like folders)."""
    root = os.path.join(store.root, "quarantine")
    return sorted(
        os.path.relpath(os.path.join(folder, f), store.root)
        for folder, _, files in os.walk(root)
        for f in files
    )


def _notes(store: Store) -> dict[str, dict]:
    return {
        k: json.loads(store.read_bytes(k))
        for k in _quarantined(store)
        if k.endswith(".reason.json")
    }


def _run(instance, wave: str, status: dg.DagsterRunStatus) -> None:
    """A finished run of the wave, as the landing sensor's request makes it."""
    tags = {WAVE_TAG: wave, SENSOR_TAG: "machine_landing"}
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", tags=tags, status=status))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_names_no_store_can_hold_are_quarantined_and_the_sensor_carries_on(settings, instance):
    landing = Store(settings.landing_url)
    backslash = "SMT-0001_20260302T080000\\..\\evil.log"
    long = "SMT-0002_20260302T080000_" + "x" * 221 + ".log"  # 250 characters
    _land(landing, backslash, _lines(1))
    _land(landing, long, _lines(2))
    _land(landing, NAME, _lines(3))

    result, cursor = _evaluate(instance, landing, None)
    assert [r.partition_key for r in result.run_requests] == [WAVE]
    assert MACHINES.claimed(landing) == {WAVE: [NAME]}
    assert os.listdir(os.path.join(landing.root, "machines")) == ["_claimed"]
    notes = {n["name"]: n for n in _notes(landing).values()}
    assert notes[backslash]["reason"].startswith("the name holds a character no store key")
    assert notes[long]["reason"] == "the name is longer than 200 bytes (250)"
    for name, data in ((backslash, _lines(1)), (long, _lines(2))):  # bytes kept, name noted
        (kept,) = [k for k, n in _notes(landing).items() if n["name"] == name]
        assert landing.read_bytes(kept.removesuffix(".reason.json")) == data
    again, _ = _evaluate(instance, landing, cursor)  # a later tick: nothing more to do
    assert len(_notes(landing)) == 2 and MACHINES.claimed(landing) == {WAVE: [NAME]}
    assert [r.run_key for r in again.run_requests] == [result.run_requests[0].run_key]


def test_a_name_near_the_file_system_limit_can_be_written_atomically(tmp_path):
    store = Store(str(tmp_path))
    store.write_bytes(f"a/{'n' * 255}", b"x")  # the temporary name must not be longer
    assert store.read_bytes(f"a/{'n' * 255}") == b"x"


def test_a_name_landing_again_while_claimed_replaces_nothing(settings, instance):
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    first, second, third = _lines(5), _lines(7, "E2"), _lines(9, "E3")
    _land(landing, NAME, first)
    _evaluate(instance, landing, None)  # claimed; then the tick dies before the run
    _land(landing, NAME, second)
    _evaluate(instance, landing, None)
    _land(landing, NAME, third)
    _evaluate(instance, landing, None)
    assert landing.read_bytes(f"{CLAIMED_PREFIX}/wave={WAVE}/{NAME}") == first
    kept = {
        k: landing.read_bytes(k) for k in _quarantined(landing) if not k.endswith(".reason.json")
    }
    assert sorted(kept.values()) == sorted([second, third])  # both, neither over the other
    assert all("claimed already" in n["reason"] for n in _notes(landing).values())
    (taken,) = MACHINES.take_wave(landing, lake, WAVE)
    assert lake.read_bytes(taken.key) == first


def test_a_writer_holding_the_file_open_never_changes_the_lake_file(settings, instance):
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    path = _land(landing, NAME, b"")
    with open(path, "ab") as writer:
        writer.write(_lines(2))
        writer.flush()
        os.utime(path, (time.time() - 600, time.time() - 600))  # paused: looks finished
        _evaluate(instance, landing, None)
        (taken,) = MACHINES.take_wave(landing, lake, WAVE)
        time.sleep(1.1)
        writer.write(_lines(3, "E9")[-57:])  # the writer wakes up: one more line
    assert lake.read_bytes(taken.key) == _lines(2)  # a copy: the lake file did not change
    assert MACHINES.read_manifest(lake, WAVE)[NAME]["sha256"] == _sha(_lines(2))
    conflicts = MACHINES.sweep_taken(landing, lake)
    (key,) = conflicts
    assert "written after it was taken" in conflicts[key]
    assert landing.read_bytes(f"quarantine/{key}") == _lines(2) + _lines(3, "E9")[-57:]
    assert MACHINES.sweep_taken(landing, lake) == {}


def test_an_unchanged_taken_file_is_deleted_after_the_linger_period(settings, instance):
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    _land(landing, NAME, _lines(2))
    _evaluate(instance, landing, None)
    MACHINES.take_wave(landing, lake, WAVE)
    taken = f"{TAKEN_PREFIX}/wave={WAVE}/{NAME}"
    assert MACHINES.sweep_taken(landing, lake) == {} and landing.exists(taken)
    later = time.time() + files_landing.LINGER_SECONDS + 1
    assert MACHINES.sweep_taken(landing, lake, later) == {}
    assert not landing.exists(taken) and _quarantined(landing) == []


def test_a_name_landing_again_after_its_take_never_stays_claimed(settings, instance):
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    _land(landing, NAME, _lines(2))
    first, _ = _evaluate(instance, landing, None)
    MACHINES.take_wave(landing, lake, WAVE)
    _run(instance, WAVE, dg.DagsterRunStatus.SUCCESS)
    _land(landing, NAME, _lines(4))  # the same name, other bytes
    second, _ = _evaluate(instance, landing, None)
    (request,) = second.run_requests  # a new request, not de-duplicated into the first
    assert request.run_key != first.run_requests[0].run_key
    assert MACHINES.take_wave(landing, lake, WAVE) == []
    assert MACHINES.claimed(landing) == {}
    (note,) = _notes(landing).values()
    assert "already has" in note["reason"]


@pytest.fixture
def killed_mid_take(settings):
    """Wave 08 with two claimed files; a run copied the first into its take folder and was
    killed while copying the second: no manifest, a half-written temporary, both claimed."""
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    first, second = _lines(3), _lines(4, "E2")
    for name, data in ((NAME, first), ("SMT-0006_20260302T080000.log", second)):
        landing.write_bytes(f"{CLAIMED_PREFIX}/wave={WAVE}/{name}", data)
    folder = MACHINES.take_folder(datetime(2026, 3, 2, 10, tzinfo=UTC), WAVE)
    lake.write_bytes(f"{folder}/{NAME}", first)
    half = lake.path(f"{folder}/.tmp-0123456789abcdef0123456789abcdef")
    with open(half, "wb") as f:
        f.write(second[:30])
    os.utime(half, (time.time() - 60, time.time() - 60))
    return landing, lake, Store(settings.warehouse_url), folder, half


def test_the_next_take_completes_a_take_killed_midway(killed_mid_take):
    landing, lake, _, folder, half = killed_mid_take
    (taken,) = MACHINES.take_wave(landing, lake, WAVE)
    assert taken.key.endswith("/SMT-0006_20260302T080000.log")
    assert not os.path.exists(half) and lake.exists(f"{folder}/_manifest.json")
    assert MACHINES.claimed(landing) == {} and _quarantined(landing) == []
    files = lake.keys(LAKE_PREFIX)
    assert sorted(k.rsplit("/", 1)[1] for k in files) == sorted(
        [NAME, "SMT-0006_20260302T080000.log"]  # each once
    )
    manifest = MACHINES.read_manifest(lake, WAVE)
    assert {k.rsplit("/", 1)[1]: lake.checksum(k) for k in files} == {
        n: m["sha256"] for n, m in manifest.items()
    }


def test_the_next_parse_completes_a_parse_killed_midway(killed_mid_take):
    landing, lake, warehouse, _, _ = killed_mid_take
    MACHINES.take_wave(landing, lake, WAVE)
    assert parse_wave(lake, warehouse, WAVE).parsed == 2
    # killed while writing the second part: the first part is there, a temporary beside it
    parts = warehouse.keys(f"{PARSED_PREFIX}/wave={WAVE}")
    warehouse.delete(parts[1])
    half = warehouse.path(f"{PARSED_PREFIX}/wave={WAVE}/.tmp-0123456789abcdef0123456789abcdef")
    with open(half, "wb") as f:
        f.write(b"PAR1")
    os.utime(half, (time.time() - 60, time.time() - 60))
    again = parse_wave(lake, warehouse, WAVE)
    assert (again.parsed, again.already_parsed) == (1, 1)
    assert not os.path.exists(half)
    table = kpis(lake, warehouse, [WAVE], "hour")
    assert sum(table.column("lines").to_pylist()) == 3 + 4  # every line once


def test_a_wave_whose_last_run_failed_is_run_again_until_it_succeeds(settings, instance):
    landing = Store(settings.landing_url)
    assert _evaluate(instance, landing, None)[0].run_requests == []
    _run(instance, WAVE, dg.DagsterRunStatus.FAILURE)  # killed mid-parse, nothing claimed
    (retry,) = _evaluate(instance, landing, None)[0].run_requests
    assert (retry.partition_key, retry.tags[WAVE_TAG]) == (WAVE, WAVE)
    _run(instance, WAVE, dg.DagsterRunStatus.SUCCESS)
    assert _evaluate(instance, landing, None)[0].run_requests == []
    for _ in range(MAX_FAILURES):  # failing again and again: retried, then left to a person
        _run(instance, WAVE, dg.DagsterRunStatus.FAILURE)
    assert _evaluate(instance, landing, None)[0].run_requests == []

"""The Store: cursor listing, atomic writes, safe keys, quarantine, checksums."""

import hashlib
import json

import pytest

from lakehouse.storage import Store, UnsafeKeyError
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.quarantine import quarantine, quarantined_file
from lakehouse.storage.store import copy_hashed


@pytest.fixture(params=["local", "s3", "azure"])
def store(request, tmp_path) -> Store:
    """The same store API on a local folder, S3 (moto server) and Azure Blob (Azurite)."""
    if request.param == "local":
        return Store(str(tmp_path / "lake"))
    cloud = request.getfixturevalue("cloud_env")
    return Store(f"{cloud.s3_url if request.param == 's3' else cloud.az_url}/lake")


def _fill(store: Store, days: int, per_day: int) -> list[str]:
    keys = [
        f"t/dt=2026-01-{day:02d}/2026-01-{day:02d}T{n:04d}.parquet"
        for day in range(1, days + 1)
        for n in range(per_day)
    ]
    for key in keys:
        store.write_bytes(key, key.encode())
    return keys


def test_keys_after_cursor_returns_exactly_the_newer_keys_in_order(store):
    keys = _fill(store, days=4, per_day=3)
    assert store.keys("t") == keys
    for i, cursor in enumerate(keys):
        assert store.keys("t", after=cursor) == keys[i + 1 :]
    assert store.keys("t", after=keys[2], limit=4) == keys[3:7]
    assert store.last("t") == keys[-1]
    assert store.folders("t") == [f"dt=2026-01-0{day}" for day in range(1, 5)]
    assert store.keys("missing") == [] and store.last("missing") is None


def test_listing_after_a_cursor_does_not_walk_old_partitions(tmp_path):
    """A sensor's tick costs O(new files): old dt= folders are never listed."""
    store = Store(str(tmp_path / "lake"))
    keys = _fill(store, days=20, per_day=2)
    listed = []
    real_ls = store.fs.ls
    store.fs.ls = lambda path, **kw: listed.append(path) or real_ls(path, **kw)
    assert store.keys("t", after=keys[-2]) == [keys[-1]]
    assert len(listed) == 2  # the table folder and the newest day only


def test_s3_lists_from_the_cursor_in_one_request(cloud_env):
    store = Store(f"{cloud_env.s3_url}/lake")
    keys = _fill(store, days=20, per_day=2)
    calls = []
    real_call = store.fs.call_s3
    store.fs.call_s3 = lambda method, **kw: calls.append((method, kw)) or real_call(method, **kw)
    assert store.keys("t", after=keys[-3]) == keys[-2:]
    assert [(m, kw.get("StartAfter")) for m, kw in calls] == [
        ("list_objects_v2", f"lake/{keys[-3]}")
    ]


def test_failed_writes_leave_nothing_behind(store):
    store.write_bytes("t/a.parquet", b"a")
    with pytest.raises(RuntimeError), store.atomic_open("t/b.parquet") as f:
        f.write(b"half" * 1000)
        raise RuntimeError("writer died")
    assert store.keys("t") == ["t/a.parquet"]
    assert store.fs.ls(store.path("t"), detail=False) == [store.path("t/a.parquet")]


@pytest.mark.parametrize(
    "key", ["../escape", "a/../../b", "/etc/passwd", "a//b", "a/./b", "", "a\\b"]
)
def test_keys_cannot_escape_the_root(store, key):  # on every backend
    with pytest.raises(UnsafeKeyError):
        store.path(key)


def test_batch_keys_sort_in_issue_order():
    keys = [new_batch_key("platform/t") for _ in range(200)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_checksum_is_the_sha256_of_the_content(store):
    data = bytes(range(256)) * 1000
    store.write_bytes("f.bin", data)
    assert store.checksum("f.bin") == hashlib.sha256(data).hexdigest()


def test_a_copy_is_hashed_on_the_way_and_lands_whole(store, tmp_path):
    source = Store(str(tmp_path / "source"))
    data = b"line\n" * 3_000_000  # several chunks
    source.write_bytes("a/1.log", data)
    copied = copy_hashed(source, "a/1.log", store, "b/1.log")
    assert (copied.key, copied.size) == ("b/1.log", len(data))
    assert copied.sha256 == hashlib.sha256(data).hexdigest()
    assert store.read_bytes("b/1.log") == data
    with pytest.raises(FileNotFoundError):
        copy_hashed(source, "a/missing.log", store)
    assert store.keys("a") == []  # nothing half-written


def test_quarantine_moves_the_file_and_records_why(store):
    store.write_bytes("t/dt=2026-01-01/x.parquet", b"junk")
    target = quarantine(store, "t/dt=2026-01-01/x.parquet", "not parquet", run_id="r1")
    assert store.keys("t") == []
    assert store.read_bytes(target) == b"junk"
    note = json.loads(store.read_bytes(f"{target}.reason.json"))
    assert note["reason"] == "not parquet" and note["run_id"] == "r1"
    assert note["source"].endswith("t/dt=2026-01-01/x.parquet")


def test_bad_input_that_was_never_a_file_is_quarantined_with_its_reason_beside_it(store):
    with quarantined_file(
        store, "events/malformed/ab12.body", "malformed JSON", source="sqs://q", message_id="m1"
    ) as f:
        f.write(b"{not json")
    assert store.read_bytes("quarantine/events/malformed/ab12.body") == b"{not json"
    note = json.loads(store.read_bytes("quarantine/events/malformed/ab12.body.reason.json"))
    assert (note["reason"], note["source"], note["message_id"]) == (
        "malformed JSON",
        "sqs://q",
        "m1",
    )
    assert note["quarantined_at"]


def test_spaces_and_unicode_are_ordinary_keys_inside_the_root(store):
    key = "t/dt=2026-01-01/Zürich invoices €.parquet"
    store.write_bytes(key, b"data")
    assert store.keys("t") == [key] and store.read_bytes(key) == b"data"
    assert store.path(key).startswith(store.root + "/")


def test_a_long_lived_store_sees_files_written_by_another_client(store):
    """A sensor's Store lives as long as the daemon: new files must show up at the next tick."""
    keys = _fill(store, days=1, per_day=2)
    assert store.keys("t", after=keys[0]) == keys[1:] and store.last("t") == keys[-1]
    # Another process writes: a separate client, sharing no cache with this one.
    other = type(store.fs)(skip_instance_cache=True, **store.fs.storage_options)
    late = "t/dt=2026-01-01/2026-01-01T9999.parquet"
    other.pipe_file(store.path(late), b"late")
    assert store.keys("t", after=keys[-1]) == [late]
    assert store.last("t") == late

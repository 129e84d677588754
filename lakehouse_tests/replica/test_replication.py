"""Redundancy across clouds: copies verified, outages survived, drift repaired, switchover."""

import threading
import time

import dagster as dg
import pytest

from lakehouse.components.resources.stores import ObjectStore
from lakehouse.replica.replicate import reconcile, replicate_missing, replicate_new
from lakehouse.storage import Store
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import StoreUnavailable
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.conftest import load_definitions
from lakehouse_tests.defs.platform.helpers import by_id, db_rows, materialize
from lakehouse_tests.defs.platform.test_sensors import _merged_files


def _lake_files(store: Store, n: int, size: int = 64 * 1024) -> dict[str, bytes]:
    files = {}
    for i in range(n):
        key = new_batch_key("platform/t")
        files[key] = bytes([i % 251]) * size
        store.write_bytes(key, files[key])
    return files


def _contents(store: Store) -> dict[str, bytes]:
    return {key: store.read_bytes(key) for key in store.keys("")}


def test_missing_bucket_or_bad_credentials_is_one_clear_error(cloud_env, monkeypatch):
    with pytest.raises(
        StoreUnavailable,
        match="lake store s3://no-such-bucket/raw: bucket or "
        "container 'no-such-bucket' does not exist: create it or set "
        "LAKEHOUSE_LAKE_URL",
    ):
        Store("s3://no-such-bucket/raw").verify("lake")
    with pytest.raises(StoreUnavailable, match=r"replica store az://missing/raw: .*does not exist"):
        Store("az://missing/raw").verify("replica")

    good = cloud_env.connection_string
    bad = good.replace("AccountKey=", "AccountKey=AAAA")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", bad)
    import adlfs

    adlfs.AzureBlobFileSystem.clear_instance_cache()
    with pytest.raises(StoreUnavailable) as caught:
        Store(cloud_env.az_url).verify("lake")
    message = str(caught.value)
    assert "access denied" in message and "AZURE_STORAGE_CONNECTION_STRING" in message
    assert "AAAA" not in message and "\n" not in message

    # A run fails at start-up with the same sentence, before any step does work.
    context = dg.build_init_resource_context()
    with pytest.raises(StoreUnavailable, match="lake store"):
        ObjectStore(url=cloud_env.az_url, name="lake").setup_for_execution(context)


def test_replication_copies_every_new_file_once_with_checksums(cloud_env):
    lake, replica = Store(f"{cloud_env.az_url}/raw"), Store(f"{cloud_env.s3_url}/raw")
    first = _lake_files(lake, 5)
    copied = replicate_new(lake, replica, "platform/t")
    assert [c.key for c in copied] == sorted(first)
    more = _lake_files(lake, 3)
    assert [c.key for c in replicate_new(lake, replica, "platform/t")] == sorted(more)
    assert replicate_new(lake, replica, "platform/t") == []
    assert _contents(replica) == {**first, **more}


def test_replica_outage_mid_copy_fails_clearly_then_completes(cloud_env, moto_control):
    """The replica endpoint dies while a batch is being copied and comes back later: the copy
    fails with a message naming the stores, and the retry finishes without loss or duplicates."""
    lake, replica = Store(f"{cloud_env.az_url}/raw"), Store(f"{cloud_env.s3_url}/raw")
    files = _lake_files(lake, 40, size=256 * 1024)
    counter = Store(f"{cloud_env.s3_url}/raw")

    def kill_when_copy_is_under_way():
        while len(counter.keys("")) < 5:
            time.sleep(0.01)
        moto_control.stop()

    killer = threading.Thread(target=kill_when_copy_is_under_way)
    killer.start()
    with pytest.raises(Exception, match=f"to {replica.url} failed"):
        replicate_new(lake, replica, "platform/t", workers=4)
    killer.join()
    moto_control.start()
    before = replica.keys("")
    assert before == sorted(files)[: len(before)], "the replica must hold an unbroken prefix"
    assert 5 <= len(before) < len(files)

    resumed = replicate_new(lake, replica, "platform/t")
    assert [c.key for c in resumed] == sorted(files)[len(before) :]
    assert _contents(replica) == files


def test_tampered_replica_fails_the_check_and_reconcile_repairs_it(settings, instance):
    defs = load_definitions()
    simulate(settings.platform_db_url, days=3, seed=8)
    materialize(defs, instance, "lake/platform/companies", "replica/platform/companies")
    lake, replica = Store(settings.lake_url), Store(settings.replica_url)
    (key,) = replica.keys("platform/companies")
    replica.write_bytes(key, replica.read_bytes(key)[:-10])  # truncated on the replica

    check = dg.AssetCheckKey(
        dg.AssetKey.from_user_string("replica/platform/companies"), "checksums_match"
    )
    result = (
        defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[], asset_check_selection=[check]
        )
        if False
        else None
    )
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_check_selection={check})
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["mismatched"].value == [key]

    drift = reconcile(lake, replica, repair=False)
    assert drift.different == [key] and not drift.missing and not drift.repaired
    drift = reconcile(lake, replica)
    assert drift.repaired == [key] and reconcile(lake, replica, repair=False).in_sync
    (evaluation,) = job.execute_in_process(instance=instance).get_asset_check_evaluations()
    assert evaluation.passed


def test_reconcile_restores_lost_history_and_mirrors_quarantine(tmp_path):
    lake, replica = Store(str(tmp_path / "lake")), Store(str(tmp_path / "replica"))
    files = _lake_files(lake, 4)
    replicate_new(lake, replica, "platform/t")
    lost, quarantined = sorted(files)[0], sorted(files)[1]
    lake.delete(lost)  # history lost on the primary
    lake.move(quarantined, f"quarantine/{quarantined}")  # moved aside on the primary

    drift = reconcile(lake, replica)
    assert drift.extra == sorted([lost, quarantined])
    assert drift.missing == [f"quarantine/{quarantined}"]
    assert _contents(lake) == _contents(replica)
    assert lake.read_bytes(lost) == files[lost]  # restored, not deleted from the replica
    assert not replica.exists(quarantined) and replica.exists(f"quarantine/{quarantined}")


@pytest.mark.timeout(600)
def test_switchover_carries_on_without_reprocessing(settings, cloud_env, monkeypatch, instance):
    from lakehouse_dev.tick import tick
    from lakehouse_tests.test_settings import WORKSPACE

    az, s3 = f"{cloud_env.az_url}/raw", f"{cloud_env.s3_url}/raw"
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "multicloud")
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE_URL", f"{cloud_env.az_url}/warehouse")
    monkeypatch.setenv("LAKEHOUSE_LANDING_URL", f"{cloud_env.az_url}/landing")
    for primary, replica in ((az, s3), (s3, az)):  # Azure primary, then S3 takes over
        monkeypatch.setenv("LAKEHOUSE_LAKE_URL", primary)
        monkeypatch.setenv("LAKEHOUSE_REPLICA_URL", replica)
        load_definitions()
        simulate(settings.platform_db_url, days=3, seed=12)
        assert all(run.status == "SUCCESS" for run in tick(WORKSPACE, instance))

    warehouse = Store(f"{cloud_env.az_url}/warehouse")
    state = by_id(read_current(warehouse, "platform/applications"))
    assert state == db_rows(settings.platform_db_url, "applications")
    assert reconcile(Store(s3), Store(az), repair=False).in_sync
    for table, counts in _merged_files(instance).items():
        assert set(counts.values()) == {1}, table  # nothing merged twice across the switch
        assert sorted(counts) == Store(s3).keys(f"platform/{table}"), table


def test_replica_is_a_complete_copy_of_data_bookkeeping_and_quarantine(tmp_path):
    """A take's manifest and the quarantine's evidence are on the replica; the lake writer's
    own state is not (it is rebuilt from the events); nothing is copied twice."""
    lake, replica = Store(str(tmp_path / "lake")), Store(str(tmp_path / "replica"))
    take = "machines/raw/dt=2026-03-02/20260302T150000Z_wave=2026-03-02T14"
    written = {
        f"{take}/AOI-0001_20260302T140000.log": b"line 1\n",
        f"{take}/aoi-0002_20260302T140000.log": b"line 2\n",  # sorts after the manifest
        f"{take}/_manifest.json": b'{"AOI-0001_...": {}}',
        "quarantine/machines/rejected_lines/wave=2026-03-02T14/AOI-0001.parquet": b"PAR1",
        "quarantine/platform/t/dt=2026-03-02/x.parquet.reason.json": b'{"reason": "bad"}',
    }
    state = {"events/_lake_writer/dedupe.parquet": b"ids", "events/_lake_writer/hb.json": b"{}"}
    for key, body in {**written, **state}.items():
        lake.write_bytes(key, body)

    copied = replicate_new(lake, replica, "machines/raw")
    assert sorted(c.key for c in copied) == sorted(k for k in written if k.startswith(take))
    assert replicate_new(lake, replica, "machines/raw") == []  # the manifest is not re-copied
    assert len(replicate_missing(lake, replica, "quarantine")) == 2
    assert {k: replica.read_bytes(k) for k in replica.keys(bookkeeping=True)} == written

    late = "quarantine/machines/rejected_lines/wave=2026-03-01T08/AOI-0009.parquet"
    lake.write_bytes(late, b"PAR1")  # quarantined later, sorting before what is there
    assert [c.key for c in replicate_missing(lake, replica, "quarantine")] == [late]
    assert reconcile(lake, replica, repair=False).in_sync


def test_reconcile_sees_a_missing_manifest(tmp_path):
    lake, replica = Store(str(tmp_path / "lake")), Store(str(tmp_path / "replica"))
    lake.write_bytes("machines/raw/dt=2026-03-02/take/A.log", b"a")
    replicate_new(lake, replica, "machines/raw")
    lake.write_bytes("machines/raw/dt=2026-03-02/take/_manifest.json", b"{}")  # after the copy
    drift = reconcile(lake, replica, repair=False)
    assert drift.missing == ["machines/raw/dt=2026-03-02/take/_manifest.json"]


def test_events_writer_state_is_rebuilt_on_the_replica_after_a_switchover(tmp_path):
    """The writer's checkpoint is not replicated: on the new primary, the event files alone
    tell the writer which ids it already holds, so a redelivered event is not written twice."""
    from lakehouse.sources.events.buses import bus_from_url
    from lakehouse.sources.events.publisher import Publisher
    from lakehouse.sources.events.writer import CHECKPOINT_KEY, LakeWriter
    from lakehouse_tests.sources.events.conftest import sample_events
    from lakehouse_tests.sources.events.helpers import read_events

    lake, replica = Store(str(tmp_path / "lake")), Store(str(tmp_path / "replica"))
    events = sample_events(5)
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        Publisher(bus).publish(events)
        writer = LakeWriter(bus, lake)
        writer.drain()
        writer.checkpoint()
    assert lake.exists(CHECKPOINT_KEY)
    for type_name in {e.type for e in events}:
        replicate_new(lake, replica, f"events/{type_name}")
    assert not replica.exists(CHECKPOINT_KEY)

    with bus_from_url(f"local://{tmp_path / 'bus2'}") as bus:  # the replica is now primary
        Publisher(bus).publish(events)  # every event delivered again
        result = LakeWriter(bus, replica).drain()
    assert result.events_written == 0 and result.duplicates == len(events)
    written = sum(read_events(replica, t).num_rows for t in {e.type for e in events})
    assert written == len(events)

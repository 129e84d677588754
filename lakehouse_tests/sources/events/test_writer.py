"""The lake writer: every event in the lake exactly once, whatever the bus does (duplicates,
redelivery, a writer killed between writing and acknowledging), and bad messages dead-lettered
with their reason without holding up the good ones. On every backend, on real services."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.events.publisher import Publisher
from lakehouse.sources.events.schema import event_digest, parse, table_digests
from lakehouse.sources.events.writer import CHECKPOINT_KEY, LakeWriter, WriteResult
from lakehouse.storage.store import Store
from lakehouse_tests.sources.events.conftest import BACKENDS, new_bus, sample_events
from lakehouse_tests.sources.events.helpers import read_events, read_quarantined

TYPES = ("application_submitted", "invoice_uploaded", "underwriter_decided", "trade_funded")
DEADLINE = 90  # seconds for leases to expire and messages to come back (not a speed test)


class SimulatedCrash(Exception):
    """Stands for the process dying between the lake write and the acknowledgement."""


@pytest.fixture(params=BACKENDS)
def bus_and_lake(request, tmp_path):
    """(bus, lake) on one cloud: a directory + local lake, SQS + S3, Azure queue + Blob."""
    bus = new_bus(request.param, request, tmp_path)
    if request.param == "local":
        lake = Store(str(tmp_path / "lake"))
    else:
        cloud = request.getfixturevalue("cloud_env")
        lake = Store(f"{cloud.s3_url if request.param == 'sqs' else cloud.az_url}/raw")
    with bus:
        yield bus, lake


def lake_ids(lake: Store) -> Counter:
    """How many times each event id is in the lake, over every type."""
    from lakehouse.sources.events.schema import EVENT_TYPES

    ids = Counter()
    for type_name in EVENT_TYPES:
        ids.update(read_events(lake, type_name).column("event_id").to_pylist())
    return ids


def drain_all(writer: LakeWriter, messages: int) -> WriteResult:
    """Drain until ``messages`` messages were acknowledged (leased ones come back first)."""
    total, end = WriteResult(), time.monotonic() + DEADLINE
    while total.acked < messages:
        total.merge(writer.drain())
        assert time.monotonic() < end, f"only {total.acked} of {messages} acknowledged"
        if total.acked < messages:
            time.sleep(0.3)
    return total


def test_duplicates_and_redeliveries_are_written_once(bus_and_lake):
    bus, lake = bus_and_lake
    events = sample_events(40)
    Publisher(bus).publish(events)
    Publisher(bus).publish(events[:6])  # a producer retried: same ids again
    # a consumer took 10 messages and died: they come back when the 1 s lease expires
    leased = bus.receive(10, visibility_timeout=1)
    assert leased
    writer = LakeWriter(bus, lake, batch_size=15, visibility_timeout=30)
    result = drain_all(writer, 46)
    assert lake_ids(lake) == Counter({e.event_id: 1 for e in events})
    assert result.events_written == 40 and result.duplicates == 6
    assert not result.quarantined
    written = read_events(lake, "trade_funded").to_pylist()
    assert {r["event_id"] for r in written} == {
        e.event_id for e in events if e.type == "trade_funded"
    }
    assert all(str(r["advance_amount"]) == "80.00" and r["currency"] == "EUR" for r in written)


def test_a_writer_killed_between_write_and_ack_loses_and_repeats_nothing(bus_and_lake):
    bus, lake = bus_and_lake
    events = sample_events(25)
    Publisher(bus).publish(events)

    def crash(result: WriteResult) -> None:
        raise SimulatedCrash(f"after writing {result.events_written} events")

    first = LakeWriter(bus, lake, visibility_timeout=1, after_write=crash)
    with pytest.raises(SimulatedCrash):
        first.step()
    written_by_first = lake_ids(lake)
    assert sum(written_by_first.values()) == 25  # durable in the lake, never acknowledged

    # a new writer (no checkpoint: it reads the ids back from the lake files)
    second = LakeWriter(bus, lake, visibility_timeout=30)
    assert not lake.exists(CHECKPOINT_KEY) and len(second.index) == 25
    result = drain_all(second, 25)
    assert result.duplicates == 25 and result.events_written == 0
    assert lake_ids(lake) == Counter({e.event_id: 1 for e in events})
    assert bus.pending() == 0


def test_a_sigkilled_writer_process(tmp_path):
    """The real thing: a writer process SIGKILLed after its lake write, before its ack."""
    bus_url, lake_url = f"local://{tmp_path / 'bus'}", str(tmp_path / "lake")
    events = sample_events(30)
    with bus_from_url(bus_url) as bus:
        Publisher(bus).publish(events)
    script = (
        "import os, signal\n"
        "from lakehouse.sources.events.buses import bus_from_url\n"
        "from lakehouse.sources.events.writer import LakeWriter\n"
        "from lakehouse.storage.store import Store\n"
        "def die(result):\n"
        "    print(result.events_written, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        f"LakeWriter(bus_from_url({bus_url!r}), Store({lake_url!r}), batch_size=20,\n"
        "           visibility_timeout=1, after_write=die).drain()\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.strip() == "20"
    lake = Store(lake_url)
    with bus_from_url(bus_url) as bus:
        result = drain_all(LakeWriter(bus, lake), 30)
    assert (result.duplicates, result.events_written) == (20, 10)
    assert lake_ids(lake) == Counter({e.event_id: 1 for e in events})


def test_duplicates_within_one_batch(tmp_path):
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        events = sample_events(5)
        Publisher(bus).publish(events * 3)
        result = LakeWriter(bus, Store(str(tmp_path / "lake"))).drain()
        assert (result.events_written, result.duplicates, result.acked) == (5, 10, 15)
        assert lake_ids(Store(str(tmp_path / "lake"))) == Counter(e.event_id for e in events)


BAD = {
    "malformed_json": b'{"event_id": "x", "type": ',
    "unknown_type": json.dumps(
        {
            "event_id": "u-1",
            "type": "loan_granted",
            "version": 1,
            "occurred_at": "2026-02-01T08:00:00Z",
            "payload": {},
        }
    ).encode(),
    "unknown_version": json.dumps(
        {
            "event_id": "v-1",
            "type": "trade_funded",
            "version": 3,
            "occurred_at": "2026-02-01T08:00:00Z",
            "payload": {},
        }
    ).encode(),
    "missing_field": json.dumps(
        {
            "event_id": "m-1",
            "type": "payment_received",
            "version": 1,
            "occurred_at": "2026-02-01T08:00:00Z",
            "payload": {"payment_id": 1, "trade_id": 2, "amount": "1.00", "currency": "GBP"},
        }
    ).encode(),
}


def test_bad_messages_are_dead_lettered_with_their_reason(bus_and_lake):
    bus, lake = bus_and_lake
    good = sample_events(12)
    bodies = [e.encode() for e in good]
    for i, bad in enumerate(BAD.values()):  # interleaved with the good ones
        bodies.insert(3 * i + 1, bad)
    bus.publish(bodies)
    result = drain_all(LakeWriter(bus, lake, batch_size=5), len(bodies))
    assert lake_ids(lake) == Counter(e.event_id for e in good)
    assert result.quarantined == Counter(dict.fromkeys(BAD, 1))
    assert result.metadata()["quarantined"] == 4
    notes = {n["kind"]: n for n in read_quarantined(lake)}
    assert set(notes) == set(BAD)
    for kind, body in BAD.items():
        assert notes[kind]["body"] == body
        assert notes[kind]["source"] == bus.url
    assert (
        "payload of payment_received v1: missing field(s): days_late"
        in (notes["missing_field"]["reason"])
    )
    assert "unknown event type 'loan_granted'" in notes["unknown_type"]["reason"]
    assert "unknown version 3" in notes["unknown_version"]["reason"]
    assert notes["malformed_json"]["reason"].startswith("malformed JSON")
    assert all(k.startswith("quarantine/events/") for k in result.quarantine_keys)
    assert bus.pending() == 0


def test_bytes_that_are_not_utf8_are_kept_as_received(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        bus.publish([b"\xff\xfe\x00garbage"])
        result = LakeWriter(bus, lake).drain()
    assert result.quarantined == Counter(malformed_json=1)
    (note,) = read_quarantined(lake)
    assert note["body"] == b"\xff\xfe\x00garbage"


def test_a_message_that_keeps_coming_back_is_dead_lettered(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        (event,) = sample_events(1)
        Publisher(bus).publish([event])
        for _ in range(3):  # three consumers died holding it
            assert len(bus.receive(1, visibility_timeout=0)) == 1
        result = LakeWriter(bus, lake, max_attempts=3).drain()
    assert result.quarantined == Counter(poison=1) and result.events_written == 0
    (note,) = read_quarantined(lake)
    assert "delivered 4 times" in note["reason"] and note["event_id"] == event.event_id


def test_checkpoint_plus_newer_files_is_the_whole_index(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        first_events, later_events = sample_events(20), sample_events(10, start=20)
        Publisher(bus).publish(first_events)
        a = LakeWriter(bus, lake)
        a.drain()
        a.checkpoint()
        Publisher(bus).publish(later_events)
        b = LakeWriter(bus, lake)  # starts from a's checkpoint
        assert len(b.index) == 20 and b.index.files_read == 0
        b.drain()  # and writes without checkpointing (as if killed)
        c = LakeWriter(bus, lake)
        assert len(c.index) == 30
        assert 0 < c.index.files_read <= len(TYPES) + 1  # only b's files were read
        Publisher(bus).publish(first_events + later_events)
        result = c.drain()
    assert (result.duplicates, result.events_written) == (30, 0)
    assert lake_ids(lake) == Counter(e.event_id for e in first_events + later_events)


def test_ids_older_than_the_window_are_forgotten(tmp_path):
    """The dedupe bound, documented: a duplicate published after the window is written again."""
    lake = Store(str(tmp_path / "lake"))
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        events = sample_events(3)
        Publisher(bus).publish(events)
        writer = LakeWriter(bus, lake, window=dt.timedelta(0))
        writer.drain()
        writer.checkpoint()  # prunes every id older than the (empty) window
        later = LakeWriter(bus, lake)
        assert len(later.index) == 0
        Publisher(bus).publish(events)
        assert later.drain().events_written == 3
    assert set(lake_ids(lake).values()) == {2}


def test_the_long_lived_loop_stops_gracefully(tmp_path):
    """`lakehouse lake-writer`: SIGTERM finishes the batch, checkpoints and exits 0."""
    env = {
        **os.environ,
        "LAKEHOUSE_HOME": str(tmp_path / "home"),
        "LAKEHOUSE_PROFILE": "local",
        "LAKEHOUSE_BUS_URL": f"local://{tmp_path / 'bus'}",
        "LAKEHOUSE_LAKE_URL": str(tmp_path / "lake"),
    }
    events = sample_events(15)
    with bus_from_url(env["LAKEHOUSE_BUS_URL"]) as bus:
        Publisher(bus).publish(events)
    lake = Store(env["LAKEHOUSE_LAKE_URL"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli", "lake-writer", "--poll", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        end = time.monotonic() + DEADLINE
        while sum(lake_ids(lake).values()) < 15:
            assert proc.poll() is None and time.monotonic() < end
            time.sleep(0.2)
        from lakehouse.sources.events.writer import live_writer

        assert live_writer(lake)["owner"].startswith("cli:")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "SIGTERM, finishing the batch" in out and "lake writer stopped" in out
    assert lake.exists(CHECKPOINT_KEY) and live_writer(lake) is None
    assert lake_ids(lake) == Counter(e.event_id for e in events)


def test_the_long_lived_writer_rides_out_a_bus_outage(cloud_env, moto_control, tmp_path):
    """SQS unreachable for a while: the loop backs off and carries on; nothing lost or doubled."""
    import threading

    lake = Store(str(tmp_path / "lake"))
    with new_bus_on_moto() as bus:
        events = sample_events(30)
        Publisher(bus).publish(events[:10])
        writer = LakeWriter(bus, lake, visibility_timeout=5)
        stop, errors = threading.Event(), []
        loop = threading.Thread(
            target=writer.run,
            args=(stop,),
            kwargs={"poll_seconds": 0.2, "on_error": lambda exc, b: errors.append(exc)},
        )
        loop.start()
        try:
            wait_for(lambda: sum(lake_ids(lake).values()) == 10)
            with moto_control.down():
                wait_for(lambda: errors)  # it noticed
            Publisher(bus).publish(events[10:])
            wait_for(lambda: sum(lake_ids(lake).values()) == 30)
        finally:
            stop.set()
            loop.join(timeout=120)
    assert not loop.is_alive()
    assert lake_ids(lake) == Counter(e.event_id for e in events)
    assert "cannot reach SQS" in str(errors[0])


def new_bus_on_moto():
    import uuid

    bus = bus_from_url(f"sqs://lh-outage-{uuid.uuid4().hex[:12]}")
    bus.create()
    return bus


def wait_for(condition, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.2)


def funded(event_id: str, occurred_at: str, amount: str = "80.00", extra: str = "") -> bytes:
    """A trade_funded message body written out by hand."""
    return (
        f'{{"event_id":"{event_id}","type":"trade_funded","version":1,'
        f'"occurred_at":"{occurred_at}","payload":{{"trade_id":1,"invoice_id":1,'
        f'"advance_amount":"{amount}","fee_rate":"0.0100","currency":"EUR"{extra}}}}}'
    ).encode()


def test_poison_unicode_and_timestamps_are_dead_lettered_and_the_bus_drained(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    good = sample_events(20)
    surrogate = funded("s-1", "2026-02-01T08:00:00Z", extra=',"note":"a\\ud800b"')
    overflow = funded("o-1", "9999-12-31T23:30:00-05:00")
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        bus.publish([e.encode() for e in good[:10]] + [surrogate, overflow])
        bus.publish([e.encode() for e in good[10:]])
        result = LakeWriter(bus, lake, batch_size=7).drain()
        assert bus.pending() == 0 and bus.receive(10, visibility_timeout=0) == []
    assert lake_ids(lake) == Counter(e.event_id for e in good)
    assert result.events_written == 20 and result.acked == 22
    notes = {n["event_id"]: n for n in read_quarantined(lake)}
    assert set(notes) == {"s-1", "o-1"}
    assert "lone surrogate (\\ud800)" in notes["s-1"]["reason"]
    assert notes["s-1"]["body"] == surrogate  # the escape, kept as it came
    assert "out of range once converted to UTC" in notes["o-1"]["reason"]


def test_events_dated_beyond_the_skew_after_arrival_are_dead_lettered(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    now = dt.datetime.now(dt.UTC)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    bodies = {
        "future-2099": funded("future-2099", "2099-06-01T12:00:00Z"),
        "in-2h": funded("in-2h", (now + dt.timedelta(hours=2)).strftime(iso)),
        "in-10min": funded("in-10min", (now + dt.timedelta(minutes=10)).strftime(iso)),
        "last-year": funded("last-year", "2025-12-01T12:00:00Z"),  # late is fine
    }
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        bus.publish(bodies.values())
        writer = LakeWriter(bus, lake, max_future_skew=dt.timedelta(minutes=30))
        result = writer.drain()
    assert lake_ids(lake) == Counter({"in-10min": 1, "last-year": 1})
    assert result.quarantined == Counter(clock_skew=2)
    notes = {n["event_id"]: n for n in read_quarantined(lake)}
    assert set(notes) == {"future-2099", "in-2h"}
    assert "2099-06-01T12:00:00+00:00 is more than 0:30:00 after" in notes["future-2099"]["reason"]
    # the default allows an hour
    with bus_from_url(f"local://{tmp_path / 'bus2'}") as bus:
        bus.publish(
            [bodies["in-2h"], funded("in-50min", (now + dt.timedelta(minutes=50)).strftime(iso))]
        )
        default = LakeWriter(bus, Store(str(tmp_path / "lake2"))).drain()
    assert (default.events_written, default.quarantined) == (1, Counter(clock_skew=1))


def test_a_duplicate_id_with_different_content_is_dead_lettered_with_both_hashes(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    first = funded("t-1", "2026-02-01T08:00:00Z", amount="80.00")
    repeat = funded("t-1", "2026-02-01T08:00:00Z", amount="80.00")
    changed = funded("t-1", "2026-02-01T08:00:00Z", amount="95.00")
    moved = funded("t-1", "2026-02-01T09:00:00Z", amount="80.00")
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        bus.publish([first, repeat, changed])  # one batch: the first version is written
        one = LakeWriter(bus, lake).drain()
        bus.publish([repeat, moved, changed])  # a new writer: it knows t-1 from the lake
        two = LakeWriter(bus, lake).drain()
    assert (one.events_written, one.duplicates, one.conflicts) == (1, 1, 1)
    assert (two.events_written, two.duplicates, two.conflicts) == (0, 1, 2)
    assert two.metadata()["conflicting_duplicates"] == 2
    assert two.metadata()["duplicates_dropped"] == 1
    (row,) = read_events(lake, "trade_funded").to_pylist()
    assert str(row["advance_amount"]) == "80.00"  # the version first written stays
    notes = read_quarantined(lake)
    assert sorted(n["body"] for n in notes) == sorted([changed, moved])
    lake_hash = table_digests(read_events(lake, "trade_funded"))[0]
    for note in notes:
        assert note["kind"] == "conflicting_duplicate"
        assert note["first_content_sha256"] == lake_hash
        assert note["this_content_sha256"] == event_digest(parse(note["body"]))
        assert note["this_content_sha256"] != lake_hash
        assert lake_hash[:12] in note["reason"]


def test_conflicts_are_recognised_from_the_checkpoint(tmp_path):
    lake = Store(str(tmp_path / "lake"))
    with bus_from_url(f"local://{tmp_path / 'bus'}") as bus:
        bus.publish([funded("t-1", "2026-02-01T08:00:00Z")])
        writer = LakeWriter(bus, lake)
        writer.drain()
        writer.checkpoint()
        bus.publish([funded("t-1", "2026-02-01T08:00:00Z", amount="1.00")])
        later = LakeWriter(bus, lake)
        assert later.index.files_read == 0  # the checkpoint alone
        result = later.drain()
    assert (result.conflicts, result.duplicates, result.events_written) == (1, 0, 0)

"""Every bus backend on the real thing (a directory, moto's SQS, Azurite's queue service):
publish, receive with a lease, acknowledge, redelivery of what was not acknowledged."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lakehouse.sources.events.bus import BusError, BusUnavailable
from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.events.local_bus import LocalBus

DEADLINE = 60  # seconds to wait for a lease to expire (not a speed assertion)


def receive_all(bus, visibility_timeout=60, expected=None, deadline=DEADLINE):
    """Receive until ``expected`` messages arrived (or nothing more is visible)."""
    got, end = [], time.monotonic() + deadline
    while True:
        batch = bus.receive(10, visibility_timeout=visibility_timeout, wait_seconds=0.5)
        got.extend(batch)
        if expected is None and not batch:
            return got
        if expected is not None and (len(got) >= expected or time.monotonic() > end):
            return got


def test_publish_receive_ack(bus):
    bodies = [f'{{"n": {i}}}'.encode() for i in range(25)]
    assert bus.publish(bodies) == 25
    assert bus.pending() >= 1
    messages = receive_all(bus, expected=25)
    assert sorted(m.body for m in messages) == sorted(bodies)
    assert len({m.id for m in messages}) == 25
    assert all(m.attempts == 1 for m in messages)
    assert bus.receive(10, visibility_timeout=60) == []  # all leased
    assert bus.ack(messages) == 25
    assert bus.pending() == 0


def test_leased_messages_are_counted_apart_from_waiting_ones(bus):
    bus.publish([b'{"a": 1}', b'{"b": 2}', b'{"c": 3}'])
    leased, end = [], time.monotonic() + DEADLINE
    while len(leased) < 2:
        leased += bus.receive(2 - len(leased), visibility_timeout=60, wait_seconds=0.5)
        assert time.monotonic() < end
    assert (bus.pending(), bus.in_flight()) == (1, 2)
    bus.ack(leased)
    assert (bus.pending(), bus.in_flight()) == (1, 0)


def test_unacknowledged_messages_come_back_after_their_lease(bus):
    bus.publish([b'{"a": 1}', b'{"b": 2}'])
    first = receive_all(bus, visibility_timeout=1, expected=2)
    assert len(first) == 2
    bus.ack(first[:1])  # the second is never acknowledged
    again = receive_all(bus, visibility_timeout=60, expected=1)
    assert [m.body for m in again] == [first[1].body]
    assert again[0].attempts == 2
    if bus.url.startswith("sqs://"):
        # SQS leaves a stale receipt's effect undefined (moto deletes): ack the current one
        bus.ack(again)
    else:
        # the first delivery's receipt is stale now: acknowledging with it deletes nothing
        assert bus.ack(first[1:]) == 0
        assert bus.ack(again) == 1
    assert bus.receive(10, visibility_timeout=1, wait_seconds=0.2) == []


def test_any_bytes_survive_the_bus(bus):
    bodies = ['{"text": "naïve café ✓"}'.encode(), b"not json at all {", b""]
    bus.publish(bodies)
    messages = receive_all(bus, expected=3)
    assert sorted(m.body for m in messages) == sorted(bodies)
    bus.ack(messages)


def test_too_large_a_message_is_refused(bus):
    with pytest.raises(BusError, match="exceeds"):
        bus.publish([b"x" * (bus.max_message_bytes + 1)])


def test_local_bus_survives_a_killed_consumer(tmp_path):
    """A process that received messages is SIGKILLed mid-batch: nothing is lost, the messages
    come back when the lease expires, published messages survive the kill too."""
    url = f"local://{tmp_path / 'bus'}"
    with bus_from_url(url) as bus:
        bus.publish([f"m{i}".encode() for i in range(5)])
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from lakehouse.sources.events.buses import bus_from_url\n"
            f"bus = bus_from_url({url!r})\n"
            "bus.publish([b'from-child'])\n"
            "got = bus.receive(3, visibility_timeout=1)\n"
            "print(len(got), flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL and out.strip() == "3"
    with bus_from_url(url) as bus:
        messages = receive_all(bus, visibility_timeout=60, expected=6)
        assert sorted(m.body for m in messages) == sorted(
            [f"m{i}".encode() for i in range(5)] + [b"from-child"]
        )
        assert sorted(m.attempts for m in messages) == [1, 1, 1, 2, 2, 2]
        assert bus.ack(messages) == 6


def test_concurrent_consumers_never_share_a_delivery(tmp_path):
    url = f"local://{tmp_path / 'bus'}"
    with bus_from_url(url) as bus:
        bus.publish([f"{i}".encode() for i in range(300)])
    script = (
        "import sys\n"
        "from lakehouse.sources.events.buses import bus_from_url\n"
        f"bus = bus_from_url({url!r})\n"
        "while batch := bus.receive(7, visibility_timeout=600):\n"
        "    print('\\n'.join(m.body.decode() for m in batch), flush=True)\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    seen = [line for c in children for line in c.communicate(timeout=120)[0].split()]
    assert sorted(seen, key=int) == [str(i) for i in range(300)]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafka://topic", "is not one of"),
        ("sqs://", "is not one of"),
        ("sqs://a/b", "may not contain"),
        ("nothing", "is not one of"),
    ],
)
def test_bad_bus_urls_are_one_clear_error(url, message):
    with pytest.raises(BusUnavailable, match=message):
        bus_from_url(url)


@pytest.mark.parametrize("scheme", ["sqs", "azqueue"])
def test_a_missing_queue_is_one_clear_error(scheme, cloud_env):
    bus = bus_from_url(f"{scheme}://no-such-queue-here")
    with pytest.raises(BusUnavailable, match="does not exist: create it or set LAKEHOUSE_BUS_URL"):
        bus.verify()
    with pytest.raises(BusUnavailable, match="does not exist"):
        bus.pending()


def test_azure_queue_without_credentials_says_what_to_set(monkeypatch):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(BusUnavailable, match="AZURE_STORAGE_CONNECTION_STRING"):
        bus_from_url("azqueue://q").verify()


def test_local_url_forms(tmp_path):
    relative = bus_from_url("local://some/dir")
    assert isinstance(relative, LocalBus) and str(relative.directory) == "some/dir"
    absolute = bus_from_url(f"local://{tmp_path}/bus")
    assert absolute.directory == tmp_path / "bus" and absolute.url == f"local://{tmp_path}/bus"
    assert os.path.isabs(absolute.directory)

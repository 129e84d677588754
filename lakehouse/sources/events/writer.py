"""The lake writer: bus -> ``lake/events/<type>`` micro-batches, exactly once.

One step receives up to ``batch_size`` messages, validates them, drops the events whose
``event_id`` the lake already holds (or that repeat within the batch), writes one Parquet file
per event type, dead-letters the invalid messages to ``quarantine/events/``, and only then
acknowledges every message of the batch. The bus delivers at least once; the dedupe index
makes the lake exactly-once:

* **The lake is the truth.** The ids written are the ``event_id`` column of the lake files.
  ``events/_lake_writer/dedupe.parquet`` is a checkpoint of them (ids of the last ``window``,
  plus, per type, the last lake key it covers); a writer starts from the checkpoint and reads
  the ``event_id`` column of the files written after it (O(new files): keys are time-ordered).
  A writer killed after writing and before acknowledging leaves its files behind; the next
  writer reads their ids, so the redelivered messages are recognised and only acknowledged.
* **Bounded memory.** Ids are remembered for ``window`` (default 7 days, the longest default
  message retention of the backends: Azure 7 days, SQS 4 days): a redelivery is always
  recognised; a *duplicate published* more than ``window`` after the original is not.
* **One writer at a time** (the lake's rule for a prefix: keys stay in write order for the
  sensors). Dagster runs share the pool ``lake:events``; the long-lived ``lakehouse
  lake-writer`` announces itself with a heartbeat (``events/_lake_writer/heartbeat.json``)
  that the Dagster sensor and other writers respect.

Lake layout: ``events/<type>/dt=<ingestion date>/<ingestion timestamp>.parquet`` (the lake's
batch layout). The event's own date is the ``event_date`` column (and ``occurred_at``): an event
arriving late lands in a new file, never behind a sensor's cursor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.sources.events.bus import Bus, Message
from lakehouse.sources.events.schema import (
    EVENT_TYPES,
    Event,
    Invalid,
    event_digest,
    parse,
    table_digests,
    to_table,
)
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.parquet import cursor_of, read_parquet, with_cursors, write_parquet
from lakehouse.storage.quarantine import quarantine_key, quarantined_file
from lakehouse.storage.store import Store

log = logging.getLogger("lakehouse.sources.events.writer")

LAKE_PREFIX = "events"
STATE_PREFIX = f"{LAKE_PREFIX}/_lake_writer"  # hidden: not listed, not a lake asset's data
CHECKPOINT_KEY = f"{STATE_PREFIX}/dedupe.parquet"
HEARTBEAT_KEY = f"{STATE_PREFIX}/heartbeat.json"
DEFAULT_WINDOW = dt.timedelta(days=7)
DEFAULT_MAX_FUTURE_SKEW = dt.timedelta(hours=1)
DEFAULT_VISIBILITY_TIMEOUT = 120.0
DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SECONDS = 2.0
RECEIVE_CHUNK = 250
MAX_ATTEMPTS = 10
REFRESH_SECONDS = 5.0
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_STALE = 60.0
MAX_BACKOFF = 30.0
LEASE_POLL_SECONDS = 1.0
CONFLICT = "conflicting_duplicate"  # the dead-letter kind of a second version of an event id
_CHECKPOINT_META = b"lakehouse.dedupe"


def type_prefix(type_name: str) -> str:
    """Where ``type_name``'s batches live in the lake store."""
    return f"{LAKE_PREFIX}/{type_name}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _split(key: str) -> tuple[str, ...]:
    return tuple(key.split("/"))


def _key_time(key: str) -> dt.datetime | None:
    """The write time in a batch key (``.../<YYYYMMDDTHHMMSSffffffZ>.parquet``)."""
    name = key.rsplit("/", 1)[-1]
    try:
        return dt.datetime.strptime(name[:22], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


_INDEX_COLUMNS = ["event_id", "type", "version", "occurred_at", "payload"]


def read_event_digests(lake: Store, key: str) -> dict[str, str]:
    """event_id -> content digest of each event in a lake file (only the columns needed)."""
    if lake.is_local:
        table = pq.read_table(lake.path(key), columns=_INDEX_COLUMNS)
    else:
        with lake.open(key) as f:
            table = pq.ParquetFile(f).read(columns=_INDEX_COLUMNS)
    return dict(zip(table.column("event_id").to_pylist(), table_digests(table), strict=True))


# ---------------------------------------------------------------------------------------
# dedupe index


class DedupeIndex:
    """The event ids in the lake written within ``window``, with their content digests, kept
    current from the lake."""

    def __init__(self, lake: Store, window: dt.timedelta = DEFAULT_WINDOW):
        self.lake, self.window = lake, window
        self.seen: dict[str, float] = {}  # event_id -> written at (epoch seconds)
        self.digests: dict[str, str] = {}  # event_id -> content digest (if known)
        self.cursors: dict[str, str] = {}  # type -> last lake key whose ids are in `seen`
        self.files_read = 0
        self._refreshed = 0.0

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.seen

    def __len__(self) -> int:
        return len(self.seen)

    def digest(self, event_id: str) -> str | None:
        """The content digest of the version of ``event_id`` in the lake (None: unknown)."""
        return self.digests.get(event_id)

    def load(self) -> None:
        """The checkpoint (if any), then every lake file written after it."""
        self.seen, self.digests, self.cursors = {}, {}, {}
        if self.lake.exists(CHECKPOINT_KEY):
            try:
                table = read_parquet(self.lake, CHECKPOINT_KEY)
                meta = json.loads(cursor_of(table, "dedupe"))
            except (pa.ArrowException, OSError, KeyError, TypeError, ValueError) as exc:
                log.warning(f"dedupe checkpoint unreadable ({exc}); rebuilding from the lake")
            else:
                ids = table.column("event_id").to_pylist()
                written = table.column("written_at").cast(pa.int64()).to_pylist()
                self.seen = {i: w / 1e6 for i, w in zip(ids, written, strict=True)}
                if "content_sha256" in table.column_names:  # absent from older checkpoints
                    digests = table.column("content_sha256").to_pylist()
                    self.digests = {i: d for i, d in zip(ids, digests, strict=True) if d}
                self.cursors = dict(meta["cursors"])
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> int:
        """Read the ids of lake files written (by anyone) after our cursors; returns how many
        files were read. Skipped within REFRESH_SECONDS of the last one unless ``force``."""
        if not force and time.monotonic() - self._refreshed < REFRESH_SECONDS:
            return 0
        horizon = (_now() - self.window).date()
        read = 0
        for type_name in EVENT_TYPES:
            prefix = type_prefix(type_name)
            start = f"{prefix}/dt={horizon:%Y-%m-%d}"  # every dt= from the horizon's day on
            cursor = self.cursors.get(type_name)
            if cursor and _split(cursor) > _split(start):
                start = cursor
            for key in self.lake.keys(prefix, after=start):
                try:
                    digests = read_event_digests(self.lake, key)
                except (pa.ArrowException, OSError, KeyError) as exc:
                    log.warning(f"cannot read the event ids of {self.lake.uri(key)}: {exc}")
                    digests = {}
                self._remember(type_name, key, digests, _key_time(key) or _now())
                read += 1
        self.files_read += read
        self._refreshed = time.monotonic()
        return read

    def _remember(self, type_name: str, key: str, digests: dict[str, str], at: dt.datetime) -> None:
        stamp = at.timestamp()
        for event_id, digest in digests.items():
            self.seen.setdefault(event_id, stamp)
            self.digests.setdefault(event_id, digest)
        cursor = self.cursors.get(type_name)
        if cursor is None or _split(key) > _split(cursor):
            self.cursors[type_name] = key

    def add(self, type_name: str, key: str, digests: dict[str, str], at: dt.datetime) -> None:
        """Ids (with their content digests) just written by this writer at ``key``."""
        self._remember(type_name, key, digests, at)

    def prune(self) -> int:
        horizon = (_now() - self.window).timestamp()
        old = [i for i, w in self.seen.items() if w < horizon]
        for i in old:
            del self.seen[i]
            self.digests.pop(i, None)
        return len(old)

    def save(self) -> None:
        """Write the checkpoint (pruned to the window) atomically."""
        self.prune()
        table = pa.table(
            {
                "event_id": pa.array(list(self.seen), pa.string()),
                "written_at": pa.array([int(w * 1e6) for w in self.seen.values()], pa.int64()).cast(
                    pa.timestamp("us", tz="UTC")
                ),
                "content_sha256": pa.array([self.digests.get(i) for i in self.seen], pa.string()),
            }
        )
        meta = {
            "cursors": self.cursors,
            "window_seconds": self.window.total_seconds(),
            "saved_at": _now().isoformat(),
        }
        table = with_cursors(table, dedupe=json.dumps(meta))
        write_parquet(self.lake, CHECKPOINT_KEY, table)


# ---------------------------------------------------------------------------------------
# heartbeat of a long-lived writer


def writer_identity(mode: str) -> str:
    return f"{mode}:{socket.gethostname()}:{os.getpid()}"


def write_heartbeat(lake: Store, owner: str) -> None:
    beat = {"owner": owner, "beat_at": _now().isoformat(), "stale_after_s": HEARTBEAT_STALE}
    lake.write_bytes(HEARTBEAT_KEY, json.dumps(beat).encode())


def live_writer(lake: Store, stale_after: float = HEARTBEAT_STALE) -> dict | None:
    """The heartbeat of a long-lived writer that beat within ``stale_after`` s, else None."""
    try:
        beat = json.loads(lake.read_bytes(HEARTBEAT_KEY))
        at = dt.datetime.fromisoformat(beat["beat_at"])
    except (FileNotFoundError, OSError, ValueError, KeyError, TypeError):
        return None
    age = (_now() - at).total_seconds()
    return {**beat, "age_s": age} if age < stale_after else None


def clear_heartbeat(lake: Store, owner: str) -> None:
    beat = live_writer(lake, stale_after=float("inf"))
    if beat and beat.get("owner") == owner:
        lake.delete(HEARTBEAT_KEY)


# ---------------------------------------------------------------------------------------
# the writer


def quarantine_message(
    lake: Store, message: Message, invalid: Invalid, bus_url: str, **details: object
) -> str:
    """Dead-letter a message: its body as received at ``quarantine/events/<kind>/<sha256 of the
    body>.body``, the reason beside it (:mod:`lakehouse.storage.quarantine`). The key depends
    only on the content, so a message dead-lettered again after a crash rewrites the same file."""
    digest = hashlib.sha256(message.body).hexdigest()[:32]
    key = f"{LAKE_PREFIX}/{invalid.kind}/{digest}.body"
    context = {"kind": invalid.kind, "event_id": invalid.event_id, "type": invalid.type}
    context |= {"message_id": message.id, "attempts": message.attempts, **details}
    with quarantined_file(lake, key, invalid.reason, source=bus_url, **context) as f:
        f.write(message.body)
    return quarantine_key(key)


@dataclass
class WriteResult:
    """What one or more steps did; ``metadata()`` is what Dagster shows."""

    received: int = 0
    written: Counter = field(default_factory=Counter)  # type -> events written
    files: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    duplicates: int = 0  # repeats of an event id with the same content (dropped)
    conflicts: int = 0  # an event id again with different content (dead-lettered)
    quarantined: Counter = field(default_factory=Counter)  # kind -> messages
    quarantine_keys: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # first few, for people
    acked: int = 0
    steps: int = 0
    failures: int = 0  # steps that failed and were retried (long-lived loop)
    leased_left: int = 0  # messages still leased by another consumer when a drain gave up

    @property
    def events_written(self) -> int:
        return sum(self.written.values())

    def merge(self, other: WriteResult) -> None:
        self.received += other.received
        self.written.update(other.written)
        for t, keys in other.files.items():
            self.files[t].extend(keys)
        self.duplicates += other.duplicates
        self.conflicts += other.conflicts
        self.quarantined.update(other.quarantined)
        self.quarantine_keys.extend(other.quarantine_keys)
        self.reasons.extend(other.reasons[: max(0, 20 - len(self.reasons))])
        self.acked += other.acked
        self.steps += other.steps
        self.failures += other.failures
        self.leased_left = other.leased_left

    def summary(self) -> str:
        return (
            f"received {self.received}, wrote {self.events_written} event(s) in "
            f"{sum(map(len, self.files.values()))} file(s), {self.duplicates} duplicate(s) "
            f"dropped, {sum(self.quarantined.values())} quarantined ({self.conflicts} "
            f"conflicting duplicate(s)), {self.acked} acked"
        )

    def metadata(self) -> dict:
        return {
            "messages_received": self.received,
            "events_written": self.events_written,
            "duplicates_dropped": self.duplicates,
            "conflicting_duplicates": self.conflicts,
            "quarantined": sum(self.quarantined.values()),
            "quarantined_by_kind": dict(self.quarantined),
            "quarantine_reasons": self.reasons,
            "messages_acked": self.acked,
        }


class LakeWriter:
    """Writes the bus's events to the lake, exactly once (see the module docstring).

    An event dated more than ``max_future_skew`` after its arrival (a producer's clock gone
    wrong) is dead-lettered (kind ``clock_skew``): it would pass for the latest activity.
    Events may be late by any amount (history, outages). An event id seen again with the same
    content is a duplicate (dropped, counted); with different content, a *conflicting
    duplicate*: dead-lettered with both versions' content digests and counted apart, the
    version in the lake is kept.

    ``after_write(result)``, if given, runs after a batch is durable in the lake and before its
    messages are acknowledged (tests inject crashes there).
    """

    def __init__(
        self,
        bus: Bus,
        lake: Store,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        window: dt.timedelta = DEFAULT_WINDOW,
        max_attempts: int = MAX_ATTEMPTS,
        max_batch_seconds: float | None = None,
        max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW,
        after_write: Callable[[WriteResult], None] | None = None,
    ):
        self.bus, self.lake = bus, lake
        self.batch_size, self.visibility_timeout = batch_size, visibility_timeout
        # Receiving stops after this long, so that the first leases of a batch are far from
        # expiring when the batch is acknowledged (a slow backend makes smaller batches).
        self.max_batch_seconds = (
            max_batch_seconds
            if max_batch_seconds is not None
            else min(MAX_BATCH_SECONDS, visibility_timeout / 4)
        )
        self.max_attempts = max_attempts
        self.max_future_skew = max_future_skew
        self.after_write = after_write
        self.index = DedupeIndex(lake, window)
        self.index.load()
        pa.array([0])  # pyarrow imports pandas on first use: at start-up, not in a batch

    def step(self, wait_seconds: float = 0) -> WriteResult:
        """Receive one micro-batch, write it, acknowledge it."""
        result = WriteResult(steps=1)
        messages = self._receive(wait_seconds)
        result.received = len(messages)
        if not messages:
            return result
        self.index.refresh()
        arrived = _now()
        fresh: dict[str, list[Event]] = defaultdict(list)
        in_batch: dict[str, str] = {}  # event_id -> content digest, of this batch's events
        for message in messages:
            parsed, details = self._check(parse(message.body), message, arrived, in_batch)
            if parsed is None:  # a duplicate
                result.duplicates += 1
                continue
            if isinstance(parsed, Event):
                in_batch[parsed.event_id] = details["content_sha256"]
                fresh[parsed.type].append(parsed)
                continue
            key = quarantine_message(self.lake, message, parsed, self.bus.url, **details)
            result.quarantined[parsed.kind] += 1
            result.conflicts += parsed.kind == CONFLICT
            result.quarantine_keys.append(key)
            if len(result.reasons) < 20:
                result.reasons.append(f"{message.id}: {parsed.reason}")
            log.warning(f"quarantined message {message.id} -> {key}: {parsed.reason}")
        for type_name in sorted(fresh):
            events = sorted(fresh[type_name], key=lambda e: (e.occurred_at, e.event_id))
            key = new_batch_key(type_prefix(type_name))
            at = _key_time(key) or _now()
            write_parquet(self.lake, key, to_table(type_name, events, at))
            self.index.add(type_name, key, {e.event_id: in_batch[e.event_id] for e in events}, at)
            result.written[type_name] += len(events)
            result.files[type_name].append(key)
        if self.after_write is not None:
            self.after_write(result)
        result.acked = self.bus.ack(messages)
        return result

    def _check(
        self, parsed: Event | Invalid, message: Message, arrived: dt.datetime, batch: dict
    ) -> tuple[Event | Invalid | None, dict]:
        """(the event to write, an Invalid to dead-letter, or None for a duplicate; details
        for the dead-letter note or, for an event, its ``content_sha256``)."""
        if isinstance(parsed, Invalid):
            return parsed, {}
        digest = event_digest(parsed)
        known = batch.get(parsed.event_id) or self.index.digest(parsed.event_id)
        if parsed.event_id in batch or parsed.event_id in self.index:
            if known is None or known == digest:
                return None, {}
            reason = (
                f"event_id {parsed.event_id!r} was already written with different content "
                f"(sha256 {known[:12]}…, this version {digest[:12]}…); the first is kept"
            )
            hashes = {"first_content_sha256": known, "this_content_sha256": digest}
            return Invalid(CONFLICT, reason, parsed.event_id, parsed.type), hashes
        if message.attempts > self.max_attempts:
            reason = (
                f"delivered {message.attempts} times without being acknowledged "
                f"(limit {self.max_attempts})"
            )
            return Invalid("poison", reason, parsed.event_id, parsed.type), {}
        if parsed.occurred_at - arrived > self.max_future_skew:
            reason = (
                f"occurred_at {parsed.occurred_at.isoformat()} is more than "
                f"{self.max_future_skew} after the event arrived ({arrived:%Y-%m-%dT%H:%M:%SZ})"
            )
            details = {"arrived_at": arrived.isoformat()}
            return Invalid("clock_skew", reason, parsed.event_id, parsed.type), details
        return parsed, {"content_sha256": digest}

    def _receive(self, wait_seconds: float) -> list[Message]:
        """Up to batch_size messages, received within max_batch_seconds (after the first)."""
        messages: list[Message] = []
        deadline = None
        while len(messages) < self.batch_size:
            want = min(RECEIVE_CHUNK, self.batch_size - len(messages))
            got = self.bus.receive(want, self.visibility_timeout, 0 if messages else wait_seconds)
            messages.extend(got)
            deadline = deadline or time.monotonic() + self.max_batch_seconds
            if len(got) < want or time.monotonic() >= deadline:
                break
        return messages

    def drain(self, max_messages: int | None = None, *, leased_wait: float = 0.0) -> WriteResult:
        """Steps until the bus has nothing visible (or ``max_messages`` were received).

        With ``leased_wait``, messages leased by someone else (a writer killed between its
        write and its ack) are waited for, up to that many seconds, and written (or dropped as
        duplicates) when their lease expires; ``leased_left`` says how many were still leased.
        """
        total = WriteResult()
        deadline = time.monotonic() + leased_wait
        while max_messages is None or total.received < max_messages:
            step = self.step()
            total.merge(step)
            if step.received:
                continue
            if not leased_wait or not self.bus.in_flight():
                break
            if time.monotonic() >= deadline:
                total.leased_left = self.bus.in_flight()
                break
            time.sleep(LEASE_POLL_SECONDS)
        return total

    def checkpoint(self) -> None:
        self.index.save()

    def run(
        self,
        stop: threading.Event,
        *,
        poll_seconds: float = 1.0,
        checkpoint_seconds: float = 60.0,
        owner: str | None = None,
        on_step: Callable[[WriteResult], None] | None = None,
        on_error: Callable[[Exception, float], None] | None = None,
    ) -> WriteResult:
        """Write until ``stop`` is set (a step in progress finishes first), then checkpoint.

        Beats a heartbeat every HEARTBEAT_SECONDS when ``owner`` is given. A failed step (bus
        or lake unreachable, ...) acknowledged nothing, so it is retried after a backoff (1 s
        doubling to 30 s); ``on_error(exc, backoff)`` hears about each failure.
        """
        total = WriteResult()
        last_checkpoint, next_beat, backoff = time.monotonic(), 0.0, 0.0
        try:
            while not stop.is_set():
                try:
                    if owner and time.monotonic() >= next_beat:
                        write_heartbeat(self.lake, owner)
                        next_beat = time.monotonic() + HEARTBEAT_SECONDS
                    step = self.step(wait_seconds=poll_seconds)
                    total.merge(step)
                    if on_step is not None and step.received:
                        on_step(step)
                    if time.monotonic() - last_checkpoint >= checkpoint_seconds:
                        self.checkpoint()
                        last_checkpoint = time.monotonic()
                except Exception as exc:  # what was not acknowledged comes back: retry later
                    backoff = min(MAX_BACKOFF, backoff * 2 or 1.0)
                    log.warning(f"lake writer step failed ({exc}); retrying in {backoff:.0f}s")
                    if on_error is not None:
                        on_error(exc, backoff)
                    total.failures += 1
                    stop.wait(backoff)
                    continue
                backoff = 0.0
                if step.received == 0:
                    stop.wait(0.05)  # backends without long polling return at once
        finally:
            try:
                self.checkpoint()
                if owner:
                    clear_heartbeat(self.lake, owner)
            except Exception as exc:  # the checkpoint is an optimisation: the lake is the truth
                log.warning(f"lake writer: final checkpoint failed ({exc})")
        return total

"""Platform events from the simulated platform's database, so that they are consistent with it.

Each event type is a stream over one table, ordered by the instant it happened:

=========================  ==========================================  ===========
type                       rows                                        at
=========================  ==========================================  ===========
``application_submitted``  ``applications`` (+ its invoices: currency)  submitted_at
``invoice_uploaded``       ``invoices``                                created_at
``underwriter_decided``    ``underwriter_decisions``                   decided_at
``trade_funded``           ``trades`` (+ invoice currency)             funded_at
``payment_received``       ``payments`` (+ trade's invoice currency)   paid_at
=========================  ==========================================  ===========

Events carry the platform's clock: a database's first publish starts at the day of its latest
activity (``history=True``: at its first row), so the event funnel shows what the platform is
doing now, not the first week of its simulated past; later publishes continue from there,
advancing the platform a day at a time. Events go out in ``(occurred_at, type order above, id)``
order, so an event never precedes the
ones it refers to (a ``trade_funded`` follows its invoice's ``invoice_uploaded``), and every id
in a payload exists in the database. How far publishing got is kept per stream in the
platform database itself (table ``_events_published``), updated after each publish: a crash in
between republishes a few events, with the same deterministic ids (``uuid5`` of the database's
simulation seed, the type and the row id), which the lake writer drops as duplicates.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from lakehouse.sources.events.bus import Bus
from lakehouse.sources.events.publisher import Publisher
from lakehouse.sources.events.schema import Event, derived_event_id, make_event
from lakehouse.sources.sql.db import SourceError, connect
from lakehouse_dev.simulate import platform_schema as ps
from lakehouse_dev.simulate.platform import SOURCE, simulate
from lakehouse_dev.simulate.platform import state as simulation_state

ORDER = (
    "application_submitted",
    "invoice_uploaded",
    "underwriter_decided",
    "trade_funded",
    "payment_received",
)
RANK = {name: i for i, name in enumerate(ORDER)}

published = sa.Table(
    "_events_published",
    sa.MetaData(),
    sa.Column("type", sa.String(40), primary_key=True),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
)

Mark = tuple[dt.datetime, int]  # (occurred_at, row id) of the last row published


def _stream(type_name: str) -> tuple[sa.Select, sa.ColumnElement, sa.ColumnElement]:
    """(select of the rows, their time column, their id column) for one event type."""
    a, i, d, t, p = (
        ps.applications,
        ps.invoices,
        ps.underwriter_decisions,
        ps.trades,
        ps.payments,
    )
    if type_name == "application_submitted":
        of_app = i.c.application_id == a.c.id
        currency = sa.select(sa.func.min(i.c.currency)).where(of_app).scalar_subquery()
        count = sa.select(sa.func.count()).select_from(i).where(of_app).scalar_subquery()
        cols = [
            a.c.id.label("application_id"),
            a.c.seller_id,
            a.c.requested_amount,
            currency.label("currency"),
            count.label("invoice_count"),
        ]
        return sa.select(a.c.submitted_at.label("_at"), *cols), a.c.submitted_at, a.c.id
    if type_name == "invoice_uploaded":
        cols = [
            i.c.id.label("invoice_id"),
            i.c.application_id,
            i.c.seller_id,
            i.c.debtor_id,
            i.c.face_value,
            i.c.currency,
            i.c.issue_date,
            i.c.due_date,
        ]
        return sa.select(i.c.created_at.label("_at"), *cols), i.c.created_at, i.c.id
    if type_name == "underwriter_decided":
        cols = [
            d.c.id.label("decision_id"),
            d.c.application_id,
            d.c.underwriter,
            d.c.decision,
            d.c.reason,
        ]
        return sa.select(d.c.decided_at.label("_at"), *cols), d.c.decided_at, d.c.id
    if type_name == "trade_funded":
        cols = [
            t.c.id.label("trade_id"),
            t.c.invoice_id,
            t.c.advance_amount,
            t.c.fee_rate,
            i.c.currency,
        ]
        query = sa.select(t.c.funded_at.label("_at"), *cols).join(i, i.c.id == t.c.invoice_id)
        return query, t.c.funded_at, t.c.id
    if type_name == "payment_received":
        cols = [p.c.id.label("payment_id"), p.c.trade_id, p.c.amount, i.c.currency, p.c.days_late]
        query = (
            sa.select(p.c.paid_at.label("_at"), *cols)
            .join(t, t.c.id == p.c.trade_id)
            .join(i, i.c.id == t.c.invoice_id)
        )
        return query, p.c.paid_at, p.c.id
    raise KeyError(type_name)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass(frozen=True)
class PlatformEvent:
    event: Event
    mark: Mark


def _namespace(conn: sa.Connection) -> str:
    """What makes this database's ids its own: the simulation's seed and start."""
    row = None
    if sa.inspect(conn).has_table(simulation_state.name):
        row = conn.execute(sa.select(simulation_state)).one_or_none()
    return f"{row.seed}:{row.start}" if row is not None else "platform"


def read_marks(conn: sa.Connection) -> dict[str, Mark]:
    published.create(conn, checkfirst=True)
    return {r.type: (r.occurred_at, r.row_id) for r in conn.execute(sa.select(published))}


def latest_day_marks(conn: sa.Connection) -> dict[str, Mark]:
    """Marks just before the day of the platform's latest activity (any stream), so that
    publishing starts there; empty for a database without activity."""
    latest = None
    for type_name in ORDER:
        _, at, _ = _stream(type_name)
        value = conn.execute(sa.select(sa.func.max(at))).scalar()
        if value is not None and (latest is None or value > latest):
            latest = value
    if latest is None:
        return {}
    day = dt.datetime.combine(latest.date(), dt.time())
    return dict.fromkeys(ORDER, (day, -1))


def write_marks(conn: sa.Connection, marks: dict[str, Mark]) -> None:
    published.create(conn, checkfirst=True)
    for type_name, (at, row_id) in marks.items():
        values = {"occurred_at": at.replace(tzinfo=None), "row_id": row_id}
        updated = conn.execute(
            sa.update(published).where(published.c.type == type_name).values(**values)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(published).values(type=type_name, **values))


def next_events(
    conn: sa.Connection, marks: dict[str, Mark], limit: int, namespace: str | None = None
) -> list[PlatformEvent]:
    """The next ``limit`` events after ``marks``, in publishing order."""
    namespace = namespace or _namespace(conn)
    candidates = []
    for type_name in ORDER:
        query, at, row_id = _stream(type_name)
        if type_name in marks:
            mark_at, mark_id = marks[type_name]
            query = query.where(sa.or_(at > mark_at, sa.and_(at == mark_at, row_id > mark_id)))
        for row in conn.execute(query.order_by(at, row_id).limit(limit)).mappings():
            values = {k: v for k, v in row.items() if k != "_at"}
            occurred = _utc(row["_at"])
            entity = next(iter(values.values()))  # the row's id comes first
            candidates.append((occurred, RANK[type_name], entity, type_name, values))
    candidates.sort(key=lambda c: c[:3])
    events = []
    for occurred, _, entity, type_name, values in candidates[:limit]:
        version = None
        if type_name == "application_submitted" and values["currency"] is None:
            version = 1  # no invoices (never in the simulator): v1 has no currency
            values = {k: values[k] for k in ("application_id", "seller_id", "requested_amount")}
        event = make_event(
            type_name,
            values,
            occurred_at=occurred,
            event_id=derived_event_id(namespace, type_name, entity),
            version=version,
        )
        events.append(PlatformEvent(event, (occurred.replace(tzinfo=None), entity)))
    return events


def _has_platform(url: str) -> bool:
    try:
        with connect(url, SOURCE) as conn:
            return sa.inspect(conn).has_table(ps.applications.name)
    except SourceError:
        return False


def _seed(url: str, default: int) -> int:
    """The seed the platform database was simulated with (``default`` for a new one)."""
    with connect(url, SOURCE) as conn:
        if not sa.inspect(conn).has_table(simulation_state.name):
            return default
        row = conn.execute(sa.select(simulation_state.c.seed)).one_or_none()
    return row.seed if row is not None else default


@dataclass
class PublishResult:
    published: int = 0
    by_type: Counter = field(default_factory=Counter)
    duplicates: int = 0
    malformed: int = 0
    platform_days: int = 0  # days the platform was advanced to have enough activity
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0


# Messages a careless producer sends: the lake writer must dead-letter them.
_BAD = (
    lambda rng: b'{"event_id": "broken", "type": "trade_funded", "payload": {',
    lambda rng: json.dumps(
        {
            "event_id": f"unknown-{rng.getrandbits(64):x}",
            "type": "loan_granted",
            "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z",
            "payload": {},
        }
    ).encode(),
    lambda rng: json.dumps(
        {
            "event_id": f"future-{rng.getrandbits(64):x}",
            "type": "trade_funded",
            "version": 99,
            "occurred_at": "2026-01-01T00:00:00Z",
            "payload": {},
        }
    ).encode(),
    lambda rng: json.dumps(
        {
            "event_id": f"partial-{rng.getrandbits(64):x}",
            "type": "payment_received",
            "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z",
            "payload": {"payment_id": 1},
        }
    ).encode(),
)


def publish_platform_events(
    url: str,
    bus: Bus,
    *,
    count: int,
    rate: float | None = None,
    advance: bool = True,
    seed: int = 7,
    history: bool = False,
    duplicates: float = 0.0,
    malformed: float = 0.0,
    chunk: int = 500,
    on_chunk: Callable[[list[Event], float], None] | None = None,
) -> PublishResult:
    """Publish the platform's next ``count`` events to ``bus``, ``rate`` per second at most.

    A database's first publish starts at the day of its latest activity, or at its first row
    with ``history``. When the database has no more unpublished activity, it is advanced one
    simulated day at a time (``advance``; a missing database is created with ``seed``).
    ``duplicates`` and ``malformed`` add that share of re-sent events and of bad messages, for
    fault drills.
    ``on_chunk(events, published_at)`` is called after each publish (benchmarks).
    """
    rng = random.Random(f"{seed}:{time.time_ns()}")
    result, publisher = PublishResult(), Publisher(bus)
    step = max(1, min(chunk, round(rate / 5) if rate else chunk))
    sent_bodies: list[bytes] = []
    start = time.monotonic()
    buffer: list[PlatformEvent] = []
    if advance and not _has_platform(url):
        simulate(url, days=1, seed=seed)
        result.platform_days += 1
    while result.published < count:
        if not buffer:
            with connect(url, SOURCE, write=True) as conn:
                marks = read_marks(conn)
                if not marks and not history:
                    marks = latest_day_marks(conn)
                    write_marks(conn, marks)  # where every stream starts, kept
                buffer = next_events(conn, marks, min(count - result.published, 5000))
            if not buffer:
                if not advance:
                    break
                simulate(url, days=1, seed=_seed(url, seed))
                result.platform_days += 1
                continue
        batch, buffer = buffer[:step], buffer[step:]
        bodies = [b.event.encode() for b in batch]
        resent, bad = [], []
        for _ in bodies:
            if duplicates and rng.random() < duplicates:
                resent.append(rng.choice(sent_bodies or bodies))
            if malformed and rng.random() < malformed:
                bad.append(rng.choice(_BAD)(rng))
        if rate:  # pace: this chunk is due at start + published / rate
            delay = start + result.published / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        publisher.publish([b.event for b in batch])
        if resent or bad:
            bus.publish(resent + bad)
        published_at = time.time()
        marks = {}
        for b in batch:
            marks[b.event.type] = b.mark
            result.by_type[b.event.type] += 1
        with connect(url, SOURCE, write=True) as conn:
            write_marks(conn, marks)
        result.published += len(batch)
        result.duplicates += len(resent)
        result.malformed += len(bad)
        sent_bodies = (sent_bodies + bodies)[-1000:]
        if on_chunk is not None:
            on_chunk([b.event for b in batch], published_at)
    result.seconds = time.monotonic() - start
    return result

"""Deterministic simulation of the live invoice-finance platform.

Each call continues from the state stored in the database (``_simulation`` plus the tables
themselves) and advances it day by day. Every random draw comes from an RNG seeded by
``(seed, day)`` for arrivals or ``(seed, entity, id)`` for an entity's own fate, so the result
does not depend on how days are split across calls. The generating model, including the
hidden risk factors, is documented in docs/platform-data.md.
"""

import bisect
import datetime as dt
import hashlib
import itertools
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa

from lakehouse.sources.sql.db import MissingDatabase, MissingFile, MissingTable, connect
from lakehouse_dev.simulate import platform_schema as schema

DEFAULT_START = dt.date(2026, 1, 1)

# Sector -> base risk of its debtors (sellers get half of it).
SECTORS = {
    "public_sector": -0.8,
    "utilities": -0.5,
    "healthcare": -0.4,
    "technology": -0.1,
    "manufacturing": 0.1,
    "wholesale": 0.2,
    "logistics": 0.3,
    "retail": 0.5,
    "hospitality": 0.7,
    "construction": 0.9,
}
COUNTRIES = {"GB": 60, "DE": 12, "FR": 10, "IE": 8, "NL": 6, "ES": 4}
SUFFIX = {"GB": "Ltd", "IE": "Ltd", "DE": "GmbH", "FR": "SAS", "NL": "B.V.", "ES": "S.L."}
PREFIXES = (
    "Anchor", "Atlas", "Beacon", "Cedar", "Crown", "Falcon", "Granite", "Harbour", "Highland",
    "Lakeside", "Meridian", "Northern", "Oak", "Orbit", "Pioneer", "Riverside", "Sterling",
    "Summit", "Vertex", "Willow",
)  # fmt: skip
NOUNS = ("Group", "Holdings", "Partners", "Services", "Supplies", "Systems", "Trading", "Works")
INVESTOR_KINDS = {"fund": "Credit Fund", "bank": "Bank", "family_office": "Family Office"}
UNDERWRITERS = ("A. Patel", "B. Okafor", "C. Müller", "D. Byrne", "E. Rossi", "F. Novak")
APPROVE_REASONS = ("within limits", "good trading history", "strong debtor book")
DECLINE_REASONS = ("credit score below threshold", "insufficient trading history")
PRIOR_DEFAULTS = ("prior defaults on platform",)
TERMS = (30, 45, 60, 90, 120)
N_DEBTORS, N_SELLERS, N_INVESTORS = 300, 150, 20

state = sa.Table(
    "_simulation",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("start", sa.Date, nullable=False),
    sa.Column("day", sa.Integer, nullable=False),  # days simulated so far
    sa.Column("clock", sa.DateTime, nullable=False),  # simulated instant reached
)


SOURCE = "platform"  # the platform database as messages name it
SIMULATE = "`uv run lakehouse simulate platform`"


class SeedMismatch(ValueError):
    """The database was simulated with another seed or start: continuing would mix two runs."""


def explain(exc: Exception) -> str:
    """An error about the platform database as a developer reads it: how to make a missing or
    empty one."""
    if isinstance(exc, MissingFile):
        return f"{exc}; create it with {SIMULATE}"
    if isinstance(exc, MissingDatabase):
        return f"{exc}; CREATE DATABASE it, then run {SIMULATE}"
    if isinstance(exc, MissingTable):
        return f"{exc}; fill it with {SIMULATE}"
    return str(exc)


def simulate(url: str, days: int, seed: int = 7, start: dt.date | None = None) -> dict[str, int]:
    """Advance the platform database by `days` simulated days (creating it if missing).

    Returns ``{"<table>.inserted": n, "<table>.updated": n}`` for every platform table.
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    with connect(url, SOURCE, write=True, create=True) as conn:
        schema.metadata.create_all(conn)
        state.metadata.create_all(conn)
        sim = _Simulation.load(conn, seed, start)
        for _ in range(days):
            sim.step()
        return sim.flush(conn)


def simulated_clock(url: str) -> dt.datetime:
    """Midnight of the next day the simulation will add (its last simulated day + 1)."""
    with connect(url, SOURCE) as conn:
        return conn.execute(sa.select(state.c.clock)).scalar_one()


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _second(rng: random.Random) -> int:
    """A second of the simulated day between 06:00 and 22:00."""
    return rng.randrange(6 * 3600, 22 * 3600)


def _at(date: dt.date, second: int) -> dt.datetime:
    return dt.datetime.combine(date, dt.time()) + dt.timedelta(seconds=second)


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


@dataclass
class _Seller:
    id: int
    risk: float  # latent
    currency: str
    customers: list[int]  # debtor ids
    cum_weights: list[float]
    scale: float  # median invoice face value
    activity: float


@dataclass(eq=False)
class _Entity:
    id: int
    row: dict[str, Any]  # all columns if new, else the columns changed by this call
    new: bool


@dataclass(eq=False)
class _Invoice(_Entity):
    seller: int
    debtor: int
    face: int  # cents
    issue: dt.date
    due: dt.date
    concentration: float  # share of the seller's invoices so far on this debtor
    seller_invoices: int  # the seller's invoices so far


@dataclass(eq=False)
class _Application(_Entity):
    seller: int
    invoices: list[_Invoice] = field(default_factory=list)


@dataclass(eq=False)
class _Trade(_Entity):
    invoice: _Invoice
    funded: dt.date


class _Event(NamedTuple):
    trade: _Trade
    kind: str  # repay | partial | default
    days_late: int
    amount: int  # cents, for partial payments
    second: int


class _AppDraws(NamedTuple):
    delay: int
    u: float
    underwriter: int
    reason: float
    second: int


class _InvoiceDraws(NamedTuple):
    delay: int
    u: float
    advance_pct: int
    investors: list[int]  # indexes into the investor list
    weights: list[float]
    second: int


class _Simulation:
    def __init__(self, seed: int, start: dt.date, day: int) -> None:
        self.seed, self.start, self.day = seed, start, day
        self.next_id = dict.fromkeys(schema.TABLES, 1)
        self.debtor_risk: dict[int, float] = {}
        self.debtor_ids: list[int] = []
        self.sellers: dict[int, _Seller] = {}
        self.active: list[_Seller] = []
        self.cum_activity: list[float] = []
        self.investor_ids: list[int] = []
        self.invoice_counts: dict[int, Counter[int]] = defaultdict(Counter)
        self.defaults: dict[int, list[dt.date]] = defaultdict(list)  # seller -> default dates
        self.decisions: dict[dt.date, list[_Application]] = defaultdict(list)
        self.fundings: dict[dt.date, list[_Invoice]] = defaultdict(list)
        self.events: dict[dt.date, list[_Event]] = defaultdict(list)
        self.inserts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.updates: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)

    @property
    def today(self) -> dt.date:
        return self.start + dt.timedelta(days=self.day)

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, conn: sa.Connection, seed: int, start: dt.date | None) -> "_Simulation":
        """Rebuild the in-memory state (including latent factors) from the database."""
        row = conn.execute(sa.select(state)).one_or_none()
        if row is None:
            sim = cls(seed, start or DEFAULT_START, 0)
        elif row.seed != seed or (start is not None and start != row.start):
            raise SeedMismatch(
                f"the platform database was simulated with seed={row.seed}, start={row.start}; "
                "continue with the same values or start a new database"
            )
        else:
            sim = cls(seed, row.start, row.day)
        for name, table in schema.TABLES.items():
            sim.next_id[name] = (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
        c = schema.companies
        for cid, role in conn.execute(sa.select(c.c.id, c.c.role).order_by(c.c.id)):
            sim._company(cid, role)
        sim.investor_ids = list(
            conn.scalars(sa.select(schema.investors.c.id).order_by(schema.investors.c.id))
        )
        sim._load_flows(conn)
        return sim

    def _load_flows(self, conn: sa.Connection) -> None:
        a, i, t = schema.applications, schema.invoices, schema.trades
        defaulted = (
            sa.select(i.c.seller_id, t.c.settled_at)
            .join(i, i.c.id == t.c.invoice_id)
            .where(t.c.status == "defaulted")
            .order_by(t.c.settled_at, t.c.id)
        )
        for seller, settled in conn.execute(defaulted):
            self.defaults[seller].append(settled.date())
        open_apps = sa.select(i.c.application_id).where(i.c.status == "uploaded")
        apps = {r.id: r for r in conn.execute(sa.select(a).where(a.c.id.in_(open_apps)))}
        live = {r.invoice_id: r for r in conn.execute(sa.select(t).where(t.c.status == "live"))}
        pending: dict[int, _Application] = {}
        for r in conn.execute(sa.select(i).order_by(i.c.id)):
            inv = _Invoice(
                r.id, {"id": r.id}, False, r.seller_id, r.debtor_id, _cents(r.face_value),
                r.issue_date, r.due_date, *self._concentration(r.seller_id, r.debtor_id),
            )  # fmt: skip
            if r.id in live:
                tr = live[r.id]
                trade = _Trade(tr.id, {"id": tr.id}, False, inv, tr.funded_at.date())
                self._schedule(trade)
            elif r.status == "uploaded" and (app := apps.get(r.application_id)):
                if app.status == "submitted":
                    pending.setdefault(
                        app.id, _Application(app.id, {"id": app.id}, False, app.seller_id)
                    ).invoices.append(inv)
                else:
                    delay = self._invoice_draws(inv.id).delay
                    self.fundings[app.decided_at.date() + dt.timedelta(days=delay)].append(inv)
        for app in pending.values():
            submitted = apps[app.id].submitted_at.date()
            decide_on = submitted + dt.timedelta(days=self._app_draws(app.id).delay)
            self.decisions[decide_on].append(app)

    # -- companies and investors ---------------------------------------------------------

    def _company(self, cid: int, role: str) -> dict[str, Any]:
        """A company's columns; registers its latent factors (and a seller's profile)."""
        rng = _rng(self.seed, "company", cid)
        sector = rng.choice(list(SECTORS))
        country = rng.choices(list(COUNTRIES), list(COUNTRIES.values()))[0]
        words = (rng.choice(PREFIXES), sector.replace("_", " ").title(), rng.choice(NOUNS))
        cols = {
            "id": cid,
            "name": f"{' '.join(words)} {SUFFIX[country]}",
            "role": role,
            "sector": sector,
            "country": country,
            "registration_number": f"{country}{rng.randrange(10**7, 10**8)}",
        }
        if role == "debtor":
            self.debtor_risk[cid] = SECTORS[sector] + rng.normalvariate(0, 0.6)
            self.debtor_ids.append(cid)
            return cols
        risk = 0.5 * SECTORS[sector] + rng.normalvariate(0, 0.6)
        customers = rng.sample(self.debtor_ids, min(rng.randint(2, 10), len(self.debtor_ids)))
        weights = [rng.gammavariate(0.7, 1.0) for _ in customers]
        seller = _Seller(
            id=cid,
            risk=risk,
            currency="GBP" if country == "GB" else "EUR",
            customers=customers,
            cum_weights=list(itertools.accumulate(weights)),
            scale=rng.lognormvariate(math.log(8000), 0.7),
            activity=rng.lognormvariate(0, 0.8),
        )
        self.sellers[cid] = seller
        self.active.append(seller)
        self.cum_activity.append(
            (self.cum_activity[-1] if self.cum_activity else 0.0) + seller.activity
        )
        return cols

    def _add_company(self, role: str, at: dt.datetime) -> None:
        cols = self._company(self._id("companies"), role)
        self._insert("companies", {**cols, "created_at": at, "updated_at": at})

    def _universe(self, date: dt.date) -> None:
        at = _at(date, 0)
        for role, n in (("debtor", N_DEBTORS), ("seller", N_SELLERS)):
            for _ in range(n):
                self._add_company(role, at)
        kinds = list(INVESTOR_KINDS)
        for _ in range(N_INVESTORS):
            iid = self._id("investors")
            rng = _rng(self.seed, "investor", iid)
            kind = rng.choice(kinds)
            name = f"{rng.choice(PREFIXES)} {rng.choice(PREFIXES)} {INVESTOR_KINDS[kind]}"
            row = {"id": iid, "name": name, "kind": kind, "created_at": at, "updated_at": at}
            self._insert("investors", row)
            self.investor_ids.append(iid)

    # -- one simulated day ---------------------------------------------------------------

    def step(self) -> None:
        date = self.today
        if not self.sellers:
            self._universe(date)
        for app in sorted(self.decisions.pop(date, ()), key=lambda e: e.id):
            self._decide(app, date)
        for inv in sorted(self.fundings.pop(date, ()), key=lambda e: e.id):
            self._fund(inv, date)
        for event in sorted(self.events.pop(date, ()), key=lambda e: e.trade.id):
            self._settle(event, date)
        rng = _rng(self.seed, "day", self.day)
        for _ in range(rng.randint(30, 60)):
            self._apply(rng, date)
        for role in ("debtor", "seller"):
            for _ in range(rng.randint(0, 2)):
                self._add_company(role, _at(date, _second(rng)))
        self.day += 1

    def _apply(self, rng: random.Random, date: dt.date) -> None:
        """A seller submits an application with 1-3 invoices on its customers."""
        seller = rng.choices(self.active, cum_weights=self.cum_activity)[0]
        at = _at(date, _second(rng))
        app = _Application(self._id("applications"), {}, True, seller.id)
        for _ in range(rng.choices((1, 2, 3), (6, 3, 1))[0]):
            debtor = rng.choices(seller.customers, cum_weights=seller.cum_weights)[0]
            face = max(50_000, round(seller.scale * rng.lognormvariate(0, 0.5) * 100))
            tenor = rng.choice(TERMS) if rng.random() < 0.7 else rng.randint(30, 120)
            issue = date - dt.timedelta(days=rng.randint(0, 20))
            inv = _Invoice(
                self._id("invoices"), {}, True, seller.id, debtor, face, issue,
                issue + dt.timedelta(days=tenor), *self._concentration(seller.id, debtor),
            )  # fmt: skip
            app.invoices.append(inv)
        app.row = self._insert(
            "applications",
            {
                "id": app.id,
                "seller_id": seller.id,
                "requested_amount": _money(sum(inv.face for inv in app.invoices)),
                "status": "submitted",
                "submitted_at": at,
                "decided_at": None,
                "created_at": at,
                "updated_at": at,
            },
        )
        for inv in app.invoices:
            inv.row = self._insert(
                "invoices",
                {
                    "id": inv.id,
                    "application_id": app.id,
                    "seller_id": seller.id,
                    "debtor_id": inv.debtor,
                    "face_value": _money(inv.face),
                    "currency": seller.currency,
                    "issue_date": inv.issue,
                    "due_date": inv.due,
                    "status": "uploaded",
                    "created_at": at,
                    "updated_at": at,
                },
            )
        self.decisions[date + dt.timedelta(days=self._app_draws(app.id).delay)].append(app)

    def _decide(self, app: _Application, date: dt.date) -> None:
        """Underwriting: approve with probability sigmoid(2 - 1.2 r_seller - 0.8 min(k, 3))."""
        d = self._app_draws(app.id)
        k = min(self._defaults_before(app.seller, date), 3)
        approved = d.u < _sigmoid(2.0 - 1.2 * self.sellers[app.seller].risk - 0.8 * k)
        decision = "approved" if approved else "declined"
        reasons = APPROVE_REASONS if approved else PRIOR_DEFAULTS if k else DECLINE_REASONS
        at = _at(date, d.second)
        self._insert(
            "underwriter_decisions",
            {
                "id": self._id("underwriter_decisions"),
                "application_id": app.id,
                "underwriter": UNDERWRITERS[d.underwriter],
                "decision": decision,
                "reason": reasons[int(d.reason * len(reasons))],
                "decided_at": at,
                "created_at": at,
                "updated_at": at,
            },
        )
        self._change("applications", app, status=decision, decided_at=at, updated_at=at)
        for inv in app.invoices:
            if approved:
                delay = self._invoice_draws(inv.id).delay
                self.fundings[date + dt.timedelta(days=delay)].append(inv)
            else:
                self._change("invoices", inv, status="rejected", updated_at=at)

    def _fund(self, inv: _Invoice, date: dt.date) -> None:
        """Fund an approved invoice (a trade split over 1-3 investors) or reject it."""
        d = self._invoice_draws(inv.id)
        at = _at(date, d.second)
        concentrated = inv.concentration > 0.7 and inv.seller_invoices >= 5
        if d.u < 0.04 + (0.3 if concentrated else 0.0):
            self._change("invoices", inv, status="rejected", updated_at=at)
            return
        self._change("invoices", inv, status="funded", updated_at=at)
        k = min(self._defaults_before(inv.seller, date), 3)
        advance = inv.face * d.advance_pct // 100
        fee_bp = round(80 + 0.4 * (inv.due - inv.issue).days + 25 * k)
        trade = _Trade(self._id("trades"), {}, True, inv, date)
        trade.row = self._insert(
            "trades",
            {
                "id": trade.id,
                "invoice_id": inv.id,
                "advance_amount": _money(advance),
                "fee_rate": Decimal(fee_bp).scaleb(-4),
                "status": "live",
                "funded_at": at,
                "settled_at": None,
                "created_at": at,
                "updated_at": at,
            },
        )
        weights = d.weights[: len(d.investors)]
        shares = [int(advance * w / sum(weights)) for w in weights[:-1]]
        for idx, amount in zip(d.investors, [*shares, advance - sum(shares)], strict=True):
            self._insert(
                "trade_allocations",
                {
                    "id": self._id("trade_allocations"),
                    "trade_id": trade.id,
                    "investor_id": self.investor_ids[idx],
                    "amount": _money(amount),
                    "created_at": at,
                    "updated_at": at,
                },
            )
        self._schedule(trade)

    def _schedule(self, trade: _Trade) -> None:
        """Queue the trade's remaining repayment/default events (see the model in the docs)."""
        inv = trade.invoice
        rng = _rng(self.seed, "trade", trade.id)
        u, e, v, f, w = (
            rng.random(),
            rng.expovariate(1.0),
            rng.random(),
            rng.random(),
            rng.random(),
        )
        second, default_second = _second(rng), _second(rng)
        k = min(self._defaults_before(inv.seller, trade.funded), 3)
        tau = ((inv.due - inv.issue).days - 30) / 90
        score = self.debtor_risk[inv.debtor] + 0.9 * tau + 0.6 * k + 1.2 * inv.concentration
        if u < _sigmoid(score - 4.0):
            events = [(60, _Event(trade, "default", 60, 0, default_second))]
            if v < 0.5:
                late = 10 + int(30 * w)
                partial = round(inv.face * (0.1 + 0.5 * f))
                events.append((late, _Event(trade, "partial", late, partial, second)))
        elif u < _sigmoid(score - 2.0):
            late = min(59, 1 + int(e * (3 + 12 * _sigmoid(score))))
            events = [(late, _Event(trade, "repay", late, 0, second))]
        else:
            events = [(0, _Event(trade, "repay", 0, 0, second))]
        for days_after_due, event in events:
            on = inv.due + dt.timedelta(days=days_after_due)
            if on >= self.today:
                self.events[on].append(event)

    def _settle(self, event: _Event, date: dt.date) -> None:
        trade, at = event.trade, _at(date, event.second)
        if event.kind != "default":
            amount = trade.invoice.face if event.kind == "repay" else event.amount
            self._insert(
                "payments",
                {
                    "id": self._id("payments"),
                    "trade_id": trade.id,
                    "amount": _money(amount),
                    "paid_at": at,
                    "days_late": event.days_late,
                    "created_at": at,
                    "updated_at": at,
                },
            )
        if event.kind == "repay":
            self._change("trades", trade, status="repaid", settled_at=at, updated_at=at)
        elif event.kind == "default":
            self._change("trades", trade, status="defaulted", settled_at=at, updated_at=at)
            self.defaults[trade.invoice.seller].append(date)

    # -- draws and bookkeeping -----------------------------------------------------------

    def _app_draws(self, app_id: int) -> _AppDraws:
        rng = _rng(self.seed, "application", app_id)
        return _AppDraws(
            rng.randint(1, 3), rng.random(), rng.randrange(len(UNDERWRITERS)), rng.random(),
            _second(rng),
        )  # fmt: skip

    def _invoice_draws(self, invoice_id: int) -> _InvoiceDraws:
        rng = _rng(self.seed, "invoice", invoice_id)
        delay, u, pct = rng.randint(1, 3), rng.random(), rng.choice((75, 80, 85, 90))
        investors = rng.sample(range(len(self.investor_ids)), 3)[: rng.randint(1, 3)]
        weights = [rng.uniform(0.2, 1.0) for _ in range(3)]
        return _InvoiceDraws(delay, u, pct, investors, weights, _second(rng))

    def _concentration(self, seller: int, debtor: int) -> tuple[float, int]:
        """Count a new invoice; return (share of the seller's invoices on this debtor, total)."""
        counts = self.invoice_counts[seller]
        counts[debtor] += 1
        total = counts.total()
        return counts[debtor] / total, total

    def _defaults_before(self, seller: int, date: dt.date) -> int:
        return bisect.bisect_left(self.defaults[seller], date)

    def _id(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table] - 1

    def _insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        self.inserts[table].append(row)
        return row

    def _change(self, table: str, entity: _Entity, **values: Any) -> None:
        entity.row.update(values)
        if not entity.new:
            self.updates[table][entity.id] = entity.row

    # -- writing -------------------------------------------------------------------------

    def flush(self, conn: sa.Connection) -> dict[str, int]:
        """Write this call's inserts and updates in bulk; return the counts."""
        counts: dict[str, int] = {}
        for table in schema.metadata.sorted_tables:
            rows = self.inserts[table.name]
            if rows:
                conn.execute(table.insert(), rows)
            counts[f"{table.name}.inserted"] = len(rows)
        for table in schema.metadata.sorted_tables:
            changed = list(self.updates[table.name].values())
            counts[f"{table.name}.updated"] = len(changed)
            for cols, group in itertools.groupby(
                sorted(changed, key=lambda r: (sorted(r), r["id"])), key=sorted
            ):
                stmt = (
                    sa.update(table)
                    .where(table.c.id == sa.bindparam("b_id"))
                    .values({c: sa.bindparam(f"b_{c}") for c in cols if c != "id"})
                )
                conn.execute(stmt, [{f"b_{c}": v for c, v in r.items()} for r in group])
        clock = dt.datetime.combine(self.today, dt.time())
        values = {"seed": self.seed, "start": self.start, "day": self.day, "clock": clock}
        if conn.execute(sa.update(state).where(state.c.id == 1).values(values)).rowcount == 0:
            conn.execute(state.insert().values(id=1, **values))
        return counts

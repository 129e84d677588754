"""Simulated Salesforce data (Lead, Account, Opportunity) consistent with the simulated platform.

The sales funnel feeds the platform: most platform sellers (75 %) were first a Salesforce
lead, created 2-11 weeks before the company joined the platform and converted when it joined
(an Account and an Opportunity appear, won within days; the account gains the registration
number at onboarding). Every change is dated at or after the moment the platform created the
company, since the simulation learns of a seller only then (see ``_seller_funnel``). Besides
them, about three prospects a day enter as leads from 60 days before the platform's first day:
most are closed unconverted, some convert and are lost, some stay open, a few are deleted as
spam; a few (3 %) are platform debtors looking for finance themselves. Prospects' names are
drawn from words the platform simulator never uses, so no prospect matches a platform company
by accident. Reps type names and countries freely ("ANCHOR RETAIL GROUP LIMITED", "UK") and
fill the registration number on about half the leads, in various formats: matching leads to
platform ``companies`` by normalised keys (:mod:`~lakehouse.warehouse.company_matching`)
finds most, not all, of the true matches; about a quarter of the leads are platform sellers.

Every record is a list of timed changes; the record served is its state at the platform's
simulated clock (``CreatedDate`` = first change, ``SystemModstamp`` = last change applied).
Draws come from RNGs seeded by ``(seed, entity)``, so regenerating after the platform has
advanced gives the same records, plus new ones and new versions with later ``SystemModstamp``.
"""

import datetime as dt
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lakehouse.sources.salesforce.schema import OBJECTS, format_datetime
from lakehouse.sources.sql.db import connect
from lakehouse_dev.simulate import platform_schema as platform
from lakehouse_dev.simulate.platform import COUNTRIES, SECTORS, SOURCE, SUFFIX
from lakehouse_dev.simulate.platform import state as simulation_state

SELLER_LEAD_SHARE = 0.75
PRE_LAUNCH_DAYS = 60
FIRST_NAMES = (
    "Amelia", "Oliver", "Sophie", "James", "Isla", "Noah", "Lena", "Lukas", "Chloé", "Hugo",
    "Aoife", "Seán", "Emma", "Daan", "Lucía", "Pablo", "Grace", "Thomas", "Marie", "Ben",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Müller", "Schmidt", "Martin", "Bernard", "Murphy",
    "Kelly", "de Jong", "Jansen", "García", "López", "Wilson", "Evans", "Walsh", "Dubois",
    "Weber", "Byrne",
)  # fmt: skip
COUNTRY_TEXT = {
    "GB": ("United Kingdom", "UK", "GB", "England"),
    "DE": ("Germany", "Deutschland", "DE"),
    "FR": ("France", "FR"),
    "IE": ("Ireland", "IE"),
    "NL": ("Netherlands", "The Netherlands", "NL"),
    "ES": ("Spain", "España", "ES"),
}
# Prospects' names: words the platform's simulator never uses, so a prospect matches a
# platform company only when it is one (a debtor, sometimes), never by accident.
PROSPECT_WORDS = (
    "Amber", "Bluebell", "Copper", "Driftwood", "Ember", "Foxglove", "Glen", "Heather",
    "Ivy", "Juniper", "Kestrel", "Larch", "Maple", "Nettle", "Osprey", "Poplar", "Quarry",
    "Rowan", "Sorrel", "Thistle", "Upland", "Valley", "Wren", "Yarrow",
)  # fmt: skip
PROSPECT_NOUNS = ("Co-operative", "Enterprises", "Industries", "Logistics", "Solutions", "Studio")
DEBTOR_PROSPECT_SHARE = 0.03  # platform debtors looking for finance themselves
LONG_FORM = {"Ltd": "Limited", "GmbH": "G.m.b.H.", "SAS": "S.A.S.", "B.V.": "BV", "S.L.": "SL"}
INDUSTRY = {
    "public_sector": "Government", "utilities": "Utilities", "healthcare": "Healthcare",
    "technology": "Technology", "manufacturing": "Manufacturing", "wholesale": "Retail",
    "logistics": "Transportation", "retail": "Retail", "hospitality": "Hospitality",
    "construction": "Construction",
}  # fmt: skip
LEAD_SOURCES = {"Web": 45, "Partner Referral": 20, "Phone Inquiry": 12, "Purchased List": 8}
LEAD_SOURCES |= {"Other": 15}
_ID_PREFIX = {"Lead": "00Q", "Account": "001", "Opportunity": "006"}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Company:
    id: int
    name: str
    role: str
    sector: str
    country: str
    registration_number: str
    created_at: dt.datetime


@dataclass(frozen=True)
class PlatformSnapshot:
    """What the marketing simulation needs of the platform: companies and its time span."""

    companies: list[Company]
    start: dt.date  # the first simulated day
    clock: dt.datetime  # the simulated instant reached

    @property
    def last_day(self) -> dt.date:
        """The last complete simulated day."""
        return (self.clock - dt.timedelta(microseconds=1)).date()


def read_platform(url: str) -> PlatformSnapshot | None:
    """The platform's companies and time span, or ``None`` if it has no companies yet.
    Raises :class:`~lakehouse.sources.sql.db.SourceError` if it cannot be read."""
    with connect(url, SOURCE) as conn:
        if not sa.inspect(conn).has_table("companies"):
            return None
        c = platform.companies
        rows = conn.execute(sa.select(c).order_by(c.c.id)).mappings().all()
        if not rows:
            return None
        companies = [Company(**{k: r[k] for k in Company.__dataclass_fields__}) for r in rows]
        sim = None
        if sa.inspect(conn).has_table(simulation_state.name):
            sim = conn.execute(sa.select(simulation_state)).mappings().first()
        if sim:
            return PlatformSnapshot(companies, sim["start"], sim["clock"])
        a = platform.applications
        newest = conn.execute(sa.select(sa.func.max(a.c.updated_at))).scalar()
        clock = max(newest or companies[-1].created_at, companies[-1].created_at)
        clock = dt.datetime.combine(clock.date() + dt.timedelta(days=1), dt.time())
        return PlatformSnapshot(companies, companies[0].created_at.date(), clock)


@dataclass
class SalesforceData:
    records: dict[str, list[dict[str, Any]]]  # sObject -> records (wire format)
    truth: dict[str, int] = field(default_factory=dict)  # lead Id -> platform company id
    web_leads: Counter = field(default_factory=Counter)  # date -> leads with source "Web"


def salesforce_id(sobject: str, number: int) -> str:
    """An 18-character Salesforce Id (key prefix, pod, base62 number, case-safe suffix)."""
    digits = ""
    for _ in range(10):
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    id15 = f"{_ID_PREFIX[sobject]}8d{digits}"
    suffix = ""
    for i in range(3):
        bits = sum(1 << j for j, ch in enumerate(id15[i * 5 : i * 5 + 5]) if ch.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    """A working-hours instant of ``day``, to the millisecond."""
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(
        seconds=rng.randrange(8 * 3600, 19 * 3600), milliseconds=rng.randrange(1000)
    )


class _Record:
    def __init__(self, sobject: str, number: int, created: dt.datetime | None = None) -> None:
        self.sobject, self.id = sobject, salesforce_id(sobject, number)
        self.created = created  # CreatedDate, when earlier than the first change
        self.changes: list[tuple[dt.datetime, dict[str, Any]]] = []

    def at(self, when: dt.datetime, **fields: Any) -> "_Record":
        self.changes.append((when, fields))
        return self

    def state(self, clock: dt.datetime) -> dict[str, Any] | None:
        applied = sorted((c for c in self.changes if c[0] <= clock), key=lambda c: c[0])
        if not applied:
            return None
        values: dict[str, Any] = {"Id": self.id, "IsDeleted": False}
        for _, fields in applied:
            values.update(fields)
        values["CreatedDate"] = format_datetime(self.created or applied[0][0])
        values["LastModifiedDate"] = values["SystemModstamp"] = format_datetime(applied[-1][0])
        return {f.api_name: values.get(f.api_name) for f in OBJECTS[self.sobject.lower()].fields}


def _person(rng: random.Random, company: str) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    domain = "".join(ch for ch in company.lower() if ch.isalnum())[:24] or "company"
    email = f"{first[0].lower()}.{''.join(c for c in last.lower() if c.isalpha())}@{domain}.example"
    return {"FirstName": first, "LastName": last, "Email": email}


def _typed_name(rng: random.Random, name: str) -> str:
    """The company name as a rep types it: mostly right, sometimes not quite."""
    base, _, suffix = name.rpartition(" ")
    u = rng.random()
    if u < 0.45:
        return name
    if u < 0.65:
        return f"{base} {LONG_FORM.get(suffix, suffix)}"
    if u < 0.80:
        return name.upper()
    if u < 0.90:
        return base
    word, *rest = name.split(" ")  # a typo: two letters swapped (no longer matches by name)
    i = rng.randrange(1, len(word) - 1)
    return " ".join([word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :], *rest])


def _typed_country(rng: random.Random, code: str) -> str | None:
    return None if rng.random() < 0.05 else rng.choice(COUNTRY_TEXT[code])


def _typed_registration(rng: random.Random, number: str, share: float) -> str | None:
    if rng.random() >= share:
        return None
    code, digits = number[:2], number[2:]
    return rng.choice((number, number, f"{code} {digits[:4]} {digits[4:]}", digits))


def _lead_source(rng: random.Random) -> str:
    return rng.choices(list(LEAD_SOURCES), list(LEAD_SOURCES.values()))[0]


def _seller_funnel(c: Company, seed: int, out: list[_Record], data: SalesforceData) -> None:
    """A platform seller's lead, account and opportunity. The simulator learns of a seller when
    the platform creates it, so every change is at or after that moment (a change dated
    earlier would land behind an extraction's watermark and be missed); the lead's
    ``CreatedDate`` alone is back-dated to when the prospect first came in."""
    rng = _rng(seed, "sf-seller", c.id)
    if rng.random() >= SELLER_LEAD_SHARE:
        return  # came to the platform without Salesforce
    joined = c.created_at
    first_contact = _moment(rng, joined.date() - dt.timedelta(days=rng.randint(14, 75)))
    converted = joined + dt.timedelta(minutes=rng.randint(5, 240))
    won = converted + dt.timedelta(days=rng.randint(0, 3), minutes=rng.randint(10, 600))
    company = _typed_name(rng, c.name)
    country = _typed_country(rng, c.country)
    source = _lead_source(rng)
    lead = _Record("Lead", c.id, created=first_contact)
    account, opportunity = _Record("Account", c.id), _Record("Opportunity", c.id)
    lead_reg = _typed_registration(rng, c.registration_number, 0.55)
    lead.at(
        converted,
        **_person(rng, company),
        Company=company,
        Country=country,
        LeadSource=source,
        Status="Closed - Converted",
        Registration_Number__c=lead_reg,
        IsConverted=True,
        ConvertedDate=converted.date().isoformat(),
        ConvertedAccountId=account.id,
        ConvertedOpportunityId=opportunity.id,
    )
    name = company if rng.random() < 0.6 else c.name
    account.at(
        converted,
        Name=name,
        Type="Prospect",
        Industry=INDUSTRY[c.sector],
        BillingCountry=country,
        AccountSource=source,
        Registration_Number__c=lead_reg,
    )
    account.at(  # onboarding checks record the registration number
        won,
        Type="Customer",
        Registration_Number__c=c.registration_number if rng.random() < 0.85 else lead_reg,
    )
    opportunity.at(
        converted,
        Name=f"{name} - Invoice Finance",
        AccountId=account.id,
        StageName="Negotiation/Review",
        Amount=round(rng.lognormvariate(11.9, 0.8), -3),
        CloseDate=won.date().isoformat(),
        IsClosed=False,
        IsWon=False,
        LeadSource=source,
    )
    opportunity.at(won, StageName="Closed Won", IsClosed=True, IsWon=True)
    out.extend((lead, account, opportunity))
    data.truth[lead.id] = c.id
    if source == "Web":  # the sign-up on the website, the day the seller joined
        data.web_leads[joined.date()] += 1


def _prospect(
    seed: int,
    day: dt.date,
    j: int,
    debtors: list[Company],
    out: list[_Record],
    data: SalesforceData,
) -> None:
    rng = _rng(seed, "sf-prospect", day.isoformat(), j)
    number = 50_000_000 + (day - dt.date(2000, 1, 1)).days * 10 + j
    sector = rng.choice(list(SECTORS))
    code = rng.choices(list(COUNTRIES), list(COUNTRIES.values()))[0]
    words = (*rng.sample(PROSPECT_WORDS, 2), rng.choice(PROSPECT_NOUNS))
    registered, number_text = (
        f"{' '.join(words)} {SUFFIX[code]}",
        f"{code}{rng.randrange(10**7, 10**8)}",
    )
    known = [c for c in debtors if c.created_at.date() < day]
    debtor = rng.choice(known) if known and rng.random() < DEBTOR_PROSPECT_SHARE else None
    if debtor is not None:
        registered, number_text, code = debtor.name, debtor.registration_number, debtor.country
        sector = debtor.sector
    company, country = _typed_name(rng, registered), _typed_country(rng, code)
    source = _lead_source(rng)
    created = _moment(rng, day)
    lead = _Record("Lead", number).at(
        created,
        **_person(rng, company),
        Company=company,
        Country=country,
        LeadSource=source,
        Status="Open - Not Contacted",
        Registration_Number__c=_typed_registration(rng, number_text, 0.4),
        IsConverted=False,
    )
    out.append(lead)
    if debtor is not None:
        data.truth[lead.id] = debtor.id
    if source == "Web":
        data.web_leads[day] += 1
    if rng.random() < 0.03:  # spam: deleted
        lead.at(created + dt.timedelta(days=rng.randint(1, 20)), IsDeleted=True)
        return
    if rng.random() < 0.8:
        lead.at(created + dt.timedelta(days=rng.randint(1, 7)), Status="Working - Contacted")
    u, decided = rng.random(), created + dt.timedelta(days=rng.randint(10, 45), hours=1)
    if u < 0.65:
        lead.at(decided, Status="Closed - Not Converted")
    elif u < 0.85:
        account, opportunity = _Record("Account", number), _Record("Opportunity", number)
        lead.at(
            decided,
            Status="Closed - Converted",
            IsConverted=True,
            ConvertedDate=decided.date().isoformat(),
            ConvertedAccountId=account.id,
            ConvertedOpportunityId=opportunity.id,
        )
        account.at(
            decided,
            Name=company,
            Type="Prospect",
            Industry=INDUSTRY[sector],
            BillingCountry=country,
            AccountSource=source,
            Registration_Number__c=lead.changes[0][1]["Registration_Number__c"],
        )
        close = decided + dt.timedelta(days=rng.randint(20, 70))
        opportunity.at(
            decided,
            Name=f"{company} - Invoice Finance",
            AccountId=account.id,
            StageName="Qualification",
            Amount=round(rng.lognormvariate(11.5, 0.9), -3),
            CloseDate=close.date().isoformat(),
            IsClosed=False,
            IsWon=False,
            LeadSource=source,
        )
        opportunity.at(
            decided + dt.timedelta(days=rng.randint(5, 15)), StageName="Proposal/Price Quote"
        )
        if rng.random() < 0.8:
            opportunity.at(close, StageName="Closed Lost", IsClosed=True, IsWon=False)
        out.extend((account, opportunity))


def simulate_salesforce(
    companies: list[Company], start: dt.date, clock: dt.datetime, seed: int = 7
) -> SalesforceData:
    """Lead, Account and Opportunity records as of ``clock`` (see the module docstring)."""
    data = SalesforceData(records={o.name: [] for o in OBJECTS.values()})
    entities: list[_Record] = []
    for company in companies:
        if company.role == "seller":
            _seller_funnel(company, seed, entities, data)
    debtors = [c for c in companies if c.role == "debtor"]
    day = start - dt.timedelta(days=PRE_LAUNCH_DAYS)
    while day <= clock.date():
        for j in range(_rng(seed, "sf-day", day.isoformat()).randint(1, 5)):
            _prospect(seed, day, j, debtors, entities, data)
        day += dt.timedelta(days=1)
    for entity in entities:
        record = entity.state(clock)
        if record is not None:
            data.records[entity.sobject].append(record)
        elif entity.sobject == "Lead":
            data.truth.pop(entity.id, None)
    for records in data.records.values():
        records.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
    data.web_leads = Counter({d: n for d, n in data.web_leads.items() if d < clock.date()})
    return data

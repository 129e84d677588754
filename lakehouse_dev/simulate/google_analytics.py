"""Simulated GA4 website traffic: daily facts by source, medium, campaign and landing page.

About 400 sessions on a weekday at the start, half that at weekends, growing 0.2 % a day,
split over eight channels (organic search, direct, paid search, LinkedIn, email, partner
referrals, ...) and five landing pages. Key events (``generate_lead``) are the website's
sign-ups, the Salesforce leads with source "Web": a prospect's the day it came in, a seller's
the day it joined the platform. They are attributed to the day's traffic in proportion to
sessions weighted by how close the landing page is to the application form, so sessions,
leads and (later) applications tell one story. Draws are seeded by ``(seed, date)``: a day's
facts do not depend on the range generated, and do not change once generated.
"""

import datetime as dt
import hashlib
import random
from collections.abc import Mapping
from typing import Any

# (source, medium, campaign, share of sessions, landing page weights)
CHANNELS = (
    ("google", "organic", "(organic)", 0.36, (3, 2, 1, 0.5, 4)),
    ("(direct)", "(none)", "(direct)", 0.22, (6, 2, 2, 1, 1)),
    ("google", "cpc", "invoice-finance-uk", 0.14, (1, 6, 2, 1, 0)),
    ("bing", "organic", "(organic)", 0.04, (3, 2, 1, 0.5, 4)),
    ("linkedin", "cpc", "sme-cashflow", 0.07, (1, 4, 1, 1, 2)),
    ("linkedin.com", "referral", "(referral)", 0.05, (3, 1, 1, 0.5, 3)),
    ("newsletter", "email", "monthly-update", 0.05, (1, 1, 1, 1, 4)),
    ("partner-portal.example", "referral", "(referral)", 0.07, (2, 3, 2, 2, 0.5)),
)
PAGES = ("/", "/invoice-finance", "/pricing", "/apply", "/blog/cash-flow-tips")
LEAD_WEIGHT = (1, 2, 3, 8, 0.5)  # how likely a session on each page ends in a lead


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def simulate_traffic(
    first: dt.date, last: dt.date, web_leads: Mapping[dt.date, int], seed: int = 7
) -> list[dict[str, Any]]:
    """Daily facts for ``first``..``last``: every dimension and metric the reports use."""
    facts: list[dict[str, Any]] = []
    day = first
    while day <= last:
        facts.extend(_day(day, (day - first).days, web_leads.get(day, 0), seed))
        day += dt.timedelta(days=1)
    return facts


def _day(day: dt.date, age: int, leads: int, seed: int) -> list[dict[str, Any]]:
    rng = _rng(seed, "ga-day", day.isoformat())
    weekday = (1.0, 1.08, 1.1, 1.05, 0.95, 0.55, 0.5)[day.weekday()]
    total = 400 * weekday * (1.002**age) * rng.lognormvariate(0, 0.1)
    facts = []
    for source, medium, campaign, share, page_weights in CHANNELS:
        norm = sum(page_weights)
        for page, weight in zip(PAGES, page_weights, strict=True):
            sessions = round(total * share * weight / norm * rng.lognormvariate(0, 0.25))
            if sessions <= 0:
                continue
            users = max(1, round(sessions * rng.uniform(0.78, 0.92)))
            facts.append(
                {
                    "date": f"{day:%Y%m%d}",
                    "sessionSource": source,
                    "sessionMedium": medium,
                    "sessionCampaignName": campaign,
                    "landingPage": page,
                    "sessions": sessions,
                    "totalUsers": users,
                    "newUsers": round(users * rng.uniform(0.5, 0.7)),
                    "engagedSessions": round(sessions * rng.uniform(0.45, 0.65)),
                    "keyEvents": 0,
                }
            )
    if facts:
        weights = [f["sessions"] * LEAD_WEIGHT[PAGES.index(f["landingPage"])] for f in facts]
        for fact in rng.choices(facts, weights, k=leads):
            fact["keyEvents"] += 1
    return facts

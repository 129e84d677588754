"""`lakehouse simulate marketing`: API data consistent with the simulated platform, partially
matchable to its companies, covering its dates, and safe for incremental extraction."""

import datetime as dt
import json
from collections import Counter

import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse.sources.salesforce.schema import parse_datetime
from lakehouse.warehouse import company_matching as matching
from lakehouse_dev.fake_apis import MarketingData, simulate_marketing
from lakehouse_dev.simulate.platform import simulate
from lakehouse_dev.simulate.salesforce import read_platform, simulate_salesforce

SEED = 3


@pytest.fixture
def platform(settings) -> str:
    simulate(settings.platform_db_url, days=20, seed=SEED)
    return settings.platform_db_url


def _matches(record: dict, name: str, country: str, by_reg: dict, by_name: dict) -> set[int]:
    reg = by_reg.get(matching.registration_key(record["Registration_Number__c"], record[country]))
    return {reg} if reg else by_name.get(matching.company_key(record[name], record[country]), set())


def test_leads_match_platform_companies_partially_and_never_wrongly(platform):
    snapshot = read_platform(platform)
    sf = simulate_salesforce(snapshot.companies, snapshot.start, snapshot.clock, SEED)
    by_reg = {
        matching.registration_key(c.registration_number, c.country): c.id
        for c in snapshot.companies
    }
    by_name: dict[str, set[int]] = {}
    for c in snapshot.companies:  # names are not unique on the platform: a set per key
        by_name.setdefault(matching.company_key(c.name, c.country), set()).add(c.id)
    roles = {c.id: c.role for c in snapshot.companies}

    found = {
        lead["Id"]: _matches(lead, "Company", "Country", by_reg, by_name)
        for lead in sf.records["Lead"]
    }
    assert all(not ids for lead_id, ids in found.items() if lead_id not in sf.truth)
    wrong = [i for i, ids in found.items() if i in sf.truth and ids and sf.truth[i] not in ids]
    assert wrong == []
    recall = sum(1 for i in sf.truth if found[i]) / len(sf.truth)
    assert 0.8 <= recall < 1.0  # typos and missing countries: most, not all
    share = len(sf.truth) / len(sf.records["Lead"])
    assert 0.15 <= share <= 0.5, share  # a partial match rate, like a real funnel
    assert Counter(roles[c] for c in sf.truth.values())["seller"] > 0.9 * len(sf.truth)

    customers = [a for a in sf.records["Account"] if a["Type"] == "Customer"]
    assert customers and all(
        _matches(a, "Name", "BillingCountry", by_reg, by_name) or a["BillingCountry"] is None
        for a in customers
        if a["Registration_Number__c"] and a["Registration_Number__c"][:2].isalpha()
    )


def test_traffic_covers_the_platform_dates_and_key_events_are_the_web_leads(platform):
    sim = simulate_marketing(platform, seed=SEED)
    snapshot = read_platform(platform)
    days = {dt.datetime.strptime(f["date"], "%Y%m%d").date() for f in sim.data.ga_facts}
    assert sim.first_day < snapshot.start and sim.last_day == snapshot.last_day
    assert days == {
        sim.first_day + dt.timedelta(days=i) for i in range((sim.last_day - sim.first_day).days + 1)
    }
    key_events = Counter()
    for f in sim.data.ga_facts:
        key_events[f["date"]] += f["keyEvents"]
    sf = simulate_salesforce(snapshot.companies, snapshot.start, snapshot.clock, SEED)
    roles = {c.id: c.role for c in snapshot.companies}
    sellers = {lead_id for lead_id, c in sf.truth.items() if roles[c] == "seller"}
    web = Counter()
    for lead in sim.data.salesforce["Lead"]:
        if lead["LeadSource"] == "Web":
            # Prospects sign up the day they come in; sellers the day they join (converted).
            when = lead["ConvertedDate"] if lead["Id"] in sellers else lead["CreatedDate"][:10]
            day = dt.date.fromisoformat(when)
            if day <= sim.last_day:
                web[f"{day:%Y%m%d}"] += 1
    assert +key_events == +web and sum(web.values()) > 0


def test_regenerating_after_the_platform_advances_only_adds_newer_versions(platform):
    before = simulate_marketing(platform, seed=SEED).data
    assert simulate_marketing(platform, seed=SEED).data == before  # deterministic
    simulate(platform, days=3, seed=SEED)
    after = simulate_marketing(platform, seed=SEED).data
    for sobject, records in before.salesforce.items():
        old = {r["Id"]: r for r in records}
        new = {r["Id"]: r for r in after.salesforce[sobject]}
        watermark = max(parse_datetime(r["SystemModstamp"]) for r in records)
        assert old.keys() <= new.keys()
        for record_id, record in new.items():
            if old.get(record_id) != record:  # new or changed: never behind the watermark
                assert parse_datetime(record["SystemModstamp"]) > watermark, sobject
        assert len(new) > len(old)
    old_facts = {json.dumps(f, sort_keys=True) for f in before.ga_facts}
    assert old_facts <= {json.dumps(f, sort_keys=True) for f in after.ga_facts}  # days final


def test_cli_writes_the_data_and_reports_the_match_rate(platform, settings):
    result = CliRunner().invoke(main, ["simulate", "marketing", "--seed", str(SEED)])
    assert result.exit_code == 0, result.output
    data = MarketingData.load(settings.home / "marketing_apis")
    leads = len(data.salesforce["Lead"])
    assert f"salesforce Lead: {leads} records" in result.output
    assert "leads matching a platform company:" in result.output and f"of {leads}" in result.output


def test_without_a_platform_database_it_generates_standalone_data(settings):
    sim = simulate_marketing(settings.platform_db_url, seed=SEED, standalone_days=10)
    assert "no platform database" in sim.source and sim.leads_matching_platform == 0
    assert sim.data.salesforce["Lead"] and sim.data.ga_facts
    assert not (settings.home / "platform.sqlite").exists()  # not created by looking

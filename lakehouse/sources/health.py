"""Can every configured source be read? One line per source, for ``lakehouse doctor``.

Sources: the platform database, the event bus, and each third-party API that is configured
(Google Analytics when its property is named, Salesforce when its org is). Credentials are
read from the environment here and never shown.
"""

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from lakehouse.sources.events.bus import BusError
from lakehouse.sources.events.buses import bus_from_url
from lakehouse.sources.google_analytics import client as ga
from lakehouse.sources.google_analytics.schema import TRAFFIC_DAILY
from lakehouse.sources.http import APIError, RetryPolicy
from lakehouse.sources.salesforce import client as sf
from lakehouse.sources.sql.db import SourceError, connect, display_name, one_line

GA_BASE_URL_ENV = "GOOGLE_ANALYTICS_BASE_URL"
QUICK = RetryPolicy(max_attempts=2)  # a health check answers in seconds, not minutes


@dataclass(frozen=True)
class SourceHealth:
    name: str
    where: str  # shown to people: no password, no token
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def platform_db(url: str) -> SourceHealth:
    try:
        with connect(url, "platform") as conn:
            sa.inspect(conn).get_table_names()  # reads the schema: a file must be a database
    except SourceError as exc:  # its message names the source: the report names it already
        return SourceHealth("platform", display_name(url), _one_line(exc).split(": ", 1)[-1])
    except sa.exc.SQLAlchemyError as exc:  # e.g. a file that is not a database
        return SourceHealth("platform", display_name(url), one_line(exc, url))
    return SourceHealth("platform", display_name(url))


def bus(url: str) -> SourceHealth:
    try:
        with bus_from_url(url) as b:
            b.verify()
    except BusError as exc:
        return SourceHealth("bus", url, _one_line(exc))
    return SourceHealth("bus", url)


def _token(env: Mapping[str, str], name: str, api: str, what: str) -> str:
    token = env.get(name)
    if not token:
        raise APIError(f"{api} is configured ({what}) but {name} is not set")
    return token


def google_analytics(env: Mapping[str, str]) -> SourceHealth:
    property_id = env[ga.PROPERTY_ENV]
    where = f"property {property_id}"
    try:
        token = _token(env, ga.TOKEN_ENV, ga.API, where)
        client = ga.GoogleAnalyticsClient(
            property_id,
            token,
            base_url=env.get(GA_BASE_URL_ENV) or ga.DEFAULT_BASE_URL,
            policy=QUICK,
        )
        client.latest_date(TRAFFIC_DAILY, date.today() - timedelta(days=7))
    except APIError as exc:
        return SourceHealth("google_analytics", where, _one_line(exc))
    return SourceHealth("google_analytics", where)


def salesforce(env: Mapping[str, str]) -> SourceHealth:
    instance = env[sf.INSTANCE_ENV]
    try:
        token = _token(env, sf.TOKEN_ENV, sf.API, instance)
        next(
            sf.SalesforceClient(instance, token, policy=QUICK).query("SELECT Id FROM Lead LIMIT 1")
        )
    except APIError as exc:
        return SourceHealth("salesforce", instance, _one_line(exc))
    return SourceHealth("salesforce", instance)


def check_sources(
    platform_db_url: str, bus_url: str, env: Mapping[str, str] = os.environ
) -> Iterator[SourceHealth]:
    """Each configured source's health, the platform database first."""
    yield platform_db(platform_db_url)
    yield bus(bus_url)
    if env.get(ga.PROPERTY_ENV):
        yield google_analytics(env)
    if env.get(sf.INSTANCE_ENV):
        yield salesforce(env)

"""Where everything lives, per profile, from the environment.

``LAKEHOUSE_PROFILE`` (``local`` | ``aws`` | ``azure`` | ``multicloud``) only chooses defaults;
each store is addressed by a URL that its own variable overrides, so one variable moves a
store to another cloud. Nothing else in the code branches on the profile.

This module is the only reader of the ``LAKEHOUSE_*`` variables, the API sources' variables
and the clouds' variables the code passes on explicitly. Secrets (tokens, a database URL that
may hold a password) are not kept: only whether they are set, so Dagster resolves them at run
time (``dg.EnvVar``) and never shows them.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("local", "aws", "azure", "multicloud")
EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")

PLATFORM_DB_ENV = "LAKEHOUSE_PLATFORM_DB_URL"
GA_PROPERTY_ENV = "GOOGLE_ANALYTICS_PROPERTY_ID"  # naming the property enables the source
GA_TOKEN_ENV = "GOOGLE_ANALYTICS_TOKEN"
GA_BASE_URL_ENV = "GOOGLE_ANALYTICS_BASE_URL"
SF_INSTANCE_ENV = "SALESFORCE_INSTANCE_URL"  # naming the org enables the source
SF_TOKEN_ENV = "SALESFORCE_ACCESS_TOKEN"
SF_API_VERSION_ENV = "SALESFORCE_API_VERSION"
AZURE_CONNECTION_ENV = "AZURE_STORAGE_CONNECTION_STRING"
GLUE_PREFIX_ENV = "LAKEHOUSE_GLUE_DATABASE_PREFIX"
GLUE_DEFAULT_PREFIX = "lakehouse_"

# Default store URLs per profile; "{home}" is LAKEHOUSE_HOME.
_DEFAULTS: dict[str, dict[str, str | None]] = {
    "local": {
        "lake": "{home}/lake",
        "replica": "{home}/replica",
        "warehouse": "{home}/warehouse",
        "landing": "{home}/landing",
        "bus": "local://{home}/bus",
    },
    "aws": {
        "lake": "s3://lakehouse-lake/raw",
        "replica": None,
        "warehouse": "s3://lakehouse-warehouse/warehouse",
        "landing": "s3://lakehouse-landing/landing",
        "bus": "sqs://lakehouse-events",
    },
    "azure": {
        "lake": "az://lake/raw",
        "replica": None,
        "warehouse": "az://warehouse/warehouse",
        "landing": "az://landing/landing",
        "bus": "azqueue://lakehouse-events",
    },
    "multicloud": {
        "lake": "az://lake/raw",
        "replica": "s3://lakehouse-lake-replica/raw",
        "warehouse": "az://warehouse/warehouse",
        "landing": "az://landing/landing",
        "bus": "azqueue://lakehouse-events",
    },
}


class SettingsError(ValueError):
    """The environment names an unknown profile or an unusable setting."""


@dataclass(frozen=True)
class Settings:
    profile: str
    home: Path
    lake_url: str
    replica_url: str | None
    warehouse_url: str
    landing_url: str
    bus_url: str
    platform_db_url: str
    catalog_url: str
    executor: str = "in_process"
    """Where a run's steps execute (``LAKEHOUSE_EXECUTOR``, see components/executors.py)."""
    platform_db_url_set: bool = False
    """``LAKEHOUSE_PLATFORM_DB_URL`` is set (it may hold a password: resolve it at run time)."""
    ga_property_id: str = ""
    ga_base_url: str | None = None
    ga_token_set: bool = False
    sf_instance_url: str = ""
    sf_api_version: str | None = None
    sf_token_set: bool = False
    glue_database_prefix: str | None = None
    """Prefix of the Glue databases (``<prefix><subject>``); None: Glue is off. On when the
    warehouse is on S3 (default prefix ``lakehouse_``) or ``LAKEHOUSE_GLUE_DATABASE_PREFIX``
    is set."""

    def store_urls(self) -> dict[str, str]:
        """The object stores in use, by name (``lake``, ``replica``, ...)."""
        urls = {
            "lake": self.lake_url,
            "replica": self.replica_url,
            "warehouse": self.warehouse_url,
            "landing": self.landing_url,
        }
        return {name: url for name, url in urls.items() if url}

    @classmethod
    def from_env(cls, env: os._Environ[str] | dict[str, str] = os.environ) -> "Settings":
        profile = env.get("LAKEHOUSE_PROFILE", "local")
        if profile not in PROFILES:
            raise SettingsError(
                f"LAKEHOUSE_PROFILE={profile!r} is not a profile; use one of {', '.join(PROFILES)}"
            )
        executor = env.get("LAKEHOUSE_EXECUTOR", "in_process")
        if executor not in EXECUTORS:
            raise SettingsError(
                f"LAKEHOUSE_EXECUTOR={executor!r} is not an executor; use one of "
                f"{', '.join(EXECUTORS)}"
            )
        glue_prefix = env.get(GLUE_PREFIX_ENV)
        if glue_prefix and not re.fullmatch(r"[a-z0-9_]+", glue_prefix):
            raise SettingsError(
                f"{GLUE_PREFIX_ENV}={glue_prefix!r}: Athena database names take lower-case "
                "letters, digits and '_' only"
            )
        home = Path(env.get("LAKEHOUSE_HOME", ".lakehouse")).resolve()
        defaults = {k: v and v.format(home=home) for k, v in _DEFAULTS[profile].items()}

        def url(store: str) -> str | None:
            return env.get(f"LAKEHOUSE_{store.upper()}_URL") or defaults[store]

        return cls(
            profile=profile,
            home=home,
            lake_url=url("lake"),
            replica_url=url("replica"),
            warehouse_url=url("warehouse"),
            landing_url=url("landing"),
            bus_url=url("bus"),
            platform_db_url=env.get(PLATFORM_DB_ENV) or f"sqlite:///{home / 'platform.sqlite'}",
            # The catalog sits beside the warehouse it describes: <warehouse>.duckdb
            catalog_url=env.get("LAKEHOUSE_CATALOG_URL") or f"{url('warehouse')}.duckdb",
            executor=executor,
            platform_db_url_set=bool(env.get(PLATFORM_DB_ENV)),
            ga_property_id=env.get(GA_PROPERTY_ENV, ""),
            ga_base_url=env.get(GA_BASE_URL_ENV) or None,
            ga_token_set=bool(env.get(GA_TOKEN_ENV)),
            sf_instance_url=env.get(SF_INSTANCE_ENV, ""),
            sf_api_version=env.get(SF_API_VERSION_ENV) or None,
            sf_token_set=bool(env.get(SF_TOKEN_ENV)),
            glue_database_prefix=glue_prefix
            or (GLUE_DEFAULT_PREFIX if url("warehouse").startswith("s3://") else None),
        )


def azure_connection_string(env: os._Environ[str] | dict[str, str] = os.environ) -> str | None:
    """``AZURE_STORAGE_CONNECTION_STRING``, for the clients that take it explicitly."""
    return env.get(AZURE_CONNECTION_ENV) or None

"""Resources for the profile in ``LAKEHOUSE_PROFILE``: the only place that reads it."""

import dagster as dg

from lakehouse.components.resources.glue import GlueCatalogResource
from lakehouse.components.resources.sql_database import SqlDatabaseResource
from lakehouse.components.resources.stores import CatalogFile, ObjectStore, ParquetIOManager
from lakehouse.settings import PLATFORM_DB_ENV, Settings


@dg.definitions
def resources() -> dg.Definitions:
    settings = Settings.from_env()
    platform_db_url = (
        dg.EnvVar(PLATFORM_DB_ENV)  # may hold a password: resolved at run time
        if settings.platform_db_url_set
        else settings.platform_db_url
    )
    glue = GlueCatalogResource(database_prefix=settings.glue_database_prefix)
    return dg.Definitions(
        resources={
            "platform_db": SqlDatabaseResource(url=platform_db_url),
            **{
                name: ObjectStore(url=url, name=name) for name, url in settings.store_urls().items()
            },
            "io_manager": ParquetIOManager(base_url=settings.warehouse_url, glue=glue),
            "glue": glue,
            "catalog": CatalogFile(url=settings.catalog_url),
        }
    )

"""The Glue Data Catalog as a Dagster resource: on when the warehouse is on S3 (or a prefix is
set), a no-op elsewhere, so assets and the IO manager register every write unconditionally."""

import boto3
import dagster as dg
import pyarrow as pa
from pydantic import Field, PrivateAttr

from lakehouse.catalog.glue import GlueCatalog, Registered, TableSpec
from lakehouse.storage.store import Store


def table_spec(catalog: GlueCatalog, asset_key: dg.AssetKey, spec: dg.AssetSpec) -> TableSpec:
    """``warehouse/<subject...>/<name>`` -> table ``<name>`` in database ``<prefix><subject>``."""
    *subject, name = asset_key.path[1:]
    return TableSpec(
        database=catalog.database_name(subject),
        name=name.lower(),
        asset_key=asset_key.to_user_string(),
        description=spec.description,
        owners=tuple(spec.owners),
    )


class GlueCatalogResource(dg.ConfigurableResource):
    """Registers warehouse projections in the AWS Glue Data Catalog.

    Region, credentials and endpoint come only from the AWS variables boto3 reads itself
    (``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``..., ``AWS_ENDPOINT_URL`` and
    ``AWS_ENDPOINT_URL_GLUE``): nothing is configured here, so nothing secret is shown or logged.
    """

    database_prefix: str | None = Field(
        default=None,
        description="Prefix of the Glue databases (one per subject); unset: Glue is off",
    )
    _catalog: GlueCatalog | None = PrivateAttr(default=None)

    @property
    def enabled(self) -> bool:
        return self.database_prefix is not None

    @property
    def catalog(self) -> GlueCatalog:
        if self._catalog is None:
            self._catalog = GlueCatalog(boto3.client("glue"), self.database_prefix or "")
        return self._catalog

    def register(
        self,
        asset_key: dg.AssetKey,
        spec: dg.AssetSpec,
        store: Store,
        prefix: str,
        schema: pa.Schema | None = None,
    ) -> Registered | None:
        """Register the projection stored at ``prefix`` of ``store`` (None when Glue is off or
        nothing is stored yet)."""
        if not self.enabled:
            return None
        return self.catalog.register(
            table_spec(self.catalog, asset_key, spec), store, prefix, schema
        )

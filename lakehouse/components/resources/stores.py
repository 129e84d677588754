"""Dagster resources over :class:`Store`: one class serves every store on every cloud."""

import dagster as dg
import pyarrow as pa
from pydantic import Field, PrivateAttr

from lakehouse.components.resources.glue import GlueCatalogResource
from lakehouse.storage.parquet import column_description
from lakehouse.storage.projections import (
    partition_prefix,
    read_current,
    remove_old_versions,
    write_version,
)
from lakehouse.storage.store import Store


class ObjectStore(dg.ConfigurableResource):
    """A store (lake, replica, landing or warehouse) addressed by URL: a path, s3:// or az://.

    It is checked when a run or sensor starts, so a missing bucket or bad credentials is one
    clear error naming the store, not a failure deep in a step.
    """

    url: str = Field(description="Root URL of the store, e.g. /data/lake, s3://b/raw, az://c/raw")
    name: str = Field(default="store", description="What the store is for: lake, replica, ...")
    _store: Store | None = PrivateAttr(default=None)

    @property
    def store(self) -> Store:
        """The :class:`Store`, built once (its filesystem client is reused)."""
        if self._store is None:
            self._store = Store(self.url)
        return self._store

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.store.verify(self.name)


class CatalogFile(dg.ConfigurableResource):
    """The DuckDB catalog file, by URL (local path, s3:// or az://)."""

    url: str = Field(description="URL of the catalog file, e.g. /data/warehouse.duckdb")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        Store(self.url.rsplit("/", 1)[0]).verify("catalog")


def asset_key_to_store_key(asset_key: dg.AssetKey) -> str:
    """``warehouse/finance/kpi`` -> ``finance/kpi``: the layer is the store, not a folder."""
    return "/".join(asset_key.path[1:])


PREVIEW_ROWS = 5


def table_metadata(table: pa.Table) -> dict[str, dg.MetadataValue]:
    """Row count, schema (with each column's description) and a small preview, as shown on
    an asset's materialisation. The preview shows values as written: 521564.18 stays
    521564.18 (no number reformatting)."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(field.name, str(field.type), description=column_description(field))
            for field in table.schema
        ]
    )
    preview = table.slice(0, PREVIEW_ROWS).to_pandas()
    return {
        "dagster/row_count": dg.MetadataValue.int(table.num_rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False, disable_numparse=True)),
    }


class _ParquetIOManager(dg.IOManager):
    def __init__(self, store: Store, glue: GlueCatalogResource):
        self._store, self._glue = store, glue

    def handle_output(self, context: dg.OutputContext, obj: pa.Table | None) -> None:
        if obj is None:
            return
        table = (
            obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
        )
        relative = asset_key_to_store_key(context.asset_key)
        prefix = (
            partition_prefix(relative, context.asset_partition_key)
            if context.has_asset_partitions
            else relative
        )
        key = write_version(self._store, prefix, table)
        metadata = {**table_metadata(table), "path": dg.MetadataValue.path(self._store.uri(key))}
        # In the same step as the write: the catalog never lags the files it points at.
        registered = self._glue.register(
            context.asset_key, context.asset_spec, self._store, relative, table.schema
        )
        if registered is not None:
            metadata["glue_table"] = registered.table
            metadata["glue_change"] = registered.action
        remove_old_versions(self._store, prefix)
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pa.Table | dict[str, pa.Table]:
        relative = asset_key_to_store_key(context.asset_key)
        if not context.has_asset_partitions:
            return read_current(self._store, relative)
        keys = context.asset_partition_keys
        tables = {k: read_current(self._store, partition_prefix(relative, k)) for k in keys}
        return tables[keys[0]] if len(keys) == 1 else tables


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores asset outputs (Arrow tables or DataFrames) as Parquet under ``base_url``.

    An asset ``warehouse/<subject>/<name>`` is written whole as a new version under
    ``<base_url>/<subject>/<name>/``, a partition under ``.../dt=<partition>/`` (layout:
    :mod:`lakehouse.storage.projections`), registered in Glue in the same step when Glue is
    on. Each materialisation records row count, schema, path and a preview.
    """

    base_url: str = Field(description="Root URL of the warehouse store")
    glue: GlueCatalogResource | None = Field(
        default=None, description="Where writes are registered (none: Glue is off)"
    )

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIOManager:
        return _ParquetIOManager(Store(self.base_url), self.glue or GlueCatalogResource())

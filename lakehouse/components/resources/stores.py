"""Dagster resources over :class:`Store`: one class serves every store on every cloud."""

import dagster as dg
import pyarrow as pa
from pydantic import Field, PrivateAttr
from upath import UPath

from lakehouse.storage.parquet import column_description, read_parquet, write_parquet
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


def warehouse_file_key(asset_key: dg.AssetKey) -> str:
    """The store key of an unpartitioned asset's Parquet file."""
    return asset_key_to_store_key(asset_key) + _ParquetIOManager.extension


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


class _ParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def __init__(self, store: Store):
        super().__init__(base_path=UPath(store.url))
        self._store = store

    def get_asset_relative_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return UPath(asset_key_to_store_key(context.asset_key))

    def _key(self, path: UPath) -> str:
        return str(path)[len(str(self._base_path)) + 1 :]

    def dump_to_path(self, context: dg.OutputContext, obj: pa.Table, path: UPath) -> None:
        table = (
            obj if isinstance(obj, pa.Table) else pa.Table.from_pandas(obj, preserve_index=False)
        )
        write_parquet(self._store, self._key(path), table)
        context.add_output_metadata(table_metadata(table))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pa.Table:
        return read_parquet(self._store, self._key(path))

    def make_directory(self, path: UPath) -> None:
        """Directories are made by the atomic writer where the backend has them."""

    def path_exists(self, path: UPath) -> bool:
        return self._store.exists(self._key(path))


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Stores asset outputs (Arrow tables or DataFrames) as Parquet under ``base_url``.

    An asset ``warehouse/<subject>/<name>`` lands at ``<base_url>/<subject>/<name>.parquet``;
    a partitioned one at ``<base_url>/<subject>/<name>/<partition>.parquet``. Writes are
    atomic; each materialisation records row count, schema, path and a preview.
    """

    base_url: str = Field(description="Root URL of the warehouse store")

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetIOManager:
        return _ParquetIOManager(Store(self.base_url))

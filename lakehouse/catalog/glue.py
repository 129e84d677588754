"""The AWS Glue Data Catalog: every warehouse projection as an external Parquet table.

How Athena (and through it Looker, Trino, Spark, Redshift Spectrum) finds the warehouse: one
Glue database per subject (``<prefix><subject>``), one table per projection whose location is
its current version's prefix (see :mod:`lakehouse.storage.projections`), columns typed from the
Parquet schema exactly, partition keys and partitions for a partitioned projection. A write
flips the location to the version it wrote; a schema change updates the table as a new table
version (never a drop); a location flip alone replaces the current version without archiving
one (Glue keeps at most 100,000 versions a table). Tables are never deleted here: a projection
that disappeared is reported by :meth:`GlueCatalog.orphans`.
"""

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.storage.parquet import column_description
from lakehouse.storage.projections import current_files
from lakehouse.storage.store import Store

ASSET_KEY_PARAMETER = "dagster/asset_key"
_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
_COMMENT_MAX, _DESCRIPTION_MAX = 255, 2048  # Glue's limits


class UnsupportedType(ValueError):
    """A Parquet column type that Athena/Hive cannot read (time of day, duration, ...)."""


_SIMPLE = [
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "tinyint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_uint8, "smallint"),
    (pa.types.is_int32, "int"),
    (pa.types.is_uint16, "int"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_uint32, "bigint"),
    (pa.types.is_uint64, "decimal(20,0)"),
    (pa.types.is_float16, "float"),
    (pa.types.is_float32, "float"),
    (pa.types.is_float64, "double"),
    (pa.types.is_date, "date"),
    (pa.types.is_timestamp, "timestamp"),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "string"),
    (pa.types.is_string_view, "string"),
    (pa.types.is_binary, "binary"),
    (pa.types.is_large_binary, "binary"),
    (pa.types.is_fixed_size_binary, "binary"),
    (pa.types.is_binary_view, "binary"),
    (pa.types.is_null, "string"),  # a column with no value yet (an empty first batch)
]


def hive_type(arrow: pa.DataType) -> str:
    """The Athena/Hive type of an Arrow (Parquet) type, exactly: ``decimal(18,2)``,
    ``array<struct<a:bigint,b:string>>``, ``map<string,double>``."""
    if pa.types.is_dictionary(arrow):
        return hive_type(arrow.value_type)
    if pa.types.is_decimal(arrow):
        if arrow.precision > 38:
            raise UnsupportedType(f"{arrow}: Athena decimals hold at most 38 digits")
        return f"decimal({arrow.precision},{arrow.scale})"
    if pa.types.is_map(arrow):
        return f"map<{hive_type(arrow.key_type)},{hive_type(arrow.item_type)}>"
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        return f"array<{hive_type(arrow.value_type)}>"
    if pa.types.is_fixed_size_list(arrow) or pa.types.is_list_view(arrow):
        return f"array<{hive_type(arrow.value_type)}>"
    if pa.types.is_struct(arrow):
        fields = ",".join(f"{f.name.lower()}:{hive_type(f.type)}" for f in arrow)
        return f"struct<{fields}>"
    for test, name in _SIMPLE:
        if test(arrow):
            return name
    raise UnsupportedType(f"{arrow}: no Athena/Hive type reads it")


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    """Glue columns of a Parquet schema, descriptions as comments. Athena matches Parquet
    columns by lower-cased name, so two names equal but for case are refused."""
    columns, seen = [], {}
    for f in schema:
        name = f.name.lower()
        if name in seen:
            raise UnsupportedType(f"columns {seen[name]!r} and {f.name!r} differ only by case")
        seen[name] = f.name
        try:
            column = {"Name": name, "Type": hive_type(f.type)}
        except UnsupportedType as exc:
            raise UnsupportedType(f"column {f.name!r}: {exc}") from None
        if comment := column_description(f):
            column["Comment"] = comment[:_COMMENT_MAX]
        columns.append(column)
    return columns


@dataclass(frozen=True)
class TableSpec:
    """What the catalog says about a projection besides its files."""

    database: str
    name: str
    asset_key: str
    description: str | None = None
    owners: Sequence[str] = ()


@dataclass(frozen=True)
class Layout:
    """Where a projection's current files are: table location, partition keys and partitions."""

    location: str
    partition_keys: tuple[str, ...] = ()
    partitions: Mapping[tuple[str, ...], str] = field(default_factory=dict)


def _folder_url(store: Store, key: str) -> str:
    return store.uri(key) + "/"


def layout_of(store: Store, prefix: str, files: Iterable[str]) -> Layout | None:
    """The layout of the current ``files`` of the projection at ``prefix``; None for a legacy
    single file (no prefix of its own to point a table at)."""
    folders = {f[len(prefix) + 1 :].rpartition("/")[0] for f in files if f.startswith(prefix + "/")}
    if not folders:
        return None
    keys: tuple[str, ...] = ()
    partitions: dict[tuple[str, ...], str] = {}
    for folder in sorted(folders):
        segments = folder.split("/") if folder else []
        hive = [s.split("=", 1) for s in segments if "=" in s]
        if not hive:
            if len(folders) > 1:
                raise ValueError(f"{store.uri(prefix)}: unpartitioned files in several folders")
            return Layout(_folder_url(store, f"{prefix}/{folder}" if folder else prefix))
        found = tuple(k for k, _ in hive)
        if keys and found != keys:
            raise ValueError(f"{store.uri(prefix)}: partition keys {found} and {keys} mixed")
        keys = found
        partitions[tuple(v for _, v in hive)] = _folder_url(store, f"{prefix}/{folder}")
    return Layout(_folder_url(store, prefix), keys, partitions)


@dataclass
class Registered:
    """What one registration changed."""

    table: str  # database.name
    action: str  # created | new version | location | unchanged
    partitions_added: list[tuple[str, ...]] = field(default_factory=list)
    partitions_moved: list[tuple[str, ...]] = field(default_factory=list)


class GlueCatalog:
    """Projections registered in Glue through ``client`` (a boto3 Glue client)."""

    def __init__(self, client, database_prefix: str):
        self.client, self.prefix = client, database_prefix

    def database_name(self, subject: Sequence[str]) -> str:
        """``["teams", "underwriting"]`` -> ``<prefix>teams_underwriting`` (the DuckDB schema)."""
        return (self.prefix + ("_".join(subject) or "main")).lower()

    def check(self) -> int:
        """How many of this catalog's databases exist (raises if Glue cannot be reached)."""
        return len(self._databases())

    def register(
        self, spec: TableSpec, store: Store, prefix: str, schema: pa.Schema | None = None
    ) -> Registered | None:
        """Point ``spec``'s table at the current files of the projection at ``prefix`` (its
        schema read from the newest file's footer unless given); None if nothing is stored."""
        files = current_files(store, prefix)
        layout = layout_of(store, prefix, files)
        if layout is None:
            return None
        if schema is None:
            with store.open(files[-1]) as f:
                schema = pq.read_schema(f)
        columns = glue_columns(schema)
        partition_names = set(layout.partition_keys)
        columns = [c for c in columns if c["Name"] not in partition_names]
        table_input = {
            "Name": spec.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "parquet",
                "EXTERNAL": "TRUE",
                ASSET_KEY_PARAMETER: spec.asset_key,
                "owners": ",".join(spec.owners),
            },
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in layout.partition_keys],
            "StorageDescriptor": {"Columns": columns, "Location": layout.location, **_PARQUET},
        }
        if spec.description:
            table_input["Description"] = spec.description.strip()[:_DESCRIPTION_MAX]
        result = Registered(f"{spec.database}.{spec.name}", self._put_table(spec, table_input))
        if layout.partition_keys:
            self._put_partitions(spec, layout, columns, result)
        return result

    def orphans(self, expected: Iterable[tuple[str, str]]) -> list[str]:
        """Tables this platform registered (they carry an asset key) whose projection is gone:
        reported, never dropped (a BI dashboard may still name them)."""
        expected = {(d.lower(), n.lower()) for d, n in expected}
        found = []
        for database in self._databases():
            pages = self.client.get_paginator("get_tables").paginate(DatabaseName=database)
            for page in pages:
                for table in page["TableList"]:
                    ours = ASSET_KEY_PARAMETER in table.get("Parameters", {})
                    if ours and (database, table["Name"]) not in expected:
                        found.append(f"{database}.{table['Name']}")
        return sorted(found)

    # -- internals ---------------------------------------------------------------------------

    def _databases(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("get_databases").paginate():
            names += [d["Name"] for d in page["DatabaseList"] if d["Name"].startswith(self.prefix)]
        return names

    def _put_table(self, spec: TableSpec, table_input: dict) -> str:
        errors = self.client.exceptions
        try:
            current = self.client.get_table(DatabaseName=spec.database, Name=spec.name)["Table"]
        except errors.EntityNotFoundException:
            with contextlib.suppress(errors.AlreadyExistsException):
                self.client.create_database(DatabaseInput={"Name": spec.database})
            try:
                self.client.create_table(DatabaseName=spec.database, TableInput=table_input)
            except errors.AlreadyExistsException:  # another writer created it just now
                return self._put_table(spec, table_input)
            return "created"
        sd, now = current.get("StorageDescriptor", {}), table_input["StorageDescriptor"]
        schema_changed = (
            _strip(sd.get("Columns", [])) != now["Columns"]
            or _strip(current.get("PartitionKeys", [])) != table_input["PartitionKeys"]
        )
        same_rest = (
            sd.get("Location") == now["Location"]
            and current.get("Description") == table_input.get("Description")
            and current.get("Parameters", {}) == table_input["Parameters"]
        )
        if not schema_changed and same_rest:
            return "unchanged"
        self.client.update_table(
            DatabaseName=spec.database,
            TableInput=table_input,
            SkipArchive=not schema_changed,  # a new table version only when the schema changed
        )
        return "new version" if schema_changed else "location"

    def _put_partitions(
        self, spec: TableSpec, layout: Layout, columns: list, result: Registered
    ) -> None:
        existing = {}
        pages = self.client.get_paginator("get_partitions").paginate(
            DatabaseName=spec.database, TableName=spec.name
        )
        for page in pages:
            for p in page["Partitions"]:
                existing[tuple(p["Values"])] = p["StorageDescriptor"]["Location"]

        def partition_input(values: tuple[str, ...], location: str) -> dict:
            sd = {"Columns": columns, "Location": location, **_PARQUET}
            return {"Values": list(values), "StorageDescriptor": sd}

        new = [v for v in layout.partitions if v not in existing]
        for start in range(0, len(new), 100):  # Glue's batch limit
            chunk = new[start : start + 100]
            response = self.client.batch_create_partition(
                DatabaseName=spec.database,
                TableName=spec.name,
                PartitionInputList=[partition_input(v, layout.partitions[v]) for v in chunk],
            )
            # A partition another writer registered meanwhile is no error.
            failed = [
                e
                for e in response.get("Errors", [])
                if e["ErrorDetail"].get("ErrorCode") != "AlreadyExistsException"
            ]
            if failed:
                error = failed[0]
                raise RuntimeError(
                    f"Glue refused partition {error['PartitionValues']} of "
                    f"{result.table}: {error['ErrorDetail'].get('ErrorMessage')}"
                )
            result.partitions_added += chunk
        for values, location in layout.partitions.items():
            if values in existing and existing[values] != location:
                self.client.update_partition(
                    DatabaseName=spec.database,
                    TableName=spec.name,
                    PartitionValueList=list(values),
                    PartitionInput=partition_input(values, location),
                )
                result.partitions_moved.append(values)


def _strip(columns: list[dict]) -> list[dict]:
    """Glue's columns as we send them (it may add fields of its own)."""
    return [{k: c[k] for k in ("Name", "Type", "Comment") if k in c} for c in columns]


def glue_problem(database_prefix: str) -> tuple[str, str | None]:
    """(where, problem or None): can the Glue Data Catalog be listed with the AWS variables?
    One line, naming what to set; no credential is ever shown."""
    import boto3
    import botocore.exceptions as errors

    try:
        client = boto3.client("glue")
        where = f"{client.meta.endpoint_url} ({client.meta.region_name})"
    except errors.NoRegionError:
        return "glue", "no AWS region: set AWS_DEFAULT_REGION"
    try:
        found = GlueCatalog(client, database_prefix).check()
    except (errors.NoCredentialsError, errors.PartialCredentialsError):
        return where, "no AWS credentials: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    except errors.EndpointConnectionError:
        return where, "cannot reach it: check AWS_ENDPOINT_URL_GLUE / AWS_ENDPOINT_URL"
    except errors.ClientError as exc:
        error = exc.response.get("Error", {})
        return where, f"{error.get('Code', 'error')}: {' '.join(str(error.get('Message')).split())}"
    return f"{where}, {found} database(s) named {database_prefix}*", None

"""An external engine's view of the warehouse: the Glue API for tables, pyarrow's own S3
filesystem for the files at their locations. No project code on the reading side."""

import datetime as dt
import os
from collections import Counter
from urllib.parse import urlparse

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def s3_filesystem() -> pafs.S3FileSystem:
    endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
    return pafs.S3FileSystem(
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme,
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )


def glue_client():
    return boto3.client("glue", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def read_location(s3: pafs.S3FileSystem, location: str) -> tuple[list[str], pa.Table | None]:
    """(files, their rows) under a Glue location, as Athena lists and reads them: every
    object under the prefix except those named ``_*`` or ``.*``."""
    parsed = urlparse(location)
    selector = pafs.FileSelector(f"{parsed.netloc}{parsed.path}".rstrip("/"), recursive=True)
    files = sorted(
        i.path
        for i in s3.get_file_info(selector)
        if i.type == pafs.FileType.File and not i.base_name.startswith(("_", "."))
    )
    tables = [pq.read_table(f, filesystem=s3) for f in files]
    return files, (pa.concat_tables(tables, promote_options="default") if tables else None)


def table_rows(glue, s3: pafs.S3FileSystem, database: str, name: str) -> Counter:
    """The rows an external engine reads from a Glue table (partitions included), as a
    multiset of normalised tuples in the table's column order (partition keys last)."""
    table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    if not keys:
        _, rows = read_location(s3, table["StorageDescriptor"]["Location"])
        return rows_of(rows, columns)
    found = Counter()
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
    for page in pages:
        for partition in page["Partitions"]:
            _, rows = read_location(s3, partition["StorageDescriptor"]["Location"])
            values = tuple(partition["Values"])
            found.update({r + values: n for r, n in rows_of(rows, columns).items()})
    return found


def rows_of(table: pa.Table | None, columns: list[str]) -> Counter:
    if table is None:
        return Counter()
    by_lower = {n.lower(): n for n in table.column_names}
    picked = table.select([by_lower[c] for c in columns])
    return Counter(tuple(map(_normal, row.values())) for row in picked.to_pylist())


def _normal(value):
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, list):
        return tuple(map(_normal, value))
    if isinstance(value, dict):
        return tuple(sorted((k, _normal(v)) for k, v in value.items()))
    return value


def assert_glue_matches_catalog(con, database_prefix: str) -> int:
    """Every view of the DuckDB catalog (``con``) has a Glue table ``<prefix><schema>.<name>``
    whose files hold exactly the view's rows. Returns how many tables were compared."""
    glue, s3 = glue_client(), s3_filesystem()
    views = con.execute(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    assert views
    for schema, name in views:
        table = glue.get_table(DatabaseName=f"{database_prefix}{schema}", Name=name)["Table"]
        columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
        columns += [k["Name"] for k in table.get("PartitionKeys", [])]
        select = ", ".join(f'"{c}"' for c in columns)
        in_view = Counter(
            tuple(map(_normal, row))
            for row in con.execute(f'SELECT {select} FROM "{schema}"."{name}"').fetchall()
        )
        assert table_rows(glue, s3, f"{database_prefix}{schema}", name) == in_view, (schema, name)
    return len(views)

"""The documented name rule, the type mapping's edge cases, what widens, and the component's
registration."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from lakehouse.sources.sql.names import mapping, snake
from lakehouse.sources.sql.types import arrow_type, widens
from lakehouse_tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize(
    ("name", "lake"),
    [
        ("InvoiceLine", "invoice_line"),
        ("Order", "order"),
        ("select", "select"),
        ("HTTPStatus", "http_status"),
        ("Customer Name", "customer_name"),
        ("ship-to.zip", "ship_to_zip"),
        ("already_snake", "already_snake"),
        ("Line2Total", "line2_total"),
    ],
)
def test_names_map_by_the_documented_rule(name, lake):
    assert snake(name) == lake


def test_two_names_mapping_to_one_are_an_error_naming_both():
    with pytest.raises(ValueError, match="'OrderId' and 'order_id' both map to 'order_id'"):
        mapping(["OrderId", "order_id"], "columns")


@pytest.mark.parametrize(
    ("column_type", "expected"),
    [
        (sa.SmallInteger(), pa.int64()),
        (postgresql.NUMERIC(20, 4), pa.decimal128(20, 4)),
        (postgresql.NUMERIC(), pa.string()),
        (sa.Numeric(50, 10), pa.decimal256(50, 10)),
        (postgresql.DOUBLE_PRECISION(), pa.float64()),
        (postgresql.TIMESTAMP(timezone=True), pa.timestamp("us", tz="UTC")),
        (mysql.DATETIME(), pa.timestamp("us")),
        (postgresql.BYTEA(), pa.binary()),
        (mysql.VARBINARY(16), pa.binary()),
        (postgresql.JSONB(), pa.string()),
        (postgresql.UUID(), pa.string()),
        (mysql.TINYINT(1), pa.int64()),
        (sa.Boolean(), pa.bool_()),
        (postgresql.INTERVAL(), pa.duration("us")),
    ],
)
def test_database_types_map_to_exact_arrow_types(column_type, expected):
    assert arrow_type(column_type) == expected


def test_only_safe_type_changes_widen():
    assert widens(pa.decimal128(10, 2), pa.decimal128(12, 2))
    assert widens(pa.int64(), pa.decimal128(21, 2))
    assert not widens(pa.decimal128(10, 2), pa.decimal128(10, 3))  # fewer integer digits
    assert not widens(pa.decimal128(10, 2), pa.string())
    assert not widens(pa.int64(), pa.float64())
    assert widens(pa.timestamp("us", tz="UTC"), pa.timestamp("us", tz="Etc/UTC"))
    assert not widens(pa.timestamp("us"), pa.timestamp("us", tz="UTC"))


def test_dg_lists_the_components_under_their_documented_names():
    dg = Path(sys.executable).parent / "dg"
    out = subprocess.run(
        [str(dg), "list", "components", "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    keys = {entry["key"] for entry in json.loads(out.stdout)["items"]}
    ours = {k for k in keys if k.startswith("lakehouse.")}
    assert ours == {
        "lakehouse.components.FileDrop",
        "lakehouse.components.SqlDatabase",
        "lakehouse.components.TeamModules",
    }

"""A drop declared in YAML through the component: marker-file completeness, the sensor's claim,
the take into the lake (SHA-256 manifest), typed parts, and bad input quarantined with its
reason while the rest flows."""

import json
import os
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import yaml

from lakehouse.components.file_drop import FileDrop, drop_definitions
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.sources.files.landing import landing_for
from lakehouse.sources.files.spec import drop_spec
from lakehouse.storage.store import Store

DROP = yaml.safe_load(
    r"""
name: orders
landing_prefix: partner/orders
pattern: 'orders-(?P<shop>[a-z]+)-(?P<day>\d{8})\.jsonl'
time_group: day
time_format: '%Y%m%d'
grouping: daily
marker_suffix: .done
format:
  kind: jsonl
  columns:
    - {name: order_id, type: int, required: true}
    - {name: total, type: 'decimal(10,2)'}
"""
)
DAY = "2026-03-02"


def _stores(tmp_path: Path) -> dict[str, Store]:
    return {n: Store(str(tmp_path / n)) for n in ("landing", "lake", "warehouse")}


def _tick(defs: dg.Definitions, stores: dict[str, Store], cursor=None):
    sensor = defs.sensors[0]
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources={n: ObjectStore(url=stores[n].url, name=n) for n in ("landing", "lake")},
    )
    return sensor(context)


def _run(defs: dg.Definitions, stores: dict[str, Store], wave: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)],
        partition_key=wave,
        resources={n: ObjectStore(url=s.url, name=n) for n, s in stores.items()},
    )


def test_a_jsonl_drop_with_marker_files_end_to_end(tmp_path):
    spec = drop_spec(DROP)
    defs = drop_definitions(spec, group_name="partner", owners=[])
    stores = _stores(tmp_path)
    landing = stores["landing"]
    landing.write_bytes("partner/orders/orders-acme-20260302.jsonl", b'{"order_id": 1}\n')
    assert _tick(defs, stores).run_requests == []  # no marker yet: still being written
    landing.write_bytes(
        "partner/orders/orders-acme-20260302.jsonl",
        b'{"order_id": 1, "total": "19.90"}\n{"order_id": "two"}\n{"order_id": 3}\n',
    )
    landing.write_bytes("partner/orders/orders-acme-20260302.jsonl.done", b"")
    landing.write_bytes("partner/orders/invoice.pdf", b"%PDF-1.4")  # no marker: never taken
    requests = _tick(defs, stores).run_requests
    assert [(r.partition_key, r.tags["lakehouse/sensor"]) for r in requests] == [
        (DAY, "orders_landing")
    ]
    assert not landing.exists("partner/orders/orders-acme-20260302.jsonl.done")
    assert _run(defs, stores, DAY).success

    lake, warehouse = stores["lake"], stores["warehouse"]
    manifest = landing_for(spec).read_manifest(lake, DAY)
    assert list(manifest) == ["orders-acme-20260302.jsonl"]
    assert len(manifest["orders-acme-20260302.jsonl"]["sha256"]) == 64
    part = pq.read_table(
        warehouse.open(f"orders/parsed/wave={DAY}/orders-acme-20260302.jsonl.parquet")
    )
    assert [(r["order_id"], r["shop"], r["line"]) for r in part.to_pylist()] == [
        (1, "acme", 1),
        (3, "acme", 3),
    ]
    rejected_key = f"quarantine/orders/rejected_lines/wave={DAY}/orders-acme-20260302.jsonl.parquet"
    rejected = pq.read_table(lake.open(rejected_key)).to_pylist()
    assert [(r["line"], r["reason"]) for r in rejected] == [(2, "unparsable order_id 'two'")]


def test_same_name_twice_with_other_bytes_is_quarantined_not_replaced(tmp_path):
    spec = drop_spec(DROP)
    defs = drop_definitions(spec, group_name="partner", owners=[])
    stores = _stores(tmp_path)
    landing, name = stores["landing"], "partner/orders/orders-acme-20260302.jsonl"
    for body in (b'{"order_id": 1}\n', b'{"order_id": 2}\n'):
        landing.write_bytes(name, body)
        landing.write_bytes(f"{name}.done", b"")
        _tick(defs, stores)
        assert _run(defs, stores, DAY).success
    assert (
        landing_for(spec).raw_files(stores["lake"], DAY)[-1].endswith("orders-acme-20260302.jsonl")
    )
    assert len(landing_for(spec).raw_files(stores["lake"], DAY)) == 1
    kept = f"quarantine/partner/orders/_claimed/wave={DAY}/orders-acme-20260302.jsonl"
    assert landing.read_bytes(kept) == b'{"order_id": 2}\n'
    reason = json.loads(landing.read_bytes(f"{kept}.reason.json"))["reason"]
    assert "already has orders-acme-20260302.jsonl in the lake" in reason


def test_unknown_names_and_empty_files_are_quarantined_the_rest_flows(tmp_path):
    spec = drop_spec({**DROP, "marker_suffix": None, "settle_seconds": 0})
    defs = drop_definitions(spec, group_name="partner", owners=[])
    stores = _stores(tmp_path)
    landing = stores["landing"]
    landing.write_bytes("partner/orders/orders-acme-20260302.jsonl", b'{"order_id": 7}\n')
    landing.write_bytes("partner/orders/orders-bolt-20260302.jsonl", b"")
    landing.write_bytes("partner/orders/orders_20260302.json", b'{"order_id": 8}\n')
    for key in landing.keys("partner/orders"):
        os.utime(landing.path(key), (time.time() - 60, time.time() - 60))
    _tick(defs, stores)
    result = _run(defs, stores, DAY)  # the odd name has no day: its modification time's
    assert result.success
    mats = result.asset_materializations_for_node("warehouse__orders__parsed")
    meta = mats[0].metadata
    assert meta["files_quarantined"].data == {"orders-bolt-20260302.jsonl": "empty file"}
    assert meta["accepted_lines"].value == 1


def test_the_component_reads_a_spec_file(tmp_path):
    (tmp_path / "drop.yaml").write_text(yaml.safe_dump(DROP))
    assert FileDrop(spec_file="drop.yaml").spec(tmp_path) == drop_spec(DROP)

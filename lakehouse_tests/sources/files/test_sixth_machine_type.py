"""A sixth machine type added by YAML alone: one more ``delimited_log`` block in the machine
drop, and its files flow through the drop's assets (take, parse) to the KPIs."""

from datetime import UTC, datetime

import dagster as dg
import pytest
import yaml

from lakehouse.components.file_drop import _machine_parser, drop_definitions
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.sources.files.spec import drop_spec
from lakehouse.sources.machines.formats import DROP_FILE, machine_type
from lakehouse.storage.store import Store
from lakehouse.warehouse.machine_waves import kpis

# An X-ray inspection station: '^'-separated, its own field order and codes, compact times.
XRAY = """
type: xry
prefix: XRY
title: "X-ray inspection (caret-separated, compact local-UTC times)"
delimiter: "^"
columns: "ts event machine_id station_id serial step attempt result value unit units cycle_s alarm"
extension: .xr
timestamp: {kind: strptime, format: "%Y%m%d%H%M%S"}
events: {TEST: "INS", PROD: "OUT", ALARM: "ERR"}
results: {pass: "GO", fail: "NOGO"}
"""
FILE = (
    "20260302080500^INS^XRY-0007^T1^SN1^void_pct^1^GO^3.5^pct^^^\n"
    "20260302080600^INS^XRY-0007^T1^SN2^void_pct^1^NOGO^12.0^pct^^^\n"
    "20260302080700^INS^XRY-0007^T1^SN2^void_pct^2^GO^4.0^pct^^^\n"
    "20260302080800^OUT^XRY-0007^T1^SN1^^^^^^2^45.5^\n"
    "20260302081000^ERR^XRY-0007^T2^^^^^^^^^TUBE_ARC\n"
    "20260302081100^INS^XRY-0007^T1^SN3^void_pct^1^MAYBE^5.0^pct^^^\n"
)
WAVE = "2026-03-02T08"


def _spec(extra: list[dict]):
    raw = yaml.safe_load(DROP_FILE.read_text())
    raw["format"]["types"] = [*raw["format"]["types"], *extra]
    return drop_spec(raw)


def test_a_sixth_machine_type_by_yaml_alone_reaches_the_kpis(tmp_path):
    spec = _spec([yaml.safe_load(XRAY)])
    defs = drop_definitions(spec, group_name="machines", owners=[], parse=_machine_parser)
    stores = {n: Store(str(tmp_path / n)) for n in ("landing", "lake", "warehouse")}
    stores["landing"].write_bytes(
        f"machines/_claimed/wave={WAVE}/XRY-0007_20260302T080000.xr", FILE.encode()
    )
    result = dg.materialize(
        [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)],
        partition_key=WAVE,
        resources={n: ObjectStore(url=s.url, name=n) for n, s in stores.items()},
    )
    assert result.success
    table = kpis(stores["lake"], stores["warehouse"], [WAVE], "hour")
    rows = {(r["machine_type"], r["station_id"]): r for r in table.to_pylist()}
    t1, t2 = rows[("xry", "T1")], rows[("xry", "T2")]
    h8 = datetime(2026, 3, 2, 8, tzinfo=UTC)
    # T1: lines 1-4 accepted; tests 1-3, first attempts 1 and 2, one passed; 2 units
    assert (t1["hour"], t1["lines"], t1["tests_run"], t1["first_attempts"]) == (h8, 4, 3, 2)
    assert (t1["first_pass_yield"], t1["units_produced"], t1["cycle_time_p50_s"]) == (
        0.5,
        2,
        45.5,
    )
    assert (t2["lines"], t2["alarms"]) == (1, 1)
    assert rows[("xry", None)]["rejected_lines"] == 1  # line 6: unknown result code 'MAYBE'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": "ts event machine_id"}, "columns must be the fields"),
        ({"timestamp": {"kind": "julian"}}, "timestamp.kind must be one of"),
        ({"events": {"TEST": "I", "PROD": "O"}}, "events must map TEST, PROD, ALARM"),
        ({"delimiter": "^^"}, "delimiter must be one character"),
    ],
)
def test_a_wrong_machine_block_is_a_one_line_error(change, message):
    with pytest.raises(ValueError, match=f"machine type 'xry': {message}"):
        machine_type({**yaml.safe_load(XRAY), **change})

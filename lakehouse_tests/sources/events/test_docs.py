"""docs/events.md documents every event type, version and payload field as the code has them."""

import re
from pathlib import Path

from lakehouse.sources.events.schema import EVENT_TYPES

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def _sections() -> dict[str, dict[int, list[str]]]:
    """type -> version -> the field rows of its table."""
    out: dict[str, dict[int, list[str]]] = {}
    current, version = None, None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            current, version = None, None
        elif m := re.fullmatch(r"### `(\w+)`", line):
            current, version = m.group(1), None
            out[current] = {}
        elif current and (m := re.match(r"\*\*v(\d+)\*\*", line)):
            version = int(m.group(1))
            out[current][version] = []
        elif current and version and line.startswith("| `"):
            out[current][version].append(line)
    return out


def test_every_type_version_and_field_is_documented():
    sections = _sections()
    assert set(EVENT_TYPES) <= set(sections)
    for name, event_type in EVENT_TYPES.items():
        assert set(sections[name]) == set(event_type.versions), name
        for version, fields in event_type.versions.items():
            rows = sections[name][version]
            assert len(rows) == len(fields), (name, version)
            for row, field in zip(rows, fields, strict=True):
                expected = f"| `{field.name}` | {field.json_type} | `{field.arrow_type}` |"
                assert row.startswith(expected), (name, version, row)

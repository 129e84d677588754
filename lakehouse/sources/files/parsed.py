"""One file's parse: typed rows, rejected lines (file, line number, reason, text), counts."""

from dataclasses import dataclass

import pyarrow as pa

MAX_TEXT = 1000  # characters of a rejected line kept
REJECTED_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int32()),  # physical line (header included; row number in Parquet), 0 = file
        ("reason", pa.string()),
        ("text", pa.string()),  # the line as written (first 1,000 characters)
    ]
)


@dataclass
class ParsedFile:
    name: str
    table: pa.Table
    rejected: pa.Table
    lines: int  # data lines in the file (header and trailer excluded)
    exact: bool  # some value was unparsable: its column was converted value by value
    file_problem: str | None = None  # the whole file was rejected: why (quarantine it)
    uncompressed_bytes: int = 0

    @property
    def accounted(self) -> bool:
        """Every line is either accepted or rejected (a whole-file rejection counts once)."""
        expected = max(self.lines, 1) if self.file_problem else self.lines
        return self.table.num_rows + self.rejected.num_rows == expected


def rejected_table(name: str, rows: list[tuple[int, str, str]]) -> pa.Table:
    """``rows`` of (line, reason, text) -> REJECTED_SCHEMA."""
    lines, reasons, texts = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    return pa.table(
        [
            pa.array([name] * len(rows), pa.string()),
            pa.array(lines, pa.int32()),
            pa.array(reasons, pa.string()),
            pa.array([t[:MAX_TEXT] for t in texts], pa.string()),
        ],
        schema=REJECTED_SCHEMA,
    )

"""Incremental extraction of Google Analytics reports into immutable lake batches.

GA4 keeps processing a day's data for a day or two after it ends, so the last pulled days are
not final. Each run therefore pulls from ``lookback_days`` before the watermark (the last
complete date pulled, kept in the newest batch's Parquet footer) through the last complete
date, which is the earlier of yesterday in the property's time zone and the newest date with
data (one single-row request finds both; a property whose data stops, or a simulated one,
is then not asked for empty days). The first run pulls ``backfill_days``.

A batch is the report's complete rows for every date in its range (``lakehouse.date_range``
in its footer): the warehouse keeps, for each date, the rows of the newest batch holding that
date, so a re-pulled day replaces its earlier pull wholesale (rows that vanished on
reprocessing vanish too). The report is written once, after every page has been read and
checked: offset paging over live data could repeat or skip rows if the data changed between
pages, so a repeated row fails the run and nothing is written.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.sources.google_analytics.client import PAGE_SIZE, GoogleAnalyticsClient
from lakehouse.sources.google_analytics.schema import Report
from lakehouse.sources.http import APIError
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.parquet import read_cursor, with_cursors, write_parquet
from lakehouse.storage.store import Store

LOOKBACK_DAYS = 3
BACKFILL_DAYS = 730


@dataclass(frozen=True)
class Batch:
    key: str
    rows: int
    start: date | None
    end: date | None


def lake_watermark(lake: Store, prefix: str) -> date | None:
    """The last complete date pulled into ``prefix`` (from its newest batch's footer)."""
    newest = lake.last(prefix)
    if newest is None:
        return None
    mark = read_cursor(lake, newest, "watermark")
    return date.fromisoformat(mark) if mark else None


def _today_in(zone: str | None) -> date:
    try:
        tz = ZoneInfo(zone) if zone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    return datetime.now(tz).date()


def extract_report(
    client: GoogleAnalyticsClient,
    report: Report,
    lake: Store,
    prefix: str,
    *,
    lookback_days: int = LOOKBACK_DAYS,
    backfill_days: int = BACKFILL_DAYS,
    today: date | None = None,
    page_size: int = PAGE_SIZE,
) -> list[Batch]:
    """Pull the report's new and not-yet-final days into one new batch (see module doc).

    ``today`` overrides the property's current date (tests, replays).
    """
    watermark = lake_watermark(lake, prefix)
    if watermark is not None:
        start = watermark - timedelta(days=max(lookback_days - 1, 0))
    else:
        start = (today or datetime.now(UTC).date()) - timedelta(days=backfill_days)
    latest, zone = client.latest_date(report, start)
    last_complete = (today or _today_in(zone)) - timedelta(days=1)
    end = min(last_complete, latest) if latest else None
    if end is None or end < start:
        if lake.last(prefix) is None:  # first run, no data yet: the schema still lands
            key = write_parquet(lake, new_batch_key(prefix), report.arrow_schema.empty_table())
            return [Batch(key, 0, None, None)]
        return []
    table = pa.concat_tables(client.pages(report, start, end, page_size))
    _check_unique(table, report)
    table = with_cursors(table, watermark=end.isoformat(), date_range=f"{start}/{end}")
    key = write_parquet(lake, new_batch_key(prefix), table)
    return [Batch(key, table.num_rows, start, end)]


def _check_unique(table: pa.Table, report: Report) -> None:
    grain = report.grain
    groups = table.group_by(grain).aggregate([([], "count_all")])
    if groups.num_rows != table.num_rows:
        repeated = groups.filter(pc.greater(groups.column("count_all"), 1))
        raise APIError(
            f"Google Analytics report {report.name}: {table.num_rows - groups.num_rows} "
            f"row(s) repeated across pages (the data changed while paging), e.g. "
            f"{repeated.select(grain).slice(0, 1).to_pylist()}; nothing written, retry later"
        )

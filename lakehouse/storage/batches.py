"""The lake's key layout: immutable batches under time-ordered keys.

``<prefix>/dt=<YYYY-MM-DD>/<YYYYMMDDTHHMMSSffffffZ>.parquet``, where the date and the
timestamp are the moment the batch was written (UTC). Every component has a fixed width, so
key order is write order and a reader holding the last key it saw as a cursor finds every
newer batch by listing after it. One writer per prefix at a time (a Dagster pool) keeps it so.
"""

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_last_issued = datetime.min.replace(tzinfo=UTC)


def new_instant() -> datetime:
    """Now (UTC), later than any instant this process issued before: keys made from it sort
    in write order."""
    global _last_issued
    with _lock:
        now = max(datetime.now(UTC), _last_issued + timedelta(microseconds=1))
        _last_issued = now
    return now


def new_batch_key(prefix: str, suffix: str = ".parquet") -> str:
    """A key for a new batch under ``prefix``, later than any this process issued before."""
    now = new_instant()
    return f"{prefix}/dt={now:%Y-%m-%d}/{now:%Y%m%dT%H%M%S%fZ}{suffix}"

"""Quarantine: bad input leaves the data path with its reason, and nothing is lost."""

import json
from datetime import UTC, datetime

from lakehouse.storage.store import Store

QUARANTINE_PREFIX = "quarantine"


def quarantine(
    store: Store, key: str, reason: str, *, source_path: str | None = None, **context: str
) -> str:
    """Move ``key`` to ``quarantine/<key>`` with ``<key>.reason.json`` beside it; never over an
    earlier one (``<key>~1``, ``~2``, ...). ``source_path``: the backend path to move instead,
    for a thing whose own name is no valid key (``key`` is then the name it is kept under)."""
    target, n = f"{QUARANTINE_PREFIX}/{key}", 0
    while store.exists(target):  # (a note alone is a retry's: written again)
        n += 1
        target = f"{QUARANTINE_PREFIX}/{key}~{n}"
    note = {
        "source": source_path or store.uri(key),
        "reason": reason,
        "quarantined_at": datetime.now(UTC).isoformat(),
        **context,
    }
    store.write_bytes(f"{target}.reason.json", json.dumps(note, indent=2).encode())
    if source_path is None:
        store.move(key, target)
    else:
        store.fs.mv(source_path, store.path(target))
    return target

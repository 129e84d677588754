"""Quarantine: bad input leaves the data path with its reason, and nothing is lost."""

import json
from datetime import UTC, datetime

from lakehouse.storage.store import Store

QUARANTINE_PREFIX = "quarantine"


def quarantine(store: Store, key: str, reason: str, **context: str) -> str:
    """Move ``key`` to ``quarantine/<key>`` with ``<key>.reason.json`` beside it."""
    target = f"{QUARANTINE_PREFIX}/{key}"
    note = {
        "source": store.uri(key),
        "reason": reason,
        "quarantined_at": datetime.now(UTC).isoformat(),
        **context,
    }
    store.write_bytes(f"{target}.reason.json", json.dumps(note, indent=2).encode())
    store.move(key, target)
    return target

"""Quarantine: bad input leaves the data path with its reason, and nothing is lost.

One convention for everything quarantined (a lake file, a landing file, a bus message, a
file's rejected lines): it sits at ``quarantine/<key>`` in the store it was in or was going
to, ``<key>`` being the key it had or would have had, with ``quarantine/<key>.reason.json``
beside it: ``{"reason", "source", "quarantined_at", ...context}`` (context such as
``run_id``, ``message_id``). The reason is written first, so a quarantined thing is never
found without it. docs/quarantine.md describes it for operators.
"""

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from lakehouse.storage.store import Store

QUARANTINE_PREFIX = "quarantine"
REASON_SUFFIX = ".reason.json"


def quarantine_key(key: str) -> str:
    """Where the thing at (or meant for) ``key`` sits once quarantined."""
    return f"{QUARANTINE_PREFIX}/{key}"


def quarantine(
    store: Store, key: str, reason: str, *, source_path: str | None = None, **context: object
) -> str:
    """Move ``key`` to ``quarantine/<key>`` with its reason beside it, never over an earlier one
    (``<key>~1``, ``~2``, ...); returns the new key. ``source_path``: the backend path to move
    instead, for a thing whose own name is no valid key (``key`` is the name it is kept under)."""
    target, n = quarantine_key(key), 0
    while store.exists(target):
        n += 1
        target = f"{quarantine_key(key)}~{n}"
    _write_reason(store, target, reason, source_path or store.uri(key), context)
    if source_path is None:
        store.move(key, target)
    else:
        store.fs.mv(source_path, store.path(target))
    return target


@contextlib.contextmanager
def quarantined_file(
    store: Store, key: str, reason: str, *, source: str, **context: object
) -> Iterator[IO[bytes]]:
    """A new file at ``quarantine/<key>`` (written atomically, like :meth:`Store.atomic_open`)
    with its reason beside it: for bad input that never was a file of ``store`` (a message,
    the rejected lines of a file). ``source`` says where it came from."""
    target = quarantine_key(key)
    _write_reason(store, target, reason, source, context)
    with store.atomic_open(target) as f:
        yield f


def is_reason(key: str) -> bool:
    """Whether ``key`` is the reason note of a quarantined thing (not the thing itself)."""
    return key.endswith(REASON_SUFFIX)


def _write_reason(store: Store, target: str, reason: str, source: str, context: dict) -> None:
    note = {
        "reason": reason,
        "source": source,
        "quarantined_at": datetime.now(UTC).isoformat(),
        **context,
    }
    body = json.dumps(note, indent=2, ensure_ascii=False)
    store.write_bytes(f"{target}{REASON_SUFFIX}", body.encode())

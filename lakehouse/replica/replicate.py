"""Redundant copies of the lake on another store (usually another cloud).

Lake files are immutable and written under time-ordered keys, so replication is a copy of
every key after the newest one the replica already has, in key order: the replica's own
contents are the cursor, and a switchover (replica becomes primary) needs no state moved.
Each copy is streamed once, hashed on the way (SHA-256 of the source bytes) and written
atomically. :func:`reconcile` compares whole listings by checksum, like ``rclone check`` then
``rclone sync``, but lake-aware: it never deletes history.

The replica is a complete copy: data files, their bookkeeping (a machine take's
``_manifest.json``) and the quarantine (bad batches, dead letters, rejected lines, with their
reasons), so either store can take over. Deliberately not replicated (``NOT_REPLICATED``):
the lake writer's own state under ``events/_lake_writer/`` (a dedupe checkpoint and a
heartbeat, rewritten in place): the event files are the truth, and a writer on the new
primary rebuilds its index from them.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lakehouse.sources.events.writer import STATE_PREFIX
from lakehouse.storage.quarantine import quarantine_key
from lakehouse.storage.store import Copied, Store, copy_hashed

NOT_REPLICATED = (f"{STATE_PREFIX}/",)
"""Key prefixes of process state, not lake data (see the module docstring)."""


class ReplicationError(RuntimeError):
    """A copy between stores failed; the message names both stores and the key."""


def copy_object(src: Store, dst: Store, key: str) -> Copied:
    """Stream ``key`` from ``src`` to ``dst`` (atomically), hashing the source bytes."""
    try:
        return copy_hashed(src, key, dst)
    except Exception as exc:
        raise ReplicationError(f"copying {key} from {src.url} to {dst.url} failed: {exc}") from exc


def replicate_new(src: Store, dst: Store, prefix: str, workers: int = 8) -> list[Copied]:
    """Copy every key under ``prefix`` newer than the newest one ``dst`` has.

    Copies run ``workers`` at a time. If one fails, the copies of later keys made alongside it
    are removed again before the error is raised, so ``dst`` always holds an unbroken prefix
    of the lake's key sequence and the retry resumes at the first missing key.
    """
    keys = src.keys(prefix, after=dst.last(prefix, bookkeeping=True), bookkeeping=True)
    copied: list[Copied] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(keys), workers):
            window = keys[start : start + workers]
            futures = [pool.submit(copy_object, src, dst, key) for key in window]
            results = [f.exception() or f.result() for f in futures]
            failed = next((i for i, r in enumerate(results) if isinstance(r, Exception)), None)
            if failed is not None:
                for later in results[failed + 1 :]:
                    if isinstance(later, Copied):
                        dst.delete(later.key)
                raise results[failed]
            copied.extend(results)
    return copied


def replicate_missing(src: Store, dst: Store, prefix: str) -> list[Copied]:
    """Copy every key under ``prefix`` that ``dst`` lacks, whatever its order: for the
    quarantine, whose keys arrive in no particular order (a batch is quarantined when found)."""
    have = set(dst.keys(prefix, bookkeeping=True))
    return [
        copy_object(src, dst, key) for key in src.keys(prefix, bookkeeping=True) if key not in have
    ]


def replicated_keys(store: Store) -> set[str]:
    """Every key a complete replica carries."""
    return {k for k in store.keys(bookkeeping=True) if not k.startswith(NOT_REPLICATED)}


@dataclass
class Drift:
    """What differs between a primary lake and its replica, and what was done about it."""

    missing: list[str] = field(default_factory=list)  # in the primary, not in the replica
    different: list[str] = field(default_factory=list)  # in both, content differs
    extra: list[str] = field(default_factory=list)  # in the replica only
    repaired: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not (self.missing or self.different or self.extra)

    def summary(self) -> str:
        return (
            f"missing {len(self.missing)}, different {len(self.different)}, "
            f"extra {len(self.extra)}, repaired {len(self.repaired)}"
        )


def reconcile(primary: Store, replica: Store, repair: bool = True) -> Drift:
    """Compare every key by SHA-256 and, with ``repair``, make the replica match the primary.

    An object only the replica has is history the primary lost, unless the primary moved it
    to quarantine: the first is restored to the primary, the second is moved to quarantine on
    the replica too. Nothing is deleted.
    """
    ours, theirs = replicated_keys(primary), replicated_keys(replica)
    drift = Drift(
        missing=sorted(ours - theirs),
        different=sorted(k for k in ours & theirs if primary.checksum(k) != replica.checksum(k)),
        extra=sorted(theirs - ours),
    )
    if repair:
        for key in drift.missing + drift.different:
            copy_object(primary, replica, key)
            drift.repaired.append(key)
        for key in drift.extra:
            quarantined = quarantine_key(key)
            if quarantined in ours:
                replica.move(key, quarantined)
            else:
                copy_object(replica, primary, key)
            drift.repaired.append(key)
    return drift

"""The warehouse layout: a projection (or one partition of it) is rewritten whole, as a new version.

A projection ``<subject>/<name>`` lives at ``<subject>/<name>/v<stamp>/data.parquet`` (the
stamp is the write's UTC time, ``YYYYMMDDTHHMMSSffffffZ``); a partition of a partitioned one
at ``<subject>/<name>/dt=<partition>/v<stamp>/data.parquet``.
A version's prefix never changes once written, so a reader that listed one (Athena, through
the Glue table location the write flips to it) reads one whole version, never a mix; older
versions are removed after :data:`GRACE`, so readers in flight finish on theirs.

Parts appended one by one into a folder (``machines/parsed/wave=<W>/<file>.parquet``) are not
versioned: every file there is current. A projection written before versions existed
(``<subject>/<name>.parquet``) is read until its first rewrite.

Every reader of a projection goes through :func:`current_key`, :func:`current_files` or
:func:`read_current`; only :func:`write_version` writes one.
"""

import itertools
import posixpath
import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from lakehouse.storage.batches import new_instant
from lakehouse.storage.parquet import read_parquet, write_parquet
from lakehouse.storage.store import Store

DATA_FILE = "data.parquet"
PARTITION_COLUMN = "dt"
GRACE = timedelta(hours=1)
"""How long a replaced version stays readable (longer than any query over it runs)."""

_STAMP = "%Y%m%dT%H%M%S%fZ"
_VERSION = re.compile(r"^v\d{8}T\d{12}Z$")


def is_version(name: str) -> bool:
    return bool(_VERSION.match(name))


def version_time(name: str) -> datetime:
    return datetime.strptime(name[1:], _STAMP).replace(tzinfo=UTC)


def partition_prefix(relative: str, partition: str) -> str:
    """``finance/x`` + ``2026-03-02`` -> ``finance/x/dt=2026-03-02`` (Hive style)."""
    return f"{relative}/{PARTITION_COLUMN}={partition}"


def write_version(store: Store, prefix: str, table: pa.Table) -> str:
    """Write ``table`` as the new current version under ``prefix``; returns its key."""
    key = f"{prefix}/v{new_instant():{_STAMP}}/{DATA_FILE}"
    return write_parquet(store, key, table)


def current_key(store: Store, prefix: str) -> str | None:
    """The file of the newest version under ``prefix`` (a legacy ``<prefix>.parquet`` if none)."""
    versions = [name for name in store.folders(prefix) if is_version(name)]
    if versions:
        return f"{prefix}/{max(versions)}/{DATA_FILE}"
    legacy = f"{prefix}.parquet"
    return legacy if store.exists(legacy) else None


def read_current(store: Store, prefix: str) -> pa.Table:
    key = current_key(store, prefix)
    if key is None:
        raise FileNotFoundError(f"no projection stored at {store.uri(prefix)}")
    return read_parquet(store, key)


def current_files(store: Store, prefix: str) -> list[str]:
    """Every current file of the projection at ``prefix``: the newest version of each
    (partition) folder, plus unversioned parts; a legacy single file if nothing else."""
    newest: dict[str, str] = {}  # folder holding versions -> newest version name
    plain = []
    for key in store.keys(prefix):
        parts = key.split("/")
        at = next((i for i, p in enumerate(parts) if is_version(p)), None)
        if at is None:
            plain.append(key)
        else:
            folder = "/".join(parts[:at])
            newest[folder] = max(newest.get(folder, ""), parts[at])
    files = plain + [f"{folder}/{version}/{DATA_FILE}" for folder, version in newest.items()]
    if not files and store.exists(f"{prefix}.parquet"):
        files = [f"{prefix}.parquet"]
    return sorted(files)


def remove_old_versions(store: Store, prefix: str, now: datetime | None = None) -> list[str]:
    """Delete the versions under ``prefix`` replaced more than :data:`GRACE` ago (the newest is
    always kept, and each version counts as replaced when its successor was written)."""
    versions = sorted(name for name in store.folders(prefix) if is_version(name))
    cutoff = (now or datetime.now(UTC)) - GRACE
    removed = []
    for old, successor in itertools.pairwise(versions):
        if version_time(successor) < cutoff:
            store.fs.rm(store.path(f"{prefix}/{old}"), recursive=True)
            removed.append(posixpath.join(prefix, old))
    if versions and version_time(versions[0]) < cutoff and store.exists(f"{prefix}.parquet"):
        store.delete(f"{prefix}.parquet")  # the legacy file, replaced by the first version
    return removed

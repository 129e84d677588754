"""The landing folder: which files are complete, claiming them, and moving them into the lake.

Machines write into ``<landing>/machines/`` in place, under names that are not time-ordered.

- **Complete**: a file is complete when its size and modification time are unchanged between
  two sensor ticks at least :data:`SETTLE_SECONDS` apart (on the sensor's clock, so writers'
  clock skew does not matter), or when its modification time is already more than
  ``SETTLE_SECONDS`` (+1 s) in the past at first sight (nobody has written to it since).
  Names that are hidden (``.x``, ``_x``) or end in a temporary suffix (``.tmp``, ``.part``,
  ...) are never taken: a writer that can rename writes ``name.tmp`` and renames it when done.
- **Claimed**: the sensor moves a complete file to ``machines/_claimed/wave=<wave>/<name>``
  (a rename on a filesystem, a server-side copy on object stores) and requests the wave's run.
  So the landing folder only ever holds files not yet taken: listing it costs O(new files),
  and a file is claimed once, whatever happens to the sensor's cursor.
- **Taken**: the wave's run moves its claimed files into the lake, original bytes, under a
  *take* folder named by the moment they were taken: ``machines/raw/dt=<date>/<HHMMSS.ffffff>
  Z_wave=<wave>/<name>``, with each file's SHA-256 and size in the take's ``_manifest.json``.
  Lake keys are arrival-ordered like every other lake prefix, so cursors on them (the
  replica's, a sensor's) see a late file for an old wave; the files of a wave are those of
  its take folders (one listing per arrival day since the wave).
"""

import json
import os
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lakehouse.sources.machines.formats import parse_file_name, wave_bounds, wave_key
from lakehouse.storage.store import Store, copy_hashed

LANDING_PREFIX = "machines"
CLAIMED_PREFIX = f"{LANDING_PREFIX}/_claimed"
LAKE_PREFIX = "machines/raw"
SETTLE_SECONDS = 20.0  # unchanged this long (and across two ticks) = complete
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", ".swp")
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class LandingFile:
    key: str
    size: int
    signature: str  # size + modification time (or etag): changes while the file is written
    modified: float | None = None  # modification time (epoch seconds), where the store has it


def _modified(entry: dict) -> float | None:
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("last_modified")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value) if isinstance(value, int | float) else None


def _signature(entry: dict) -> str:
    for field in ("mtime", "LastModified", "last_modified", "ETag", "etag"):
        if entry.get(field) is not None:
            return f"{entry['size']}:{entry[field]}"
    return str(entry["size"])


def _ls(store: Store, prefix: str) -> list[dict]:
    try:
        return store.fs.ls(store.path(prefix), detail=True, refresh=True)
    except FileNotFoundError:
        return []


def list_landing(store: Store) -> list[LandingFile]:
    """The files directly in ``machines/`` (not yet claimed), temporary names excluded."""
    files = []
    for entry in _ls(store, LANDING_PREFIX):
        name = posixpath.basename(entry["name"].rstrip("/"))
        if entry["type"] != "file" or name.startswith((".", "_")):
            continue
        if name.lower().endswith(TEMPORARY_SUFFIXES):
            continue
        key = f"{LANDING_PREFIX}/{name}"
        files.append(LandingFile(key, entry["size"], _signature(entry), _modified(entry)))
    return sorted(files, key=lambda f: f.key)


def wave_of(store: Store, file: LandingFile) -> str:
    """The file's wave: from the start time in its name, else from its modification time."""
    started = parse_file_name(file.key).started
    if started is None:
        modified = store.fs.modified(store.path(file.key))
        started = modified if modified.tzinfo else modified.replace(tzinfo=UTC)
    return wave_key(started)


def settle(
    files: list[LandingFile], pending: dict[str, list], now: float, settle_seconds: float
) -> tuple[list[LandingFile], dict[str, list]]:
    """Split ``files`` into complete ones and the new pending state ``{key: [signature,
    first seen with it]}``: complete = same signature as a tick >= settle_seconds ago."""
    complete, still = [], {}
    for file in files:
        seen = pending.get(file.key)
        if seen and seen[0] == file.signature and now - seen[1] >= settle_seconds:
            complete.append(file)
        elif file.modified is not None and now - file.modified >= settle_seconds + 1:
            complete.append(file)  # not written to for a whole settle period already
        else:
            since = seen[1] if seen and seen[0] == file.signature else now
            still[file.key] = [file.signature, since]
    return complete, still


def claim(store: Store, key: str, wave: str) -> str:
    target = f"{CLAIMED_PREFIX}/wave={wave}/{posixpath.basename(key)}"
    store.move(key, target)
    return target


def claimed(store: Store) -> dict[str, list[str]]:
    """Claimed files not yet taken into the lake, by wave."""
    waves = {}
    for entry in _ls(store, CLAIMED_PREFIX):
        folder = posixpath.basename(entry["name"].rstrip("/"))
        if entry["type"] != "directory" or not folder.startswith("wave="):
            continue
        names = [
            posixpath.basename(e["name"])
            for e in _ls(store, f"{CLAIMED_PREFIX}/{folder}")
            if e["type"] == "file" and not posixpath.basename(e["name"]).startswith(".")
        ]
        if names:
            waves[folder.removeprefix("wave=")] = sorted(names)
    return waves


# -- landing -> lake --------------------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    key: str  # lake key
    size: int
    sha256: str


def _take_one(landing: Store, lake: Store, src: str, dst: str) -> Taken | None:
    """Move one claimed file into the lake; its checksum computed on the way (or after a
    rename). None if another run took it first."""
    if landing.is_local and lake.is_local:
        source, target = landing.path(src), lake.path(dst)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.rename(source, target)  # same filesystem: no bytes copied
        except FileNotFoundError:
            return None
        except OSError:  # another filesystem: copy, then remove
            copied = copy_hashed(landing, src, lake, dst)
            os.remove(source)
            return Taken(dst, copied.size, copied.sha256)
        return Taken(dst, lake.size(dst), lake.checksum(dst))
    try:
        copied = copy_hashed(landing, src, lake, dst)
    except FileNotFoundError:
        return None
    landing.delete(src)
    return Taken(dst, copied.size, copied.sha256)


def take_folder(taken: datetime, wave: str) -> str:
    """``machines/raw/dt=2026-03-02/101502.123456Z_wave=2026-03-02T08``: sorts by arrival."""
    return f"{LAKE_PREFIX}/dt={taken:%Y-%m-%d}/{taken:%H%M%S.%f}Z_wave={wave}"


def _taken_at(key: str) -> datetime | None:
    """When the take holding ``key`` (a lake key under a take folder) was made."""
    parts = key.split("/")
    try:
        day, clock = parts[2].removeprefix("dt="), parts[3].split("Z_", 1)[0]
        return datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H%M%S.%f").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def _new_take(lake: Store, wave: str) -> str:
    """A take folder sorting after every key already under ``machines/raw`` (even if this
    worker's clock is behind the one that made the newest take)."""
    taken = datetime.now(UTC)
    newest = lake.last(LAKE_PREFIX)
    before = _taken_at(newest) if newest else None
    if before and taken <= before:
        taken = before + timedelta(microseconds=1)
    return take_folder(taken, wave)


def wave_takes(lake: Store, wave: str) -> list[str]:
    """The take folders of ``wave``, oldest first: files arrive from the day before the wave
    (a machine's clock may run ahead) on, so one listing per arrival day since then."""
    first = f"dt={wave_bounds(wave)[0] - timedelta(days=1):%Y-%m-%d}"
    suffix = f"Z_wave={wave}"
    return [
        f"{LAKE_PREFIX}/{day}/{take}"
        for day in lake.folders(LAKE_PREFIX)
        if day >= first
        for take in lake.folders(f"{LAKE_PREFIX}/{day}")
        if take.endswith(suffix)
    ]


def raw_files(lake: Store, wave: str) -> list[str]:
    """The lake keys of the wave's files (every take of it), in arrival order."""
    return [key for folder in wave_takes(lake, wave) for key in lake.keys(folder)]


def _take_manifest(lake: Store, folder: str) -> dict[str, dict]:
    """The take's manifest; written now if its run died between moving files and writing it."""
    key = f"{folder}/{MANIFEST}"
    if lake.exists(key):
        return json.loads(lake.read_bytes(key))
    files = [Taken(k, lake.size(k), lake.checksum(k)) for k in lake.keys(folder)]
    return _write_manifest(lake, folder, files)


def _write_manifest(lake: Store, folder: str, taken: list[Taken]) -> dict[str, dict]:
    now = datetime.now(UTC).isoformat()
    manifest = {
        posixpath.basename(t.key): {"sha256": t.sha256, "size": t.size, "taken": now} for t in taken
    }
    if manifest:
        body = json.dumps(manifest, indent=1, sort_keys=True).encode()
        lake.write_bytes(f"{folder}/{MANIFEST}", body)
    return manifest


def read_manifest(lake: Store, wave: str) -> dict[str, dict]:
    """Every file of the wave in the lake (all its takes): name -> SHA-256, size, when taken."""
    manifest = {}
    for folder in wave_takes(lake, wave):
        manifest.update(_take_manifest(lake, folder))
    return manifest


def take_wave(landing: Store, lake: Store, wave: str, workers: int = 4) -> list[Taken]:
    """Move the wave's claimed files into a new take folder of the lake, with their SHA-256 in
    its manifest. A name the wave already has in the lake is not taken again (the lake is
    immutable): the newcomer goes to the landing store's quarantine with the reason.

    Takes of ``machines/raw`` and its copy to the replica hold one pool (``lake:machines/raw``):
    the files of a take, uploaded several at a time, are never listed half-way."""
    from lakehouse.storage.quarantine import quarantine

    names = claimed(landing).get(wave, [])
    if not names:
        return []
    earlier = read_manifest(lake, wave)
    folder, jobs = _new_take(lake, wave), []
    for name in names:
        src = f"{CLAIMED_PREFIX}/wave={wave}/{name}"
        if name in earlier:
            reason = f"wave {wave} already has {name} in the lake (files are never replaced)"
            quarantine(landing, src, reason)
            continue
        jobs.append((src, f"{folder}/{name}"))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        taken = [t for t in pool.map(lambda j: _take_one(landing, lake, *j), jobs) if t]
    _write_manifest(lake, folder, taken)
    return taken

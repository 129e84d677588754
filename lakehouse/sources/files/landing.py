"""A drop's landing folder: which files are complete, claiming them, moving them into the lake.

One :class:`Landing` per file drop (``landing_for(spec)``): writers put files into
``<landing>/<prefix>/`` in place, under names that are not time-ordered. Below, ``machines`` is
the prefix of the machine-log drop and ``machines/raw`` its lake prefix; a wave is the drop's
arrival group (N hours, or a day).

- **Complete**: with a marker suffix declared (``.done``), a file is complete when
  ``<name><suffix>`` exists beside it (the marker is deleted once the file is claimed). Else
  a file is complete when its size and modification time are unchanged between
  two sensor ticks at least :data:`SETTLE_SECONDS` apart (on the sensor's clock, so writers'
  clock skew does not matter), or when its modification time is already more than
  ``SETTLE_SECONDS`` (+1 s) in the past at first sight (nobody has written to it since).
  Names that are hidden (``.x``, ``_x``) or end in a temporary suffix (``.tmp``, ``.part``,
  ...) are never taken: a writer that can rename writes ``name.tmp`` and renames it when done.
- **Refused**: a name no store can hold (a backslash, longer than :data:`MAX_NAME_BYTES`)
  is quarantined at once under an escaped name, with the reason and the name as landed.
- **Claimed**: the sensor moves a complete file to ``machines/_claimed/wave=<wave>/<name>``
  (a rename on a filesystem, a server-side copy on object stores) and requests the wave's run.
  So the landing folder only ever holds files not yet taken: listing it costs O(new files),
  and a file is claimed once, whatever happens to the sensor's cursor. A name already claimed
  and not yet taken is never replaced: the newcomer is quarantined.
- **Taken**: the wave's run copies its claimed files into the lake, original bytes, under a
  *take* folder named by the moment they were taken: ``machines/raw/dt=<date>/<HHMMSS.ffffff>
  Z_wave=<wave>/<name>``, with each file's SHA-256 and size in the take's ``_manifest.json``.
  Lake keys are arrival-ordered like every other lake prefix, so cursors on them (the
  replica's, a sensor's) see a late file for an old wave; the files of a wave are those of
  its take folders (one listing per arrival day since the wave). A lake file is a copy, never
  the landing file itself: a writer still holding the file open cannot change it. On a file
  system the landing file then waits in ``machines/_taken/wave=<wave>/`` for
  :data:`LINGER_SECONDS`: bytes written to it after the take make it a quarantined conflict
  (the lake keeps the file as taken), else it is deleted.
- **Recovery**: a take is repeatable. A claimed file whose name the wave has with the same
  SHA-256 was taken by a run that died before releasing it; with other bytes it is a conflict
  (quarantined: a name is never replaced). A take folder without its manifest (its run died)
  gets one computed from its files, which are whole (atomic writes).
"""

import contextlib
import hashlib
import json
import posixpath
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from lakehouse.sources.files.spec import DropSpec, Grouping
from lakehouse.storage.quarantine import quarantine
from lakehouse.storage.store import Store, UnsafeKeyError, copy_hashed, safe_key

LINGER_SECONDS = 3600.0  # a taken file's landing copy is watched this long for late writes
# Longest name taken (UTF-8 bytes): with the suffixes the platform adds (``.parquet``,
# ``.reason.json``, ``~N``) it stays within every store's 255-byte name limit.
MAX_NAME_BYTES = 200
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
    for name in ("mtime", "LastModified", "last_modified", "ETag", "etag"):
        if entry.get(name) is not None:
            return f"{entry['size']}:{entry[name]}"
    return str(entry["size"])


def _ls(store: Store, prefix: str) -> list[dict]:
    try:
        return store.fs.ls(store.path(prefix), detail=True, refresh=True)
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class Refused:
    path: str  # the backend path (its name is no valid key)
    name: str
    reason: str


def _refusal(name: str) -> str | None:
    """Why no store can hold ``name`` (None if they all can)."""
    try:
        safe_key(name)
    except UnsafeKeyError:
        return "the name holds a character no store key may hold ('\\' or NUL)"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes ({len(name.encode())})"
    return None


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


# -- landing -> lake --------------------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    key: str  # lake key
    size: int
    sha256: str


def taken_at(key: str) -> datetime | None:
    """When the take holding ``key`` (a lake key under a take folder) was made."""
    parts = key.split("/")
    try:
        day, clock = parts[-3].removeprefix("dt="), parts[-2].split("Z_", 1)[0]
        return datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H%M%S.%f").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def _take_manifest(lake: Store, folder: str, repair: bool) -> dict[str, dict]:
    """The take's manifest; if its run died between copying files and writing it, computed
    from its files (whole: atomic writes) and written (``repair``), else empty."""
    key = f"{folder}/{MANIFEST}"
    if lake.exists(key):
        return json.loads(lake.read_bytes(key))
    if not repair:
        return {}
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


@dataclass(frozen=True)
class Landing:
    """The landing of one drop: its folder, its lake prefix, how files are grouped and when
    they are complete (``landing_for`` makes it from a :class:`DropSpec`)."""

    prefix: str  # landing folder: files arrive in <landing>/<prefix>/
    lake_prefix: str  # take folders: <lake>/<lake_prefix>/dt=<date>/<time>Z_wave=<wave>/
    grouping: Grouping = field(default_factory=Grouping)
    spec: DropSpec | None = None  # the file's time from its name (else its modification time)
    settle_seconds: float = SETTLE_SECONDS
    marker_suffix: str | None = None

    @property
    def claimed_prefix(self) -> str:
        return f"{self.prefix}/_claimed"

    @property
    def taken_prefix(self) -> str:
        return f"{self.prefix}/_taken"

    def list_landing(self, store: Store) -> tuple[list[LandingFile], list[Refused]]:
        """The files directly in the landing folder (not yet claimed), temporary names and
        markers excluded, and the names to refuse."""
        files, refused = [], []
        for entry in _ls(store, self.prefix):
            name = posixpath.basename(entry["name"].rstrip("/"))
            if entry["type"] != "file" or name.startswith((".", "_")):
                continue
            if name.lower().endswith(TEMPORARY_SUFFIXES):
                continue
            if self.marker_suffix and name.endswith(self.marker_suffix):
                continue
            if reason := _refusal(name):
                refused.append(Refused(entry["name"], name, reason))
                continue
            key = f"{self.prefix}/{name}"
            files.append(LandingFile(key, entry["size"], _signature(entry), _modified(entry)))
        return sorted(files, key=lambda f: f.key), refused

    def refuse(self, store: Store, file: Refused) -> str:
        """Quarantine a refused file under an escaped, shortened name; the note keeps the name."""
        kept = quote(file.name, safe=" !$&'()+,;=@[]^`{}~-._")
        if len(kept.encode()) > MAX_NAME_BYTES:
            digest = hashlib.sha256(file.name.encode()).hexdigest()[:16]
            kept = f"{kept[:100]}~{digest}"
        return quarantine(
            store, f"{self.prefix}/{kept}", file.reason, source_path=file.path, name=file.name
        )

    def wave_of(self, store: Store, file: LandingFile) -> str:
        """The file's wave: from the start time in its name, else from its modification time."""
        started = self.spec.started(file.key) if self.spec else None
        if started is None:
            modified = store.fs.modified(store.path(file.key))
            started = modified if modified.tzinfo else modified.replace(tzinfo=UTC)
        return self.grouping.key(started)

    def complete(
        self, store: Store, files: list[LandingFile], pending: dict[str, list], now: float
    ) -> tuple[list[LandingFile], dict[str, list]]:
        """The complete files (by marker, else :func:`settle`) and the new pending state."""
        if not self.marker_suffix:
            return settle(files, pending, now, self.settle_seconds)
        done = [f for f in files if store.exists(f.key + self.marker_suffix)]
        waiting = {f.key: [f.signature, now] for f in files if f not in done}
        return done, {k: pending.get(k, v) for k, v in waiting.items()}

    def claim(self, store: Store, key: str, wave: str) -> str | None:
        """Move ``key`` to the wave's claims; None (the file quarantined) if the name is claimed
        already and not yet taken: a file is never replaced."""
        target = f"{self.claimed_prefix}/wave={wave}/{posixpath.basename(key)}"
        if store.exists(target):
            reason = f"wave {wave} has {posixpath.basename(key)} claimed already, not yet taken"
            quarantine(store, key, f"{reason} (files are never replaced)")
            return None
        store.move(key, target)
        if self.marker_suffix and store.exists(key + self.marker_suffix):
            store.delete(key + self.marker_suffix)
        return target

    def claimed(self, store: Store) -> dict[str, list[str]]:
        """Claimed files not yet taken into the lake, by wave."""
        waves = {}
        for entry in _ls(store, self.claimed_prefix):
            folder = posixpath.basename(entry["name"].rstrip("/"))
            if entry["type"] != "directory" or not folder.startswith("wave="):
                continue
            names = [
                posixpath.basename(e["name"])
                for e in _ls(store, f"{self.claimed_prefix}/{folder}")
                if e["type"] == "file" and not posixpath.basename(e["name"]).startswith(".")
            ]
            if names:
                waves[folder.removeprefix("wave=")] = sorted(names)
        return waves

    def _take_one(self, landing: Store, lake: Store, src: str, dst: str, wave: str) -> Taken | None:
        """Copy one claimed file into the lake, its checksum computed on the way, then release
        it. None if another run took it first."""
        try:
            copied = copy_hashed(landing, src, lake, dst)
        except FileNotFoundError:
            return None
        self._release(landing, src, wave)
        return Taken(dst, copied.size, copied.sha256)

    def _release(self, landing: Store, src: str, wave: str) -> None:
        """A taken file leaves ``_claimed``: deleted from an object store; on a file system kept
        in ``_taken`` (a writer may hold it open) until :func:`sweep_taken` is done with it."""
        if landing.is_local:
            landing.move(src, f"{self.taken_prefix}/wave={wave}/{posixpath.basename(src)}")
        else:
            landing.delete(src)

    def sweep_taken(self, landing: Store, lake: Store, now: float | None = None) -> dict[str, str]:
        """Check the files in ``_taken`` against the wave's manifest: grown or rewritten since the
        take = quarantined as a conflict (the lake keeps the file as taken); unchanged for
        ``LINGER_SECONDS`` = deleted. Returns the quarantined keys with their reasons."""
        now = time.time() if now is None else now
        conflicts = {}
        for folder in _ls(landing, self.taken_prefix):
            wave = posixpath.basename(folder["name"].rstrip("/")).removeprefix("wave=")
            manifest = self.read_manifest(lake, wave, repair=False)
            for entry in _ls(landing, f"{self.taken_prefix}/wave={wave}"):
                name = posixpath.basename(entry["name"])
                key, taken = f"{self.taken_prefix}/wave={wave}/{name}", manifest.get(name)
                if entry["type"] != "file" or taken is None:
                    continue  # its take has not written its manifest yet
                at, modified = datetime.fromisoformat(taken["taken"]).timestamp(), _modified(entry)
                if entry["size"] != taken["size"] or (modified or 0) > at + 1:
                    reason = (
                        f"written after it was taken into the lake at {taken['taken']} "
                        f"({taken['size']} bytes, now {entry['size']}): the lake keeps the file "
                        "as taken, this is the file as written since"
                    )
                    quarantine(landing, key, reason)
                    conflicts[key] = reason
                elif now - max(modified or 0, at) > LINGER_SECONDS:
                    landing.delete(key)
            with contextlib.suppress(OSError):  # the wave's folder, once empty
                landing.fs.rmdir(folder["name"])
        return conflicts

    def take_folder(self, taken: datetime, wave: str) -> str:
        """``machines/raw/dt=2026-03-02/101502.123456Z_wave=2026-03-02T08``: sorts by arrival."""
        return f"{self.lake_prefix}/dt={taken:%Y-%m-%d}/{taken:%H%M%S.%f}Z_wave={wave}"

    def _new_take(self, lake: Store, wave: str) -> str:
        """A take folder sorting after every key already under the lake prefix (even if this
        worker's clock is behind the one that made the newest take)."""
        taken = datetime.now(UTC)
        newest = lake.last(self.lake_prefix)
        before = taken_at(newest) if newest else None
        if before and taken <= before:
            taken = before + timedelta(microseconds=1)
        return self.take_folder(taken, wave)

    def wave_takes(self, lake: Store, wave: str) -> list[str]:
        """The take folders of ``wave``, oldest first: files arrive from the day before the wave
        (a machine's clock may run ahead) on, so one listing per arrival day since then."""
        first = f"dt={self.grouping.bounds(wave)[0] - timedelta(days=1):%Y-%m-%d}"
        suffix = f"Z_wave={wave}"
        return [
            f"{self.lake_prefix}/{day}/{take}"
            for day in lake.folders(self.lake_prefix)
            if day >= first
            for take in lake.folders(f"{self.lake_prefix}/{day}")
            if take.endswith(suffix)
        ]

    def raw_files(self, lake: Store, wave: str) -> list[str]:
        """The lake keys of the wave's files (every take of it), in arrival order."""
        return [key for folder in self.wave_takes(lake, wave) for key in lake.keys(folder)]

    def read_manifest(self, lake: Store, wave: str, repair: bool = True) -> dict[str, dict]:
        """Every file of the wave in the lake (all its takes): name -> SHA-256, size, when taken."""
        manifest = {}
        for folder in self.wave_takes(lake, wave):
            manifest.update(_take_manifest(lake, folder, repair))
        return manifest

    def take_wave(self, landing: Store, lake: Store, wave: str, workers: int = 4) -> list[Taken]:
        """Copy the wave's claimed files into a new take folder of the lake, with their SHA-256 in
        its manifest. A name the wave already has in the lake is not taken again (the lake is
        immutable): with the same bytes it was taken by a run that died before releasing it (now
        released), with other bytes the newcomer goes to the landing store's quarantine.

        Takes of ``<name>/raw`` and its copy to the replica hold one pool (``lake:<name>/raw``):
        the files of a take, uploaded several at a time, are never listed half-way."""
        names, started, earlier = self.claimed(landing).get(wave, []), time.time(), {}
        for folder in self.wave_takes(lake, wave):
            # One run per wave at a time: temporaries are a killed run's half-written copies.
            lake.remove_temporaries(folder, older_than=started)
            earlier.update(_take_manifest(lake, folder, repair=True))
        if not names:
            return []
        folder, jobs = self._new_take(lake, wave), []
        for name in names:
            src = f"{self.claimed_prefix}/wave={wave}/{name}"
            if name in earlier:
                if landing.checksum(src) == earlier[name]["sha256"]:
                    # taken by a run that died before releasing it
                    self._release(landing, src, wave)
                    continue
                reason = f"wave {wave} already has {name} in the lake (files are never replaced)"
                quarantine(landing, src, reason)
                continue
            jobs.append((src, f"{folder}/{name}"))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            taken = [
                t for t in pool.map(lambda j: self._take_one(landing, lake, *j, wave), jobs) if t
            ]
        _write_manifest(lake, folder, taken)
        return taken


def landing_for(spec: DropSpec) -> Landing:
    """The landing of a declared drop: ``<landing>/<prefix>/`` -> ``<lake>/<name>/raw``."""
    return Landing(
        prefix=spec.prefix,
        lake_prefix=f"{spec.name}/raw",
        grouping=spec.grouping,
        spec=spec,
        settle_seconds=spec.settle_seconds,
        marker_suffix=spec.marker_suffix,
    )

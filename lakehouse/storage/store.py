"""One object-store API over every backend: local files, S3, Azure Blob.

A :class:`Store` is a root URL plus relative, ``/``-separated keys. It offers what the lake
needs and nothing more: atomic writes, reads, listing *after a cursor* (so a sensor's tick
costs O(new files), not O(all files)), moves, copies and content checksums. Backends are
fsspec filesystems chosen by the URL's scheme (``file``, ``s3``, ``az``), configured by
the clouds' standard environment variables.
"""

import hashlib
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import IO

import fsspec
from fsspec.implementations.local import LocalFileSystem

_CHUNK = 8 * 1024 * 1024
TEMPORARY_PREFIX = ".tmp-"  # an atomic write in progress (or left by a killed process)


class StoreUnavailable(RuntimeError):
    """A store cannot be used: missing bucket or container, bad credentials, no endpoint."""


_ACCESS_DENIED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Authoriz")
_CREDENTIALS = {
    "s3": "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL off AWS)",
    "az": "AZURE_STORAGE_CONNECTION_STRING",
}


class UnsafeKeyError(ValueError):
    """A key that could escape the store's root or is not a plain relative path."""


def safe_key(key: str) -> str:
    """Return ``key`` normalised, refusing anything that could escape the store's root."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise UnsafeKeyError(f"unsafe store key {key!r}: keys are relative, '/'-separated paths")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeKeyError(f"unsafe store key {key!r}: empty, '.' or '..' segment")
    return key


def _is_hidden(name: str, bookkeeping: bool = False) -> bool:
    """Temporary and bookkeeping objects (``.tmp-*``, ``_manifest.json``) are not data;
    with ``bookkeeping`` only temporaries are hidden (what a complete copy must carry)."""
    return name.startswith(".") if bookkeeping else name.startswith((".", "_"))


class Store:
    """A root URL (``/abs/path``, ``file://``, ``s3://bucket/prefix``, ``az://container/prefix``)."""

    def __init__(self, url: str, **storage_options):
        self.url = url.rstrip("/")
        self._storage_options = storage_options

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @cached_property
    def _fs_and_root(self) -> tuple[fsspec.AbstractFileSystem, str]:
        options = dict(self._storage_options)
        if "://" in self.url and not self.url.startswith("file://"):
            # Object stores change under us (other writers, other processes): a cached
            # listing would hide new files from a long-running sensor.
            options.setdefault("use_listings_cache", False)
        fs, root = fsspec.core.url_to_fs(self.url, **options)
        return fs, root.rstrip("/")

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs_and_root[0]

    @property
    def root(self) -> str:
        return self._fs_and_root[1]

    @property
    def _protocols(self) -> set[str]:
        protocol = self.fs.protocol
        return {protocol} if isinstance(protocol, str) else set(protocol)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def verify(self, name: str = "store") -> None:
        """Fail fast, with one line naming the store and what to set, if it can't be used.

        A local store's folder is created; a bucket or container must exist already.
        """
        setting = f"LAKEHOUSE_{name.upper()}_URL"
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)
            return
        scheme = self.url.split("://", 1)[0]
        container = self.root.split("/", 1)[0]
        try:
            self.fs.ls(container, refresh=True)
        except FileNotFoundError:
            problem = (
                f"bucket or container {container!r} does not exist: create it or set {setting}"
            )
        except Exception as exc:  # every backend raises its own types
            text = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if isinstance(exc, PermissionError) or any(m in text for m in _ACCESS_DENIED):
                hint = _CREDENTIALS.get(scheme, "the credentials")
                problem = f"access denied ({text}); check {hint}"
            else:
                problem = f"cannot reach it ({text}); check the endpoint and network"
        else:
            return
        raise StoreUnavailable(f"{name} store {self.url}: {problem}")

    def path(self, key: str) -> str:
        """The backend path of ``key`` (what fsspec and DuckDB's registered filesystem take)."""
        return f"{self.root}/{safe_key(key)}"

    def uri(self, key: str) -> str:
        """A full URL of ``key``, for people and metadata."""
        return f"{self.url}/{safe_key(key)}"

    def _key_of(self, path: str) -> str:
        return path.rstrip("/")[len(self.root) + 1 :]

    # -- reading -----------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        return self.fs.open(self.path(key), mode)

    def size(self, key: str) -> int:
        return self.fs.size(self.path(key))

    def checksum(self, key: str) -> str:
        """SHA-256 of the object's content, streamed (the same on every backend)."""
        with self.open(key) as f:
            return _stream(f)[1]

    # -- writing -----------------------------------------------------------------------------

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write ``data`` at ``key`` atomically; returns the key."""
        with self.atomic_open(key) as f:
            f.write(data)
        return key

    def atomic_open(self, key: str) -> "_AtomicWriter":
        """A binary file that appears at ``key`` whole on close, or not at all on error.

        Object stores commit an upload atomically already; on a filesystem the data goes to a
        hidden temporary file beside the target, renamed into place once complete.
        """
        return _AtomicWriter(self, safe_key(key))

    def move(self, key: str, dest_key: str) -> None:
        if self.is_local:
            self.fs.makedirs(posixpath.dirname(self.path(dest_key)), exist_ok=True)
        self.fs.mv(self.path(key), self.path(dest_key))

    def delete(self, key: str) -> None:
        self.fs.rm_file(self.path(key))

    def remove_temporaries(self, prefix: str, older_than: float) -> int:
        """Delete the atomic writes under ``prefix`` (one level) last written before
        ``older_than`` (epoch seconds): left by a process killed mid-write. Returns how many."""
        if not self.is_local:
            return 0  # object stores commit uploads whole: nothing is left behind
        removed = 0
        try:
            entries = self.fs.ls(self.path(prefix), detail=True)
        except FileNotFoundError:
            return 0
        for entry in entries:
            name = posixpath.basename(entry["name"])
            if name.startswith(TEMPORARY_PREFIX) and entry["mtime"] < older_than:
                self.fs.rm_file(entry["name"])
                removed += 1
        return removed

    # -- listing -----------------------------------------------------------------------------

    def keys(
        self,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = None,
        bookkeeping: bool = False,
    ) -> list[str]:
        """Keys under ``prefix`` (all keys for ``""``), in order, strictly after the key ``after``;
        with ``bookkeeping``, ``_``-named objects (manifests, state) too.

        Keys compare segment by segment. Subtrees wholly at or before the cursor are never
        listed, so on time-ordered keys (``dt=YYYY-MM-DD/<timestamp>.parquet``) the cost is
        O(new keys + one listing per level), not O(all keys).
        """
        keys = []
        prefix = safe_key(prefix) if prefix else ""
        if self._protocols & {"s3", "s3a"}:
            found = self._s3_keys(prefix, after, bookkeeping)
        else:
            found = self._walk(prefix, tuple(after.split("/")) if after else None, bookkeeping)
        for key in found:
            keys.append(key)
            if limit is not None and len(keys) >= limit:
                break
        return keys

    def last(self, prefix: str, bookkeeping: bool = False) -> str | None:
        """The greatest key under ``prefix`` (the newest, on time-ordered keys)."""
        path = self.path(prefix)
        while True:
            entries = self._children(path, bookkeeping)
            if not entries:
                return None
            name, is_dir = max(entries)
            path = f"{path}/{name}"
            if not is_dir:
                return self._key_of(path)

    def folders(self, prefix: str) -> list[str]:
        """The names of the folders directly under ``prefix``, in order (one listing)."""
        return sorted(name for name, is_dir in self._children(self.path(prefix)) if is_dir)

    def _children(self, path: str, bookkeeping: bool = False) -> list[tuple[str, bool]]:
        try:
            entries = self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        children = []
        for entry in entries:
            name = posixpath.basename(entry["name"].rstrip("/"))
            if not _is_hidden(name, bookkeeping):
                children.append((name, entry["type"] == "directory"))
        return children

    def _s3_keys(self, prefix: str, after: str | None, bookkeeping: bool) -> Iterator[str]:
        """S3 lists from a key with ``StartAfter``: one request per 1,000 new keys."""
        bucket, _, root = self.root.partition("/")
        base = f"{root}/" if root else ""
        request = {"Bucket": bucket, "Prefix": base + (f"{prefix}/" if prefix else "")}
        if after:
            request["StartAfter"] = base + after
        while True:
            page = self.fs.call_s3("list_objects_v2", **request)
            for item in page.get("Contents", []):
                key = item["Key"][len(base) :]
                if not any(_is_hidden(part, bookkeeping) for part in key.split("/")):
                    yield key
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    def _walk(self, prefix: str, after: tuple[str, ...] | None, bookkeeping: bool) -> Iterator[str]:
        path = self.path(prefix) if prefix else self.root
        for name, is_dir in sorted(self._children(path, bookkeeping)):
            key = f"{prefix}/{name}" if prefix else name
            parts = tuple(key.split("/"))
            if after is not None:
                if is_dir and parts < after[: len(parts)]:
                    continue  # the whole subtree sorts before the cursor
                if not is_dir and parts <= after:
                    continue
            if is_dir:
                inside = after if after is not None and after[: len(parts)] == parts else None
                yield from self._walk(key, inside, bookkeeping)
            else:
                yield key


@dataclass(frozen=True)
class Copied:
    key: str  # where the bytes went
    size: int
    sha256: str


def copy_hashed(src: Store, src_key: str, dst: Store, dst_key: str | None = None) -> Copied:
    """Stream ``src_key`` of ``src`` to ``dst_key`` (default: the same key) of ``dst``, written
    atomically; the bytes are read once, their size and SHA-256 taken on the way."""
    dst_key = dst_key or src_key
    with src.open(src_key) as reader, dst.atomic_open(dst_key) as writer:
        size, sha256 = _stream(reader, writer)
    return Copied(dst_key, size, sha256)


def _stream(reader: IO[bytes], writer: IO[bytes] | None = None) -> tuple[int, str]:
    """Read ``reader`` to its end in chunks (copied to ``writer``): (size, SHA-256 hex)."""
    digest, size = hashlib.sha256(), 0
    while chunk := reader.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if writer is not None:
            writer.write(chunk)
    return size, digest.hexdigest()


class _AtomicWriter:
    def __init__(self, store: Store, key: str):
        self._store, self._key = store, key
        target = store.path(key)
        if store.is_local:
            store.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            # A fixed-length name: it fits wherever the final name fits (a name near the file
            # system's limit plus a prefix would not).
            name = f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}"
            self._write_path = posixpath.join(posixpath.dirname(target), name)
        else:
            self._write_path = target
        self._target = target

    def __enter__(self) -> IO[bytes]:
        self._file = self._store.fs.open(self._write_path, "wb")
        return self._file

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:  # leave nothing behind
            if self._store.is_local:
                self._file.close()
                self._store.fs.rm_file(self._write_path)
            else:
                self._file.discard()  # abort the multipart upload, where there is one
                self._file.closed = True  # and never commit it on garbage collection
            return
        self._file.close()
        if self._write_path != self._target:
            self._store.fs.mv(self._write_path, self._target)

"""Storage: one object-store API over local files, S3 and Azure Blob, and what builds on it."""

from lakehouse.storage.store import Store, UnsafeKeyError, safe_key

__all__ = ["Store", "UnsafeKeyError", "safe_key"]

"""Pytest plugin: real S3 (moto) and Azure Blob/Queue (Azurite) on loopback.

Registered in conftest.py with ``pytest_plugins = ["lakehouse_tests.emulators"]``.

Session fixtures (started once, on first use; killed at session end, even on failure):

- ``moto_endpoint`` -> ``"http://127.0.0.1:P"``: moto's S3/SQS/Glue server, in this process.
- ``azurite`` -> ``Azurite(blob_endpoint, queue_endpoint, connection_string, account_name,
  account_key)``: Azurite blob + queue subprocesses, data in a session tmp dir.

Function fixtures:

- ``cloud_env`` -> ``CloudEnv``: sets AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID /
  AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION and AZURE_STORAGE_CONNECTION_STRING for the test
  (and clears variables that would redirect them: AWS_PROFILE, AWS_ENDPOINT_URL_S3, ...),
  creates a fresh S3 bucket and Blob container for this test only, and clears the s3fs/adlfs
  instance caches so ``fsspec.filesystem("s3")`` / ``UPath("az://...")`` see this env.
  ``cloud_env.s3_bucket``, ``.az_container``, ``.s3_url`` (``s3://bucket``), ``.az_url``
  (``az://container``), ``.env``; also ``cloud_env["s3_bucket"]``.
- ``moto_control`` -> the session's ``InProcessMoto``: ``.stop()`` makes the S3 endpoint
  unreachable (connection refused; keep-alive connections and requests in flight are cut),
  ``.start()`` brings it back on the same port with its data intact; ``with
  moto_control.down(): ...`` does both around a block. If a test leaves it stopped, it is
  started again after that test. ``.reset()`` wipes all moto state (every test's buckets).

Outside CI a machine without node/npm (or without network for the first ``npm ci``) skips
the Azurite tests with the reason; with ``CI=true`` anything missing fails the test instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lakehouse_dev import emulators as emu

_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Variables that would send clients elsewhere than the emulators.
_CLEARED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_GLUE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_ANON",
)


def _unavailable(exc: Exception) -> None:
    message = f"emulator unavailable: {exc}"
    if _CI:
        pytest.fail(f"CI requires the emulators (CI=true). {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[emu.InProcessMoto]:
    server = emu.InProcessMoto()
    try:
        server.start()
    except emu.EmulatorUnavailable as exc:
        _unavailable(exc)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_endpoint(_moto_server: emu.InProcessMoto) -> str:
    """moto (S3, SQS, Glue) at http://127.0.0.1:P for the whole session."""
    return _moto_server.endpoint


@pytest.fixture
def moto_control(_moto_server: emu.InProcessMoto) -> Iterator[emu.InProcessMoto]:
    """The session's moto server, to take down and bring back (same port, same data)."""
    yield _moto_server
    if not _moto_server.running:
        _moto_server.start()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emu.Azurite]:
    """Azurite blob + queue for the whole session."""
    with contextlib.ExitStack() as stack:
        try:
            endpoints = stack.enter_context(emu.azurite_running(tmp_path_factory.mktemp("azurite")))
        except emu.EmulatorUnavailable as exc:
            _unavailable(exc)
        except emu.EmulatorError as exc:
            pytest.fail(f"Azurite did not start: {exc}", pytrace=False)
        yield endpoints


@dataclass(frozen=True)
class CloudEnv:
    s3_bucket: str
    az_container: str
    s3_endpoint: str
    azurite: emu.Azurite
    env: dict[str, str]

    @property
    def s3_url(self) -> str:
        return f"s3://{self.s3_bucket}"

    @property
    def az_url(self) -> str:
        return f"az://{self.az_container}"

    @property
    def connection_string(self) -> str:
        return self.azurite.connection_string

    def __getitem__(self, name: str):
        return getattr(self, name)


def _clear_fs_caches() -> None:
    import adlfs
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    adlfs.AzureBlobFileSystem.clear_instance_cache()


@pytest.fixture
def cloud_env(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, azurite: emu.Azurite
) -> Iterator[CloudEnv]:
    """Env pointing at the emulators, plus a bucket and a container of this test's own."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        **emu.AWS_ENV,
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:16]
    bucket, container = f"lh-test-{suffix}", f"lh-test-{suffix}"
    emu.create_stores(moto_endpoint, azurite.connection_string, [bucket], [container])
    _clear_fs_caches()
    yield CloudEnv(bucket, container, moto_endpoint, azurite, env)
    _clear_fs_caches()

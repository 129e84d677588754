"""Replication MB/s, Azure Blob -> S3, for a batch of lake files.

A batch of lake-like files (64 x 2 MB of incompressible bytes at scale 1, under
``platform/t/dt=YYYY-MM-DD/<timestamp>.parquet``) is written to an Azurite container, then
copied into a fresh, empty S3 prefix on moto three ways, each timed end to end (listing
included) and checked complete (count, total bytes, SHA-256 of a sample):

- platform: ``replicate_new(Store("az://..."), Store("s3://..."), "platform/t")`` (8 workers);
- rclone: ``rclone sync`` (Debian's rclone; Azure remote from a container SAS URL, since its
  ``use_emulator`` option assumes Azurite on port 10000), default settings (4 transfers), and
  again with ``--transfers 8``;
- SDK loop: azure-storage-blob ``download_blob().readall()`` + boto3 ``put_object``, one file
  after the other.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.common import (
    MB,
    SKIPPED,
    Figure,
    Session,
    emulator_session,
    median,
    progress,
    ratio,
    scaled,
)

FILES = 64
FILE_BYTES = 2 * MB
CONTAINER = "bench-replication"
ROOT = "raw"
PREFIX = "platform/t"
SAMPLE = 4  # files per copy whose SHA-256 is checked (plus the first and the last)
ROUNDS = 5  # each method copies the batch this many times; figures are medians


@dataclass(frozen=True)
class Source:
    sizes: dict[str, int]  # key (relative to ROOT) -> bytes
    sha256: dict[str, str]

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


def ensure_rclone() -> str | None:
    """rclone's path, installing Debian's package when missing and we are root."""
    found = shutil.which("rclone")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        progress(
            "replication: rclone is not installed and cannot be installed here (needs root "
            "and apt-get); install it (`sudo apt-get install -y rclone`) to measure it. "
            "The rclone figures are reported as skipped."
        )
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "rclone"]
    for argv in (install, ["apt-get", "update", "-q"], install):
        progress(f"replication: rclone missing: {' '.join(argv)}")
        try:
            subprocess.run(argv, env=env, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            progress(f"replication: {argv[0]} failed: {exc}")
        found = shutil.which("rclone")
        if found:
            return found
    progress("replication: could not install rclone; the rclone figures are reported as skipped")
    return None


def _generate(session: Session, n: int) -> Source:
    """n files of FILE_BYTES random bytes under ROOT/PREFIX in a new Azurite container."""
    session.create_container(CONTAINER)
    container = session.blob_service().get_container_client(CONTAINER)
    start = datetime(2026, 3, 1, 0, 0, 0, 123456)
    keys = []
    for i in range(n):  # 16 files a day, 90 minutes apart
        ts = start + timedelta(minutes=90 * i, microseconds=i)
        keys.append(f"{PREFIX}/dt={ts:%Y-%m-%d}/{ts:%Y%m%dT%H%M%S%fZ}.parquet")

    def upload(key: str) -> tuple[str, int, str]:
        data = os.urandom(FILE_BYTES)
        container.upload_blob(f"{ROOT}/{key}", data, overwrite=True)
        return key, len(data), hashlib.sha256(data).hexdigest()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(upload, keys))
    return Source({k: s for k, s, _ in results}, {k: h for k, _, h in results})


def _verify(session: Session, bucket: str, root: str, source: Source, how: str) -> None:
    """The copy under s3://bucket/root holds every source key, same sizes, same sample hashes."""
    s3 = session.s3()
    copied: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{root}/"):
        for item in page.get("Contents", []):
            copied[item["Key"][len(root) + 1 :]] = item["Size"]
    if copied != source.sizes:
        missing = sorted(set(source.sizes) - set(copied))[:3]
        extra = sorted(set(copied) - set(source.sizes))[:3]
        raise AssertionError(
            f"{how}: copy incomplete: {len(copied)} objects, {sum(copied.values())} bytes; "
            f"expected {len(source.sizes)}, {source.total_bytes} (missing {missing}, "
            f"extra {extra})"
        )
    keys = sorted(source.sizes)
    sample = {keys[0], keys[-1], *random.Random(0).sample(keys, min(SAMPLE, len(keys)))}
    for key in sorted(sample):
        body = s3.get_object(Bucket=bucket, Key=f"{root}/{key}")["Body"].read()
        if hashlib.sha256(body).hexdigest() != source.sha256[key]:
            raise AssertionError(f"{how}: {key} differs from the source (SHA-256)")


def _empty(session: Session, bucket: str) -> None:
    """Delete a verified copy, so moto holds one batch at a time."""
    s3 = session.s3()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def _timed_copy(session: Session, source: Source, how: str, bucket: str, copy) -> float:
    """Create bucket, run copy(bucket) timed, verify, empty it again; returns MB/s."""
    session.create_bucket(bucket)
    start = time.perf_counter()
    copy(bucket)
    elapsed = time.perf_counter() - start
    _verify(session, bucket, "p", source, how)
    _empty(session, bucket)
    rate = source.total_bytes / MB / elapsed
    progress(f"replication:   {how}: {elapsed:.2f}s = {rate:.1f} MB/s (verified)")
    return rate


def _platform(session: Session, source: Source, bucket: str) -> None:
    from lakehouse.replica.replicate import replicate_new
    from lakehouse.storage.store import Store

    copied = replicate_new(Store(f"az://{CONTAINER}/{ROOT}"), Store(f"s3://{bucket}/p"), PREFIX)
    if len(copied) != len(source.sizes):
        raise AssertionError(f"replicate_new copied {len(copied)} of {len(source.sizes)} keys")


def _rclone_env(session: Session) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    # rclone 1.60's AWS SDK refuses a custom CA bundle with its own HTTP transport
    # ("LoadCustomCABundleError"); moto is plain http, so drop it
    env.pop("AWS_CA_BUNDLE", None)
    sas = session.container_sas(CONTAINER)
    env.update(
        RCLONE_CONFIG="/dev/null",  # remotes from the environment only
        RCLONE_CONFIG_BENCHAZ_TYPE="azureblob",
        RCLONE_CONFIG_BENCHAZ_SAS_URL=f"{session.blob_endpoint}/{CONTAINER}?{sas}",
        RCLONE_CONFIG_BENCHS3_TYPE="s3",
        RCLONE_CONFIG_BENCHS3_PROVIDER="Other",
        RCLONE_CONFIG_BENCHS3_ENDPOINT=session.s3_endpoint,
        RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID="test",
        RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY="test",
        RCLONE_CONFIG_BENCHS3_REGION="us-east-1",
    )
    return env


def _rclone(rclone: str, env: dict[str, str], *options: str):
    def copy(bucket: str) -> None:
        # a container SAS URL: the container is the first path segment of the remote
        argv = [
            rclone,
            "sync",
            f"benchaz:{CONTAINER}/{ROOT}/{PREFIX}",
            f"benchs3:{bucket}/p/{PREFIX}",
            *options,
        ]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )

    return copy


def _sdk_loop(session: Session, bucket: str) -> None:
    container = session.blob_service().get_container_client(CONTAINER)
    s3 = session.s3()
    for blob in container.list_blobs(name_starts_with=f"{ROOT}/{PREFIX}/"):
        data = container.download_blob(blob.name).readall()
        s3.put_object(Bucket=bucket, Key=f"p/{blob.name[len(ROOT) + 1 :]}", Body=data)


def run() -> list[Figure]:
    n = scaled(FILES)
    rclone = ensure_rclone()
    with emulator_session("replication") as session:
        progress(f"replication: writing {n} x {FILE_BYTES // MB} MB files to Azurite")
        source = _generate(session, n)
        methods = {"platform": lambda bucket: _platform(session, source, bucket)}
        if rclone is not None:
            env = _rclone_env(session)
            methods["rclone"] = _rclone(rclone, env)
            methods["rclone_transfers8"] = _rclone(rclone, env, "--transfers", "8")
        methods["sdk_loop"] = lambda bucket: _sdk_loop(session, bucket)
        rates: dict[str, list[float]] = {name: [] for name in methods}
        for round_ in range(1, ROUNDS + 1):  # interleaved, so drift hits every method alike
            progress(f"replication: round {round_}/{ROUNDS}, {source.total_bytes / MB:.0f} MB each")
            for name, copy in methods.items():
                bucket = f"bench-{name.replace('_', '-')}-{round_}"
                rates[name].append(_timed_copy(session, source, name, bucket, copy))
    mb_s: dict[str, float | str] = {name: median(values) for name, values in rates.items()}
    for name in ("rclone", "rclone_transfers8"):
        mb_s.setdefault(name, SKIPPED)
    return [
        ("replication.files", n),
        ("replication.mb", source.total_bytes / MB),
        ("replication.platform_mb_s", mb_s["platform"]),
        ("replication.rclone_mb_s", mb_s["rclone"]),
        ("replication.rclone_transfers8_mb_s", mb_s["rclone_transfers8"]),
        ("replication.sdk_loop_mb_s", mb_s["sdk_loop"]),
        ("replication.platform_vs_rclone", ratio(mb_s["platform"], mb_s["rclone"])),
        ("replication.platform_vs_sdk_loop", ratio(mb_s["platform"], mb_s["sdk_loop"])),
    ]

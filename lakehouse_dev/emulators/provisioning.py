"""Provisioning the emulators: the buckets, containers and queues the profiles name, and the
environment (``emulators.env``) that points the clients at them."""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from urllib.parse import urlsplit

from lakehouse.settings import Settings
from lakehouse_dev.emulators.azurite import azurite_connection_string
from lakehouse_dev.emulators.moto import AWS_ENV

# Profiles whose default buckets/containers are created on the emulators.
STORE_PROFILES = ("multicloud", "aws", "azure")
ENV_PROFILE = "multicloud"


def profile_settings(profile: str, home: Path) -> Settings:
    """A profile's defaults, ignoring any LAKEHOUSE_*_URL overrides in the environment."""
    return Settings.from_env({"LAKEHOUSE_PROFILE": profile, "LAKEHOUSE_HOME": str(home)})


def default_stores(home: Path, profiles=STORE_PROFILES) -> tuple[list[str], list[str]]:
    """(S3 buckets, Azure containers) named by the profiles' default store URLs."""
    buckets: list[str] = []
    containers: list[str] = []
    for profile in profiles:
        s = profile_settings(profile, home)
        for url in (s.lake_url, s.replica_url, s.warehouse_url, s.landing_url):
            parts = urlsplit(url or "")
            target = {"s3": buckets, "az": containers, "abfs": containers}.get(parts.scheme)
            if target is not None and parts.netloc and parts.netloc not in target:
                target.append(parts.netloc)
    return buckets, containers


def default_queues(home: Path, profiles=STORE_PROFILES) -> tuple[list[str], list[str]]:
    """(SQS queues, Azure Storage queues) named by the profiles' default bus URLs."""
    sqs: list[str] = []
    azure: list[str] = []
    for profile in profiles:
        scheme, _, name = profile_settings(profile, home).bus_url.partition("://")
        target = {"sqs": sqs, "azqueue": azure}.get(scheme)
        if target is not None and name not in target:
            target.append(name)
    return sqs, azure


def create_stores(
    s3_endpoint: str,
    connection_string: str,
    buckets: list[str],
    containers: list[str],
    queues: tuple[list[str], list[str]] = ([], []),
) -> None:
    """Create buckets on S3, containers on Blob storage and the (SQS, Azure) queues;
    existing ones are kept."""
    import boto3
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    def aws(service: str):
        return boto3.client(
            service,
            endpoint_url=s3_endpoint,
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        )

    s3 = aws("s3")
    for bucket in buckets:
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for container in containers:
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(container)
    sqs_queues, azure_queues = queues
    if sqs_queues:
        sqs = aws("sqs")
        for queue in sqs_queues:
            sqs.create_queue(QueueName=queue)  # idempotent for the same attributes
    if azure_queues:
        service = QueueServiceClient.from_connection_string(connection_string)
        for queue in azure_queues:
            with contextlib.suppress(ResourceExistsError):
                service.create_queue(queue)


def emulator_env(s3_endpoint: str, blob_endpoint: str, queue_endpoint: str, home: Path) -> dict:
    s = profile_settings(ENV_PROFILE, home)
    env = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        **AWS_ENV,
        "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(blob_endpoint, queue_endpoint),
        "LAKEHOUSE_PROFILE": ENV_PROFILE,
        "LAKEHOUSE_LAKE_URL": s.lake_url,
        "LAKEHOUSE_REPLICA_URL": s.replica_url,
        "LAKEHOUSE_WAREHOUSE_URL": s.warehouse_url,
        "LAKEHOUSE_LANDING_URL": s.landing_url,
        "LAKEHOUSE_BUS_URL": s.bus_url,
    }
    return {k: v for k, v in env.items() if v is not None}


def env_file(home: Path) -> Path:
    return Path(home) / "emulators.env"


def write_env_file(path: Path, env: dict[str, str]) -> None:
    lines = [
        "# lakehouse emulators (moto: S3/SQS/Glue, Azurite: Blob/Queue), written by",
        "# `lakehouse emulators up`; removed by `lakehouse emulators down`. Use:",
        f"#   source {shlex.quote(str(path))}",
        *(f"export {k}={shlex.quote(v)}" for k, v in env.items()),
    ]
    tmp = path.with_suffix(".env.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)

"""The emulators really serve S3/SQS (moto) and Blob/Queue (Azurite) on loopback, and the
clients the lake uses (boto3, azure-storage-*, s3fs, adlfs, UPath) find them from the env alone."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import boto3
import fsspec
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from click.testing import CliRunner
from upath import UPath

from lakehouse.cli import main


def test_s3_put_get_list(cloud_env):
    s3 = boto3.client("s3")  # endpoint and credentials from the env only
    assert s3.meta.endpoint_url == cloud_env.s3_endpoint
    s3.put_object(Bucket=cloud_env.s3_bucket, Key="a/b.txt", Body=b"hello")
    got = s3.get_object(Bucket=cloud_env.s3_bucket, Key="a/b.txt")["Body"].read()
    listed = s3.list_objects_v2(Bucket=cloud_env.s3_bucket, Prefix="a/")["Contents"]
    assert got == b"hello"
    assert [o["Key"] for o in listed] == ["a/b.txt"]


def test_sqs_send_receive(cloud_env):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="ping")
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in messages] == ["ping"]


def test_blob_upload_download_list(cloud_env):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    )
    assert service.url.startswith("http://127.0.0.1:")
    container = service.get_container_client(cloud_env.az_container)
    container.upload_blob("a/b.txt", b"hello")
    assert container.download_blob("a/b.txt").readall() == b"hello"
    assert [b.name for b in container.list_blobs(name_starts_with="a/")] == ["a/b.txt"]


def test_queue_send_receive(cloud_env):
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"], f"q-{uuid.uuid4().hex[:8]}"
    )
    assert queue.url.startswith(cloud_env.azurite.queue_endpoint)
    queue.create_queue()
    queue.send_message("ping")
    assert [m.content for m in queue.receive_messages()] == ["ping"]


def test_fsspec_s3_from_env(cloud_env):
    fs = fsspec.filesystem("s3")  # s3fs -> aiobotocore honours AWS_ENDPOINT_URL
    fs.pipe(f"{cloud_env.s3_bucket}/x/1.bin", b"one")
    (UPath(cloud_env.s3_url) / "x" / "2.bin").write_bytes(b"two")
    assert sorted(fs.ls(f"{cloud_env.s3_bucket}/x", detail=False)) == [
        f"{cloud_env.s3_bucket}/x/1.bin",
        f"{cloud_env.s3_bucket}/x/2.bin",
    ]
    # the same objects, seen by a plain boto3 client: fsspec really wrote to moto
    body = boto3.client("s3").get_object(Bucket=cloud_env.s3_bucket, Key="x/2.bin")["Body"]
    assert body.read() == b"two"


def test_fsspec_az_from_env(cloud_env):
    from azure.storage.blob import ContainerClient

    fs = fsspec.filesystem("az")  # adlfs reads AZURE_STORAGE_CONNECTION_STRING
    fs.pipe(f"{cloud_env.az_container}/x/1.bin", b"one")
    path = UPath(f"{cloud_env.az_url}/x/2.bin")
    path.write_bytes(b"two")
    assert path.read_bytes() == b"two"
    assert sorted(fs.ls(f"{cloud_env.az_container}/x", detail=False)) == [
        f"{cloud_env.az_container}/x/1.bin",
        f"{cloud_env.az_container}/x/2.bin",
    ]
    container = ContainerClient.from_connection_string(
        cloud_env.connection_string, cloud_env.az_container
    )
    assert container.download_blob("x/1.bin").readall() == b"one"


def test_each_test_gets_fresh_stores(cloud_env):
    assert fsspec.filesystem("s3").ls(cloud_env.s3_bucket) == []
    assert fsspec.filesystem("az").ls(cloud_env.az_container) == []
    assert cloud_env["s3_bucket"] == cloud_env.s3_bucket


def test_moto_goes_down_and_comes_back(cloud_env, moto_control):
    s3 = boto3.client(
        "s3", config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
    )
    s3.put_object(Bucket=cloud_env.s3_bucket, Key="k", Body=b"v")
    with moto_control.down(), pytest.raises(EndpointConnectionError):
        s3.get_object(Bucket=cloud_env.s3_bucket, Key="k")
    # same endpoint, same data
    assert moto_control.endpoint == cloud_env.s3_endpoint
    assert s3.get_object(Bucket=cloud_env.s3_bucket, Key="k")["Body"].read() == b"v"
    moto_control.stop()  # left stopped: the fixture brings it back for the next test


def test_moto_is_back_after_a_test_left_it_down(cloud_env):
    boto3.client("s3").head_bucket(Bucket=cloud_env.s3_bucket)


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_cli_up_down_round_trip(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    runner = CliRunner()

    up = runner.invoke(main, ["emulators", "up"])
    assert up.exit_code == 0, up.output
    env_file = home / "emulators.env"
    pids = json.loads((home / "emulators" / "pids.json").read_text())["processes"]
    try:
        assert set(pids) == {"moto", "azurite-blob", "azurite-queue"}
        script = f"source {env_file} && echo $AWS_ENDPOINT_URL && echo $LAKEHOUSE_REPLICA_URL"
        sourced = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, check=True, env={}
        )
        s3_endpoint, replica = sourced.stdout.split()
        assert s3_endpoint == f"http://127.0.0.1:{pids['moto']['port']}"
        assert replica == "s3://lakehouse-lake-replica/raw"

        # the profiles' default stores exist
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert buckets == {
            "lakehouse-lake-replica",
            "lakehouse-lake",
            "lakehouse-warehouse",
            "lakehouse-landing",
        }
        from azure.storage.blob import BlobServiceClient

        sourced = subprocess.run(
            ["bash", "-c", f"source {env_file} && echo $AZURE_STORAGE_CONNECTION_STRING"],
            capture_output=True,
            text=True,
            check=True,
            env={},
        )
        blobs = BlobServiceClient.from_connection_string(sourced.stdout.strip())
        assert {c.name for c in blobs.list_containers()} == {"lake", "warehouse", "landing"}

        again = runner.invoke(main, ["emulators", "up"])
        assert again.exit_code == 0, again.output
        assert "already running" in again.output
        assert json.loads((home / "emulators" / "pids.json").read_text())["processes"] == pids
    finally:
        down = runner.invoke(main, ["emulators", "down"])
    assert down.exit_code == 0, down.output
    assert not env_file.exists()
    assert not (home / "emulators" / "pids.json").exists()
    for info in pids.values():
        assert _group_members(info["pid"]) == []

    down_again = runner.invoke(main, ["emulators", "down"])
    assert down_again.exit_code == 0
    assert "not running" in down_again.output

"""`lakehouse doctor` checks Glue when it is on: reachable passes, unreachable is one line."""

import socket

import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse_dev.simulate.platform import simulate


@pytest.fixture
def aws_profile(cloud_env, settings, monkeypatch):
    simulate(settings.platform_db_url, days=1)
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "aws")
    for store in ("lake", "warehouse", "landing"):
        monkeypatch.setenv(f"LAKEHOUSE_{store.upper()}_URL", f"{cloud_env.s3_url}/{store}")
    monkeypatch.setenv("LAKEHOUSE_BUS_URL", f"local://{settings.home}/bus")
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", settings.platform_db_url)
    return cloud_env


def test_doctor_checks_glue_on_the_aws_profile(aws_profile):
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    (line,) = [s for s in result.output.splitlines() if s.strip().startswith("glue")]
    assert aws_profile.s3_endpoint in line and "database(s) named lakehouse_*" in line


def test_unreachable_glue_is_one_line_naming_the_variables(aws_profile, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAGLUEDOCTORKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "Gl8e-S3cr3t-never-shown")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    errors = [s for s in result.output.splitlines() if s.startswith("Error:")]
    assert errors == [
        "Error: glue: cannot reach it: check AWS_ENDPOINT_URL_GLUE / AWS_ENDPOINT_URL"
    ]
    assert "AKIAGLUEDOCTORKEY" not in result.output
    assert "Gl8e-S3cr3t" not in result.output

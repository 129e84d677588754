"""`lakehouse doctor`: every configured store and source, one line per problem, non-zero exit."""

import socket

import pytest
from click.testing import CliRunner

from lakehouse.cli import main
from lakehouse_dev.fake_apis import MarketingData, serve
from lakehouse_dev.simulate.platform import simulate

API_ENV = (
    "GOOGLE_ANALYTICS_PROPERTY_ID",
    "GOOGLE_ANALYTICS_TOKEN",
    "GOOGLE_ANALYTICS_BASE_URL",
    "SALESFORCE_INSTANCE_URL",
    "SALESFORCE_ACCESS_TOKEN",
)


@pytest.fixture
def home(settings, monkeypatch):
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)
    simulate(settings.platform_db_url, days=1)
    return settings


def _free_port() -> int:
    with socket.socket() as s:  # free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _doctor():
    return CliRunner().invoke(main, ["doctor"])


def test_healthy_local_profile_passes(home):
    result = _doctor()
    assert result.exit_code == 0, result.output
    assert "platform" in result.output and "bus" in result.output
    assert result.output.splitlines()[-1] == "doctor: every store and source is reachable"


def test_unreachable_platform_database_fails_in_one_line(home, monkeypatch):
    port = _free_port()
    url = f"postgresql+psycopg://lake:Sup3rS3cret@127.0.0.1:{port}/platform"
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", url)
    result = _doctor()
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and error[0].startswith("Error: platform: ")
    assert f"127.0.0.1:{port}" in error[0]
    assert "Sup3rS3cret" not in result.output


def test_missing_platform_database_names_the_file(home, monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", f"sqlite:///{tmp_path / 'absent.sqlite'}")
    result = _doctor()
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("Error: platform: ")
    assert "absent.sqlite" in result.output and not (tmp_path / "absent.sqlite").exists()
    assert "source platform" not in result.output  # named once, by the report


def test_a_file_that_is_not_a_database_is_one_line_not_a_traceback(home, monkeypatch, tmp_path):
    garbage = tmp_path / "notes.sqlite"
    garbage.write_text("minutes of the meeting, not a database\n" * 200)
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", f"sqlite:///{garbage}")
    result = _doctor()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines()[-1] == (
        f"Error: platform: cannot read {garbage} (file is not a database)"
    )


def test_configured_apis_are_checked(home, monkeypatch):
    with serve(MarketingData(salesforce={"Lead": [], "Account": [], "Opportunity": []})) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        healthy = _doctor()
        assert healthy.exit_code == 0, healthy.output
        assert "google_analytics" in healthy.output and "salesforce" in healthy.output

        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "expired-token")
        refused = _doctor()
        assert refused.exit_code == 1
        assert refused.output.splitlines()[-1].startswith("Error: salesforce: ")
        assert "expired-token" not in refused.output

    monkeypatch.delenv("SALESFORCE_INSTANCE_URL")
    monkeypatch.delenv("GOOGLE_ANALYTICS_TOKEN")
    untokened = _doctor()
    assert untokened.exit_code == 1
    assert untokened.output.splitlines()[-1] == (
        f"Error: google_analytics: Google Analytics is configured (property "
        f"{fake.google_analytics.property_id}) but GOOGLE_ANALYTICS_TOKEN is not set"
    )


def test_api_without_its_property_is_not_checked(home):
    result = _doctor()
    assert result.exit_code == 0, result.output
    assert "google_analytics" not in result.output and "salesforce" not in result.output


def test_tick_says_why_the_platform_cannot_be_extracted(settings, monkeypatch):
    port = _free_port()
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", f"postgresql+psycopg://lake@127.0.0.1:{port}/p")
    result = CliRunner().invoke(main, ["tick"])
    assert result.exit_code == 1, result.output  # known stranded work is never a quiet exit 0
    [line] = [s for s in result.output.splitlines() if "source platform" in s]
    assert f"cannot read postgresql+psycopg://lake@127.0.0.1:{port}/p (" in line

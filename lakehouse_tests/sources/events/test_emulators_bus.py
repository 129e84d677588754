"""`make emulators` includes the bus: the profiles' default queues exist on moto (SQS) and
Azurite (queue service), and emulators.env names the multicloud profile's bus."""

import os

import pytest

from lakehouse.settings import Settings
from lakehouse.sources.events.buses import bus_from_url
from lakehouse_dev import emulators as emu

_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_emulators_create_the_default_queues(tmp_path, monkeypatch):
    home = tmp_path / "home"
    try:
        ctx = emu.running(home)
        emulators = ctx.__enter__()
    except emu.EmulatorUnavailable as exc:
        if _CI:
            pytest.fail(f"CI requires the emulators: {exc}")
        pytest.skip(str(exc))
    try:
        env_text = emu.env_file(home).read_text()
        assert "export LAKEHOUSE_BUS_URL=azqueue://lakehouse-events" in env_text
        for name, value in emulators.env.items():
            monkeypatch.setenv(name, value)
        assert Settings.from_env().bus_url == "azqueue://lakehouse-events"
        monkeypatch.setenv("AWS_ENDPOINT_URL", emulators.s3_endpoint)
        for url in ("azqueue://lakehouse-events", "sqs://lakehouse-events"):
            with bus_from_url(url) as bus:
                bus.verify()  # exists
                bus.publish([b"hello"])
                (message,) = bus.receive(1, visibility_timeout=30, wait_seconds=5)
                assert message.body == b"hello" and bus.ack([message]) == 1
    finally:
        ctx.__exit__(None, None, None)


def test_profiles_default_bus_urls(tmp_path):
    home = tmp_path.resolve()
    urls = {
        profile: Settings.from_env(
            {"LAKEHOUSE_PROFILE": profile, "LAKEHOUSE_HOME": str(home)}
        ).bus_url
        for profile in ("local", "aws", "azure", "multicloud")
    }
    assert urls == {
        "local": f"local://{home}/bus",
        "aws": "sqs://lakehouse-events",
        "azure": "azqueue://lakehouse-events",
        "multicloud": "azqueue://lakehouse-events",
    }
    override = {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_BUS_URL": "sqs://mine"}
    assert Settings.from_env(override).bus_url == "sqs://mine"
    assert emu.default_queues(home) == (["lakehouse-events"], ["lakehouse-events"])

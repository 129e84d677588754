"""deploy/: every instance, launcher, coordinator and compute-log configuration is accepted by
the config schema of the Dagster class it names; the executor follows LAKEHOUSE_EXECUTOR."""

import importlib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from lakehouse.components.executors import executor
from lakehouse.settings import Settings, SettingsError
from lakehouse_dev import prod
from lakehouse_tests.conftest import load_definitions

OVERLAYS = [(), ("compute-logs-azure.yaml",), ("ecs/run-launcher.yaml",)]
ENV = {
    **prod.pg_env("postgresql://dagster:secret@db.internal:5432/lakehouse_dagster"),
    "DAGSTER_COMPUTE_LOGS_BUCKET": "lakehouse-dagster",
    "DAGSTER_COMPUTE_LOGS_STORAGE_ACCOUNT": "lakehouse",
    "DAGSTER_COMPUTE_LOGS_CONTAINER": "dagster",
    "DAGSTER_COMPUTE_LOGS_ACCESS_KEY": "key",
}
CLASS_BLOCKS = ("storage", "run_coordinator", "run_launcher", "compute_logs")


@pytest.fixture
def deploy_env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def _check_class(module: str, cls: str, config: dict) -> None:
    klass = getattr(importlib.import_module(module), cls)
    result = process_config(klass.config_type(), config or {})
    assert result.success, f"{module}.{cls}: {[e.message for e in result.errors]}"


@pytest.mark.parametrize("overlays", OVERLAYS, ids=lambda o: "+".join(o) or "base")
def test_instance_yaml_is_valid_for_dagster(overlays, deploy_env, tmp_path):
    home = prod.write_dagster_home(tmp_path, *overlays)
    config, _ = dagster_instance_config(str(home))  # raises on any schema error
    for block in ("run_coordinator", "run_launcher", "compute_logs"):
        _check_class(config[block]["module"], config[block]["class"], config[block].get("config"))
    raw = yaml.safe_load((home / "dagster.yaml").read_text())
    for overlay in overlays:
        for block, value in yaml.safe_load((prod.DEPLOY / overlay).read_text()).items():
            assert raw[block] == value  # the overlay replaced the base block
    assert raw["concurrency"]["pools"]["default_limit"] == 1  # one catalog writer at a time
    assert {"key": "lakehouse/wave", "limit": 4} in raw["concurrency"]["runs"][
        "tag_concurrency_limits"
    ]


def test_no_secret_is_written_in_deploy(deploy_env):
    text = "\n".join(p.read_text() for p in Path(prod.DEPLOY).rglob("*.yaml"))
    for secret in ("secret", "key", "guest"):
        assert f": {secret}\n" not in text
    assert "{env: DAGSTER_PG_PASSWORD}" in text


def test_helm_values_name_valid_dagster_classes():
    values = yaml.safe_load((prod.DEPLOY / "k8s" / "values.yaml").read_text())
    custom = [
        values["runLauncher"]["config"]["customRunLauncher"],
        values["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"],
        values["computeLogManager"]["config"]["customComputeLogManager"],
    ]
    for block in custom:
        _check_class(block["module"], block["class"], _with_env_resolved(block["config"]))
    launcher = custom[0]
    assert launcher["class"] == "K8sRunLauncher"
    assert "LAKEHOUSE_EXECUTOR=k8s" in launcher["config"]["env_vars"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert {"name": "LAKEHOUSE_EXECUTOR", "value": "k8s"} in deployment["env"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "lakehouse.definitions"]


def _with_env_resolved(config: dict) -> dict:
    """{env: X} values replaced by a placeholder (the chart's pods set X)."""
    return {
        k: "placeholder" if isinstance(v, dict) and set(v) == {"env"} else v
        for k, v in config.items()
    }


@pytest.mark.parametrize(
    "name, expected",
    [
        ("in_process", "in_process"),
        ("multiprocess", "multiprocess"),
        ("celery", "celery"),
        ("k8s", "k8s"),
    ],
)
def test_executor_is_chosen_by_environment(name, expected, settings, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", name)
    assert Settings.from_env().executor == name
    assert executor(name).name == expected
    job = load_definitions().resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == expected


def test_local_default_stays_in_process(settings, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_EXECUTOR", raising=False)
    job = load_definitions().resolve_implicit_global_asset_job_def()
    assert job.executor_def is dg.in_process_executor


def test_unknown_executor_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR", "spark")
    with pytest.raises(SettingsError, match="LAKEHOUSE_EXECUTOR='spark'"):
        Settings.from_env()

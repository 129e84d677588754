"""The Celery workers' app is built like the runs' executor, from the same broker variable."""

import pytest

from lakehouse.components.executors import BROKER_ENV, celery_app_args


def test_the_workers_app_takes_the_broker_from_the_environment_and_acks_late(monkeypatch):
    monkeypatch.setenv(BROKER_ENV, "amqp://guest@127.0.0.1:5672/lakehouse")
    args = celery_app_args()
    assert args["broker"] == "amqp://guest@127.0.0.1:5672/lakehouse"
    assert args["backend"] == "rpc://"
    source = vars(args["config_source"])
    # a step is acknowledged once done, and handed back if its worker dies
    assert source["task_acks_late"] is True
    assert source["task_reject_on_worker_lost"] is True
    assert source["worker_prefetch_multiplier"] == 1


def test_without_a_broker_the_worker_refuses_to_start_naming_the_variable(monkeypatch):
    monkeypatch.delenv(BROKER_ENV, raising=False)
    with pytest.raises(ValueError, match=BROKER_ENV):
        celery_app_args()
